#!/usr/bin/env bash
# Three Docker hosts on one machine, each with the real plugin: bob
# (client) backs up on unmount to alice (server); carol (staging client)
# creates volumes with -o restore-from=alice and gets identical data
# (sha256 manifest with metadata), the latest or a snapshot by ID; bad
# sources fail Create naming the candidates; a failed restore fails Mount
# with its reason; killing alice's plugin mid-backup leaves latest intact
# and the retried backup completes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifest.sh"
e2e_init
P=$PRIVATEER_BUILD/privateer
port=$((20000 + RANDOM % 20000))
shared=$E2E_TMP/shared
mkdir -p "$shared"
cat >"$shared/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": ["data"] }, { "name": "carol" } ],
  "volumes": [ { "name": "data" } ],
  "keys": { "store": "file" }
}
JSON
"$P" --config "$shared/privateer.json" keygen --all >/dev/null
for h in alice bob carol; do mkdir -p "$E2E_TMP/$h/config"; cp -a "$shared/." "$E2E_TMP/$h/config/"; done
e2e_start_dockerd alice
e2e_install_plugin alice PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1
e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob PRIVATEER_RETRY_SECONDS=2
e2e_start_dockerd carol
e2e_busybox_image carol
e2e_install_plugin carol PRIVATEER_NAME=carol PRIVATEER_RESTORE_WAIT=60
store=$E2E_TMP/alice/state/server/bob/data
bdata=$E2E_TMP/bob/state/volumes/data/data
wait_for() {
	local t=$1 what=$2 i
	shift 2
	for i in $(seq 1 $((t * 4))); do "$@" && return 0; sleep 0.25; done
	e2e_fail "timed out after ${t}s waiting for $what"
}
latest_is() { [ "$(cat "$store/latest/$1" 2>/dev/null)" = "$2" ]; }

e2e_log "bob: a container writes and exits; a snapshot appears on alice"
dk bob volume create -d privateer -o backup=alice data >/dev/null
run_bb bob --rm -v data:/data -- sh -c '
	mkdir -p /data/app && echo v1 > /data/app/version && chown -R 1000:1000 /data/app &&
	chmod 750 /data/app && echo secret > /data/app/key && chmod 600 /data/app/key &&
	ln /data/app/version /data/app/version.hard && ln -s app/version /data/current &&
	chown 70:70 /data && chmod 700 /data'
command -v setfattr >/dev/null && setfattr -n user.tag -v one "$bdata/app/version" || true
# The xattr was set after the unmount: one more mount/unmount replicates it.
run_bb bob --rm -v data:/data -- true
wait_for 60 "the first snapshot" latest_is app/version v1
wait_for 30 "bob's queue to settle" sh -c "! docker -H unix://$E2E_TMP/bob/docker.sock volume inspect -f '{{json .Status}}' data | grep -q '\"state\":\"\(queued\|running\)\"'"
snap1=$(readlink "$store/latest")
manifest "$bdata" >"$E2E_TMP/bob1"

e2e_log "carol: restore-from=alice restore-source=bob gives identical data"
dk carol volume create -d privateer -o restore-from=alice -o restore-source=bob data >/dev/null
assert_eq "$(run_bb carol --rm -v data:/data -- cat /data/app/version)" v1 "restored data in a container"
diff "$E2E_TMP/bob1" <(manifest "$E2E_TMP/carol/state/volumes/data/data") ||
	e2e_fail "carol's volume differs from bob's"
assert_contains "$(dk carol volume inspect -f '{{json .Status}}' data)" '"state":"done"' "restore state"

e2e_log "bob changes data; carol restores the first snapshot by ID"
sleep 1
run_bb bob --rm -v data:/data -- sh -c 'echo v2 > /data/app/version2; rm /data/app/key'
wait_for 60 "the second snapshot" sh -c "[ -e '$store/latest/app/version2' ]"
snap2=$(readlink "$store/latest")
[ "$snap2" != "$snap1" ] || e2e_fail "no second snapshot"
assert_eq "$(stat -c %i "$store/$snap1/current" 2>/dev/null || stat -c %i "$store/$snap1/app/version")" \
	"$(stat -c %i "$store/$snap2/current" 2>/dev/null || stat -c %i "$store/$snap2/app/version")" "unchanged file shared"
dk carol volume create -d privateer -o restore-from=alice -o restore-source=bob \
	-o restore-volume=data -o restore-snapshot="$snap1" old >/dev/null
assert_eq "$(run_bb carol --rm -v old:/data -- cat /data/app/key)" secret "snapshot by ID"
run_bb carol --rm -v old:/data -- test ! -e /data/app/version2 || e2e_fail "snapshot by ID has later data"

e2e_log "bad sources fail Create, naming the candidates"
out=$(must_fail dk carol volume create -d privateer -o restore-from=nobody x1)
assert_contains "$out" "restore-from=nobody is not a server in privateer.json (servers: alice)" "unknown server"
out=$(must_fail dk carol volume create -d privateer -o restore-from=alice -o restore-source=zed x2)
assert_contains "$out" "restore-source=zed is not a client in privateer.json (clients: bob, carol)" "unknown source"
out=$(must_fail dk carol volume create -d privateer -o restore-from=alice -o restore-volume=nosuch x3)
assert_contains "$out" "no client backs up nosuch" "no source"

e2e_log "a failed restore fails Mount with its reason, never an empty volume"
dk carol volume create -d privateer -o restore-from=alice -o restore-source=bob \
	-o restore-snapshot=20000101T000000Z gone >/dev/null
out=$(must_fail run_bb carol --rm -v gone:/data -- ls /data)
assert_contains "$out" "could not be restored" "failed restore"
assert_contains "$out" "no snapshot 20000101T000000Z" "failed restore reason"

e2e_log "killing alice's plugin mid-backup: latest intact, the retry completes"
head -c 300000000 /dev/urandom >"$bdata/big"
before=$(readlink "$store/latest")
run_bb bob --rm -v data:/data -- true
wait_for 30 "the push to start" sh -c "ls -A '$store' | grep -q '^\.partial'"
kill -KILL "$(e2e_plugin_pid alice)"
sleep 1
assert_eq "$(readlink "$store/latest")" "$before" "latest right after the crash"
e2e_wait_plugin_restart alice ""
wait_for 120 "the retried backup" sh -c "[ -e '$store/latest/big' ]"
cmp "$bdata/big" "$store/latest/big" || e2e_fail "the retried backup is incomplete"
[ ! -e "$store/$before/big" ] || e2e_fail "the previous snapshot was altered"
[ -z "$(ls -A "$store" | grep '^\.partial')" ] || e2e_fail "a partial snapshot was left"
