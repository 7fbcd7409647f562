#!/usr/bin/env bash
# Benchmark (not a test): `privateer export` and `privateer import` against
# GNU tar at the same compression, in one run, on the two datasets of
# datasets.sh (pgdata: initdb + pgbench -i -s SCALE; files: SMALL_FILES
# real small files).
#
#   export   privateer export VOLUME --compress C (plugin child -> pipe ->
#            HTTP on a Unix socket -> CLI -> file, renamed when complete)
#            vs  tar -C DIR -cf - . | zstd -3 -T1 > FILE   (C = zstd)
#                tar -C DIR -cf FILE .                    (C = none)
#            and the same tar with --xattrs --acls (the metadata privateer
#            always reads)
#   import   privateer import FILE NEWVOLUME (into a volume built out of
#            view, synced to disk, then renamed into place)
#            vs  zstd -dc FILE | tar -C DIR -xpf -, alone and followed by
#                `sync -f DIR` (privateer's import is durable when it
#                returns; a bare tar -x is not)
#
# The plugin runs directly (no Docker) with its own state directory on the
# same file system as the tar targets. Each measurement is repeated
# BENCH_ROUNDS times, contenders alternating; the table shows medians,
# ratios privateer/tar and PASS/MISS against the issue's target (<= 1.1x
# GNU tar's time at the same compression). Exits 0 when everything ran,
# whatever the figures.
#
#   usage: tests/bench/bench_archive.sh
#   knobs: PGBENCH_SCALE (20), SMALL_FILES (30000), BENCH_ROUNDS (3),
#          BENCH_DIR (/tmp), BENCH_KEEP=1, PRIVATEER_BUILD (build),
#          PG_USER (benchpg, created if missing)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PRIVATEER_BUILD=${PRIVATEER_BUILD:-$SRC/build}
P=$PRIVATEER_BUILD/privateer
SCALE=${PGBENCH_SCALE:-20}
TX=${PGBENCH_TX:-200}
NFILES=${SMALL_FILES:-30000}
ROUNDS=${BENCH_ROUNDS:-3}
PG_USER=${PG_USER:-benchpg}

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
. "$HERE/datasets.sh"

[ "$(id -u)" = 0 ] || die "run as root (owners are kept; postgres runs as $PG_USER)"
missing=()
command -v zstd >/dev/null || missing+=(zstd)
command -v curl >/dev/null || missing+=(curl)
[ -n "$(pg_bindir)" ] || missing+=(postgresql postgresql-contrib)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	apt-get update -qq || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null 2>&1 || log "could not install ${missing[*]}"
fi
command -v zstd >/dev/null || die "zstd is missing"
PGBIN=$(pg_bindir)
[ -n "$PGBIN" ] || die "initdb/pg_ctl/pgbench not found (apt-get install postgresql)"
[ -x "$P" ] || die "no $P: build first (cmake --build build)"
id -u "$PG_USER" >/dev/null 2>&1 ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" ||
	die "cannot create user $PG_USER"

mkdir -p "${BENCH_DIR:-/tmp}"
B=$(mktemp -d "${BENCH_DIR:-/tmp}/privateer-bench-archive.XXXXXX")
chmod 755 "$B"
PLUGIN_PID=
PG_RUNNING=
cleanup() {
	local rc=$?
	trap - EXIT
	if [ -n "$PG_RUNNING" ]; then
		runuser -u "$PG_USER" -- "$PGBIN/pg_ctl" -D "$PG_RUNNING" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ -n "$PLUGIN_PID" ]; then
		kill -TERM "$PLUGIN_PID" 2>/dev/null || true
		wait "$PLUGIN_PID" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $B"; else rm -rf "$B"; fi
	[ $rc = 0 ] || log "failed (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log "working in $B"
mkdir -p "$B/gen" "$B/pgsock" "$B/out" "$B/x"
chown "$PG_USER" "$B/gen" "$B/pgsock"

gen_pgdata
gen_files

SOCK=$B/plugin.sock
PRIVATEER_CONFIG=$B/no-config.json "$P" plugin --socket "$SOCK" --state "$B/state" \
	--mount-root "$B/mnt" >"$B/plugin.log" 2>&1 &
PLUGIN_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || die "the plugin did not start (see $B/plugin.log)"
export PRIVATEER_SOCKET=$SOCK
call() { curl -sf --unix-socket "$SOCK" -XPOST "http://p/VolumeDriver.$1" -d "$2" >/dev/null; }
volume_rm() { # removes, and waits for the background deletion
	call Remove "{\"Name\":\"$1\"}"
	for _ in $(seq 1 600); do
		[ -z "$(ls -A "$B/state/volumes/.trash")" ] && return 0
		sleep 0.1
	done
}
timed() { # timed VAR CMD...: wall seconds of CMD into VAR
	local var=$1 t0
	shift
	t0=$(now)
	"$@"
	printf -v "$var" '%s' "$(sub "$(now)" "$t0")"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v r="$1" 'BEGIN { print (r <= 1.1 ? "PASS" : "MISS") }'; }

tar_c() { # DIR FILE COMP [tar options]
	local dir=$1 file=$2 comp=$3
	shift 3
	if [ "$comp" = zstd ]; then
		tar -C "$dir" "$@" -cf - . | zstd -q -3 -T1 >"$file"
	else
		tar -C "$dir" "$@" -cf "$file" .
	fi
}
tar_x() { # FILE COMP DIR
	if [ "$2" = zstd ]; then zstd -dc "$1" | tar -C "$3" -xpf -; else tar -C "$3" -xpf "$1"; fi
}
tar_x_sync() { tar_x "$@" && sync -f "$3"; }

declare -A R
bench_dataset() { # DATASET
	local ds=$1 comp r f t vol
	call Create "{\"Name\":\"$ds\"}"
	cp -a "$B/gen/$ds.initial/." "$B/state/volumes/$ds/data/"
	sync
	local data=$B/state/volumes/$ds/data
	for comp in zstd none; do
		local pe=() te=() tx=() pi=() ti=() ts=()
		for r in $(seq 1 "$ROUNDS"); do
			log "$ds, $comp, round $r"
			rm -rf "$B/out" && mkdir "$B/out"
			if [ $((r % 2)) = 1 ]; then
				timed t "$P" export "$ds" --to-dir "$B/out" --compress "$comp" >/dev/null; pe+=("$t")
				timed t tar_c "$data" "$B/out/tar.$comp" "$comp"; te+=("$t")
				timed t tar_c "$data" "$B/out/tarx.$comp" "$comp" --xattrs --acls; tx+=("$t")
			else
				timed t tar_c "$data" "$B/out/tarx.$comp" "$comp" --xattrs --acls; tx+=("$t")
				timed t tar_c "$data" "$B/out/tar.$comp" "$comp"; te+=("$t")
				timed t "$P" export "$ds" --to-dir "$B/out" --compress "$comp" >/dev/null; pe+=("$t")
			fi
			f=$(ls "$B/out/$ds"-local-*)
			R[$ds.$comp.psize]=$(stat -c %s "$f")
			R[$ds.$comp.tsize]=$(stat -c %s "$B/out/tar.$comp")
			vol=imp-$ds-$r
			rm -rf "$B/x" && mkdir "$B/x" && sync
			if [ $((r % 2)) = 1 ]; then
				timed t "$P" import "$f" "$vol" >/dev/null; pi+=("$t")
				timed t tar_x "$B/out/tar.$comp" "$comp" "$B/x"; ti+=("$t")
				rm -rf "$B/x" && mkdir "$B/x" && sync
				timed t tar_x_sync "$B/out/tar.$comp" "$comp" "$B/x"; ts+=("$t")
			else
				timed t tar_x_sync "$B/out/tar.$comp" "$comp" "$B/x"; ts+=("$t")
				rm -rf "$B/x" && mkdir "$B/x" && sync
				timed t tar_x "$B/out/tar.$comp" "$comp" "$B/x"; ti+=("$t")
				timed t "$P" import "$f" "$vol" >/dev/null; pi+=("$t")
			fi
			diff -r --no-dereference "$data" "$B/state/volumes/$vol/data" >/dev/null ||
				die "$ds: the imported volume differs from the original"
			volume_rm "$vol"
		done
		R[$ds.$comp.pe]=$(median "${pe[@]}")
		R[$ds.$comp.te]=$(median "${te[@]}")
		R[$ds.$comp.tx]=$(median "${tx[@]}")
		R[$ds.$comp.pi]=$(median "${pi[@]}")
		R[$ds.$comp.ti]=$(median "${ti[@]}")
		R[$ds.$comp.ts]=$(median "${ts[@]}")
	done
	R[$ds.size]=$(du -sb "$data" | cut -f1)
	R[$ds.files]=$(find "$data" | wc -l)
	volume_rm "$ds"
}

bench_dataset pgdata
bench_dataset files

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo
echo "privateer export/import vs GNU tar — medians of $ROUNDS rounds, seconds"
echo "  $(tar --version | head -1), zstd $(zstd -V | grep -o 'v[0-9.]*' | head -1), $(nproc) cores"
for ds in pgdata files; do
	echo
	echo "$ds: $(mb "${R[$ds.size]}") in ${R[$ds.files]} entries"
	printf '  %-6s %-8s %9s %9s %8s %9s %8s  %s\n' comp step privateer "GNU tar" ratio "tar+xa" ratio target
	for comp in zstd none; do
		local_r=$(ratio "${R[$ds.$comp.pe]}" "${R[$ds.$comp.te]}")
		printf '  %-6s %-8s %9s %9s %7sx %9s %7sx  %s\n' "$comp" export "${R[$ds.$comp.pe]}" \
			"${R[$ds.$comp.te]}" "$local_r" "${R[$ds.$comp.tx]}" \
			"$(ratio "${R[$ds.$comp.pe]}" "${R[$ds.$comp.tx]}")" "$(verdict "$local_r")"
		local_r=$(ratio "${R[$ds.$comp.pi]}" "${R[$ds.$comp.ti]}")
		printf '  %-6s %-8s %9s %9s %7sx %9s %7sx  %s (vs tar -x; tar -x + sync in the second pair)\n' \
			"$comp" import "${R[$ds.$comp.pi]}" "${R[$ds.$comp.ti]}" "$local_r" \
			"${R[$ds.$comp.ts]}" "$(ratio "${R[$ds.$comp.pi]}" "${R[$ds.$comp.ts]}")" \
			"$(verdict "$local_r")"
		echo "         archive size: privateer $(mb "${R[$ds.$comp.psize]}"), GNU tar $(mb "${R[$ds.$comp.tsize]}")"
	done
done
