#!/usr/bin/env bash
# Benchmark (not a test): one plugin with many volumes (10,000).
#
#   1. Docker's calls with N volumes of one driver, privateer (the real
#      plugin installed in a private dockerd) and then Docker's `local`
#      driver on the same dockerd: create, ls, inspect and rm, p50/p99 of
#      the Engine API calls the docker CLI makes (sent by
#      volumes/drivercalls.c on dockerd's socket, so the CLI's own start
#      is not counted; `docker volume ls` through the CLI is timed too).
#   2. With the plugin's N volumes, the daemon run directly (no Docker) on
#      the same state as a client "bob" of a server "alice": its start-up
#      time until List answers with every volume, its RSS idle, and a
#      backup of a 1 GiB volume to alice during which 16 clients make
#      1,000 mixed VolumeDriver calls (Create, Get, Mount, Path, Unmount,
#      Remove, List, Capabilities; a new connection each): errors (must
#      be 0) and p50/p99 (target p99 < 50 ms); bob's RSS during a backup
#      of 1 GiB alone (target <= 64 MiB), during the one with the calls,
#      and idle (target <= 10 MiB). The plugin with no
#      volume is started and measured the same way, for comparison.
#
#   usage: tests/bench/bench_many_volumes.sh
#   knobs: BENCH_VOLUMES (10000), BENCH_SAMPLES (300: sequential calls
#          timed per kind), BENCH_MIXED (1000), BENCH_CLIENTS (16),
#          BENCH_BIG_MIB (1024: the volume backed up meanwhile),
#          BENCH_FS (ext4: everything on a fresh loop-mounted ext4, see
#          datasets.sh; host), BENCH_FS_SIZE (24G, sparse)
# Needs root, dockerd, a built plugin (cmake --build build --target plugin).
# Everything lives in one temp dir, removed at the end; every process it
# starts is stopped by PID. It exits 0 when everything ran, whatever the
# figures; 1 if a call failed or something broke.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/lib.sh"
. "$HERE/datasets.sh"
die() { log "ERROR: $*"; exit 1; }

N=${BENCH_VOLUMES:-10000}
S=${BENCH_SAMPLES:-300}
MIXED=${BENCH_MIXED:-1000}
CLIENTS=${BENCH_CLIENTS:-16}
BIG_MIB=${BENCH_BIG_MIB:-1024}
P=$PRIVATEER_BUILD/privateer
[ "$S" -lt "$N" ] || die "BENCH_SAMPLES must be below BENCH_VOLUMES"
[ -x "$P" ] || die "no $P: build first"
T_START=$(now)

e2e_init
PIDS=()
# Stops PID and forgets it, so that the clean-up never signals a PID
# handed to another process since.
stop_pid() {
	local keep=() p
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${PIDS[@]-}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]-}")
}
bench_cleanup() {
	local rc=$? pid
	trap - EXIT
	set +e # a process already gone must not stop the clean-up
	for pid in "${PIDS[@]-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null; done
	# dockerd stopped, everything under E2E_TMP unmounted and removed
	(set +e; (exit $rc); e2e_cleanup) && rc=0 || rc=$?
	[ -z "${BENCH_FS_LOOP:-}" ] || losetup -d "$BENCH_FS_LOOP" 2>/dev/null || true
	exit $rc
}
trap bench_cleanup EXIT
B=$E2E_TMP/bench
mkdir -p "$B"
bench_fs_mount "$B"
B=$B/w
mkdir -p "$B"
gcc -O2 -Wall -D_GNU_SOURCE -pthread -o "$B/drivercalls" "$HERE/volumes/drivercalls.c" ||
	die "cannot compile volumes/drivercalls.c"
# calls CLIENTS NAME < requests: runs them, output in $B/NAME.out, latencies in $B/NAME.lat
calls() {
	local c=$1 name=$2 sock=${3:-$E2E_TMP/bench/docker.sock}
	cat >"$B/$name.req"
	"$B/drivercalls" -s "$sock" -f "$B/$name.req" -c "$c" -o "$B/$name.lat" >"$B/$name.out" 2>"$B/$name.err" || {
		cat "$B/$name.out" "$B/$name.err" >&2
		die "$name: some calls failed"
	}
}
# The all-calls line's figures: "p50 p99 max"
summary() { awk '$1 == "all" { print $7, $10, $13 }' "$B/$1.out"; }
RESULTS=$B/results
: >"$RESULTS"
row() { printf '%s\n' "$*" >>"$RESULTS"; }

# The Docker part lives under $E2E_TMP/bench (on the fresh filesystem).
e2e_start_dockerd bench
e2e_install_plugin bench PRIVATEER_LOG_LEVEL=warn
API=$(dk bench version -f '{{.Server.APIVersion}}')
V=/v$API
STATE=$E2E_TMP/bench/state

# docker_phase DRIVER: N volumes of DRIVER; times create, ls, inspect.
docker_phase() {
	local d=$1 t0 i t
	log "$d: creating $((N - S)) volumes (4 at a time)"
	t0=$(now)
	for i in $(seq 1 $((N - S))); do
		printf '%d\tPOST\t%s/volumes/create\t{"Name":"%s-%d","Driver":"%s"}\n' $((i % 4)) "$V" "$d" "$i" "$d"
	done | calls 4 "$d-populate"
	row "$d populate_s $(sub "$(now)" "$t0")"
	log "$d: $S creates, one at a time"
	for i in $(seq $((N - S + 1)) "$N"); do
		printf '0\tPOST\t%s/volumes/create\t{"Name":"%s-%d","Driver":"%s"}\n' "$V" "$d" "$i" "$d"
	done | calls 1 "$d-create"
	row "$d create $(summary "$d-create")"
	log "$d: 30 x ls of $N volumes"
	for i in $(seq 1 30); do printf '0\tGET\t%s/volumes\t\n' "$V"; done | calls 1 "$d-ls"
	row "$d ls $(summary "$d-ls")"
	t=()
	for i in 1 2 3 4 5; do
		t0=$(now)
		[ "$(dk bench volume ls -q | wc -l)" -ge "$N" ] || die "docker volume ls shows fewer than $N volumes"
		t+=("$(sub "$(now)" "$t0")")
	done
	row "$d ls_cli_s $(median "${t[@]}")"
	log "$d: $S inspects of random volumes"
	for i in $(seq 1 "$S"); do
		printf '0\tGET\t%s/volumes/%s-%d\t\n' "$V" "$d" $((1 + (i * 7919) % N))
	done | calls 1 "$d-inspect"
	row "$d inspect $(summary "$d-inspect")"
}
# docker_rm DRIVER: S removals one at a time, then the rest 4 at a time.
docker_rm() {
	local d=$1 i t0
	log "$d: $S removals, one at a time, then the rest"
	for i in $(seq 1 "$S"); do
		printf '0\tDELETE\t%s/volumes/%s-%d\t\n' "$V" "$d" $((1 + (i - 1) * (N / S)))
	done | calls 1 "$d-rm"
	row "$d rm $(summary "$d-rm")"
	t0=$(now)
	for i in $(seq 1 "$N"); do
		[ $(((i - 1) % (N / S))) = 0 ] && [ $(((i - 1) / (N / S))) -lt "$S" ] && continue
		printf '%d\tDELETE\t%s/volumes/%s-%d\t\n' $((i % 4)) "$V" "$d" "$i"
	done | calls 4 "$d-rmrest"
	row "$d rmrest_s $(sub "$(now)" "$t0")"
	[ "$(dk bench volume ls -q | wc -l)" = 0 ] || die "volumes left after removing all"
}

docker_phase privateer
DOCKER_PID=$(e2e_plugin_pid bench)
row "privateer docker_plugin_rss_kib $(proc_rss_kib "$DOCKER_PID")"

# --- the plugin run directly on the same state: start-up, RSS, load ---------
log "disabling the Docker plugin; its state ($N volumes) is run directly as bob"
t0=$(now)
dk bench plugin disable -f privateer >/dev/null
mkdir -p "$B/alice" "$B/bob" "$B/empty"
port_free ALICE_PORT
for who in alice bob; do
	cat >"$B/$who/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $ALICE_PORT } ],
  "clients": [ { "name": "bob", "backup": ["big", "big2"] } ],
  "volumes": [ { "name": "big" }, { "name": "big2" } ],
  "keys": { "store": "file", "path": "$B/keys" }
}
JSON
done
"$P" --config "$B/alice/privateer.json" keygen --all >/dev/null
PRIVATEER_CONFIG=$B/alice/privateer.json PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1 \
	PRIVATEER_LOG_LEVEL=warn "$P" plugin --socket "$B/alice/p.sock" --state "$B/alice/state" \
	--mount-root "$B/alice/mnt" 2>"$B/alice/daemon.log" &
ALICE_PID=$!
PIDS+=("$ALICE_PID")
port_wait "$ALICE_PORT" alice

# The mix: client k makes unit after unit of 8 calls on its own volumes.
mixed_requests() {
	local u k x r
	for u in $(seq 0 $((MIXED / 8 - 1))); do
		k=$((u % CLIENTS))
		x="mix-$u"
		r="privateer-$((1 + (u * 7919) % (N - 1)))"
		printf '%d\tPOST\t/VolumeDriver.Create\t{"Name":"%s"}\n' $k "$x"
		printf '%d\tPOST\t/VolumeDriver.Get\t{"Name":"%s"}\n' $k "$r"
		printf '%d\tPOST\t/VolumeDriver.Mount\t{"Name":"%s","ID":"c%d"}\n' $k "$x" "$u"
		printf '%d\tPOST\t/VolumeDriver.Path\t{"Name":"%s"}\n' $k "$x"
		printf '%d\tPOST\t/VolumeDriver.Get\t{"Name":"%s"}\n' $k "$x"
		printf '%d\tPOST\t/VolumeDriver.Unmount\t{"Name":"%s","ID":"c%d"}\n' $k "$x" "$u"
		printf '%d\tPOST\t/VolumeDriver.Remove\t{"Name":"%s"}\n' $k "$x"
		if [ $((u % 4)) = 0 ]; then
			printf '%d\tPOST\t/VolumeDriver.List\t{}\n' $k
		else
			printf '%d\tPOST\t/VolumeDriver.Capabilities\t{}\n' $k
		fi
	done
}
# start_bob STATE: starts bob on STATE, sets BOB_PID and BOB_START_S (until
# List answers with every volume).
start_bob() {
	local t0 i
	rm -f "$B/bob/p.sock"
	t0=$(now)
	PRIVATEER_CONFIG=$B/bob/privateer.json PRIVATEER_NAME=bob PRIVATEER_LOG_LEVEL=warn \
		"$P" plugin --socket "$B/bob/p.sock" --state "$1" --mount-root "$B/bob/mnt" \
		2>>"$B/bob/daemon.log" &
	BOB_PID=$!
	PIDS+=("$BOB_PID")
	printf '0\tPOST\t/VolumeDriver.List\t{}\n' >"$B/list.req"
	for i in $(seq 1 2000); do
		[ -S "$B/bob/p.sock" ] && "$B/drivercalls" -s "$B/bob/p.sock" -f "$B/list.req" >/dev/null 2>&1 && break
		sleep 0.01
	done
	BOB_START_S=$(sub "$(now)" "$t0")
}
stop_bob() { stop_pid "$BOB_PID"; }
start_bob "$B/empty"
sleep 2
row "empty start_s $BOB_START_S"
row "empty idle_rss_kib $(proc_rss_kib "$BOB_PID")"
row "empty idle_anon_kib $(proc_anon_kib "$BOB_PID")"
row "empty idle_pss_kib $(proc_pss_kib "$BOB_PID")"
stop_bob
start_bob "$STATE"
row "privateer start_s $BOB_START_S"
sleep 2
n=$(curl -s --unix-socket "$B/bob/p.sock" -X POST http://p/VolumeDriver.List -d '{}' | jq '.Volumes | length')
[ "$n" = "$N" ] || die "bob lists $n volumes, not $N"
row "privateer idle_rss_kib $(proc_rss_kib "$BOB_PID")"
row "privateer idle_anon_kib $(proc_anon_kib "$BOB_PID")"
row "privateer idle_pss_kib $(proc_pss_kib "$BOB_PID")"
mixed_requests >"$B/mixed.list"
# Nothing else going on: the Docker part's writes (10,000 volumes' metadata)
# are flushed first, not left to writeback during the calls.
sync
log "$(wc -l <"$B/mixed.list") mixed calls from $CLIENTS clients, nothing else going on"
calls "$CLIENTS" mixed-idle "$B/bob/p.sock" <"$B/mixed.list"
row "mixed-idle all $(summary mixed-idle)"

# big_volume NAME: a volume of BIG_MIB MiB of random data on bob
big_volume() {
	local out i
	out=$(curl -s --unix-socket "$B/bob/p.sock" -X POST http://p/VolumeDriver.Create -d "{\"Name\":\"$1\"}")
	[ "$out" = "{}" ] || die "creating $1: $out"
	for i in $(seq 1 $((BIG_MIB / 4))); do
		head -c $((4 << 20)) /dev/urandom >"$STATE/volumes/$1/data/f$i"
	done
	sync
}
log "a backup of $BIG_MIB MiB alone: bob's RSS during a transfer"
big_volume big
rss_watch_start bob "$BOB_PID"
t0=$(now)
"$P" --socket "$B/bob/p.sock" --config "$B/bob/privateer.json" --as bob backup big >"$B/backup.out" 2>&1 ||
	{ cat "$B/backup.out" >&2; die "the backup failed"; }
row "alone wall_s $(sub "$(now)" "$t0")"
rss_watch_stop bob
row "alone peak_rss_kib $RSS_PEAK"
sleep 2
row "alone after_rss_kib $(proc_rss_kib "$BOB_PID")"
big_volume big2

log "backing up big2 to alice; $(wc -l <"$B/mixed.list") mixed calls from $CLIENTS clients during it"
rss_watch_start bob "$BOB_PID"
cpu0=$(proc_cpu "$BOB_PID")
t0=$(now)
"$P" --socket "$B/bob/p.sock" --config "$B/bob/privateer.json" --as bob backup big2 >"$B/backup.out" 2>&1 &
BACKUP_PID=$!
PIDS+=("$BACKUP_PID")
for i in $(seq 1 400); do # until bob's rsync runs
	[ -n "$(cat /proc/"$BOB_PID"/task/*/children 2>/dev/null)" ] && break
	sleep 0.05
done
calls "$CLIENTS" mixed "$B/bob/p.sock" <"$B/mixed.list"
during=no
kill -0 "$BACKUP_PID" 2>/dev/null && during=yes
wait "$BACKUP_PID" || { cat "$B/backup.out" >&2; die "the backup failed"; }
stop_pid "$BACKUP_PID"
BACKUP_S=$(sub "$(now)" "$t0")
row "mixed all $(summary mixed)"
row "mixed during_backup $during"
row "backup wall_s $BACKUP_S"
row "backup cpu_s $(sub "$(proc_cpu "$BOB_PID")" "$cpu0")"
rss_watch_stop bob
row "transfer peak_rss_kib $RSS_PEAK"
sleep 2
row "after_transfer idle_rss_kib $(proc_rss_kib "$BOB_PID")"
row "after_transfer idle_anon_kib $(proc_anon_kib "$BOB_PID")"
for v in big big2; do
	out=$(curl -s --unix-socket "$B/bob/p.sock" -X POST http://p/VolumeDriver.Remove -d "{\"Name\":\"$v\"}")
	[ "$out" = "{}" ] || die "removing $v: $out"
done
stop_bob
stop_pid "$ALICE_PID"

log "re-enabling the Docker plugin"
t0=$(now)
dk bench plugin enable privateer >/dev/null
for i in $(seq 1 600); do
	[ "$(dk bench volume ls -q 2>/dev/null | wc -l)" -ge "$N" ] && break
	sleep 0.1
done
row "privateer docker_enable_s $(sub "$(now)" "$t0")"
docker_rm privateer
docker_phase local
docker_rm local

# --- report -------------------------------------------------------------------
T_END=$(now)
g() { awk -v a="$1" -v b="$2" -v f="${3:-0}" '$1 == a && $2 == b { print $(3 + f) }' "$RESULTS"; }
echo
echo "privateer with many volumes — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(uname -r)"
echo "  $N volumes; filesystem ${BENCH_FS:-ext4}$([ "${BENCH_FS:-ext4}" = host ] || echo " (fresh, loop-mounted)"); $(dockerd --version)"
echo "  Docker calls: the Engine API calls of the docker CLI, one at a time, $S each (ls: 30),"
echo "  a new connection per call; ms per call"
printf '  %-26s %21s %21s %9s\n' "" "privateer p50 / p99" "local p50 / p99" "p99 p/l"
for k in create ls inspect rm; do
	printf '  %-26s %10s / %8s %10s / %8s %9s\n' "docker volume $k (API)" "$(g privateer $k)" "$(g privateer $k 1)" \
		"$(g local $k)" "$(g local $k 1)" "$(ratio "$(g privateer $k 1)" "$(g local $k 1)")"
done
printf '  %-26s %21s %21s\n' "docker volume ls (CLI, s)" "$(g privateer ls_cli_s)" "$(g local ls_cli_s)"
printf '  %-26s %21s %21s\n' "create $((N - S)), 4 at once (s)" "$(g privateer populate_s)" "$(g local populate_s)"
printf '  %-26s %21s %21s\n' "rm $((N - S)), 4 at once (s)" "$(g privateer rmrest_s)" "$(g local rmrest_s)"
echo "  the plugin:"
echo "    start-up until List answers, $N volumes: $(g privateer start_s) s (no volume: $(g empty start_s) s); docker plugin enable until ls shows them: $(g privateer docker_enable_s) s"
echo "    RSS idle, $N volumes: $(mib "$(g privateer idle_rss_kib)") MiB, $(mib "$(g privateer idle_anon_kib)") MiB of it anonymous, PSS $(mib "$(g privateer idle_pss_kib)") MiB (no volume: $(mib "$(g empty idle_rss_kib)") MiB, $(mib "$(g empty idle_anon_kib)") anonymous, PSS $(mib "$(g empty idle_pss_kib)"); in Docker after the calls above: $(mib "$(g privateer docker_plugin_rss_kib)") MiB); target <= 10 MiB: $(awk -v k="$(g empty idle_rss_kib)" 'BEGIN { print (k <= 10240 ? "PASS" : "MISS") }') (no volume)"
echo "    RSS during a backup of $BIG_MIB MiB ($(g alone wall_s) s), nothing else going on: peak $(mib "$(g alone peak_rss_kib)") MiB, $(mib "$(g alone after_rss_kib)") MiB after; target <= 64 MiB: $(awk -v k="$(g alone peak_rss_kib)" 'BEGIN { print (k <= 65536 ? "PASS" : "MISS") }')"
echo "    RSS during a backup of $BIG_MIB MiB with the mixed calls below: peak $(mib "$(g transfer peak_rss_kib)") MiB, idle after $(mib "$(g after_transfer idle_rss_kib)") MiB ($(mib "$(g after_transfer idle_anon_kib)") anonymous)"
echo "  $MIXED mixed VolumeDriver calls, $CLIENTS clients at once, nothing else going on:"
sed 's/^/    /' "$B/mixed-idle.out"
echo "  the same $MIXED mixed VolumeDriver calls, $CLIENTS clients at once, during that backup ($(g backup wall_s) s; calls all during it: $(g mixed during_backup)):"
sed 's/^/    /' "$B/mixed.out"
echo "    target p99 < 50 ms: $(awk -v p="$(g mixed all 1)" 'BEGIN { print (p < 50 ? "PASS" : "MISS") }') ($(g mixed all 1) ms), errors $(awk '$1 == "all" { print $5 }' "$B/mixed.out") (must be 0)"
echo "total bench time $(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.0f", b - a }') s"
echo "raw results:"
sed 's/^/  /' "$RESULTS"
