#!/usr/bin/env bash
# dev/demo end to end, as a newcomer runs it, but against a private daemon:
# the test starts its own dockerd as the local daemon "bob" (DOCKER_HOST)
# and gives the demo a directory under the test's temp dir
# (PRIVATEER_DEMO_DIR), where the demo starts alice's daemon. Checks what
# the tour prints and the state behind it (two snapshots on alice, the
# first one restored into a new volume), that it refuses to touch a volume
# it did not make and says which step failed, that a second run needs no
# cleaning first, and that --clean stops alice and leaves nothing of its
# own (process, mount, plugin, volume, image) and nothing else removed.
. "$(dirname "$0")/lib.sh"
e2e_init

DEMO_DIR=$E2E_TMP/demo
FAIL_DIR=$E2E_TMP/demo-fail
BOB_SOCK=unix://$E2E_TMP/bob/docker.sock
# The demo never sees a developer's daemon: DOCKER_HOST is always ours.
demo_in() {
	local dir=$1
	shift
	PRIVATEER_DEMO_DIR=$dir DOCKER_HOST=$BOB_SOCK PRIVATEER_BUILD=$PRIVATEER_BUILD \
		timeout 300 "$PRIVATEER_SRC/dev/demo" --no-build "$@"
}
demo() { demo_in "$DEMO_DIR" "$@"; }

# alice's daemon is the demo's, not one of lib.sh's hosts: its plugin's
# sanitizer reports are checked here, before --clean removes the log.
alice_log_check() {
	local log=$1/alice/dockerd.log
	[ -f "$log" ] || return 0
	if grep 'plugin=' "$log" | grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:'; then
		e2e_log "sanitizer report from the plugin on alice:"
		grep 'plugin=' "$log" | grep -E -A30 'Sanitizer|runtime error:' | head -60 >&2
		return 1
	fi
}
demo_cleanup() {
	local rc=$? d
	set +e
	for d in "$DEMO_DIR" "$FAIL_DIR"; do
		alice_log_check "$d" || { [ $rc -ne 0 ] || rc=1; }
		if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -f "$d/alice/dockerd.log" ]; then
			e2e_log "--- last lines of alice's dockerd log ($d) ---"
			tail -40 "$d/alice/dockerd.log" >&2
		fi
		[ ! -d "$d" ] || demo_in "$d" --clean >&2
	done
	(exit $rc)
	e2e_cleanup
}
trap demo_cleanup EXIT

# What is left of a demo directory: processes started there, mounts below it.
leftovers() {
	local dir=$1 p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$dir/" &&
			echo "process ${p#/proc/}: $({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)"
	done
	awk -v t="$dir/" 'index($5, t) == 1 { print "mount " $5 }' /proc/self/mountinfo
}

e2e_start_dockerd bob
dk bob volume create keepme >/dev/null

e2e_log "a volume the demo did not make is refused, by step, and kept"
dk bob volume create demo_data >/dev/null
out=$(must_fail demo_in "$FAIL_DIR")
assert_contains "$out" "FAILED at step 2/10" "failure message"
assert_contains "$out" "already has a volume named demo_data that the demo did not make" "failure message"
assert_contains "$out" "dev/demo --clean removes it" "failure message"
dk bob volume inspect demo_data >/dev/null || e2e_fail "the demo removed a volume it did not make"
out=$(demo_in "$FAIL_DIR" --clean)
assert_contains "$out" "removed $FAIL_DIR" "clean after a failure"
dk bob volume inspect demo_data >/dev/null || e2e_fail "--clean removed a volume it did not make"
dk bob volume rm demo_data >/dev/null

e2e_log "no daemon at DOCKER_HOST: a clear message, nothing started"
out=$(PRIVATEER_DEMO_DIR=$FAIL_DIR DOCKER_HOST=unix://$E2E_TMP/nobody.sock \
	PRIVATEER_BUILD=$PRIVATEER_BUILD must_fail "$PRIVATEER_SRC/dev/demo" --no-build)
assert_contains "$out" "FAILED at step 2/10" "failure message"
assert_contains "$out" "no Docker daemon answers at DOCKER_HOST=unix://$E2E_TMP/nobody.sock" "failure message"
out=$(PRIVATEER_DEMO_DIR=$FAIL_DIR DOCKER_HOST=unix://$E2E_TMP/nobody.sock \
	"$PRIVATEER_SRC/dev/demo" --clean)
assert_contains "$out" "removed $FAIL_DIR" "clean after a failure"

# The tour, end to end; prints its output into the test's log.
tour() {
	local t0 t1 rc=0
	t0=$(date +%s)
	demo >"$E2E_TMP/demo.out" 2>&1 || rc=$?
	t1=$(date +%s)
	sed 's/^/  | /' "$E2E_TMP/demo.out" >&2
	[ $rc = 0 ] || e2e_fail "dev/demo exited with status $rc"
	e2e_log "the demo took $((t1 - t0)) s"
	[ $((t1 - t0)) -lt 120 ] || e2e_fail "the demo took $((t1 - t0)) s (at most 120)"
	out=$(cat "$E2E_TMP/demo.out")
}
snap_re='[0-9]{8}T[0-9]{6}Z'
# Checks what one run printed and made.
check_tour() {
	local snaps first second n
	for n in $(seq 1 10); do assert_contains "$out" "[$n/10] " "the tour's steps"; done
	assert_contains "$out" "connection alice: ok" "check --connection"
	# Step 6 lists one snapshot, step 7 two; the restore reads the first.
	grep -qE "^    alice +bob +$snap_re \(latest\)$" <<<"$out" || e2e_fail "no snapshot listed"
	[ "$(grep -cE "^    alice +bob +$snap_re" <<<"$out")" = 3 ] ||
		e2e_fail "snapshots: expected 1 then 2 lines listed"
	snaps=$(ls "$DEMO_DIR/alice/state/server/bob/demo_data" | grep -E "^$snap_re$")
	assert_eq "$(wc -l <<<"$snaps")" 2 "snapshots on alice's disk"
	first=$(head -1 <<<"$snaps") second=$(tail -1 <<<"$snaps")
	assert_contains "$out" "restore-snapshot=$first restored" "restore command"
	assert_contains "$out" "$second (latest)" "second snapshot listed"
	local s=$DEMO_DIR/alice/state/server/bob/demo_data
	assert_eq "$(cat "$s/$first/notes.txt")" "first version" "first snapshot"
	[ ! -e "$s/$first/todo.txt" ] || e2e_fail "the first snapshot has the second change"
	assert_eq "$(cat "$s/$second/notes.txt")" "second version" "second snapshot"
	assert_eq "$(stat -c %i "$s/$first/photo.jpg")" "$(stat -c %i "$s/$second/photo.jpg")" \
		"unchanged file shared by the snapshots"
	# The restored volume holds the first state, through Docker too.
	assert_contains "$out" "notes.txt: first version" "restored volume read back"
	local r=$DEMO_DIR/bob/state/volumes/restored/data
	assert_eq "$(cat "$r/notes.txt")" "first version" "restored volume"
	[ ! -e "$r/todo.txt" ] || e2e_fail "the restored volume has the second change"
	cmp "$r/photo.jpg" "$s/$first/photo.jpg" || e2e_fail "restored photo.jpg differs"
	assert_eq "$(dk bob run --rm --network none -v restored:/d busybox cat /d/notes.txt)" \
		"first version" "restored volume in a container"
	assert_eq "$(cat "$DEMO_DIR/bob/state/volumes/demo_data/data/notes.txt")" \
		"second version" "the volume itself"
	# Status: bob's and alice's, then Docker's.
	assert_contains "$out" "volume demo_data: 0 mount(s), " "privateer status"
	grep -qE "last to alice: ok at " <<<"$out" || e2e_fail "privateer status: no last backup"
	assert_contains "$out" "client bob: 1 volume(s), 2 snapshot(s)" "alice's status"
	assert_contains "$out" '"Driver": "privateer:latest"' "docker volume inspect"
	assert_contains "$out" '"last-backup"' "docker volume inspect"
	assert_contains "$out" "Done in " "the end"
	dk bob plugin inspect privateer >/dev/null || e2e_fail "no plugin on bob after the demo"
	docker -H "unix://$DEMO_DIR/alice/docker.sock" plugin inspect privateer >/dev/null ||
		e2e_fail "alice does not answer after the demo"
}

e2e_log "the tour: backup to alice on unmount, two snapshots, the first restored"
tour
assert_contains "$out" "busybox:latest is imported from the host's busybox-static" "busybox import"
check_tour

e2e_log "a second run works without cleaning first"
alice1=$(cat "$DEMO_DIR/alice/dockerd.pid")
tour
assert_contains "$out" "A previous run left $DEMO_DIR" "second run"
assert_contains "$out" "stopped alice's dockerd (PID $alice1)" "second run"
check_tour
[ ! -e "/proc/$alice1" ] || e2e_fail "the first run's alice is still running"

e2e_log "--clean refuses while the demo's plugin holds a volume the demo did not make"
dk bob volume create -d privateer mine >/dev/null
out=$(must_fail demo --clean)
assert_contains "$out" "volumes made with the demo's plugin, not by the demo:" "clean refusal"
assert_contains "$out" "mine" "clean refusal"
dk bob volume inspect mine >/dev/null || e2e_fail "--clean removed a volume it did not make"
dk bob volume inspect demo_data >/dev/null || e2e_fail "a refused --clean removed the demo's volume"
docker -H "unix://$DEMO_DIR/alice/docker.sock" version >/dev/null ||
	e2e_fail "a refused --clean stopped alice"
dk bob volume rm mine >/dev/null

e2e_log "--clean stops alice and removes only what the demo made"
alice_log_check "$DEMO_DIR" || e2e_fail "sanitizer report on alice"
alice2=$(cat "$DEMO_DIR/alice/dockerd.pid")
out=$(demo --clean)
assert_contains "$out" "removed volume restored" "clean"
assert_contains "$out" "removed volume demo_data" "clean"
assert_contains "$out" "removed plugin privateer" "clean"
assert_contains "$out" "removed image busybox:latest" "clean"
assert_contains "$out" "stopped alice's dockerd (PID $alice2)" "clean"
[ ! -e "$DEMO_DIR" ] || e2e_fail "$DEMO_DIR is still there"
[ ! -e "/proc/$alice2" ] || e2e_fail "alice's dockerd still runs"
left=$(leftovers "$DEMO_DIR")
[ -z "$left" ] || e2e_fail "left behind: $left"
assert_eq "$(dk bob plugin ls -q)" "" "plugins on bob"
assert_eq "$(dk bob volume ls -q)" "keepme" "volumes on bob"
! dk bob image inspect busybox:latest >/dev/null 2>&1 || e2e_fail "the imported busybox is still there"
assert_contains "$(demo --clean)" "nothing to clean" "a second --clean"
