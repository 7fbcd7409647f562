#!/usr/bin/env bash
# Bad requests on the plugin socket get a clear Err (400 for bad input, 404
# for unknown paths, a NUL in them included), write nothing, and never stop
# the plugin from serving Docker: neither do 300 idle connections. An import
# that loses the race for its name to a Create gets 409, logged as info.
. "$(dirname "$0")/lib.sh"
e2e_init
e2e_start_dockerd h
e2e_busybox_image h
e2e_install_plugin h
state=$E2E_TMP/h/state/volumes
sock=/run/docker/plugins/$(e2e_plugin_id h)/privateer.sock
pid=$(e2e_plugin_pid h)
dk h volume create -d privateer good >/dev/null
run_bb h --rm -v good:/data -- sh -c 'echo safe > /data/f'
snapshot() { (cd "$state" && find . -path ./.trash -prune -o -print | sort; cat ./*/meta.json); }
before=$(snapshot)

# post PATH BODY -> "STATUS BODY"
post() {
	curl -s --unix-socket "$sock" -o "$E2E_TMP/body" -w '%{http_code}' \
		-X POST "http://plugin$1" --data-binary "$2"
	printf ' %s' "$(cat "$E2E_TMP/body")"
}
expect() {
	local got
	got=$(post "$1" "$2")
	assert_contains "$got" "$3" "$1 with body [${2:0:60}]"
	assert_contains "$got" "$4" "$1 with body [${2:0:60}]"
}

e2e_log "malformed, mistyped and incomplete requests"
expect /VolumeDriver.Create '{"Name":' 400 '"Err":"malformed JSON'
expect /VolumeDriver.Create '[1,2]' 400 'must be a JSON object'
expect /VolumeDriver.Create '' 400 'request body is empty'
expect /VolumeDriver.Create '{}' 400 'missing field Name'
expect /VolumeDriver.Create '{"Name":42}' 400 'field Name must be a string'
expect /VolumeDriver.Create '{"Name":"x","Opts":[]}' 400 'field Opts must be an object'
expect /VolumeDriver.Create '{"Name":"x","Opts":{"backup":7}}' 400 'must be a string'
expect /VolumeDriver.Create '{"Name":"a","Name":"b"}' 400 'duplicate'
expect /VolumeDriver.Create '{"Name":"../etc"}' 400 "contains '/'"
expect /VolumeDriver.Create '{"Name":".hidden"}' 400 'must start with a letter or digit'
expect /VolumeDriver.Create '{"Name":"a/b"}' 400 "contains '/'"
expect /VolumeDriver.Create '{"Name":"a..b"}' 400 'contains \"..\"'
expect /VolumeDriver.Create '{"Name":"a\u0001b"}' 400 'control character'
expect /VolumeDriver.Create '{"Name":"a\u0000b"}' 400 'malformed JSON'
expect /VolumeDriver.Create "{\"Name\":\"$(printf 'v%.0s' $(seq 1 200))\"}" 400 'characters long'
expect /VolumeDriver.Remove '{"Name":"../good"}' 400 "contains '/'"
expect /VolumeDriver.Create '{"Name":"x","Opts":{"size":"1G"}}' 400 'unknown option'
expect /VolumeDriver.Mount '{"Name":"good"}' 400 'missing field ID'
expect /VolumeDriver.Mount '{"Name":"good","ID":""}' 400 'field ID is empty'
expect /VolumeDriver.Mount '{"Name":"nope","ID":"x"}' 500 'no such volume: nope'
expect /VolumeDriver.Remove '{"Name":null}' 400 'missing field Name'
expect /VolumeDriver.Get '{"Name":"nope"}' 500 'no such volume'
expect /VolumeDriver.Bogus '{}' 404 'unknown endpoint'
expect /../../etc/passwd '{}' 404 'unknown endpoint'

e2e_log "a NUL in the path: cut there, these would remove and find good"
expect '/VolumeDriver.Remove%00junk' '{"Name":"good"}' 404 'unknown endpoint'
expect '/VolumeDriver.Get%00junk' '{"Name":"good"}' 404 'unknown endpoint'
expect '/VolumeDriver.Remove%00' '{"Name":"good"}' 404 'unknown endpoint'
expect '/Privateer.Import?Volume=good%00junk' '' 400 'NUL'
python3 - "$sock" <<'PY' || e2e_fail "a raw NUL in the request line was served"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'POST /VolumeDriver.Remove\0junk HTTP/1.1\r\nHost: p\r\n'
          b'Content-Length: 15\r\n\r\n{"Name":"good"}')
head = s.recv(4096).decode("latin-1")
sys.exit(0 if head.startswith("HTTP/1.1 404") else 1)
PY

e2e_log "a body over 1 MiB"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big"
printf '{"Name":"big"}' >>"$E2E_TMP/big"
got=$(curl -s --unix-socket "$sock" -w ' %{http_code}' -X POST \
	http://plugin/VolumeDriver.Create --data-binary @"$E2E_TMP/big")
assert_contains "$got" "exceeds 1048576 bytes" "oversized body"
assert_contains "$got" " 413" "oversized body"

e2e_log "garbage that is not HTTP, and a client that hangs up mid-body"
printf 'GARBAGE\r\n\r\n\x00\x01\x02' | timeout 5 curl -s --unix-socket "$sock" \
	telnet://plugin >/dev/null 2>&1 || true
# Declares 100000 bytes, sends 8, then gives up after a second.
curl -s --unix-socket "$sock" --max-time 1 -H 'Content-Length: 100000' \
	-X POST http://plugin/VolumeDriver.Create --data-binary '{"Name":' \
	>/dev/null 2>&1 || true

e2e_log "300 idle connections held open do not keep Docker out"
python3 - "$sock" "$E2E_TMP/flood" <<'PY' &
import os, socket, sys, time
held = []
for _ in range(300):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
open(sys.argv[2], "w").close()
time.sleep(30)
PY
flood=$!
for _ in $(seq 1 100); do [ -e "$E2E_TMP/flood" ] && break; sleep 0.1; done
[ -e "$E2E_TMP/flood" ] || e2e_fail "could not open the idle connections"
t0=$(date +%s%N)
got=$(timeout 10 curl -s --unix-socket "$sock" -X POST \
	http://plugin/VolumeDriver.List) ||
	e2e_fail "no answer behind 300 idle connections"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
assert_contains "$got" '"Name":"good"' "List behind 300 idle connections"
[ "$ms" -lt 3000 ] || e2e_fail "List took $ms ms behind 300 idle connections"
assert_eq "$(timeout 20 docker -H "unix://$E2E_TMP/h/docker.sock" \
	volume ls -q -f driver=privateer:latest)" good \
	"docker volume ls behind the idle connections"
kill "$flood" 2>/dev/null || true
wait "$flood" 2>/dev/null || true

e2e_log "the plugin still serves Docker, is the same process, and wrote nothing"
assert_eq "$(e2e_plugin_pid h)" "$pid" "plugin PID (it must not have crashed)"
assert_eq "$(snapshot)" "$before" "state directory after bad input"
assert_eq "$(run_bb h --rm -v good:/data -- cat /data/f)" safe "volume after bad input"
assert_eq "$(dk h volume ls -q -f driver=privateer:latest)" good "volume list after bad input"

e2e_log "an import that loses its name to a Create: 409, not an error"
python3 - "$E2E_TMP/race.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    ti = tarfile.TarInfo("f"); ti.size = 1 << 20
    t.addfile(ti, io.BytesIO(b"r" * ti.size))
PY
python3 - "$sock" "$E2E_TMP/race.tar" "$E2E_TMP/race.half" "$E2E_TMP/race.go" \
	>"$E2E_TMP/race.status" <<'PY' &
import os, socket, sys, time
sock, tar, half, go = sys.argv[1:]
body = open(tar, "rb").read()
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
s.sendall(b"POST /Privateer.Import?Volume=race HTTP/1.1\r\nHost: p\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
open(half, "w").close()
for _ in range(300):
    if os.path.exists(go):
        break
    time.sleep(0.1)
s.sendall(body[len(body) // 2:])
print(s.recv(4096).decode("latin-1").split("\r\n")[0])
PY
racer=$!
for _ in $(seq 1 100); do [ -e "$E2E_TMP/race.half" ] && break; sleep 0.1; done
dk h volume create -d privateer race >/dev/null
touch "$E2E_TMP/race.go"
wait "$racer" || e2e_fail "the racing import did not finish"
assert_contains "$(cat "$E2E_TMP/race.status")" "409" "the losing import"
if plugin_log h | grep 'import into race' | grep -q 'error: '; then
	plugin_log h | grep 'import into race' >&2
	e2e_fail "a lost race logged as an error"
fi
dk h volume rm race >/dev/null
