#!/bin/bash
# run.sh: builds every libFuzzer target of tests/fuzz with clang (ASan,
# UBSan, libFuzzer) in its own build directory, then runs each in turn for
# SECONDS (default 20): first its whole seed corpus (tests/fuzz/corpus/T),
# then fuzzing. Exits 1 if any target crashed, leaked, hit UB or timed out
# (the input is kept under BUILD/tests/fuzz/artifacts/T/ and its log under
# .../logs/T.log), 77 if clang or its libFuzzer runtime is missing, else 0.
#
# One fuzzer runs at a time. What a run finds beyond the seeds goes to a
# working corpus in the build directory (BUILD/tests/fuzz/work/T), kept
# between runs, so repeated runs build on each other; the committed seed
# corpora are never written.
#
#   tests/fuzz/run.sh [SECONDS]
#   PRIVATEER_FUZZ_BUILD=dir   build directory (default: SRC/build-fuzz)
#   FUZZ_TARGETS="cron rsync"  only these (default: all)
#   FUZZ_NICE=10               run the fuzzers at this niceness
#   FUZZ_ARGS="-jobs=..."      more libFuzzer flags
#   FUZZ_PACK_UNSAFE=1         let pack_import run without its read-only
#                              sandbox (not root): see fuzz_pack_import.c
set -u

SECONDS_EACH=${1:-20}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${PRIVATEER_FUZZ_BUILD:-$SRC/build-fuzz}
ALL="api vopts config cron rsync vault_parse keyfile pack_import http name manifest notify"
TARGETS=${FUZZ_TARGETS:-$ALL}
NICE=${FUZZ_NICE:-0}

case $SECONDS_EACH in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

skip() { echo "run.sh: SKIPPED: $*" >&2; exit 77; }

command -v clang >/dev/null || skip "clang is not installed (apt-get install clang)"
command -v cmake >/dev/null || skip "cmake is not installed"
probe=$(mktemp -d /tmp/privateer-fuzz-probe.XXXXXX)
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" \
	>"$probe/log" 2>&1; then
	cat "$probe/log" >&2
	rm -rf "$probe"
	skip "clang cannot link a libFuzzer target (apt-get install libclang-rt-dev)"
fi
rm -rf "$probe"

FLAGS="-fsanitize=fuzzer-no-link,address,undefined"
FLAGS="$FLAGS -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
echo "run.sh: building the fuzz targets in $BUILD"
if ! cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER=clang \
	-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS=$FLAGS" \
	-DPRIVATEER_SANITIZE=OFF -DPRIVATEER_FUZZ_TARGETS=ON \
	>"$BUILD.configure.log" 2>&1; then
	cat "$BUILD.configure.log" >&2
	echo "run.sh: configure failed" >&2
	exit 1
fi
rm -f "$BUILD.configure.log"
if ! cmake --build "$BUILD" -j"$(nproc)" --target fuzzers >"$BUILD/fuzz-build.log" 2>&1; then
	tail -50 "$BUILD/fuzz-build.log" >&2
	echo "run.sh: build failed" >&2
	exit 1
fi

OUT=$BUILD/tests/fuzz
TMPROOT=$(mktemp -d /tmp/privateer-fuzz.XXXXXX)
trap 'rm -rf "$TMPROOT"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$SRC/tests/fuzz/lsan.supp:print_suppressions=0}

# Per target: the longest input worth trying.
max_len() {
	case $1 in
	pack_import) echo 65536 ;;
	config) echo 32768 ;;
	http|keyfile|vault_parse) echo 8192 ;;
	api|vopts) echo 4096 ;;
	*) echo 1024 ;;
	esac
}

failed=""
printf '%-12s %6s %9s %8s %6s %8s  %s\n' target seeds runs exec/s cov cpu_s result
for t in $TARGETS; do
	bin=$OUT/fuzz_$t
	seeds=$SRC/tests/fuzz/corpus/$t
	work=$OUT/work/$t
	art=$OUT/artifacts/$t
	log=$OUT/logs/$t.log
	mkdir -p "$work" "$art" "$OUT/logs"
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "run.sh: no target or no corpus for $t" >&2
		failed="$failed $t"
		continue
	fi
	if [ "$t" = pack_import ] && [ "${FUZZ_PACK_UNSAFE:-0}" != 1 ] &&
		! unshare -m --propagation private \
			mount -t tmpfs fuzz_probe /dev/shm >/dev/null 2>&1; then
		printf '%-12s skipped: its read-only sandbox needs root and mount namespaces\n' "$t"
		continue
	fi
	tmp=$TMPROOT/$t
	mkdir -p "$tmp"
	asan=$ASAN_OPTIONS
	# Full stacks, so lsan.supp can name the libssh function.
	[ "$t" = keyfile ] && asan=$asan:fast_unwind_on_malloc=0
	# shellcheck disable=SC2086
	( cd "$OUT" && TMPDIR=$tmp ASAN_OPTIONS=$asan /usr/bin/time -f '%U %S' -o "$OUT/logs/$t.time" \
		nice -n "$NICE" "$bin" -max_total_time="$SECONDS_EACH" \
		-timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
		-artifact_prefix="$art/" -print_final_stats=1 -error_exitcode=1 \
		-timeout_exitcode=1 ${FUZZ_ARGS:-} \
		"$work" "$seeds" ) >"$log" 2>&1
	rc=$?
	rm -rf "$tmp"
	cpu=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { printf "%.1f", $1 + $2 }' "$OUT/logs/$t.time" 2>/dev/null)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	nseeds=$(find "$seeds" -type f | wc -l)
	if [ $rc -eq 0 ]; then
		res=ok
	else
		res="FAILED (exit $rc; log $log)"
		failed="$failed $t"
	fi
	printf '%-12s %6s %9s %8s %6s %8s  %s\n' "$t" "$nseeds" "${runs:--}" \
		"${eps:--}" "${cov:--}" "${cpu:--}" "$res"
	if [ $rc -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|Test unit written|accepted|returned|outside|reached' "$log" \
			| grep -v '^warning' | head -20 | sed 's/^/    /'
	fi
done

if [ -n "$failed" ]; then
	echo "run.sh: FAILED:$failed" >&2
	exit 1
fi
echo "run.sh: all targets passed"
