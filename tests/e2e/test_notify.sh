#!/usr/bin/env bash
# Being told (PRODUCT.md §11), with real receivers on loopback: a webhook
# (json and slack), a Healthchecks-style ping and a real SMTP server
# (aiosmtpd) record what arrives. Alice stopped -> bob's next backup fails
# -> exactly one failure notification per target, naming the cause, however
# many retries fail, and not again after bob's plugin restarts; alice back
# -> one recovery. Targets down -> backups unaffected, the failed sends
# counted in /metrics. A short max-age passing with no backup -> stale in
# inspect, status, metrics and a notification on bob; with bob's daemon
# stopped, alice notices bob's volume going stale itself. A backup ends a
# stale episode with one recovery, and staleness after it is told again. The json webhook's
# URL, with a token in it, and the ping's come from the key store
# ("secret:NAME#FIELD"): the receiver sees the token, no log holds it.
. "$(dirname "$0")/lib.sh"
e2e_init
P=$PRIVATEER_BUILD/privateer
PY=/usr/bin/python3
[ -x $PY ] && $PY -c 'import aiosmtpd' 2>/dev/null || e2e_skip "python3-aiosmtpd is not installed"
RECV=$(dirname "$0")/notify_receiver.py
recv_pids=()
stop_receivers() {
	local p
	for p in "${recv_pids[@]-}"; do
		[ -z "$p" ] || kill "$p" 2>/dev/null || true
	done
}
trap 'rc=$?; set +e; stop_receivers; (exit $rc); e2e_cleanup' EXIT

start_receiver() {	# start_receiver KIND NAME: sets the port in $E2E_TMP/NAME.port
	rm -f "$E2E_TMP/$2.port"
	$PY "$RECV" "$1" "$E2E_TMP/$2.port" "$E2E_TMP/$2.log" &
	recv_pids+=($!)
	eval "${2}_pid=$!"
	for _ in $(seq 1 40); do [ -s "$E2E_TMP/$2.port" ] && return 0; sleep 0.25; done
	e2e_fail "the $1 receiver did not start"
}
touch "$E2E_TMP/http.log" "$E2E_TMP/smtp.log"
start_receiver http http
start_receiver smtp smtp
hp=$(cat "$E2E_TMP/http.port")
sp=$(cat "$E2E_TMP/smtp.port")

port=$((20000 + RANDOM % 20000))
shared=$E2E_TMP/shared
mkdir -p "$shared"
cat >"$shared/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": ["data", "quick"] } ],
  "volumes": [ { "name": "data", "max_age": "50s" }, { "name": "quick" } ],
  "keys": { "store": "file" },
  "notify": [
    { "type": "webhook", "url": "secret:hook#url", "format": "json" },
    { "type": "webhook", "url": "http://127.0.0.1:$hp/slack", "format": "slack",
      "events": ["failure", "recovery"] },
    { "type": "email", "url": "smtp://127.0.0.1:$sp", "from": "privateer@example.com",
      "to": ["ops@example.com", "oncall@example.com"], "events": ["failure", "recovery"] },
    { "type": "ping", "url": "secret:hc", "events": ["success", "failure"] }
  ]
}
JSON
"$P" --config "$shared/privateer.json" keygen --all >/dev/null
# The secrets beside the keys, in the same store (mode 0600, as keys).
token=tok-$RANDOM$RANDOM-5f2e
hookpath="/hook?token=$token"
put_secret() {	# put_secret NAME JSON
	(umask 077; printf '%s\n' "$2" >"$shared/keys/$1")
}
put_secret hook "{\"url\": \"http://127.0.0.1:$hp$hookpath\"}"
put_secret hc "{\"url\": \"http://127.0.0.1:$hp/ping/2f9a\"}"
for h in alice bob; do mkdir -p "$E2E_TMP/$h/config"; cp -a "$shared/." "$E2E_TMP/$h/config/"; done
e2e_start_dockerd alice
e2e_install_plugin alice PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1 \
	PRIVATEER_WATCH_SECONDS=2
e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob PRIVATEER_RETRY_SECONDS=2 \
	PRIVATEER_WATCH_SECONDS=2 PRIVATEER_NOTIFY_RETRY_MS=200
bsock() { echo "/run/docker/plugins/$(e2e_plugin_id bob)/privateer.sock"; }
asock=/run/docker/plugins/$(e2e_plugin_id alice)/privateer.sock
B() { "$P" --socket "$(bsock)" --config "$E2E_TMP/bob/config/privateer.json" --as bob "$@"; }
A() { "$P" --socket "$asock" --config "$E2E_TMP/alice/config/privateer.json" --as alice "$@"; }
store=$E2E_TMP/alice/state/server/bob
for _ in $(seq 1 60); do B check --connection >/dev/null 2>&1 && break; sleep 0.5; done

wait_for() {	# wait_for SECONDS DESCRIPTION CONDITION (shell code, eval'd here)
	local t=$1 what=$2 i
	shift 2
	for i in $(seq 1 $((t * 4))); do eval "$1" && return 0; sleep 0.25; done
	e2e_fail "timed out after ${t}s waiting for $what"
}
# count FILTER: how many recorded arrivals match a python expression on e
count() {
	$PY - "$E2E_TMP/http.log" "$E2E_TMP/smtp.log" "$1" <<'PY'
import json, sys
n = 0
for path in sys.argv[1:3]:
    for line in open(path):
        e = json.loads(line)
        e.setdefault("path", ""); e.setdefault("method", ""); e.setdefault("data", "")
        b = {}
        if e["kind"] == "http" and e["method"] == "POST":
            try: b = json.loads(e["body"])
            except ValueError: pass
        if eval(sys.argv[3], {"e": e, "b": b}):
            n += 1
print(n)
PY
}
hook() { count "e['path'] == '$hookpath' and b.get('event') == '$1' and b.get('host') == '${2:-bob}'"; }
slack() { count "e['path'] == '/slack' and '$1 on ${2:-bob}' in b.get('text', '')"; }
mail() { count "e['kind'] == 'smtp' and 'Subject: [privateer] $1 on ${2:-bob}: data' in e['data']"; }
ping() { count "e['kind'] == 'http' and e['method'] == 'GET' and e['path'] == '/ping/2f9a$1'"; }
stale_hook() {	# stale_hook VOLUME HOST CLIENT
	count "e['path'] == '$hookpath' and b.get('event') == 'stale' and b.get('volume') == '$1' and b.get('host') == '$2' and b.get('client') == '$3' and b.get('server') == 'alice'"
}
metric() { curl -s --unix-socket "$1" http://plugin/metrics | awk -v m="$2" '$1 == m { print $2 }'; }

e2e_log "a successful backup pings start and success, and tells nobody else"
dk bob volume create -d privateer -o backup=alice data >/dev/null
run_bb bob --rm -v data:/data -- sh -c 'echo one > /data/f'
wait_for 30 "a snapshot" '[ "$(cat "$store/data/latest/f" 2>/dev/null)" = one ]'
wait_for 20 "the success ping" '[ $(ping "") -ge 1 ]'
[ "$(ping /start)" -ge 1 ] || e2e_fail "no start ping"
assert_eq "$(hook failure)$(hook recovery)$(hook success)" "000" "webhook events after a success"
assert_eq "$(count "e['kind'] == 'smtp'")" "0" "mails after a success"

e2e_log "alice stopped: exactly one failure notification per target, naming the cause"
dk alice plugin disable -f privateer >/dev/null
t0=$(date +%s)
# The episode opens with a backup by hand, whose notification must say
# when data last succeeded too; then the triggered one retries.
B backup data >/dev/null 2>&1 && e2e_fail "a backup to a stopped alice succeeded"
run_bb bob --rm -v data:/data -- sh -c 'echo two > /data/f'
wait_for 60 "the failure webhook" '[ $(hook failure) -ge 1 ]'
wait_for 60 "the failure on every target" '[ $(slack failure) -ge 1 ] && [ $(mail failure) -ge 1 ] && [ $(ping /fail) -ge 1 ]'
[ $(($(date +%s) - t0)) -le 60 ] || e2e_fail "the failure took more than 60 s to be told"
msg=$(count "e['path'] == '$hookpath' and b.get('event') == 'failure' and 'cannot connect to alice' in b.get('message', '') and b.get('volume') == 'data' and b.get('server') == 'alice' and b.get('client') == 'bob' and b.get('last_success', '').endswith('Z') and b.get('time', '').endswith('Z')")
assert_eq "$msg" 1 "the failure body (event, host, volume, server, client, message naming the cause, last_success, time)"
assert_eq "$(count "e['kind'] == 'smtp' and 'cannot connect to alice' in e['data'] and e['to'] == ['ops@example.com', 'oncall@example.com']")" 1 "the mail names the cause"
assert_eq "$(count "e['path'] == '/slack' and 'cannot connect to alice' in b.get('text', '')")" 1 "slack names the cause"
# Several retries fail (every 2 s, doubling) and tell nobody again.
wait_for 30 "a third failed attempt" 'dk bob volume inspect -f "{{json .Status}}" data | grep -q "\"attempts\":[3-9]"'
e2e_log "bob's plugin restarts in the middle of the episode"
dk bob plugin disable -f privateer >/dev/null
dk bob plugin enable privateer >/dev/null
B backup data >/dev/null 2>&1 && e2e_fail "a backup to a stopped alice succeeded"
# (The retries of before the restart are gone with it: a new trigger.)
run_bb bob --rm -v data:/data -- sh -c 'echo two > /data/f'
wait_for 30 "a second failed attempt after the restart" 'dk bob volume inspect -f "{{json .Status}}" data | grep -q "\"attempts\":[2-9]"'
sleep 1
assert_eq "$(hook failure) $(slack failure) $(mail failure) $(ping /fail)" "1 1 1 1" "failure notifications per target after retries and a restart"

e2e_log "alice back: one recovery"
dk alice plugin enable privateer >/dev/null
asock=/run/docker/plugins/$(e2e_plugin_id alice)/privateer.sock
wait_for 60 "the retried backup" '[ "$(cat "$store/data/latest/f" 2>/dev/null)" = two ]'
wait_for 30 "the recovery on every target" '[ $(hook recovery) -ge 1 ] && [ $(slack recovery) -ge 1 ] && [ $(mail recovery) -ge 1 ]'
B backup data >/dev/null
sleep 2
assert_eq "$(hook recovery) $(slack recovery) $(mail recovery)" "1 1 1" "recovery notifications per target"
assert_eq "$(hook failure) $(slack failure) $(mail failure) $(ping /fail)" "1 1 1 1" "no new failure"

e2e_log "targets down: backups go on, the failed sends are counted"
kill "$http_pid" "$smtp_pid"
wait "$http_pid" "$smtp_pid" 2>/dev/null || true
before=$(metric "$(bsock)" privateer_notifications_failed_total)
run_bb bob --rm -v data:/data -- sh -c 'echo three > /data/f'
wait_for 30 "a backup with the targets down" '[ "$(cat "$store/data/latest/f" 2>/dev/null)" = three ]'
wait_for 30 "the failed sends counted" '[ "$(metric $(bsock) privateer_notifications_failed_total)" -gt ${before:-0} ]'
plugin_log bob | grep -q 'notification .* failed' || e2e_fail "no failed send logged"
# (grep -c reads it all: grep -q could leave plugin_log a SIGPIPE, which
# pipefail would turn into "not found".)
[ "$(plugin_log bob | grep -c -- "127.0.0.1:$hp/ping")" = 0 ] || e2e_fail "a target's URL was logged"
[ "$(plugin_log bob | grep -c -- "$token")" = 0 ] || e2e_fail "the webhook's token was logged"
start_receiver http http2
start_receiver smtp smtp2
hp2=$(cat "$E2E_TMP/http2.port")
sp2=$(cat "$E2E_TMP/smtp2.port")
for h in alice bob; do
	sed -i "s/127.0.0.1:$hp/127.0.0.1:$hp2/; s/127.0.0.1:$sp/127.0.0.1:$sp2/" "$E2E_TMP/$h/config/privateer.json" \
		"$E2E_TMP/$h/config/keys/hook" "$E2E_TMP/$h/config/keys/hc"
done
# The receivers now write http2.log/smtp2.log: count from those.
mv "$E2E_TMP/http.log" "$E2E_TMP/http.old"; ln -s http2.log "$E2E_TMP/http.log"
mv "$E2E_TMP/smtp.log" "$E2E_TMP/smtp.old"; ln -s smtp2.log "$E2E_TMP/smtp.log"
touch "$E2E_TMP/http2.log" "$E2E_TMP/smtp2.log"
B reload >/dev/null
A reload >/dev/null

e2e_log "a short max-age passes with no backup: stale everywhere on bob"
dk bob volume create -d privateer -o backup=alice -o on-unmount=false -o max-age=6s quick >/dev/null
wait_for 30 "the stale notification" '[ $(stale_hook quick bob bob) -ge 1 ]'
st=$(dk bob volume inspect -f '{{json .Status}}' quick)
assert_contains "$st" '"stale":true' "inspect Status.last-backup.alice"
assert_contains "$(B status quick)" "stale" "privateer status"
assert_eq "$(metric "$(bsock)" 'privateer_backup_stale{volume="quick",server="alice"}')" 1 "privateer_backup_stale"
assert_eq "$(metric "$(bsock)" 'privateer_backup_stale{volume="data",server="alice"}')" 0 "data is not stale"
sleep 5
assert_eq "$(count "e['path'] == '$hookpath' and b.get('event') == 'stale' and b.get('volume') == 'quick'")" 1 "one stale notification per episode"
e2e_log "a backup ends the episode: one recovery; stale again later is a new episode, told"
quick_hook() { count "e['path'] == '$hookpath' and b.get('event') == '$1' and b.get('volume') == 'quick' and b.get('host') == 'bob'"; }
B backup quick >/dev/null
wait_for 10 "quick no longer stale" '[ "$(metric "$(bsock)" "privateer_backup_stale{volume=\"quick\",server=\"alice\"}")" = 0 ]'
wait_for 10 "quick's recovery" '[ $(quick_hook recovery) -ge 1 ]'
assert_eq "$(count "e['path'] == '$hookpath' and b.get('event') == 'recovery' and b.get('volume') == 'quick' and 'no longer stale' in b.get('message', '')")" 1 "the recovery says the staleness ended"
wait_for 30 "quick stale again, told again" '[ $(quick_hook stale) -ge 2 ]'
assert_eq "$(quick_hook recovery) $(quick_hook stale)" "1 2" "quick's recoveries and stale notifications"

e2e_log "bob's daemon stopped: alice notices bob's volume going stale"
B backup data >/dev/null
t0=$(date +%s)
e2e_stop_dockerd bob
assert_eq "$(metric "$asock" 'privateer_client_backup_stale{client="bob",volume="data"}')" 0 "not stale yet on alice"
wait_for 120 "alice's stale notification naming bob" '[ $(stale_hook data alice bob) -ge 1 ]'
el=$(($(date +%s) - t0))
[ $el -ge 40 ] || e2e_fail "alice called data stale after ${el}s (max_age 50s)"
[ $el -le 115 ] || e2e_fail "alice noticed after ${el}s"
assert_eq "$(metric "$asock" 'privateer_client_backup_stale{client="bob",volume="data"}')" 1 "privateer_client_backup_stale on alice"
assert_contains "$(A status)" "data: " "alice's status lists bob's data"
A status | grep -q 'data: .*stale' || e2e_fail "alice's status does not call bob's data stale: $(A status)"
A status --json | grep -q '"stale": true' || e2e_fail "alice's status --json"
for h in alice bob; do
	[ "$(plugin_log $h | grep -c -- "$token")" = 0 ] || e2e_fail "the webhook's token is in $h's log"
done
[ "$(count "e['path'] == '$hookpath'")" -ge 1 ] || e2e_fail "the webhook did not receive its token"
