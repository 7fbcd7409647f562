#!/usr/bin/env bash
# Benchmark (not a test): privateer's replication against the tools it is
# measured by, in one run on loopback, on two realistic datasets:
#
#   pgdata  a PostgreSQL data directory (initdb + pgbench -i -s SCALE),
#           stopped; changed by a fixed pgbench run (-t TX -c 1,
#           --random-seed=42), stopped again
#   files   SMALL_FILES real small files (a seeded sample of /usr/include
#           and /usr/share); changed by a seeded 1% edit (half appended to,
#           half rewritten in place), plus 0.1% deleted and 0.1% added
#
# Contenders, each backing up the same source directory (bob's volume):
#   privateer  two privateer daemons run directly (no Docker): "alice" as
#              the replication server, "bob" as the client; `privateer
#              backup` / `privateer restore --to-volume` over bob's socket
#   mirror     rsync -a --delete -e ssh to OpenSSH's sshd (privateer2's way)
#   rsnapshot  the same with --link-dest=../<previous> snapshots
#   restic     restic over sftp through the same sshd (if installed)
#
# sshd is started by the bench on a loopback port with its own config and
# host key. Every contender connects through a byte-counting TCP relay
# (replication/relay.c, compiled on the fly), so bytes on the wire are
# counted at the ssh layer, both directions, the same way for everyone.
# Reported per dataset: initial and incremental wall time as the client
# sees it, bytes on the wire, client and server CPU (user+sys), bytes
# stored on the server (du, allocated) and restore time, with the ratios
# privateer/other and PASS/MISS against the targets of the issue. It also
# measures the wire compression: the very rsync command line privateer runs
# (through `privateer transport`) on the pgdata change with no compression,
# lz4 and zstd. The targets are informational: the script exits 0 when
# everything ran, whatever the figures; non-zero only when something broke.
#
#   usage: tests/bench/bench_replication.sh
#   knobs: PGBENCH_SCALE (20), PGBENCH_TX (2000), SMALL_FILES (30000),
#          BENCH_DATASETS ("pgdata files": which to run),
#          BENCH_ROUNDS (3: every measurement is repeated on fresh targets,
#          contenders in rotated order; the tables show medians),
#          BENCH_DIR (parent of the temp dir, /tmp), BENCH_KEEP=1 (keep it),
#          BENCH_LOGS (a directory: the two daemons' logs are copied there,
#          with where alice's time went per snapshot),
#          BENCH_FS (ext4: a fresh loop-mounted ext4, see datasets.sh; btrfs,
#          xfs: the same with those, where privateer's store shares blocks;
#          host; a list, e.g. host,ext4,xfs,btrfs: one whole run on each,
#          then every filesystem's steps table together),
#          BENCH_COLD (1: the page cache is dropped before every timed step;
#          0: not),
#          BENCH_CONTENDERS ("privateer mirror rsnapshot restic": a
#          shorter list for quick A/B runs; privateer and mirror are needed
#          for the steps table),
#          BENCH_FS_SIZE (24G, sparse), BENCH_STORE_COMPRESSION (zstd: the
#          btrfs store's compression; none),
#          PRIVATEER_BUILD (build), PG_USER (benchpg, created if missing)
# Needs root (owners are kept; sshd; postgres runs as PG_USER). Missing
# Debian packages are installed, the user PG_USER is created if missing and
# /run/sshd (sshd's privilege separation directory) if missing; everything
# else lives in one temp dir, removed at the end. Network: 127.0.0.1 only.
# Every process it starts is stopped by PID on exit.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PRIVATEER_BUILD=${PRIVATEER_BUILD:-$SRC/build}
P=$PRIVATEER_BUILD/privateer
SCALE=${PGBENCH_SCALE:-20}
TX=${PGBENCH_TX:-2000}
NFILES=${SMALL_FILES:-30000}
ROUNDS=${BENCH_ROUNDS:-3}
DATASETS=${BENCH_DATASETS:-pgdata files}
want() { case " $DATASETS " in *" $1 "*) return 0 ;; esac; return 1; }
PG_USER=${PG_USER:-benchpg}
T_START=$(date +%s.%N)

. "$HERE/datasets.sh"
die() {
	log "ERROR: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (owners are kept, sshd runs, postgres runs as $PG_USER)"

# BENCH_FS=host,ext4,xfs,btrfs: the whole benchmark once per filesystem,
# one after the other, then every filesystem's steps table together.
case ${BENCH_FS:-ext4} in
*,*)
	outs=()
	IFS=, read -r -a fss <<<"$BENCH_FS"
	for fs in "${fss[@]}"; do
		out=$(mktemp "${TMPDIR:-/tmp}/privateer-bench-$fs.XXXXXX")
		outs+=("$out")
		log "=== BENCH_FS=$fs (its whole output: $out)"
		BENCH_FS=$fs "$0" >"$out" || die "the run on $fs failed (see $out)"
		cat "$out"
	done
	echo
	echo "=== every filesystem: the steps tables"
	for out in "${outs[@]}"; do
		awk '/^== steps on /, /^$/' "$out" | sed '/^$/d'
		echo
	done
	exit 0
	;;
esac

# --- tools -----------------------------------------------------------------
missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_cmd rsync rsync
need_cmd ssh openssh-client
need_cmd ssh-keygen openssh-client
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
need_cmd gcc gcc
need_cmd curl curl
need_cmd jq jq
need_cmd restic restic
[ "${BENCH_FS:-ext4}" != btrfs ] || need_cmd compsize btrfs-compsize
[ -n "$(pg_bindir)" ] || missing+=(postgresql postgresql-contrib)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	apt-get update -qq || true
	for pkg in $(printf '%s\n' "${missing[@]}" | sort -u); do
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" \
			>/dev/null 2>&1 || log "could not install $pkg"
	done
fi
for t in rsync ssh ssh-keygen gcc curl jq; do
	command -v $t >/dev/null || die "$t is missing"
done
[ -x /usr/sbin/sshd ] || die "sshd is missing (apt-get install openssh-server)"
PGBIN=$(pg_bindir)
[ -n "$PGBIN" ] || die "initdb/pg_ctl/pgbench not found (apt-get install postgresql)"
HAVE_RESTIC=0
command -v restic >/dev/null && HAVE_RESTIC=1
[ $HAVE_RESTIC = 1 ] || log "restic is not installed and could not be: its column is skipped"
if [ ! -x "$P" ]; then
	log "building privateer in $PRIVATEER_BUILD"
	cmake -S "$SRC" -B "$PRIVATEER_BUILD" >/dev/null && cmake --build "$PRIVATEER_BUILD" -j"$(nproc)" >/dev/null ||
		die "build failed (dev/setup-debian installs the build dependencies)"
fi
id -u "$PG_USER" >/dev/null 2>&1 ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" ||
	die "cannot create user $PG_USER"
# sshd insists on its privilege separation directory (systemd makes it).
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd

# --- workspace and clean-up ------------------------------------------------
mkdir -p "${BENCH_DIR:-/tmp}"
B=$(mktemp -d "${BENCH_DIR:-/tmp}/privateer-bench.XXXXXX")
BENCH_FS_LOOP=
PIDS=()
PG_RUNNING=
cleanup() {
	local rc=$? pid
	trap - EXIT
	if [ -n "$PG_RUNNING" ]; then
		runuser -u "$PG_USER" -- "$PGBIN/pg_ctl" -D "$PG_RUNNING" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "${BENCH_LOGS:-}" ]; then
		mkdir -p "$BENCH_LOGS"
		cp "$B/alice/daemon.log" "$BENCH_LOGS/alice-${BENCH_FS:-ext4}.log" 2>/dev/null || true
		cp "$B/bob/daemon.log" "$BENCH_LOGS/bob-${BENCH_FS:-ext4}.log" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		log "kept $B${BENCH_FS_LOOP:+ (mounted from $BENCH_FS_LOOP)}"
	else
		bench_fs_umount
		rm -rf "$B"
	fi
	[ $rc = 0 ] || log "failed (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log "working in $B"
bench_fs_mount "$B"
chmod 755 "$B" # postgres (as $PG_USER) works under it
mkdir -p "$B/gen" "$B/srv" "$B/restore" "$B/pgsock"
chown "$PG_USER" "$B/gen" "$B/pgsock"

PORTS=" "
# free_port VAR: a loopback port nobody listens on (and not handed out yet)
free_port() {
	local p i
	for i in $(seq 1 500); do
		p=$((20000 + RANDOM % 40000))
		case "$PORTS" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			PORTS+="$p "
			printf -v "$1" %s "$p"
			return
		fi
	done
	die "no free port"
}
wait_port() {
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
		sleep 0.1
	done
	die "nothing listens on 127.0.0.1:$1 ($2)"
}

# --- relay -----------------------------------------------------------------
gcc -O2 -o "$B/relay" "$HERE/replication/relay.c" || die "cannot compile the relay"
# start_relay NAME TARGET_PORT: sets RELAY_PORT; counters in $B/NAME.cnt
start_relay() {
	free_port RELAY_PORT
	"$B/relay" "$RELAY_PORT" "$2" "$B/$1.cnt" 2>>"$B/$1.log" &
	PIDS+=($!)
	wait_port "$RELAY_PORT" "relay $1"
}
wire_total() { od -An -t u8 -N 16 "$1" | awk '{ printf "%.0f\n", $1 + $2 }'; }
wire_idle() {
	local i
	for i in $(seq 1 200); do
		[ "$(od -An -t u8 -j 16 -N 8 "$1" | tr -d ' ')" = 0 ] && return
		sleep 0.05
	done
	log "warning: a connection through $1 is still open"
}
TCK=$(getconf CLK_TCK)
# CPU seconds (user+sys) of the reaped descendants of PID; with "all", of
# PID itself too (a privateer daemon does its ssh work in its own threads,
# where sshd does it in children).
cpu_of() {
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- "$2" $s
	if [ "$1" = all ]; then echo "${13} ${14} ${15} ${16}"; else echo "${15} ${16}"; fi |
		awk -v t="$TCK" '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.2f", s / t }'
}
cpu_children() { cpu_of "$1" children; }
cpu_all() { cpu_of "$1" all; }
# Waits until PID and its children have used no CPU for half a second
# (at most a minute): alice's work after a backup (manifest, retention,
# the next push's copy on a reflink store, usage) is hers, not whoever's
# step comes next.
cpu_quiet() {
	local i a b
	b=$(cpu_all "$1")
	for i in $(seq 1 120); do
		sleep 0.5
		a=$b
		b=$(cpu_all "$1")
		[ "$a" != "$b" ] || return 0
	done
	log "warning: $1 still busy after a minute"
}

# --- OpenSSH sshd ----------------------------------------------------------
free_port SSHD_PORT
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
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
/usr/sbin/sshd -t -f "$B/sshd/sshd_config" || die "sshd rejects its config"
/usr/sbin/sshd -D -f "$B/sshd/sshd_config" -E "$B/sshd/log" &
SSHD_PID=$!
PIDS+=("$SSHD_PID")
wait_port "$SSHD_PORT" sshd
start_relay sshd "$SSHD_PORT"
SSHD_RELAY=$RELAY_PORT
SSH="ssh -p $SSHD_RELAY -i $B/sshd/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
# The same without the relay, to show what the relay itself costs.
SSH_DIRECT=${SSH/-p $SSHD_RELAY /-p $SSHD_PORT }
$SSH root@127.0.0.1 true </dev/null || die "cannot log in to the bench sshd"

# --- privateer: alice (server) and bob (client) -----------------------------
free_port ALICE_PORT
start_relay alice "$ALICE_PORT" # started before alice: it only connects on demand
ALICE_RELAY=$RELAY_PORT
mkdir -p "$B/alice" "$B/bob"
# The same fleet; bob reaches alice through the relay. A volume per dataset
# and round, so every round's initial backup starts from nothing.
VOLS=
for r in $(seq 1 "$ROUNDS"); do VOLS+="${VOLS:+, }\"pgdata$r\", \"files$r\", \"cmp$r\""; done
for who in alice bob; do
	port=$ALICE_PORT
	[ $who = bob ] && port=$ALICE_RELAY
	cat >"$B/$who/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": [$VOLS] } ],
  "volumes": [ $(echo "$VOLS" | sed 's/\("[a-z0-9]*"\)/{ "name": \1 }/g') ],
  "keys": { "store": "file", "path": "$B/keys" },
  "store": { "compression": "${BENCH_STORE_COMPRESSION:-zstd}" }
}
JSON
done
"$P" --config "$B/alice/privateer.json" keygen --all >/dev/null
PRIVATEER_CONFIG=$B/alice/privateer.json PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1 \
	"$P" plugin --socket "$B/alice/p.sock" --state "$B/alice/state" --mount-root "$B/alice/mnt" \
	2>"$B/alice/daemon.log" &
ALICE_PID=$!
PIDS+=("$ALICE_PID")
PRIVATEER_CONFIG=$B/bob/privateer.json PRIVATEER_NAME=bob \
	"$P" plugin --socket "$B/bob/p.sock" --state "$B/bob/state" --mount-root "$B/bob/mnt" \
	2>"$B/bob/daemon.log" &
BOB_PID=$!
PIDS+=("$BOB_PID")
wait_port "$ALICE_PORT" "privateer alice"
for _ in $(seq 1 100); do [ -S "$B/bob/p.sock" ] && break; sleep 0.1; done
PB() { "$P" --socket "$B/bob/p.sock" --config "$B/bob/privateer.json" --as bob "$@"; }
bob_volume() {
	local out
	out=$(curl -s --unix-socket "$B/bob/p.sock" -X POST http://p/VolumeDriver.Create -d "{\"Name\":\"$1\"}")
	[ "$out" = "{}" ] || die "creating volume $1 on bob: $out"
}
bob_volume_rm() { # removes, and waits for the reaper so it costs nothing later
	local out i
	out=$(curl -s --unix-socket "$B/bob/p.sock" -X POST http://p/VolumeDriver.Remove -d "{\"Name\":\"$1\"}")
	[ "$out" = "{}" ] || die "removing volume $1 on bob: $out"
	for i in $(seq 1 1200); do
		[ -z "$(ls -A "$B/bob/state/volumes/.trash" 2>/dev/null)" ] && return
		sleep 0.1
	done
}
ASTORE=$B/alice/state/server/bob
BVOL=$B/bob/state/volumes
# The key material `privateer transport` reads, as bob's daemon hands it.
jq -n --arg p "$(jq -r .private "$B/keys/bob")" --arg h "$(jq -r .public "$B/keys/alice")" \
	'{private: $p, host_key: $h, server: "alice"}' >"$B/secrets.json"
chmod 600 "$B/secrets.json"

# --- restic ----------------------------------------------------------------
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$B/restic-cache
R() {
	local ds=$1
	shift
	restic -r "sftp:root@127.0.0.1:$B/srv/restic/$ds" -o "sftp.command=$SSH root@127.0.0.1 -s sftp" "$@"
}

# --- measurement -------------------------------------------------------------
RESULTS=$B/results
: >"$RESULTS"
# op DATASET CONTENDER PHASE COMMAND...: wall time, wire bytes, CPU of the
# client (this shell's reaped children: rsync, ssh, restic, the CLI; for
# privateer also bob's daemon and its rsync and transport) and of the server
# (sshd and its descendants, or alice and hers).
op() {
	local ds=$1 who=$2 phase=$3 cnt srv w0 w1 s0 s1 c0 c1 b0=0 b1=0 t0 t1
	shift 3
	case $who in
	privateer | xfer-*) cnt=$B/alice.cnt srv=$ALICE_PID ;;
	*) cnt=$B/sshd.cnt srv=$SSHD_PID ;;
	esac
	sync # nobody pays for the previous contender's dirty pages
	# Nobody finds the data in memory either: what a restore in an outage,
	# or a nightly backup, meets.
	[ "${BENCH_COLD:-1}" = 0 ] || echo 3 >/proc/sys/vm/drop_caches
	w0=$(wire_total "$cnt")
	s0=$(cpu_all "$srv")
	[ "$who" != privateer ] || b0=$(cpu_all "$BOB_PID")
	c0=$(cpu_children $$)
	t0=$(now)
	if ! "$@" >"$B/op.out" 2>&1; then
		cat "$B/op.out" >&2
		die "$who: $phase of $ds failed"
	fi
	t1=$(now)
	# The mirror made as durable as privateer: its target synced too.
	if [ -n "${OP_SYNC:-}" ]; then
		sync -f "$OP_SYNC"
		printf '%s %s-sync %s %s %s 0 0 0\n' "$ds" "$who" "$phase" "$ROUND" "$(sub "$(now)" "$t0")" >>"$RESULTS"
	fi
	c1=$(cpu_children $$)
	wire_idle "$cnt"
	sleep 0.3 # servers reap their session processes
	# alice's work after a push (usage, marks) is hers, and it writes
	# beside the snapshots that bench_compression removes after its last.
	case $who in privateer | xfer-*) cpu_quiet "$srv" ;; esac
	w1=$(wire_total "$cnt")
	s1=$(cpu_all "$srv")
	[ "$who" != privateer ] || b1=$(cpu_all "$BOB_PID")
	printf '%s %s %s %s %s %s %s %s\n' "$ds" "$who" "$phase" "$ROUND" "$(sub "$t1" "$t0")" $((w1 - w0)) \
		"$(awk -v a="$c0" -v b="$c1" -v c="$b0" -v d="$b1" 'BEGIN { printf "%.2f", b - a + d - c }')" \
		"$(sub "$s1" "$s0")" >>"$RESULTS"
	log "  $who $phase: $(sub "$t1" "$t0") s, $((w1 - w0)) bytes on the wire, CPU client $(tail -1 "$RESULTS" | cut -d' ' -f7) s, server $(tail -1 "$RESULTS" | cut -d' ' -f8) s"
	[ "$who" != privateer ] || log "    $(tail -n 1 "$B/op.out")"
}
# Bytes a directory costs its filesystem, blocks shared by several files
# (hard links, reflinks, btrfs snapshots) counted once, after compression:
# du on ext4 and for trees that share by hard links only; on btrfs
# compsize (every extent once, on-disk size); privateer on XFS by its own
# count (FIEMAP extents, shared ranges once: privateer status).
stored_bytes() { # stored_bytes CONTENDER DIR
	local who=$1 dir=$2
	sync
	case ${BENCH_FS:-ext4} in
	btrfs)
		btrfs filesystem sync "$dir" >/dev/null 2>&1 || true
		compsize -b "$dir" 2>/dev/null | awk '$1 == "TOTAL" { print $3; f = 1 } END { if (!f) print 0 }' ;;
	xfs)
		if [ "$who" = privateer ]; then
			"$P" --socket "$B/alice/p.sock" status --json |
				jq -r --arg v "$(basename "$dir")" '.Clients.bob.volumes[$v].bytes'
		else du -s -B1 "$dir" | cut -f1; fi ;;
	*) du -s -B1 "$dir" | cut -f1 ;;
	esac
}
stored() { # stored DATASET CONTENDER DIR
	printf '%s %s stored %s %s\n' "$1" "$2" "$ROUND" "$(stored_bytes "$2" "$3")" >>"$RESULTS"
}
# Removes privateer's snapshots of a volume: read-only subvolumes on btrfs.
rm_snapshots() { # rm_snapshots DIR
	local d
	if [ "${BENCH_FS:-ext4}" = btrfs ]; then
		for d in "$1"/*/ "$1"/.*/; do
			[ -d "$d" ] || continue
			btrfs subvolume show "$d" >/dev/null 2>&1 &&
				btrfs subvolume delete "$d" >/dev/null
		done
	fi
	rm -rf "$1"
}
same_tree() { # same_tree A B WHO: contents, links and modes must match
	diff -r -q --no-dereference "$1" "$2" >"$B/diff.out" 2>&1 ||
		{ head "$B/diff.out" >&2; die "$3: the restored tree differs from the source"; }
}

# --- datasets ----------------------------------------------------------------
describe() { # describe DATASET: size, files, what the change is
	local i=$B/gen/$1.initial c=$B/gen/$1.changed st
	st=$(rsync -a -n --delete --stats "$c/" "$i/" 2>/dev/null)
	printf '%s %s %s %s %s\n' "$(du -s -B1 --apparent-size "$i" | cut -f1)" \
		"$(find "$i" -type f | wc -l)" \
		"$(echo "$st" | awk -F': ' '/Number of regular files transferred/ { gsub(",", "", $2); print $2 }')" \
		"$(echo "$st" | awk -F': ' '/Total transferred file size/ { gsub(",", "", $2); sub(" .*", "", $2); print $2 }')" \
		"$(echo "$st" | awk -F': ' '/Number of deleted files/ { gsub(",", "", $2); sub(" .*", "", $2); print $2 }')"
}

# --- one dataset through every contender -------------------------------------
CONTENDERS=()
for who in ${BENCH_CONTENDERS:-privateer mirror rsnapshot restic}; do
	[ "$who" != restic ] || [ $HAVE_RESTIC = 1 ] || continue
	CONTENDERS+=("$who")
done
has() { case " ${CONTENDERS[*]} " in *" $1 "*) return 0 ;; esac; return 1; }
# the contenders in this round's order (rotated by one each round)
in_order() {
	local n=${#CONTENDERS[@]} i
	for i in $(seq 0 $((n - 1))); do echo "${CONTENDERS[$(((i + ROUND - 1) % n))]}"; done
}
# backup WHO DATASET PHASE: into this round's targets
backup() {
	local who=$1 ds=$2 phase=$3 vol=$2$ROUND src=$BVOL/$2$ROUND/data
	case $who in
	privateer) op "$ds" privateer "$phase" PB backup "$vol" ;;
	mirror) mkdir -p "$B/srv/mirror/$vol"
		OP_SYNC=$B/srv/mirror/$vol op "$ds" mirror "$phase" rsync -a --delete --numeric-ids -e "$SSH" \
		"$src/" "root@127.0.0.1:$B/srv/mirror/$vol/" ;;
	rsnapshot)
		if [ "$phase" = initial ]; then
			op "$ds" rsnapshot "$phase" rsync -a --delete --numeric-ids -e "$SSH" \
				"$src/" "root@127.0.0.1:$B/srv/snap/$vol/1/"
		else
			op "$ds" rsnapshot "$phase" rsync -a --delete --numeric-ids --link-dest=../1 -e "$SSH" \
				"$src/" "root@127.0.0.1:$B/srv/snap/$vol/2/"
		fi ;;
	restic) op "$ds" restic "$phase" R "$vol" backup --host bench -q "$src" ;;
	mirror-direct) op "$ds" mirror-direct "$phase" rsync -a --delete --numeric-ids -e "$SSH_DIRECT" \
		"$src/" "root@127.0.0.1:$B/srv/direct/$vol/" ;;
	esac
}
# restore WHO DATASET: the latest into an empty place, checked in round 1
restore() {
	local who=$1 ds=$2 vol=$2$ROUND src=$BVOL/$2$ROUND/data dst=$B/restore/$1-$2$ROUND got
	case $who in
	privateer)
		op "$ds" privateer restore PB restore "$vol" --to-volume "$vol-restored"
		got=$BVOL/$vol-restored/data ;;
	mirror)
		mkdir -p "$dst"
		OP_SYNC=$dst op "$ds" mirror restore rsync -a --numeric-ids -e "$SSH" "root@127.0.0.1:$B/srv/mirror/$vol/" "$dst/"
		got=$dst ;;
	rsnapshot)
		op "$ds" rsnapshot restore rsync -a --numeric-ids -e "$SSH" "root@127.0.0.1:$B/srv/snap/$vol/2/" "$dst/"
		got=$dst ;;
	restic)
		op "$ds" restic restore R "$vol" restore latest --host bench --target "$dst"
		got=$dst$src ;;
	esac
	[ "$ROUND" != 1 ] || same_tree "$src" "$got" "$who"
}
bench_dataset() {
	local ds=$1 vol=$1$ROUND who
	log "== $ds, round $ROUND/$ROUNDS: initial"
	bob_volume "$vol"
	cp -a "$B/gen/$ds.initial/." "$BVOL/$vol/data/"
	mkdir -p "$B/srv/mirror" "$B/srv/snap/$vol" "$B/srv/restic" "$B/srv/direct"
	! has restic || R "$vol" init --repository-version 2 -q >/dev/null
	for who in $(in_order); do backup "$who" "$ds" initial; done
	# Once, the mirror not through the relay: what the relay itself costs.
	[ "$ROUND" != 1 ] || ! has mirror || backup mirror-direct "$ds" initial

	log "== $ds, round $ROUND/$ROUNDS: the change, then incremental"
	rsync -a --delete "$B/gen/$ds.changed/" "$BVOL/$vol/data/"
	sleep 1 # a new second: a new snapshot ID on alice
	for who in $(in_order); do backup "$who" "$ds" incremental; done
	! has privateer || stored "$ds" privateer "$ASTORE/$vol"
	! has mirror || stored "$ds" mirror "$B/srv/mirror/$vol"
	! has rsnapshot || stored "$ds" rsnapshot "$B/srv/snap/$vol"
	! has restic || stored "$ds" restic "$B/srv/restic/$vol"

	log "== $ds, round $ROUND/$ROUNDS: restore of the latest into an empty place"
	for who in $(in_order); do restore "$who" "$ds"; done

	# This round's figures are taken: free the space, outside any timing.
	rm -rf "$B/restore/"*"-$vol" "$B/srv/mirror/$vol" "$B/srv/snap/$vol" "$B/srv/restic/$vol" "$B/srv/direct/$vol"
	rm_snapshots "${ASTORE:?}/$vol"
	bob_volume_rm "$vol-restored"
	bob_volume_rm "$vol"
}

# The compression on the wire: privateer's own rsync command line through
# `privateer transport`, on the same pgdata change from the same base
# (the base is pushed back between runs), without -z, with lz4 and with zstd.
# A privateer that streams progress to the CLI adds --info=progress2 to it,
# and --no-inc-recursive (`backup --dry-run` shows neither); -AX only for
# a volume with ACLs or xattrs, which pgdata has not.
PROGRESS_OPTS=()
grep -qa -- --no-inc-recursive "$P" && PROGRESS_OPTS=(--info=progress2 --no-inc-recursive)
xfer() { # xfer SRC [OPTION]: one push into this round's volume cmpN
	local s=$1 inplace=()
	shift
	# Into a copy-on-write store privateer pushes in place (store.h).
	grep -q 'snapshot store: \(btrfs\|reflink\)' "$B/alice/daemon.log" &&
		inplace=(--inplace --delete)
	/usr/bin/rsync -rlptgoH "${inplace[@]}" --numeric-ids --timeout=600 \
		-e "$P transport --secrets-fd 3 --port $ALICE_RELAY" "$@" --stats "${PROGRESS_OPTS[@]}" \
		"$s/" "127.0.0.1:cmp$ROUND/" 3<"$B/secrets.json"
}
bench_compression() {
	local c i=$B/gen/pgdata.initial ch=$B/gen/pgdata.changed n=0
	local order=(none lz4 zstd)
	log "== wire compression, round $ROUND/$ROUNDS: the pgdata change by privateer's rsync command line${PROGRESS_OPTS[*]:+ (with ${PROGRESS_OPTS[*]})}"
	xfer "$i" --compress-choice=zstd >/dev/null
	cpu_quiet "$ALICE_PID"
	for c in "${order[@]:$(((ROUND - 1) % 3))}" "${order[@]:0:$(((ROUND - 1) % 3))}"; do
		sleep 1
		if [ "$c" = none ]; then
			op pgdata "xfer-$c" incremental xfer "$ch"
		else
			op pgdata "xfer-$c" incremental xfer "$ch" --compress-choice="$c"
		fi
		n=$((n + 1))
		[ $n = 3 ] && break
		sleep 1
		xfer "$i" --compress-choice=zstd >/dev/null # back to the base
		cpu_quiet "$ALICE_PID"
	done
	rm_snapshots "${ASTORE:?}/cmp$ROUND"
}

if want pgdata; then
	gen_pgdata
	read -r PG_BYTES PG_FILES PG_CHANGED PG_CHBYTES PG_DELETED <<<"$(describe pgdata)"
fi
if want files; then
	gen_files
	read -r F_BYTES F_FILES F_CHANGED F_CHBYTES F_DELETED <<<"$(describe files)"
fi
for ROUND in $(seq 1 "$ROUNDS"); do
	if want pgdata; then
		bench_dataset pgdata
		bench_compression
	fi
	want files && bench_dataset files
done

# --- report --------------------------------------------------------------------
T_END=$(now)
ver() { "$@" 2>/dev/null | head -1 || true; }
echo
echo "privateer replication benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
echo "  privateer $("$P" version | awk '{ print $2 }'), $(ver rsync --version | awk '{ print "rsync " $3 }'), $(ssh -V 2>&1 | cut -d, -f1)$([ $HAVE_RESTIC = 1 ] && echo ", $(ver restic version | awk '{ print "restic " $2 }')"), $(ver "$PGBIN/postgres" --version)"
echo "  median of $ROUNDS round(s), contenders in rotated order, each round on fresh targets;"
echo "  all on 127.0.0.1, every connection through the same byte-counting relay;"
echo "  wire = TCP payload both ways at the ssh layer; CPU = user+sys seconds;"
STORE_METHOD=$(sed -n 's/.*snapshot store: \([a-z]*\).*/\1/p' "$B/alice/daemon.log" | head -1)
echo "  filesystem: ${BENCH_FS:-ext4}$([ "${BENCH_FS:-ext4}" = host ] || echo " (fresh, loop-mounted)"); privateer's store: $STORE_METHOD"
case ${BENCH_FS:-ext4} in
btrfs) echo "  stored = compsize -b (on-disk bytes, each extent once) of the server side after initial + incremental" ;;
xfs) echo "  stored = du -B1 of the server side after initial + incremental; privateer's by its status (extents, shared once)" ;;
*) echo "  stored = du -B1 (allocated) of the server side after initial + incremental" ;;
esac
echo "  privateer: rsync -rlptgoH (+AX if the volume has ACLs/xattrs; these have none) --numeric-ids"
echo "    --compress-choice=zstd${PROGRESS_OPTS[*]:+ ${PROGRESS_OPTS[*]}} over its libssh server, a new snapshot per backup"
case $STORE_METHOD in
btrfs) echo "    (a writable btrfs snapshot of the last, rewritten in place: --inplace --delete, then read-only;"
	echo "    compression ${BENCH_STORE_COMPRESSION:-zstd})" ;;
reflink) echo "    (a reflink clone of the last, rewritten in place: --inplace --delete)" ;;
*) echo "    (unchanged files hard-linked to the last: --link-dest)" ;;
esac
echo "    syncfs before it is published (written back while rsync writes); restores with -AX into an empty dir (--inplace on btrfs), synced before they are handed over"
echo "  mirror: rsync -a --delete --numeric-ids -e ssh (OpenSSH defaults, no compression)"
echo "  rsnapshot: the same into <n>/ with --link-dest=../<n-1>"
[ $HAVE_RESTIC = 1 ] && echo "  restic: backup/restore over sftp (same sshd), repository v2, compression auto" ||
	echo "  restic: not installed — skipped"
# medians over the rounds: DATASET CONTENDER KEY MEDIAN MIN MAX
awk '
	function add(k, x) { n[k]++; val[k, n[k]] = x }
	$3 == "stored" { add($1 " " $2 " stored", $5); next }
	{ add($1 " " $2 " " $3 "_t", $5); add($1 " " $2 " " $3 "_w", $6)
	  add($1 " " $2 " " $3 "_cc", $7); add($1 " " $2 " " $3 "_cs", $8) }
	END {
		for (k in n) {
			m = n[k]
			for (i = 1; i <= m; i++) a[i] = val[k, i] + 0
			for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
			printf "%s %.3f %.3f %.3f\n", k, med, a[1], a[m]
		}
	}' "$RESULTS" | LC_ALL=C sort >"$B/medians"
report() { # report DATASET TITLE
	awk -v ds="$1" -v title="$2" -v restic="$HAVE_RESTIC" '
	function hb(x) {
		if (x == "") return "n/a"
		if (x >= 1e9) return sprintf("%.2f GB", x / 1e9)
		if (x >= 1e6) return sprintf("%.1f MB", x / 1e6)
		if (x >= 1e3) return sprintf("%.1f kB", x / 1e3)
		return sprintf("%d B", x)
	}
	function fmt(v, kind) {
		if (v == "") return "n/a"
		return kind == "b" ? hb(v) : sprintf("%.2f", v)
	}
	function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
	function row(label, key, kind,   p, m, r, s) {
		p = v["privateer", key]; m = v["mirror", key]; r = v["rsnapshot", key]; s = v["restic", key]
		printf "  %-26s %11s %11s %11s %11s %9s %9s %9s\n", label, fmt(p, kind), fmt(m, kind),
			fmt(r, kind), fmt(s, kind), ratio(p, m), ratio(p, r), ratio(p, s)
	}
	function mm(w, k) { return v[w, k] == "" ? "n/a" : sprintf("%.1f-%.1f", lo[w, k], hi[w, k]) }
	function spread(label, k) {
		printf "  %-26s %11s %11s %11s %11s\n", label, mm("privateer", k), mm("mirror", k),
			mm("rsnapshot", k), mm("restic", k)
	}
	function target(label, val, lim, what) {
		if (val == "" || lim == "" || lim + 0 == 0) { printf "  %-58s %s\n", label, "n/a"; return }
		printf "  %-58s %6.2f  %s  (%s)\n", label, val / lim, (val <= lim ? "PASS" : "MISS"), what
	}
	$1 == ds { v[$2, $3] = $4; lo[$2, $3] = $5; hi[$2, $3] = $6 }
	END {
		print ""
		print "== " title
		printf "  %-26s %11s %11s %11s %11s %9s %9s %9s\n", "", "privateer", "mirror",
			"rsnapshot", "restic", "p/mirror", "p/rsnap", "p/restic"
		row("initial time (s)", "initial_t", "s")
		row("initial wire", "initial_w", "b")
		row("initial CPU client (s)", "initial_cc", "s")
		row("initial CPU server (s)", "initial_cs", "s")
		row("incremental time (s)", "incremental_t", "s")
		row("incremental wire", "incremental_w", "b")
		row("incremental CPU client (s)", "incremental_cc", "s")
		row("incremental CPU server (s)", "incremental_cs", "s")
		row("stored (initial+incr.)", "stored", "b")
		row("restore time (s)", "restore_t", "s")
		row("restore wire", "restore_w", "b")
		row("restore CPU client (s)", "restore_cc", "s")
		row("restore CPU server (s)", "restore_cs", "s")
		spread("initial time min-max (s)", "initial_t")
		spread("incremental time min-max", "incremental_t")
		spread("restore time min-max (s)", "restore_t")
		best = v["mirror", "restore_t"]; bw = "mirror"
		if (v["rsnapshot", "restore_t"] != "" && v["rsnapshot", "restore_t"] < best) { best = v["rsnapshot", "restore_t"]; bw = "rsnapshot" }
		if (v["restic", "restore_t"] != "" && v["restic", "restore_t"] < best) { best = v["restic", "restore_t"]; bw = "restic" }
		print "  targets (value = privateer / limit; <= 1.00 is PASS):"
		target("initial time <= 0.9 x mirror", v["privateer", "initial_t"], 0.9 * v["mirror", "initial_t"],
			sprintf("%.2fx mirror", v["privateer", "initial_t"] / v["mirror", "initial_t"]))
		target("incremental time <= 0.9 x mirror", v["privateer", "incremental_t"], 0.9 * v["mirror", "incremental_t"],
			sprintf("%.2fx mirror", v["privateer", "incremental_t"] / v["mirror", "incremental_t"]))
		if (restic) target("incremental wire <= restic", v["privateer", "incremental_w"], v["restic", "incremental_w"],
			sprintf("%s vs %s", hb(v["privateer", "incremental_w"]), hb(v["restic", "incremental_w"])))
		else target("incremental wire <= restic", "", "", "")
		target("restore time <= 0.9 x fastest other (" bw ")", v["privateer", "restore_t"], 0.9 * best,
			sprintf("%.2fx %s", v["privateer", "restore_t"] / best, bw))
		if (restic) target("stored after two backups <= 2 x restic", v["privateer", "stored"], 2 * v["restic", "stored"],
			sprintf("%.2fx restic", v["privateer", "stored"] / v["restic", "stored"]))
	}' "$B/medians"
}
relay_cost() { # round 1's mirror initial with and without the relay
	awk -v ds="$1" '$1 == ds && $3 == "initial" && $4 == 1 && $2 == "mirror" { r = $5 }
		$1 == ds && $3 == "initial" && $4 == 1 && $2 == "mirror-direct" { d = $5 }
		END { if (r != "" && d != "") printf "  relay cost (round 1): mirror initial %.2f s through the relay, %.2f s straight to sshd (%.2fx)\n", r, d, r / d }' "$RESULTS"
}
# The mirror, the mirror made durable, privateer: a step per row, medians
# and the rounds' spread; one such table per filesystem with BENCH_FS=a,b.
steps_table() { # steps_table DATASET TITLE
	awk -v ds="$1" -v title="$2" -v fs="${BENCH_FS:-ext4}" -v rounds="$ROUNDS" '
	$1 == ds { m[$2, $3] = $4; lo[$2, $3] = $5; hi[$2, $3] = $6 }
	function cell(w, k) { return m[w, k] == "" ? "n/a" : sprintf("%.2f s (%.2f-%.2f)", m[w, k], lo[w, k], hi[w, k]) }
	function r(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2fx", a / b) }
	END {
		print ""
		printf "== steps on %s: %s (medians of %d, min-max)\n", fs, title, rounds
		printf "| step | mirror (rsync -a over OpenSSH) | mirror + sync -f | privateer | privateer / mirror | privateer / durable mirror |\n"
		printf "|---|---|---|---|---|---|\n"
		n = split("initial incremental restore", st, " ")
		for (i = 1; i <= n; i++) {
			k = st[i] "_t"
			printf "| %s | %s | %s | %s | %s | %s |\n", st[i], cell("mirror", k), cell("mirror-sync", k),
				cell("privateer", k), r(m["privateer", k], m["mirror", k]), r(m["privateer", k], m["mirror-sync", k])
		}
	}' "$B/medians"
}
# Where privateer's time went, from the two daemons' logs: bob's look for
# ACLs and xattrs, alice's private copy (or "made ahead"), her rsync and
# her sync before latest, bob's final sync of a restore; the rest of the
# client's time is the connection, the transport and rsync's own start.
where_time() { # where_time DATASET TITLE
	local ds=$1
	{
		sed -n "s/.*snapshot of \($ds[0-9]*\) complete (copy \([0-9.]*\) s\(, made ahead\)\{0,1\}, rsync \([0-9.]*\) s, sync \([0-9.]*\) s.*/S \1 \2 \4 \5/p" "$B/alice/daemon.log"
		sed -n "s/.*backup of .*\/\($ds[0-9]*\)\/data: .* (looked in \([0-9.]*\) s).*/A \1 \2/p" "$B/bob/daemon.log"
		sed -n "s/.*restore into volume \($ds[0-9]*\)-restored done: .* in \([0-9.]*\) s (\([0-9.]*\) s of it the final sync).*/R \1 \2 \3/p" "$B/bob/daemon.log"
	} | awk -v ds="$ds" -v title="$2" -v fs="${BENCH_FS:-ext4}" -v med="$B/medians" '
	function median(list,   n, a, i, j, t) {
		n = split(list, a, " ")
		if (n == 0) return ""
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return a[int((n + 1) / 2)]
	}
	function cell(x) { return x == "" ? "-" : sprintf("%.2f s", x) }
	$1 == "S" { k = (ns[$2]++ == 0) ? "initial" : "incremental"
		copy[k] = copy[k] " " $3; rs[k] = rs[k] " " $4; sy[k] = sy[k] " " $5 }
	$1 == "A" { k = (na[$2]++ == 0) ? "initial" : "incremental"; at[k] = at[k] " " $3 }
	$1 == "R" { fin["restore"] = fin["restore"] " " $4 }
	END {
		while ((getline l < med) > 0) { split(l, f, " "); if (f[1] == ds && f[2] == "privateer") tot[f[3]] = f[4] }
		print ""
		printf "== where privateer'"'"'s time went on %s: %s (medians)\n", fs, title
		printf "| step | client waits | looking for ACLs, xattrs | server copy of latest | server rsync | server sync | final sync (restore) |\n"
		printf "|---|---|---|---|---|---|---|\n"
		n = split("initial incremental restore", st, " ")
		for (i = 1; i <= n; i++) { k = st[i]
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", k, cell(tot[k "_t"]), cell(median(at[k])),
				cell(median(copy[k])), cell(median(rs[k])), cell(median(sy[k])), cell(median(fin[k])) }
	}'
}
want pgdata && report pgdata "pgdata: PostgreSQL data directory, pgbench -i -s $SCALE ($(numfmt --to=si "$PG_BYTES")B, $PG_FILES files); change: pgbench -t $TX -c 1 --random-seed=42 ($PG_CHANGED files, $(numfmt --to=si "$PG_CHBYTES")B rewritten, $PG_DELETED deleted)"
want pgdata && relay_cost pgdata
want files && report files "files: $F_FILES real small files ($(numfmt --to=si "$F_BYTES")B); change: seeded 1% edit + 0.1% deleted + 0.1% added ($F_CHANGED files changed or new, $(numfmt --to=si "$F_CHBYTES")B in them, $F_DELETED deleted)"
want files && relay_cost files
want files && steps_table files "$F_FILES small files"
want files && where_time files "$F_FILES small files"
want pgdata && steps_table pgdata "PostgreSQL data"
want pgdata && where_time pgdata "PostgreSQL data"
if want pgdata; then
	echo
	echo "== wire compression, pgdata change, privateer's rsync command line through privateer transport"
	awk '$2 ~ /^xfer-/ {
		c = substr($2, 6); k = $3; sub(/^incremental/, "", k)
		if (k == "_t") t[c] = $4; else if (k == "_w") w[c] = $4; else if (k == "_cc") cc[c] = $4; else cs[c] = $4 }
		END {
			printf "  %-8s %10s %12s %12s %12s %14s\n", "-z", "time (s)", "wire (MB)", "CPU cli (s)", "CPU srv (s)", "wire vs none"
			n = split("none lz4 zstd", order, " ")
			for (i = 1; i <= n; i++) { c = order[i]
				printf "  %-8s %10.2f %12.2f %12.2f %12.2f %14.2f\n", c, t[c], w[c] / 1e6, cc[c], cs[c], w[c] / w["none"] }
			best = (w["zstd"] <= w["lz4"]) ? "zstd" : "lz4"
			printf "  fewest bytes: %s (zstd/lz4 wire %.2f, CPU client+server zstd/lz4 %.2f); privateer uses zstd\n",
				best, w["zstd"] / w["lz4"], (cc["zstd"] + cs["zstd"]) / (cc["lz4"] + cs["lz4"])
		}' "$B/medians"
fi
echo
echo "total bench time $(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.0f", b - a }') s"
echo "raw results (dataset contender phase round wall_s wire_bytes cpu_client_s cpu_server_s | stored round bytes):"
sed 's/^/  /' "$RESULTS"
