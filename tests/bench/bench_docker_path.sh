#!/usr/bin/env bash
# Benchmark (not a test): the whole user path through Docker — a container
# using a volume stops, and the backup is complete on the server — for the
# pgdata dataset of datasets.sh (initdb + pgbench -i -s SCALE), initial and
# after a pgbench run, in one run:
#
#   privateer   the real plugin on two dockerd "hosts" (bob, alice): the
#               volume has -o backup=alice; the container stops, Unmount
#               queues the job, the time ends when alice's latest names
#               the new snapshot
#   privateer2  its way: after the container stops, rsync -a --delete -e ssh
#               of the volume to a mirror on OpenSSH's sshd (here straight
#               from the host, without privateer2's helper container)
#   offen       offen/docker-volume-backup's way: after the container
#               stops, a full tar.gz of the volume piped over ssh to the
#               same sshd (also without its helper container)
#
# and the time a scheduled run takes to skip a volume that has not been
# mounted since its last backup (from `docker volume inspect` Status, the
# plugin measures it), next to what the other two spend on the same
# unchanged volume. Each round starts from fresh volumes; medians of
# BENCH_ROUNDS rounds, contenders in rotated order, every step after sync.
#
#   usage: tests/bench/bench_docker_path.sh
#   knobs: PGBENCH_SCALE (20), PGBENCH_TX (2000), BENCH_ROUNDS (3),
#          PRIVATEER_BUILD (build, with build/plugin), PG_USER (benchpg)
# Needs root, Docker (apt-get install docker.io), openssh-server and
# PostgreSQL (installed if missing). Loopback only; stops what it starts.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/lib.sh"
P=$PRIVATEER_BUILD/privateer
SCALE=${PGBENCH_SCALE:-20}
TX=${PGBENCH_TX:-2000}
NFILES=0
ROUNDS=${BENCH_ROUNDS:-3}
PG_USER=${PG_USER:-benchpg}

die() { e2e_fail "$*"; }
. "$HERE/datasets.sh"

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null || missing+=(openssh-client)
[ -n "$(pg_bindir)" ] || missing+=(postgresql postgresql-contrib)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	apt-get update -qq || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null 2>&1 || log "could not install ${missing[*]}"
fi
PGBIN=$(pg_bindir)
[ -n "$PGBIN" ] || { echo "initdb/pg_ctl/pgbench not found" >&2; exit 1; }
id -u "$PG_USER" >/dev/null 2>&1 ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd

e2e_init
B=$E2E_TMP
chmod 755 "$B"
SSHD_PID=
PG_RUNNING=
bench_cleanup() {
	local rc=$?
	if [ -n "$PG_RUNNING" ]; then
		runuser -u "$PG_USER" -- "$PGBIN/pg_ctl" -D "$PG_RUNNING" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	[ -z "$SSHD_PID" ] || { kill -TERM "$SSHD_PID" 2>/dev/null; wait "$SSHD_PID" 2>/dev/null; } || true
	(exit $rc)
	e2e_cleanup
}
trap bench_cleanup EXIT
mkdir -p "$B/gen" "$B/pgsock" "$B/mirror" "$B/tgz"
chown "$PG_USER" "$B/gen" "$B/pgsock"
gen_pgdata

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- OpenSSH sshd on loopback -------------------------------------------------
SSHD_PORT=$(port)
mkdir -p "$B/sshd"
ssh-keygen -q -t ed25519 -N '' -f "$B/sshd/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$B/sshd/client_key"
cp "$B/sshd/client_key.pub" "$B/sshd/authorized_keys"
cat >"$B/sshd/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $B/sshd/host_key
PidFile $B/sshd/sshd.pid
AuthorizedKeysFile $B/sshd/authorized_keys
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
LogLevel ERROR
EOF
/usr/sbin/sshd -D -f "$B/sshd/sshd_config" -E "$B/sshd/log" &
SSHD_PID=$!
SSH="ssh -p $SSHD_PORT -i $B/sshd/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
for _ in $(seq 1 50); do $SSH root@127.0.0.1 true </dev/null 2>/dev/null && break; sleep 0.2; done

# --- privateer on two Docker hosts ---------------------------------------------
APORT=$(port)
VOLS=
for r in $(seq 1 "$ROUNDS"); do VOLS+="${VOLS:+, }{ \"name\": \"pg$r\" }"; done
mkdir -p "$B/shared"
cat >"$B/shared/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $APORT } ],
  "clients": [ { "name": "bob", "backup": [] } ],
  "volumes": [ $VOLS ],
  "keys": { "store": "file", "path": "keys" }
}
JSON
"$P" --config "$B/shared/privateer.json" keygen --all >/dev/null
for h in alice bob; do mkdir -p "$B/$h/config" && cp -a "$B/shared/." "$B/$h/config/"; done
e2e_start_dockerd alice
e2e_install_plugin alice PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1 PRIVATEER_LOG_LEVEL=info
e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob PRIVATEER_LOG_LEVEL=info
BSOCK=/run/docker/plugins/$(e2e_plugin_id bob)/privateer.sock
for _ in $(seq 1 120); do
	"$P" --socket "$BSOCK" --config "$B/bob/config/privateer.json" --as bob check --connection \
		>/dev/null 2>&1 && break
	sleep 0.5
done
store=$B/alice/state/server/bob

stop_container() { run_bb bob --rm -v "$1:/data" -- true; }

# privateer: the container stops; done when latest names a new snapshot.
privateer_path() { # VOLUME
	local before
	before=$(readlink "$store/$1/latest" 2>/dev/null || true)
	stop_container "$1"
	for _ in $(seq 1 12000); do
		local now_latest
		now_latest=$(readlink "$store/$1/latest" 2>/dev/null || true)
		[ -n "$now_latest" ] && [ "$now_latest" != "$before" ] && return 0
		sleep 0.02
	done
	die "no snapshot of $1 on alice"
}
privateer2_path() { # VOLUME DIR
	stop_container "$1"
	rsync -a --delete --numeric-ids -e "$SSH" "$2/" "root@127.0.0.1:$B/mirror/$1/"
}
offen_path() { # VOLUME DIR
	stop_container "$1"
	tar -C "$2" -czf - . | $SSH root@127.0.0.1 "cat > $B/tgz/$1-\$(date +%s%N).tar.gz"
}

declare -A M
add() { M[$1]="${M[$1]-} $2"; }
for r in $(seq 1 "$ROUNDS"); do
	log "round $r: fresh volumes"
	# privateer's volume replicates on unmount; the others' does not, so
	# their runs do not start privateer's as well.
	dk bob volume create -d privateer -o backup=alice "pg$r" >/dev/null
	dk bob volume create -d privateer "other$r" >/dev/null
	pv=$B/bob/state/volumes/pg$r/data
	ov=$B/bob/state/volumes/other$r/data
	cp -a "$B/gen/pgdata.initial/." "$pv/"
	cp -a "$B/gen/pgdata.initial/." "$ov/"
	for phase in initial changed; do
		if [ $phase = changed ]; then
			rsync -a --delete "$B/gen/pgdata.changed/" "$pv/"
			rsync -a --delete "$B/gen/pgdata.changed/" "$ov/"
		fi
		for c in $(printf '%s\n' privateer privateer2 offen | awk -v r="$r" \
			'{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r) % NR + 1] }'); do
			sync
			case $c in
			privateer) timed t privateer_path "pg$r" ;;
			privateer2) timed t privateer2_path "other$r" "$ov" ;;
			offen) timed t offen_path "other$r" "$ov" ;;
			esac
			log "  $phase $c: $t s"
			add "$phase.$c" "$t"
		done
	done
	# The same unchanged volume again: what each spends on nothing new.
	sync
	timed t privateer2_path "other$r" "$ov"
	add "same.privateer2" "$t"
	timed t offen_path "other$r" "$ov"
	add "same.offen" "$t"
	rm -rf "$B/tgz"/* "$B/mirror"/*
done

log "a scheduled run of an unchanged volume (up to a minute for the cron tick)"
dk bob volume create -d privateer -o backup=alice -o "schedule=* * * * *" pgsched >/dev/null
cp -a "$B/gen/pgdata.initial/." "$B/bob/state/volumes/pgsched/data/"
privateer_path pgsched
skip=
for _ in $(seq 1 150); do
	st=$(dk bob volume inspect -f '{{json .Status}}' pgsched)
	if grep -q 'skipped: unchanged' <<<"$st"; then
		skip=$(jq -r '.["last-backup"].alice.skip_seconds // empty' <<<"$st")
		break
	fi
	sleep 1
done
[ -n "$skip" ] || die "no skipped scheduled run seen: $st"

declare -A R
for k in "${!M[@]}"; do
	# shellcheck disable=SC2086
	R[$k]=$(median ${M[$k]})
done
mb() { du -sm "$1" | cut -f1; }
echo
echo "container stops -> backup complete on the server (pgdata, $(mb "$B/gen/pgdata.initial") MB, pgbench -i -s $SCALE; change: pgbench -t $TX)"
echo "medians of $ROUNDS rounds, seconds, including docker run --rm of the stopping container"
printf '  %-12s %10s %10s %10s %14s %12s\n' "" privateer privateer2 offen "/ privateer2" "/ offen"
for phase in initial changed; do
	printf '  %-12s %10s %10s %10s %13sx %11sx\n' "$phase" "${R[$phase.privateer]}" \
		"${R[$phase.privateer2]}" "${R[$phase.offen]}" \
		"$(ratio "${R[$phase.privateer]}" "${R[$phase.privateer2]}")" \
		"$(ratio "${R[$phase.privateer]}" "${R[$phase.offen]}")"
done
printf '  %-12s %10.3f %10s %10s   (privateer: a scheduled run skipping it, as the plugin timed it; the others run again)\n' \
	unchanged "$skip" "${R[same.privateer2]}" "${R[same.offen]}"
