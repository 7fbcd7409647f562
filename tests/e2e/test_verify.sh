#!/usr/bin/env bash
# Verified snapshots (PRODUCT.md §11): alice records a manifest of every
# snapshot bob pushes (off bob's wait; the second one hashes only what
# changed); `privateer verify` passes on alice directly and from bob through
# the replication transport; a byte flipped in a stored file on alice makes
# both exit 1 naming that file, alice's "verify" schedule finds it too and
# tells the webhook once (a verify event naming the client), and /metrics
# shows it; --against-volume compares bob's unmounted live volume with the
# snapshot and lists what differs. Bob cannot use privateer-verify to read
# outside what clients may read.
. "$(dirname "$0")/lib.sh"
e2e_init
P=$PRIVATEER_BUILD/privateer
PY=/usr/bin/python3
RECV=$(dirname "$0")/notify_receiver.py
recv_pid=
trap 'rc=$?; set +e; [ -z "$recv_pid" ] || kill "$recv_pid" 2>/dev/null; (exit $rc); e2e_cleanup' EXIT
$PY "$RECV" http "$E2E_TMP/http.port" "$E2E_TMP/http.log" &
recv_pid=$!
for _ in $(seq 1 40); do [ -s "$E2E_TMP/http.port" ] && break; sleep 0.25; done
hp=$(cat "$E2E_TMP/http.port")
touch "$E2E_TMP/http.log"

port=$((20000 + RANDOM % 20000))
shared=$E2E_TMP/shared
mkdir -p "$shared"
cat >"$shared/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": ["data"] } ],
  "volumes": [ { "name": "data" } ],
  "keys": { "store": "file" },
  "verify": { "schedule": "* * * * *" },
  "notify": [ { "type": "webhook", "url": "http://127.0.0.1:$hp/hook", "events": ["verify"] } ]
}
JSON
"$P" --config "$shared/privateer.json" keygen --all >/dev/null
for h in alice bob; do mkdir -p "$E2E_TMP/$h/config"; cp -a "$shared/." "$E2E_TMP/$h/config/"; done
e2e_start_dockerd alice
e2e_install_plugin alice PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1 \
	PRIVATEER_WATCH_SECONDS=2
e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob
bsock=/run/docker/plugins/$(e2e_plugin_id bob)/privateer.sock
asock=/run/docker/plugins/$(e2e_plugin_id alice)/privateer.sock
B() { "$P" --socket "$bsock" --config "$E2E_TMP/bob/config/privateer.json" --as bob "$@"; }
A() { "$P" --socket "$asock" --config "$E2E_TMP/alice/config/privateer.json" --as alice "$@"; }
store=$E2E_TMP/alice/state/server/bob/data
manifests=$E2E_TMP/alice/state/server/.manifests/bob/data
for _ in $(seq 1 60); do B check --connection >/dev/null 2>&1 && break; sleep 0.5; done
wait_for() {	# wait_for SECONDS DESCRIPTION CONDITION (shell code)
	local t=$1 what=$2 i
	for i in $(seq 1 $((t * 4))); do eval "$3" && return 0; sleep 0.25; done
	e2e_fail "timed out after ${t}s waiting for $what"
}
metric() { curl -s --unix-socket "$1" http://plugin/metrics | awk -v m="$2" '$1 == m { print $2 }'; }

e2e_log "every snapshot gets a manifest; the second hashes only what changed"
dk bob volume create -d privateer -o backup=alice -o on-unmount=false data >/dev/null
run_bb bob --rm -v data:/data -- sh -c 'mkdir -p /data/dir && echo alpha > /data/a.txt &&
	i=0; while [ $i -lt 20 ]; do echo "file $i" > /data/dir/f$i; i=$((i+1)); done &&
	dd if=/dev/zero of=/data/dir/b.bin bs=1k count=64 2>/dev/null && ln -s a.txt /data/link'
B backup data >/dev/null
id1=$(readlink "$store/latest")
wait_for 30 "the first manifest" '[ -s "$manifests/$id1" ]'
grep -q "^f .* a.txt$" "$manifests/$id1" || e2e_fail "a.txt not in the manifest"
# (as stored: munged by the server)
grep -q "^l .* link /rsyncd-munged/a.txt$" "$manifests/$id1" || e2e_fail "the link's target not in the manifest"
sleep 1
run_bb bob --rm -v data:/data -- sh -c 'echo beta >> /data/a.txt'
B backup data >/dev/null
id2=$(readlink "$store/latest")
[ "$id1" != "$id2" ] || e2e_fail "no second snapshot"
wait_for 30 "the second manifest" '[ -s "$manifests/$id2" ]'
plugin_log alice | grep -q "manifest of bob/data/$id2: 1 file(s) hashed, 21 reused" ||
	e2e_fail "the second manifest was not built from the first: $(plugin_log alice | grep 'manifest of')"

e2e_log "verify passes on alice and from bob"
out=$(A verify data --all) || e2e_fail "verify on alice failed: $out"
assert_contains "$out" "bob/data/$id1: ok (" "alice's report"
assert_contains "$out" "bob/data/$id2: ok (" "alice's report"
out=$(B verify data) || e2e_fail "verify from bob failed: $out"
assert_contains "$out" "bob/data/$id2: ok (" "bob's report"
out=$(B verify data --against-volume) || e2e_fail "--against-volume failed: $out"
assert_contains "$out" "matches" "--against-volume"

e2e_log "a byte flipped in a stored file on alice: the verify schedule finds it and tells once"
printf 'X' | dd of="$store/$id2/dir/b.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
count_verify() {
	$PY - "$E2E_TMP/http.log" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    b = json.loads(e.get("body") or "{}")
    if b.get("event") == "verify" and b.get("host") == "alice" and b.get("client") == "bob" and b.get("volume") == "data" and "dir/b.bin" in b.get("message", ""):
        n += 1
print(n)
PY
}
wait_for 90 "the verify notification" '[ "$(count_verify)" -ge 1 ]'
assert_eq "$(metric "$asock" 'privateer_verify_problems{client="bob",volume="data",server="alice"}')" 2 "privateer_verify_problems"
assert_eq "$(metric "$asock" 'privateer_client_snapshots{client="bob",volume="data"}')" 2 "privateer_client_snapshots"
wait_for 75 "a second scheduled verification" '[ "$(plugin_log alice | grep -c "verify: scheduled run")" -ge 2 ]'
sleep 2
assert_eq "$(count_verify)" 1 "verify notifications for one episode"


e2e_log "verify names the file and exits 1, on alice and from bob"
set +e
out=$(A verify data --snapshot "$id2" 2>&1); rc=$?
set -e
assert_eq "$rc" 1 "verify's exit on alice"
assert_contains "$out" "damaged: dir/b.bin (" "alice names the file"
set +e
out=$(B verify data --all 2>&1); rc=$?
set -e
assert_eq "$rc" 1 "verify's exit on bob"
# (b.bin is one file shared by both snapshots: both are damaged.)
assert_contains "$out" "bob/data/$id1: damaged: dir/b.bin (" "bob names the file in the first snapshot"
assert_contains "$out" "bob/data/$id2: damaged: dir/b.bin (" "bob names the file in the second"
case "$out" in *a.txt*) e2e_fail "an intact file was reported: $out" ;; esac

e2e_log "--against-volume lists what differs in the live volume"
run_bb bob --rm -v data:/data -- sh -c 'echo new > /data/new.txt && echo changed > /data/dir/f3'
set +e
out=$(B verify data --against-volume 2>&1); rc=$?
set -e
assert_eq "$rc" 1 "--against-volume's exit when the volume differs"
assert_contains "$out" "unexpected: new.txt" "the new file"
assert_contains "$out" "dir/f3 (" "the changed file"
case "$out" in *a.txt*) e2e_fail "an unchanged file was reported: $out" ;; esac

e2e_log "privateer-verify stays read-only and inside the layout"
must_fail B verify ../etc >/dev/null
out=$(must_fail B verify data --source alice)
assert_contains "$out" "verify:" "an unknown source"
