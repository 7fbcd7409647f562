#!/usr/bin/env bash
# The volume driver through a real dockerd: the behaviours of moby's external
# volume driver tests (integration-cli/docker_cli_external_volume_driver_
# unix_test.go), adapted to a managed plugin.
. "$(dirname "$0")/lib.sh"
e2e_init
e2e_start_dockerd h
e2e_busybox_image h
e2e_install_plugin h
state=$E2E_TMP/h/state/volumes

e2e_log "named volume through run -v: written in one container, read in the next"
run_bb h --rm -v named:/data --volume-driver privateer -- sh -c 'echo hello > /data/f'
assert_eq "$(run_bb h --rm -v named:/data -- cat /data/f)" hello "named volume data"
assert_eq "$(dk h volume inspect -f '{{.Driver}}' named)" privateer:latest "driver"
assert_eq "$(cat "$state/named/data/f")" hello "data on the state mount"

e2e_log "anonymous volume with --volume-driver is removed by run --rm"
before=$(dk h volume ls -q -f driver=privateer:latest | wc -l)
[ "$before" -ge 1 ] || e2e_fail "volume ls does not list the named volume"
run_bb h --rm --volume-driver privateer -v /anon -- sh -c 'echo x > /anon/f'
assert_eq "$(dk h volume ls -q -f driver=privateer:latest | wc -l)" "$before" "volume count after run --rm"
assert_eq "$(ls "$state" | wc -l)" 1 "volume directories after run --rm"

e2e_log "--volumes-from"
dk h create --name holder --network none -v vf:/data --volume-driver privateer busybox true >/dev/null
run_bb h --rm --volumes-from holder -- sh -c 'echo from > /data/g'
assert_eq "$(run_bb h --rm --volumes-from holder -- cat /data/g)" from "--volumes-from data"
dk h rm holder >/dev/null

e2e_log "rm -v removes an anonymous volume"
dk h run --name withanon --network none --volume-driver privateer -v /anon busybox true
anon=$(dk h inspect -f '{{range .Mounts}}{{.Name}}{{end}}' withanon)
[ -d "$state/$anon" ] || e2e_fail "anonymous volume $anon not on the state mount"
dk h rm -v withanon >/dev/null
must_fail dk h volume inspect "$anon" >/dev/null
for i in $(seq 1 20); do [ -e "$state/$anon" ] || break; sleep 0.2; done
[ ! -e "$state/$anon" ] || e2e_fail "anonymous volume $anon still on disk after rm -v"

e2e_log "volume ls and volume inspect with Status"
dk h volume create -d privateer -o backup=alice,bob -o schedule='*/5 * * * *' st >/dev/null
assert_contains "$(dk h volume ls --format '{{.Driver}} {{.Name}}')" "privateer:latest st" "volume ls"
status=$(dk h volume inspect -f '{{json .Status}}' st)
assert_contains "$status" '"backup":["alice","bob"]' "Status"
assert_contains "$status" '"schedule":"*/5 * * * *"' "Status"
assert_contains "$status" '"mounts":0' "Status"
assert_eq "$(dk h volume inspect -f '{{.Options.backup}}' st)" "alice,bob" "Options"

e2e_log "inspect of a missing volume fails with no such volume"
out=$(must_fail dk h volume inspect nosuchvolume)
assert_contains "$out" "no such volume" "inspect of a missing volume"

e2e_log "bad options fail create with the accepted list"
out=$(must_fail dk h volume create -d privateer -o colour=red bad1)
assert_contains "$out" 'unknown option "colour"' "create with an unknown option"
assert_contains "$out" "backup=SERVER" "create with an unknown option"
out=$(must_fail dk h volume create -d privateer -o schedule='61 * * * *' bad2)
assert_contains "$out" "schedule" "create with a bad schedule"
out=$(must_fail dk h volume create -d privateer -o on-unmount=maybe bad3)
assert_contains "$out" "on-unmount" "create with a bad on-unmount"
[ ! -e "$state/bad1" ] && [ ! -e "$state/bad2" ] || e2e_fail "a refused create left a volume"

e2e_log "docker cp from a running container; remove while in use is refused"
dk h volume create -d privateer cpvol >/dev/null
dk h run -d --name cp1 --network none -v cpvol:/data busybox sh -c 'echo copied > /data/c; exec sleep 600' >/dev/null
for i in $(seq 1 50); do run_bb h --rm -v cpvol:/data -- test -f /data/c && break; sleep 0.2; done
dk h cp cp1:/data/c "$E2E_TMP/c"
assert_eq "$(cat "$E2E_TMP/c")" copied "docker cp"
assert_contains "$(dk h volume inspect -f '{{json .Status}}' cpvol)" '"mounts":1' "mounts after docker cp"
out=$(must_fail dk h volume rm cpvol)
assert_contains "$out" "in use" "volume rm while in use"
sock=/run/docker/plugins/$(e2e_plugin_id h)/privateer.sock
out=$(curl -s --unix-socket "$sock" -X POST http://plugin/VolumeDriver.Remove -d '{"Name":"cpvol"}')
assert_contains "$out" "is in use" "the plugin's own refusal"

e2e_log "two containers use one volume at once"
dk h run -d --name cp2 --network none -v cpvol:/data busybox sleep 600 >/dev/null
dk h exec cp2 sh -c 'echo both > /data/b'
assert_eq "$(dk h exec cp1 cat /data/b)" both "second container's write seen by the first"
dk h rm -f cp1 >/dev/null
assert_eq "$(dk h exec cp2 cat /data/c)" copied "volume still mounted for the other container"
dk h rm -f cp2 >/dev/null
assert_contains "$(dk h volume inspect -f '{{json .Status}}' cpvol)" '"mounts":0' "mounts after both stopped"
pid=$(e2e_plugin_pid h)
if grep -q "/mnt/privateer/cpvol" /proc/"$pid"/mountinfo; then
	e2e_fail "cpvol still mounted in the plugin after the last container stopped"
fi
dk h volume rm cpvol >/dev/null

e2e_log "a mount failure causes no unmount"
dk h volume create -d privateer broken >/dev/null
mv "$state/broken/data" "$E2E_TMP/broken-data"
out=$(must_fail run_bb h --rm -v broken:/data -- true)
assert_contains "$out" "data directory" "mount of a volume without data"
if plugin_log h | grep -q "VolumeDriver.Unmount broken"; then
	e2e_fail "Docker was made to unmount after a failed mount"
fi
mv "$E2E_TMP/broken-data" "$state/broken/data"
run_bb h --rm -v broken:/data -- true

e2e_log "many volumes created in parallel over several connections"
pids=()
for i in $(seq 1 16); do
	dk h volume create -d privateer "par$i" >/dev/null & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || e2e_fail "parallel create failed"; done
assert_eq "$(dk h volume ls -q -f driver=privateer:latest | grep -c '^par')" 16 "parallel creates"
