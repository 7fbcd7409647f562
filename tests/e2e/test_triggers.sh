#!/usr/bin/env bash
# Replication the way users think about volumes, through Docker: the last
# container stopping queues a backup (Unmount returns at once), Status in
# `docker volume inspect` and `privateer status` show the result, /metrics
# counts it, failures are retried with backoff while Docker stays
# responsive, a schedule fires and skips an unchanged volume without
# contacting the server.
. "$(dirname "$0")/lib.sh"
e2e_init
P=$PRIVATEER_BUILD/privateer
port=$((20000 + RANDOM % 20000))
shared=$E2E_TMP/shared
mkdir -p "$shared"
cat >"$shared/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": ["data"] } ],
  "volumes": [ { "name": "data" } ],
  "keys": { "store": "file" }
}
JSON
"$P" --config "$shared/privateer.json" keygen --all >/dev/null
for h in alice bob; do mkdir -p "$E2E_TMP/$h/config"; cp -a "$shared/." "$E2E_TMP/$h/config/"; done
e2e_start_dockerd alice
e2e_install_plugin alice PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1
e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob PRIVATEER_RETRY_SECONDS=2
bsock=/run/docker/plugins/$(e2e_plugin_id bob)/privateer.sock
B() { "$P" --socket "$bsock" --config "$E2E_TMP/bob/config/privateer.json" --as bob "$@"; }
store=$E2E_TMP/alice/state/server/bob
for _ in $(seq 1 60); do B check --connection >/dev/null 2>&1 && break; sleep 0.5; done

wait_for() {	# wait_for SECONDS DESCRIPTION COMMAND...
	local t=$1 what=$2 i
	shift 2
	for i in $(seq 1 $((t * 4))); do "$@" && return 0; sleep 0.25; done
	e2e_fail "timed out after ${t}s waiting for $what"
}
status_of() { dk bob volume inspect -f '{{json .Status}}' "$1"; }
has_snapshot() { [ -L "$store/$1/latest" ] && [ "$(readlink "$store/$1/latest")" != "${2-}" ]; }

e2e_log "the last container stopping queues a backup; Unmount does not wait"
dk bob volume create -d privateer -o backup=alice data >/dev/null
t0=$(date +%s%N)
run_bb bob --rm -v data:/data -- sh -c 'echo one > /data/f'
t1=$(date +%s%N)
# (Docker may also mount the new volume once at create, to copy the image's
# /data into it: that replicates too, so wait for the content.)
wait_for 30 "a snapshot after the container stopped" sh -c "[ \"\$(cat '$store/data/latest/f' 2>/dev/null)\" = one ]"
[ $(((t1 - t0) / 1000000)) -lt 15000 ] || e2e_fail "docker run waited for the replication"
wait_for 10 "the result in Status" sh -c "docker -H unix://$E2E_TMP/bob/docker.sock volume inspect -f '{{json .Status}}' data | grep -q '\"result\":\"ok\"'"
st=$(status_of data)
assert_contains "$st" '"alice":{' "Status last-backup"
assert_contains "$st" '"bytes_sent":' "Status bytes"
assert_contains "$st" '"changed-since-backup":false' "Status changed flag"
out=$(B status data)
assert_contains "$out" "alice" "privateer status"
m=$(curl -s --unix-socket "$bsock" http://plugin/metrics)
assert_contains "$m" 'privateer_replication_last_success_timestamp_seconds{volume="data",server="alice"}' "metrics"
assert_contains "$m" 'privateer_jobs_in_flight 0' "metrics"

e2e_log "failures are retried with backoff and Docker stays responsive"
dk alice plugin disable -f privateer >/dev/null
run_bb bob --rm -v data:/data -- sh -c 'echo two > /data/f'
wait_for 30 "a failed attempt in Status" sh -c "docker -H unix://$E2E_TMP/bob/docker.sock volume inspect -f '{{json .Status}}' data | grep -q '\"result\":\"failed\"'"
assert_contains "$(status_of data)" "cannot connect to alice" "failure reason"
# (Another trigger may be running it right now; the retry state follows.)
wait_for 30 "the retry state in Status" sh -c "docker -H unix://$E2E_TMP/bob/docker.sock volume inspect -f '{{json .Status}}' data | grep -q '\"reason\":\"retry'"
t0=$(date +%s%N)
dk bob volume ls >/dev/null
run_bb bob --rm -v data:/data -- true
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt 20000 ] || e2e_fail "Docker was slow while the server was down"
dk alice plugin enable privateer >/dev/null
wait_for 60 "the retried backup" sh -c "[ \"\$(cat '$store/data/latest/f' 2>/dev/null)\" = two ]"
m=$(curl -s --unix-socket "$bsock" http://plugin/metrics)
assert_contains "$m" 'privateer_replication_failures_total{volume="data",server="alice"}' "failure counter"

e2e_log "a schedule fires, and an unchanged volume is skipped without contacting the server"
# The container must be gone before the first tick: a run that starts while
# the volume is mounted rightly leaves it changed, and the next run is then
# a backup, not a skip. So start at least 20 s before a minute boundary.
s=$((10#$(date +%S)))
[ "$s" -lt 40 ] || sleep $((61 - s))
dk bob volume create -d privateer -o backup=alice -o on-unmount=false -o 'schedule=* * * * *' cron >/dev/null
run_bb bob --rm -v cron:/data -- sh -c 'echo tick > /data/f'
sleep 2
# (Not "no snapshot yet": a minute boundary may fall inside the sleep.)
! plugin_log bob | grep -q 'queued replication of cron to .*(unmount)' ||
	e2e_fail "on-unmount=false still replicated on unmount"
assert_contains "$(status_of cron)" '"next-run":' "next scheduled run"
# Within two minute boundaries, whatever second this starts at.
wait_for 130 "a scheduled snapshot" has_snapshot cron
sched1=$(readlink "$store/cron/latest")
sessions=$(grep -c "ssh .* (bob): backup of cron" "$E2E_TMP/alice/dockerd.log" || true)
wait_for 130 "a skipped scheduled run" sh -c "docker -H unix://$E2E_TMP/bob/docker.sock volume inspect -f '{{json .Status}}' cron | grep -q 'skipped: unchanged'"
assert_eq "$(readlink "$store/cron/latest")" "$sched1" "snapshot after an unchanged run"
st=$(dk bob volume inspect -f '{{json .Status}}' cron)
jq -e '.["last-backup"].alice | (.skip_seconds >= 0 and .skip_seconds < 1 and .duration_seconds > 0)' \
	<<<"$st" >/dev/null || e2e_fail "a skip keeps the last run's duration and adds its own: $st"
assert_eq "$(grep -c "ssh .* (bob): backup of cron" "$E2E_TMP/alice/dockerd.log" || true)" "$sessions" "server contacted for an unchanged volume"
