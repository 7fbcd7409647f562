#!/usr/bin/env bash
# Bad requests on the plugin socket get a clear Err (404 for unknown paths),
# write nothing, and never stop the plugin from serving Docker.
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
expect /VolumeDriver.Create '{"Name":"../etc"}' 500 "contains '/'"
expect /VolumeDriver.Create '{"Name":".hidden"}' 500 'must start with a letter or digit'
expect /VolumeDriver.Create '{"Name":"a/b"}' 500 "contains '/'"
expect /VolumeDriver.Create '{"Name":"a..b"}' 500 'contains \"..\"'
expect /VolumeDriver.Create '{"Name":"a\u0001b"}' 500 'control character'
expect /VolumeDriver.Create '{"Name":"a\u0000b"}' 400 'malformed JSON'
expect /VolumeDriver.Create "{\"Name\":\"$(printf 'v%.0s' $(seq 1 200))\"}" 500 'characters long'
expect /VolumeDriver.Mount '{"Name":"good"}' 400 'missing field ID'
expect /VolumeDriver.Mount '{"Name":"good","ID":""}' 400 'field ID is empty'
expect /VolumeDriver.Mount '{"Name":"nope","ID":"x"}' 500 'no such volume: nope'
expect /VolumeDriver.Remove '{"Name":null}' 400 'missing field Name'
expect /VolumeDriver.Get '{"Name":"nope"}' 500 'no such volume'
expect /VolumeDriver.Bogus '{}' 404 'unknown endpoint'
expect /../../etc/passwd '{}' 404 'unknown endpoint'

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

e2e_log "the plugin still serves Docker, is the same process, and wrote nothing"
assert_eq "$(e2e_plugin_pid h)" "$pid" "plugin PID (it must not have crashed)"
assert_eq "$(snapshot)" "$before" "state directory after bad input"
assert_eq "$(run_bb h --rm -v good:/data -- cat /data/f)" safe "volume after bad input"
assert_eq "$(dk h volume ls -q -f driver=privateer:latest)" good "volume list after bad input"
