#!/usr/bin/env bash
# Benchmark (not a test): 20 clients backing up to one server at once.
#
# Twenty privateer client daemons c01..c20 (run directly, no Docker, as
# bench_replication.sh runs them), each with a volume "data" holding the
# same dataset (datasets.sh's `files`: SMALL_FILES real small files), and
# one privateer server daemon "alice". All 20 clients push at once
# (`privateer backup`), then after the seeded change push again
# (incremental), then all 20 restore at once into a new volume
# (`privateer restore --to-volume`). The same 20 transfers run through
# OpenSSH's sshd with rsync -a --delete (a mirror per client) as the
# comparison, in the same run, after privateer's. Per phase: wall time
# until the last one ends, failures (must be 0), the server's CPU
# (user+sys of its process and reaped children: sshd's sessions and their
# rsyncs, privateer's rsyncs), the server's RSS at its peak (sampled every
# 50 ms; for sshd the sum over its session processes) and when the phase
# is over, and the ratio privateer/sshd. The server's RSS idle before the
# first phase and after the last is printed too: twenty sessions must not
# leave memory behind.
#
#   usage: tests/bench/bench_many_clients.sh
#   knobs: BENCH_CLIENTS (20), SMALL_FILES (5000), BENCH_COLD (1: the page
#          cache is dropped before each phase), BENCH_FS (ext4: a fresh
#          loop-mounted ext4, see datasets.sh; host), BENCH_FS_SIZE (24G,
#          sparse), BENCH_DIR (/tmp), BENCH_KEEP=1, PRIVATEER_BUILD (build),
#          BENCH_SERVER_ENV (more environment for the server daemon, e.g.
#          GLIBC_TUNABLES=glibc.malloc.arena_max=1 to tell malloc's arenas
#          from a leak)
# Needs root (sshd; owners are kept). Network: 127.0.0.1 only. Everything
# lives in one temp dir, removed at the end; every process it starts is
# stopped by PID. It exits 0 when everything ran, whatever the figures;
# 1 if a transfer failed.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PRIVATEER_BUILD=${PRIVATEER_BUILD:-$SRC/build}
P=$PRIVATEER_BUILD/privateer
NC=${BENCH_CLIENTS:-20}
NFILES=${SMALL_FILES:-5000}
T_START=$(date +%s.%N)

. "$HERE/datasets.sh"
die() {
	log "ERROR: $*"
	exit 1
}
[ "$(id -u)" = 0 ] || die "run as root (owners are kept, sshd runs)"
for t in rsync ssh ssh-keygen curl jq; do
	command -v $t >/dev/null || die "$t is missing"
done
[ -x /usr/sbin/sshd ] || die "sshd is missing (apt-get install openssh-server)"
[ -x "$P" ] || die "no $P: build first"
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd

mkdir -p "${BENCH_DIR:-/tmp}"
B=$(mktemp -d "${BENCH_DIR:-/tmp}/privateer-many.XXXXXX")
BENCH_FS_LOOP=
PIDS=()
cleanup() {
	local rc=$? pid
	trap - EXIT
	set +e # a process already gone must not stop the clean-up
	for pid in "${PIDS[@]-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null; done
	for m in $(awk -v t="$B/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		[ "$m" = "$B" ] || umount -l "$m" 2>/dev/null
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		log "kept $B"
	else
		bench_fs_umount
		rm -rf "$B"
	fi
	[ $rc = 0 ] || log "failed (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_fs_mount "$B"
mkdir -p "$B/gen" "$B/srv/mirror" "$B/restore" "$B/res"
log "working in $B"
gen_files

# --- OpenSSH sshd ----------------------------------------------------------
port_free SSHD_PORT
mkdir -p "$B/sshd"
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$B/sshd/host_key"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$B/sshd/client_key"
cp "$B/sshd/client_key.pub" "$B/sshd/authorized_keys"
cat >"$B/sshd/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $B/sshd/host_key
PidFile $B/sshd/sshd.pid
AuthorizedKeysFile $B/sshd/authorized_keys
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
MaxStartups 100
LogLevel ERROR
EOF
/usr/sbin/sshd -t -f "$B/sshd/sshd_config" || die "sshd rejects its config"
/usr/sbin/sshd -D -f "$B/sshd/sshd_config" -E "$B/sshd/log" &
SSHD_PID=$!
PIDS+=("$SSHD_PID")
port_wait "$SSHD_PORT" sshd
SSH="ssh -p $SSHD_PORT -i $B/sshd/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
$SSH root@127.0.0.1 true </dev/null || die "cannot log in to the bench sshd"

# --- privateer: alice and the clients ----------------------------------------
port_free ALICE_PORT
CL=()
for i in $(seq 1 "$NC"); do CL+=("$(printf 'c%02d' "$i")"); done
clients_json=$(printf '{ "name": "%s", "backup": ["data"] },' "${CL[@]}")
cat >"$B/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $ALICE_PORT } ],
  "clients": [ ${clients_json%,} ],
  "volumes": [ { "name": "data" } ],
  "keys": { "store": "file", "path": "$B/keys" }
}
JSON
"$P" --config "$B/privateer.json" keygen --all >/dev/null
mkdir -p "$B/alice"
# shellcheck disable=SC2086
env ${BENCH_SERVER_ENV:-} PRIVATEER_CONFIG=$B/privateer.json PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1 \
	PRIVATEER_LOG_LEVEL=warn "$P" plugin --socket "$B/alice/p.sock" --state "$B/alice/state" \
	--mount-root "$B/alice/mnt" 2>"$B/alice/daemon.log" &
ALICE_PID=$!
PIDS+=("$ALICE_PID")
port_wait "$ALICE_PORT" alice
declare -A CPID
for c in "${CL[@]}"; do
	mkdir -p "$B/$c"
	PRIVATEER_CONFIG=$B/privateer.json PRIVATEER_NAME=$c PRIVATEER_LOG_LEVEL=warn \
		"$P" plugin --socket "$B/$c/p.sock" --state "$B/$c/state" --mount-root "$B/$c/mnt" \
		2>"$B/$c/daemon.log" &
	CPID[$c]=$!
	PIDS+=("$!")
done
for c in "${CL[@]}"; do
	for _ in $(seq 1 200); do [ -S "$B/$c/p.sock" ] && break; sleep 0.05; done
	out=$(curl -s --unix-socket "$B/$c/p.sock" -X POST http://p/VolumeDriver.Create -d '{"Name":"data"}')
	[ "$out" = "{}" ] || die "creating volume data on $c: $out"
	cp -a "$B/gen/files.initial/." "$B/$c/state/volumes/data/data/"
done
PC() { local c=$1; shift; "$P" --socket "$B/$c/p.sock" --config "$B/privateer.json" --as "$c" "$@"; }

# --- one phase: 20 at once ----------------------------------------------------
RESULTS=$B/results
: >"$RESULTS"
# one WHO PHASE: runs job WHO PHASE CLIENT for every client at once
phase() {
	local who=$1 ph=$2 srv tree= c t0 t1 cpu0 cpu1 fails=0 pids=() i=0
	if [ "$who" = privateer ]; then srv=$ALICE_PID; else srv=$SSHD_PID tree=tree; fi
	sync
	[ "${BENCH_COLD:-1}" = 0 ] || echo 3 >/proc/sys/vm/drop_caches
	cpu0=$(proc_cpu "$srv")
	rss_watch_start srv "$srv" $tree
	t0=$(now)
	for c in "${CL[@]}"; do
		job "$who" "$ph" "$c" >"$B/res/$who-$ph-$c.out" 2>&1 &
		pids+=("$!")
	done
	for c in "${CL[@]}"; do
		if ! wait "${pids[$i]}"; then
			fails=$((fails + 1))
			log "  $who $ph $c failed: $(tail -3 "$B/res/$who-$ph-$c.out" | tr '\n' ' ')"
		fi
		i=$((i + 1))
	done
	t1=$(now)
	sleep 0.5 # the server reaps its sessions
	cpu1=$(proc_cpu "$srv")
	local peak after
	rss_watch_stop srv
	peak=$RSS_PEAK
	after=$(if [ -n "$tree" ]; then tree_rss_kib "$srv"; else proc_rss_kib "$srv"; fi)
	printf '%s %s %s %s %s %s %s\n' "$who" "$ph" "$(sub "$t1" "$t0")" "$fails" "$(sub "$cpu1" "$cpu0")" \
		"$peak" "$after" >>"$RESULTS"
	log "  $who $ph: $(sub "$t1" "$t0") s, $fails failed, server CPU $(sub "$cpu1" "$cpu0") s, RSS peak $(mib "$peak") MiB, after $(mib "$after") MiB"
	[ "$fails" = 0 ] || die "$fails of $NC ${who} ${ph}s failed"
}
job() {
	local who=$1 ph=$2 c=$3 src=$B/$3/state/volumes/data/data
	case $who/$ph in
	privateer/restore) PC "$c" restore data --source "$c" --to-volume restored ;;
	privateer/*) PC "$c" backup data ;;
	sshd/restore)
		mkdir -p "$B/restore/$c"
		rsync -a --numeric-ids -e "$SSH" "root@127.0.0.1:$B/srv/mirror/$c/" "$B/restore/$c/" ;;
	sshd/*) rsync -a --delete --numeric-ids -e "$SSH" "$src/" "root@127.0.0.1:$B/srv/mirror/$c/" ;;
	esac
}

sleep 1
ALICE_IDLE0=$(proc_rss_kib "$ALICE_PID")
log "== $NC clients at once: initial backups"
phase privateer initial
phase sshd initial
log "== the change on every client, then incremental backups"
for c in "${CL[@]}"; do rsync -a --delete "$B/gen/files.changed/" "$B/$c/state/volumes/data/data/"; done
sleep 1 # a new second: new snapshot IDs
phase privateer incremental
phase sshd incremental
log "== $NC restores at once"
phase privateer restore
phase sshd restore
log "checking the $((2 * NC)) restored trees"
same() { diff -r -q --no-dereference "$B/gen/files.changed" "$1" >/dev/null; }
for c in "${CL[@]}"; do
	same "$B/$c/state/volumes/restored/data" &
	p1=$!
	same "$B/restore/$c" &
	p2=$!
	wait $p1 || die "privateer: $c's restore differs from the source"
	wait $p2 || die "sshd: $c's restore differs from the source"
done
sleep 3
ALICE_IDLE1=$(proc_rss_kib "$ALICE_PID")
ALICE_ANON1=$(proc_anon_kib "$ALICE_PID")
ALICE_THREADS=$(awk '/^Threads:/ { print $2 }' "/proc/$ALICE_PID/status")

# --- report -------------------------------------------------------------------
T_END=$(now)
echo
echo "privateer: $NC clients at once — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(uname -r)"
echo "  $(rsync --version | awk 'NR == 1 { print "rsync " $3 }'), $(ssh -V 2>&1 | cut -d, -f1); filesystem ${BENCH_FS:-ext4}$([ "${BENCH_FS:-ext4}" = host ] || echo " (fresh, loop-mounted)"); page cache dropped before each phase: $([ "${BENCH_COLD:-1}" = 0 ] && echo no || echo yes)"
echo "  dataset per client: $(find "$B/gen/files.initial" -type f | wc -l) real small files, $(du -s -B1 --apparent-size "$B/gen/files.initial" | cut -f1 | numfmt --to=si)B; change: seeded 1% edit + 0.1% deleted + 0.1% added"
echo "  privateer: $NC client daemons -> one privateer server (libssh, its rsync); sshd: $NC x rsync -a --delete -e ssh -> OpenSSH sshd"
echo "  time = until the last of the $NC ends; CPU = server user+sys (s); RSS = server, MiB (sshd: its processes summed)"
awk '
	{ t[$1, $2] = $3; f[$1, $2] = $4; cpu[$1, $2] = $5; peak[$1, $2] = $6; after[$1, $2] = $7 }
	function r(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
	END {
		printf "| phase | privateer time (s) | sshd time (s) | privateer / sshd | failed p/s | server CPU p / sshd (s) | server RSS peak p / sshd (MiB) | server RSS after p / sshd (MiB) |\n"
		printf "|---|---|---|---|---|---|---|---|\n"
		n = split("initial incremental restore", ph, " ")
		for (i = 1; i <= n; i++) { p = ph[i]
			printf "| %s | %.2f | %.2f | %s | %d / %d | %.2f / %.2f | %.1f / %.1f | %.1f / %.1f |\n", p,
				t["privateer", p], t["sshd", p], r(t["privateer", p], t["sshd", p]),
				f["privateer", p], f["sshd", p], cpu["privateer", p], cpu["sshd", p],
				peak["privateer", p] / 1024, peak["sshd", p] / 1024,
				after["privateer", p] / 1024, after["sshd", p] / 1024 }
	}' "$RESULTS"
echo "  privateer server idle: RSS $(mib "$ALICE_IDLE0") MiB before the first phase, $(mib "$ALICE_IDLE1") MiB ($(mib "$ALICE_ANON1") MiB anonymous, $ALICE_THREADS threads) after the last"
echo "total bench time $(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.0f", b - a }') s"
echo "raw results (who phase wall_s failed server_cpu_s rss_peak_kib rss_after_kib):"
sed 's/^/  /' "$RESULTS"
