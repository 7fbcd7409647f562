#!/usr/bin/env bash
# The fault campaign (issue 14): real daemons, each fault injected at a
# random point of a running transfer. Three Docker hosts with the real
# plugin: bob (client), alice and carol (servers); keys in Vault (the
# double); bob reaches alice through a TCP relay on loopback that can cut
# the network without closing a socket; alice's and bob's state each on a
# small loop-mounted ext4 that the test can fill.
#
# Faults: kill -9 of bob's plugin mid-backup, of alice's mid-backup;
# dockerd restart mid-restore; disk full on alice mid-backup; disk full on
# bob mid-restore; the network cut mid-backup (must fail within the
# transport's bound); Vault sealed (odd rounds) or down (even rounds) when
# bob's plugin starts; carol down while a volume backs up to alice and
# carol. A crash inside a metadata write is tests/unit/test_volume.c's.
#
# After each: bob's volumes unaltered (sha256 manifests before and after),
# every snapshot alice had still there and unaltered, latest complete, a
# failed backup's cause in `docker volume inspect` and `privateer status`
# (a restore being retried: Mount says so, the cause is in the log), and
# the next run succeeding with nobody doing anything.
#
# FAULTS_ROUNDS=N repeats each fault N times at new random points (default
# 1, what CI runs); FAULTS_MB sets the size of the big file (default 300);
# FAULTS_ONLY="vault carol_down" runs only those (names below).
. "$(dirname "$0")/lib.sh"
ROUNDS=${FAULTS_ROUNDS:-1}
MB=${FAULTS_MB:-300}
P=$PRIVATEER_BUILD/privateer
VD=$PRIVATEER_BUILD/tests/vault-double/vault_double
[ -x "$VD" ] || e2e_fail "no vault double at $VD (build the vault_double target)"
command -v mkfs.ext4 >/dev/null || e2e_skip "mkfs.ext4 is not installed"
command -v python3 >/dev/null || e2e_skip "python3 is not installed"
e2e_init
[ -n "${FAULTS_TRACE:-}" ] && { PS4='+ $(date +%T) '; set -x; }
T0=$SECONDS
VPID=
RPID=
faults_cleanup() {
	local rc=$?
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null
	set +e
	(exit $rc)
	e2e_cleanup
}
trap faults_cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() {
	local t=$1 what=$2 i
	shift 2
	for i in $(seq 1 $((t * 5))); do "$@" && return 0; sleep 0.2; done
	e2e_fail "timed out after ${t}s waiting for $what"
}
# A uniformly random point between lo% and hi% of s seconds.
rand_delay() { awk -v s="$1" -v lo="$2" -v hi="$3" -v r="$RANDOM" \
	'BEGIN { printf "%.2f", s * (lo + (hi - lo) * r / 32767) / 100 }'; }

# --- Vault (the double) holds every machine's keys ---
token=faults-$RANDOM$RANDOM
"$VD" --port 0 --port-file "$E2E_TMP/vault.port" --token "$token" --kv1 secret \
	2>>"$E2E_TMP/vault.log" &
VPID=$!
wait_for 10 "the Vault double" test -s "$E2E_TMP/vault.port"
vport=$(cat "$E2E_TMP/vault.port")
vault_ctl() { curl -sf -X POST "http://127.0.0.1:$vport/__double/$1" >/dev/null; }
vault_api() { curl -sf -H "X-Vault-Token: $token" "$@"; }
# The double keeps secrets in memory: what a real Vault keeps on disk is
# saved before it goes down and put back when it comes up.
vault_save() {
	local dir=${1:-} k
	for k in $(vault_api "http://127.0.0.1:$vport/v1/secret/privateer/$dir?list=true" |
		jq -r '.data.keys[]'); do
		case "$k" in
		*/) vault_save "$dir$k" ;;
		*) mkdir -p "$E2E_TMP/vault/$dir"
		   vault_api "http://127.0.0.1:$vport/v1/secret/privateer/$dir$k" |
			jq -c .data >"$E2E_TMP/vault/$dir$k" ;;
		esac
	done
}
vault_start() {
	local f
	"$VD" --port "$vport" --token "$token" --kv1 secret 2>>"$E2E_TMP/vault.log" &
	VPID=$!
	wait_for 10 "the Vault double" curl -sf "http://127.0.0.1:$vport/v1/sys/health" -o /dev/null
	(cd "$E2E_TMP/vault" && find . -type f) | while read -r f; do
		vault_api -X POST --data-binary "@$E2E_TMP/vault/$f" \
			"http://127.0.0.1:$vport/v1/secret/privateer/${f#./}" >/dev/null
	done
}

# --- the relay between bob and alice ---
aport=$(free_port)
cport=$(free_port)
python3 "$PRIVATEER_SRC/tests/e2e/fault_relay.py" "$E2E_TMP/relay.port" "$aport" \
	2>>"$E2E_TMP/relay.log" &
RPID=$!
wait_for 10 "the relay" test -s "$E2E_TMP/relay.port"
rport=$(cat "$E2E_TMP/relay.port")

# --- privateer.json: bob's copy reaches alice through the relay ---
config() {
	cat <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $1 },
               { "name": "carol", "hostname": "127.0.0.1", "port": $cport } ],
  "clients": [ { "name": "bob", "backup": ["data", "two"] } ],
  "volumes": [ { "name": "data" }, { "name": "two" } ],
  "vault": { "url": "http://127.0.0.1:$vport", "prefix": "/secret/privateer",
             "token": "$token", "kv_version": 1 },
  "retention": { "last": 3 }
}
JSON
}
for h in alice bob carol; do mkdir -p "$E2E_TMP/$h/config" "$E2E_TMP/$h/state"; done
config "$aport" >"$E2E_TMP/alice/config/privateer.json"
config "$aport" >"$E2E_TMP/carol/config/privateer.json"
config "$rport" >"$E2E_TMP/bob/config/privateer.json"
"$P" --config "$E2E_TMP/alice/config/privateer.json" keygen --all >/dev/null
vault_save
[ -s "$E2E_TMP/vault/bob" ] || e2e_fail "no key for bob in Vault"

# --- small file systems under alice's and bob's state ---
loopfs() {
	truncate -s "$2" "$E2E_TMP/$1.img"
	mkfs.ext4 -q -m 0 -F "$E2E_TMP/$1.img"
	mount -o loop "$E2E_TMP/$1.img" "$E2E_TMP/$1/state"
}
loopfs alice $((MB * 5))M
loopfs bob $((MB * 4 + 200))M
# Fills the file system under host $1's state (leaving nothing), or empties it.
fill() { fallocate -l "$(df -B1 --output=avail "$E2E_TMP/$1/state" | tail -1)" \
	"$E2E_TMP/$1/state/filler" 2>/dev/null ||
	dd if=/dev/zero of="$E2E_TMP/$1/state/filler" bs=1M oflag=append conv=notrunc 2>/dev/null || true; }
unfill() { rm -f "$E2E_TMP/$1/state/filler"; }

e2e_start_dockerd alice
e2e_install_plugin alice PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1
e2e_start_dockerd carol
e2e_install_plugin carol PRIVATEER_NAME=carol PRIVATEER_LISTEN_ADDRESS=127.0.0.1
e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob PRIVATEER_RETRY_SECONDS=3 PRIVATEER_RESTORE_WAIT=5
bsock=/run/docker/plugins/$(e2e_plugin_id bob)/privateer.sock
B() { "$P" --socket "$bsock" --config "$E2E_TMP/bob/config/privateer.json" --as bob "$@"; }
astore=$E2E_TMP/alice/state/server/bob
cstore=$E2E_TMP/carol/state/server/bob
bvol=$E2E_TMP/bob/state/volumes
bdata=$bvol/data/data
status_json() { dk bob volume inspect -f '{{json .Status}}' "$1"; }
latest() { readlink "$1/latest" 2>/dev/null || true; }
partial() { ls -A "$1" 2>/dev/null | grep -q '^\.partial'; }
for _ in $(seq 1 120); do B check --connection >/dev/null 2>&1 && break; sleep 0.5; done
B check --connection >/dev/null || e2e_fail "bob cannot reach the servers: $(B check --connection 2>&1)"

# --- what the test remembers, and checks after every fault ---
mkdir -p "$E2E_TMP/m"
# manifest.sh's lines, in one process, a large file hashed once per
# inode, size, mtime and ctime (fault_manifest.py): many manifests of a
# few hundred MB are taken.
manifest() { python3 "$PRIVATEER_SRC/tests/e2e/fault_manifest.py" "$1" "$E2E_TMP/sha.json"; }
# stat of every entry of every snapshot alice keeps of bob's VOL: a
# snapshot lost or altered (inode, size, mode, owner, mtime) shows here.
# (Not ctime: the next push's hard links change it.)
snap_stats() {
	(cd "$astore/$1" && find . -mindepth 1 -path './.*' -prune -o -print0 2>/dev/null |
		LC_ALL=C sort -z | xargs -0 stat -c '%n|%i|%s|%Y|%a|%u|%g' --)
}
# After a successful backup: latest is complete (same manifest as bob's
# volume), remembered with every snapshot's stat. (No symlinks in the
# data: the server keeps them munged, so its manifest would differ.)
remember() {
	local vol=$1 id
	id=$(latest "$astore/$vol")
	manifest "$bvol/$vol/data" >"$E2E_TMP/m/bob-$vol"
	manifest "$astore/$vol/$id" >"$E2E_TMP/m/alice-$vol"
	diff "$E2E_TMP/m/bob-$vol" "$E2E_TMP/m/alice-$vol" >&2 ||
		e2e_fail "alice's latest of $vol ($id) is not bob's volume"
	echo "$id" >"$E2E_TMP/m/latest-$vol"
	snap_stats "$vol" >"$E2E_TMP/m/stats-$vol"
}
# After a fault, before anything recovers: nothing lost or altered.
check_intact() {
	local vol=$1 what=$2 id
	id=$(cat "$E2E_TMP/m/latest-$vol")
	assert_eq "$(latest "$astore/$vol")" "$id" "latest of $vol after $what"
	snap_stats "$vol" | diff "$E2E_TMP/m/stats-$vol" - >&2 ||
		e2e_fail "alice's snapshots of $vol lost or altered by $what"
	manifest "$astore/$vol/$id" | diff "$E2E_TMP/m/alice-$vol" - >&2 ||
		e2e_fail "latest of $vol is not complete after $what"
}
check_bob_unaltered() {
	local vol=$1 what=$2
	manifest "$bvol/$vol/data" | diff "$E2E_TMP/m/bob-$vol" - >&2 ||
		e2e_fail "bob's volume $vol was altered by $what"
}
# bob's volume VOL changes: a new big file, a few small ones.
change() {
	local vol=$1 mb=$2
	head -c $((mb * 1048576)) /dev/urandom >"$bvol/$vol/data/big"
	mkdir -p "$bvol/$vol/data/small"
	for i in 1 2 3 4 5; do head -c 4096 /dev/urandom >"$bvol/$vol/data/small/f$RANDOM"; done
	manifest "$bvol/$vol/data" >"$E2E_TMP/m/bob-$vol"
}
# A container uses VOL and stops: its backups are queued on unmount.
use() { run_bb bob --rm -v "$1:/data" -- true; }
# Waits until the backup of VOL to SERVER after a fault has succeeded and
# checks the new latest is bob's volume.
recovered() {
	local vol=$1 what=$2 t=${3:-180} old
	old=$(cat "$E2E_TMP/m/latest-$vol")
	wait_for "$t" "the backup of $vol after $what" sh -c \
		"[ \"\$(readlink '$astore/$vol/latest')\" != '$old' ] &&
		 ! ls -A '$astore/$vol' | grep -q '^\.partial'"
	wait_for 30 "bob's record of the backup after $what" sh -c \
		"docker -H unix://$E2E_TMP/bob/docker.sock volume inspect -f '{{json .Status}}' $vol |
		 jq -e '.\"last-backup\".alice.result == \"ok\"' >/dev/null"
	# Its job says nothing of the retries it took to get there.
	status_json "$vol" | jq -e '[.jobs[]? | select(.server == "alice" and
		.state == "idle") | (.reason // "") + (.error // "")] |
		all(. == "")' >/dev/null ||
		e2e_fail "bob's job for $vol still shows a retry or an error after $what: $(status_json "$vol" | jq -c .jobs)"
	remember "$vol"
}
# Waits until bob's inspect and `privateer status` both show the failure
# of VOL's backup to SERVER with text in its cause.
error_shown() {
	local vol=$1 server=$2 text=$3 t=${4:-60} i js st seen="" e
	for i in $(seq 1 $((t * 5))); do
		js=$(status_json "$vol" 2>/dev/null || true)
		st=$(B status "$vol" 2>&1 || true)
		# Every error shown on the way, for the report if none fits.
		e=$(jq -r --arg s "$server" '[.["last-backup"][$s].error,
			(.jobs[]? | select(.server == $s) | .error)] |
			map(select(. != null)) | join(" | ")' <<<"$js" 2>/dev/null || true)
		[ -z "$e" ] || grep -qxF -- "$e" <<<"$seen" || seen+="$e"$'\n'
		if jq -e --arg s "$server" --arg t "$text" \
			'(.["last-backup"][$s].error // "" | ascii_downcase | contains($t | ascii_downcase)) or
			 ([.jobs[]? | select(.server == $s) | .error // "" | ascii_downcase |
			   contains($t | ascii_downcase)] | any)' \
			<<<"$js" >/dev/null 2>&1 &&
			grep -qiF "$text" <<<"$st"; then
			e2e_log "  shown: $(jq -r --arg s "$server" \
				'.["last-backup"][$s].error // ([.jobs[]? | select(.server == $s) | .error][0])' \
				<<<"$js" | cut -c1-240)"
			return 0
		fi
		sleep 0.2
	done
	e2e_log "inspect: $js"
	e2e_log "status: $st"
	e2e_log "errors seen meanwhile: ${seen:-none}"
	e2e_fail "the failure to $server ($text) is not shown in inspect and status"
}
missed=0
# Waits until a push of VOL is writing on alice, then a random point in it.
# If the push ended first there is nothing to inject into: it is checked
# like any backup and AGAIN=1 says to try the fault again.
into_backup() {
	local vol=$1
	wait_for 60 "the push of $vol to start" partial "$astore/$vol"
	sleep "$(rand_delay "$TB" 5 50)"
	if ! partial "$astore/$vol"; then
		missed=$((missed + 1))
		AGAIN=1
		e2e_log "(the transfer ended before the fault: trying again)"
		recovered "$vol" "a transfer that ended before its fault"
	fi
}

# ============================================================
e2e_log "setup: bob's volumes and their first backups"
dk bob volume create -d privateer -o backup=alice data >/dev/null
dk bob volume create -d privateer -o backup=alice,carol two >/dev/null
run_bb bob --rm -v data:/data -- sh -c '
	mkdir -p /data/db/base /data/etc && echo conf > /data/etc/app.conf &&
	i=0; while [ $i -lt 40 ]; do head -c 3000 /dev/urandom > /data/db/base/t$i; i=$((i+1)); done &&
	chown -R 999:999 /data/db && chmod 700 /data/db &&
	ln /data/etc/app.conf /data/etc/app.hard'
run_bb bob --rm -v two:/data -- sh -c 'echo two > /data/f'
change data "$MB"
start=$SECONDS
B backup data --server alice >/dev/null
TB=$((SECONDS - start))
[ "$TB" -ge 1 ] || TB=1
remember data
head -c 20000000 /dev/urandom >"$bvol/two/data/big"
B backup two --server alice >/dev/null
B backup two --server carol >/dev/null
remember two
start=$SECONDS
B restore data --server alice --to-volume probe >/dev/null
TR=$((SECONDS - start))
[ "$TR" -ge 1 ] || TR=1
dk bob volume rm probe >/dev/null
e2e_log "a backup of ${MB} MB takes about ${TB} s, a restore ${TR} s; $ROUNDS round(s) of each fault (setup: $((SECONDS - T0)) s)"

# A restore of bob's data into a new volume NAME: created, then checked.
restore_checked() {
	local name=$1 what=$2
	wait_for 240 "the restore of $name after $what" sh -c \
		"docker -H unix://$E2E_TMP/bob/docker.sock volume inspect -f '{{json .Status.restore}}' $name |
		 jq -e '.state == \"done\"' >/dev/null"
	manifest "$bvol/$name/data" | diff "$E2E_TMP/m/alice-data" - >&2 ||
		e2e_fail "the restore of $name after $what differs from the snapshot"
	assert_eq "$(run_bb bob --rm -v "$name:/r" -- cat /r/etc/app.conf)" conf "restored data in a container"
	dk bob volume rm "$name" >/dev/null
}
# The same for the restore into NAME.
into_restore() {
	local name=$1
	wait_for 60 "the restore of $name to start" sh -c "ls -d '$bvol/$name'/restore-* >/dev/null 2>&1"
	sleep "$(rand_delay "$TR" 5 50)"
	if ! ls -d "$bvol/$name"/restore-* >/dev/null 2>&1; then
		missed=$((missed + 1))
		AGAIN=1
		e2e_log "(the restore ended before the fault: trying again)"
		restore_checked "$name" "a restore that ended before its fault"
	fi
}

fault_client_kill() {
	e2e_log "kill -9 of bob's plugin mid-backup"
	change data "$MB"
	use data
	into_backup data
	[ "$AGAIN" = 0 ] || return 0
	old=$(e2e_plugin_pid bob)
	kill -KILL "$old"
	e2e_wait_plugin_restart bob "$old"
	check_intact data "killing bob's plugin"
	check_bob_unaltered data "killing bob's plugin"
	recovered data "killing bob's plugin"
	plugin_log bob | grep -q "queued replication of data to 1 server(s) (restart" ||
		e2e_fail "bob's plugin did not requeue the interrupted backup at start"
}

fault_server_kill() {
	e2e_log "kill -9 of alice's plugin mid-backup"
	change data "$MB"
	use data
	into_backup data
	[ "$AGAIN" = 0 ] || return 0
	kill -KILL "$(e2e_plugin_pid alice)"
	error_shown data alice "connection to alice lost"
	e2e_wait_plugin_restart alice ""
	check_intact data "killing alice's plugin"
	check_bob_unaltered data "killing alice's plugin"
	recovered data "killing alice's plugin"
}

fault_server_full() {
	e2e_log "disk full on alice mid-backup"
	change data "$MB"
	use data
	into_backup data
	[ "$AGAIN" = 0 ] || return 0
	fill alice
	error_shown data alice "No space left on device"
	check_intact data "alice's disk full"
	check_bob_unaltered data "alice's disk full"
	unfill alice
	recovered data "alice's disk full"
}

fault_network() {
	local cut took
	e2e_log "the network between bob and alice cut mid-backup"
	change data "$MB"
	use data
	into_backup data
	[ "$AGAIN" = 0 ] || return 0
	kill -USR1 "$RPID"
	cut=$SECONDS
	error_shown data alice "connection to alice lost" 120
	took=$((SECONDS - cut))
	e2e_log "the cut was noticed after ${took} s (the transport's bound: 60 s)"
	[ "$took" -le 75 ] || e2e_fail "a cut network took ${took} s to notice"
	check_intact data "the network cut"
	check_bob_unaltered data "the network cut"
	kill -USR2 "$RPID"
	recovered data "the network cut"
}

fault_dockerd_restart() {
	local v=r$round
	e2e_log "dockerd restart mid-restore"
	dk bob volume create -d privateer -o restore-from=alice -o restore-volume=data "$v" >/dev/null
	into_restore "$v"
	[ "$AGAIN" = 0 ] || return 0
	e2e_stop_dockerd bob
	e2e_start_dockerd bob
	for _ in $(seq 1 60); do dk bob volume ls >/dev/null 2>&1 && break; sleep 0.5; done
	restore_checked "$v" "a dockerd restart"
	check_bob_unaltered data "a dockerd restart"
}

fault_client_full() {
	local v=f$round out
	e2e_log "disk full on bob mid-restore"
	dk bob volume create -d privateer -o restore-from=alice -o restore-volume=data "$v" >/dev/null
	into_restore "$v"
	[ "$AGAIN" = 0 ] || return 0
	fill bob
	wait_for 90 "the restore's failure in bob's log" sh -c \
		"grep 'plugin=' '$E2E_TMP/bob/dockerd.log' | grep 'restore of volume $v' | grep -q 'No space left on device'"
	out=$(must_fail run_bb bob --rm -v "$v:/r" -- true)
	assert_contains "$out" "still being restored" "Mount of a volume whose restore is retrying"
	check_bob_unaltered data "bob's disk full"
	unfill bob
	restore_checked "$v" "bob's disk full"
}

# Odd rounds: sealed when bob's plugin starts, then unsealed. Even
# rounds: down (connection refused), then back. Either way the keys load
# at the plugin's next try (every 30 s) and the failed backup runs at once.
fault_vault() {
	local old back
	if [ $((round % 2)) = 1 ]; then
		e2e_log "Vault sealed when bob's plugin starts"
		vault_ctl seal
	else
		e2e_log "Vault down when bob's plugin starts"
		kill "$VPID"
		wait "$VPID" 2>/dev/null || true
	fi
	change data 20
	old=$(e2e_plugin_pid bob)
	kill -KILL "$old"
	e2e_wait_plugin_restart bob "$old"
	use data
	if [ $((round % 2)) = 1 ]; then
		error_shown data alice "Vault is sealed"
		check_intact data "Vault sealed"
		vault_ctl unseal
	else
		error_shown data alice "cannot reach Vault"
		check_intact data "Vault down"
		vault_start
	fi
	back=$SECONDS
	recovered data "Vault back" 120
	# The plugin tries the key store every 30 s; the failed backup must
	# not then wait out its backoff (3, 6, 12, 24, 48 s...).
	e2e_log "the backup ran $((SECONDS - back)) s after Vault was back (bound: 38 s; without running when the keys load: about 44 s)"
	[ $((SECONDS - back)) -le 38 ] || e2e_fail "the backup waited out its backoff after the keys loaded"
}

fault_carol_down() {
	local start
	e2e_log "carol down: two reaches alice on time, carol once she is back"
	e2e_stop_dockerd carol
	change two 20
	start=$SECONDS
	use two
	recovered two "carol down" 30
	e2e_log "two reached alice in $((SECONDS - start)) s with carol down"
	error_shown two carol "carol"
	e2e_start_dockerd carol
	wait_for 120 "two to reach carol" sh -c \
		"docker -H unix://$E2E_TMP/bob/docker.sock volume inspect -f '{{json .Status}}' two |
		 jq -e '.\"last-backup\".carol.result == \"ok\"' >/dev/null"
	manifest "$cstore/two/$(latest "$cstore/two")" | diff "$E2E_TMP/m/bob-two" - >&2 ||
		e2e_fail "carol's latest of two is not bob's volume"
}

FAULTS="client_kill server_kill server_full network dockerd_restart client_full vault carol_down"
for round in $(seq 1 "$ROUNDS"); do
	e2e_log "=== round $round of $ROUNDS ==="
	for f in ${FAULTS_ONLY:-$FAULTS}; do
		t=$SECONDS
		tries=0
		AGAIN=1
		while [ "$AGAIN" = 1 ]; do
			tries=$((tries + 1))
			[ $tries -le 5 ] || e2e_fail "$f: every transfer ended before its fault"
			AGAIN=0
			"fault_$f"
		done
		e2e_log "  ($f: $((SECONDS - t)) s)"
	done
done

e2e_log "every fault $ROUNDS time(s) in $((SECONDS - T0)) s; $missed fault(s) landed after their transfer"
