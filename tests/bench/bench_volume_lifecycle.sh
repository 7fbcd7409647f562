#!/usr/bin/env bash
# Benchmark (not a test): the volume life cycle a user drives — create, run
# a container with the volume (it writes a file), inspect, remove — for N
# volumes, with `-d privateer` and with Docker's built-in `local` driver, in
# one run on one dockerd, interleaved so both see the same machine state.
# Prints per-driver median and mean milliseconds per cycle and the ratio.
#   usage: tests/bench/bench_volume_lifecycle.sh [N]   (default 30)
# Needs root, a built plugin (cmake --build build --target plugin).
. "$(dirname "$0")/../e2e/lib.sh"
n=${1:-30}
e2e_init
e2e_start_dockerd bench
e2e_busybox_image bench
e2e_install_plugin bench PRIVATEER_LOG_LEVEL=info

now_ns() { date +%s%N; }
cycle() {
	local driver=$1 name=$2 t0 t1
	t0=$(now_ns)
	dk bench volume create -d "$driver" "$name" >/dev/null
	dk bench run --rm --network none -v "$name":/data busybox \
		sh -c 'echo x > /data/f' >/dev/null
	dk bench volume inspect "$name" >/dev/null
	dk bench volume rm "$name" >/dev/null
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000))
}

# One warm-up cycle each (first container start pays for image setup).
cycle privateer warm-p >/dev/null
cycle local warm-l >/dev/null

: >"$E2E_TMP/privateer.us"
: >"$E2E_TMP/local.us"
for i in $(seq 1 "$n"); do
	if [ $((i % 2)) = 0 ]; then
		cycle privateer "p$i" >>"$E2E_TMP/privateer.us"
		cycle local "l$i" >>"$E2E_TMP/local.us"
	else
		cycle local "l$i" >>"$E2E_TMP/local.us"
		cycle privateer "p$i" >>"$E2E_TMP/privateer.us"
	fi
done

stats() { sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.1f %.1f\n", m / 1000, s / NR / 1000 }'; }
read -r p_med p_mean < <(stats "$E2E_TMP/privateer.us")
read -r l_med l_mean < <(stats "$E2E_TMP/local.us")
echo
echo "volume life cycle (create, run, inspect, rm), $n volumes per driver"
printf '%-10s %12s %12s\n' driver "median ms" "mean ms"
printf '%-10s %12s %12s\n' local "$l_med" "$l_mean"
printf '%-10s %12s %12s\n' privateer "$p_med" "$p_mean"
awk -v p="$p_med" -v l="$l_med" -v pm="$p_mean" -v lm="$l_mean" 'BEGIN {
	printf "ratio privateer/local: %.3f (median), %.3f (mean); target <= 1.25\n", p / l, pm / lm }'
