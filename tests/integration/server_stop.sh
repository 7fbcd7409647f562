#!/usr/bin/env bash
# A server stopped (SIGTERM) just after a backup, while its work after the
# transfer runs (the manifest hashes every file of the new snapshot, then
# retention and the recount of usage): it must end cleanly (status 0, no
# crash, no "fatal"), promptly, and the next backup must succeed. Found by
# the benchmarks: exit()'s handlers (OpenSSL's cleanup) ran while that work
# still hashed, and the server died of SIGSEGV or of a "fatal: out of
# memory" from a digest that could no longer be made.
#
# No Docker: the daemons run directly on loopback, as the benchmarks run
# them. usage: server_stop.sh PRIVATEER_BINARY
set -u
P=${1:?usage: server_stop.sh PRIVATEER_BINARY}
ROUNDS=${STOP_ROUNDS:-4}
# 200 files of 2 MiB: the hashing lasts long enough for the old exit to
# meet it (the fault showed in 1 round of 2 to 4).
FILES=${STOP_FILES:-200}
KIB=${STOP_KIB:-2048}
command -v rsync >/dev/null || { echo "server_stop: SKIPPED: rsync is not installed" >&2; exit 77; }
command -v python3 >/dev/null || { echo "server_stop: SKIPPED: python3 is not installed" >&2; exit 77; }
T=$(mktemp -d /tmp/privateer-stop.XXXXXX)
ALICE=
BOB=
fail() { echo "server_stop: FAIL: $*" >&2; for f in "$T"/alice/daemon*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done; exit 1; }
cleanup() {
	local rc=$?
	for pid in $ALICE $BOB; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $ALICE $BOB; do wait "$pid" 2>/dev/null; done
	rm -rf "$T"
	[ $rc = 0 ] && echo "server_stop: PASS" >&2
	exit $rc
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
vols=$(for r in $(seq 1 "$ROUNDS"); do printf '"v%d",' "$r"; done)
vols=${vols%,}
mkdir -p "$T/alice" "$T/bob"
for who in alice bob; do
	cat >"$T/$who/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $PORT } ],
  "clients": [ { "name": "bob", "backup": [$vols] } ],
  "volumes": [ $(echo "$vols" | sed 's/"\(v[0-9]*\)"/{ "name": "\1" }/g') ],
  "keys": { "store": "file", "path": "$T/keys" }
}
JSON
done
"$P" --config "$T/alice/privateer.json" keygen --all >/dev/null || fail "keygen"

start_alice() { # LOG
	PRIVATEER_CONFIG=$T/alice/privateer.json PRIVATEER_NAME=alice \
		PRIVATEER_LISTEN_ADDRESS=127.0.0.1 PRIVATEER_LOG_LEVEL=info \
		"$P" plugin --socket "$T/alice/p.sock" --state "$T/alice/state" \
		--mount-root "$T/alice/mnt" 2>"$1" &
	ALICE=$!
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "alice does not listen on $PORT"
}
PRIVATEER_CONFIG=$T/bob/privateer.json PRIVATEER_NAME=bob PRIVATEER_LOG_LEVEL=warn \
	"$P" plugin --socket "$T/bob/p.sock" --state "$T/bob/state" \
	--mount-root "$T/bob/mnt" 2>"$T/bob/daemon.log" &
BOB=$!
for _ in $(seq 1 100); do [ -S "$T/bob/p.sock" ] && break; sleep 0.1; done
backup() { "$P" --socket "$T/bob/p.sock" --config "$T/bob/privateer.json" --as bob backup "$1"; }

for r in $(seq 1 "$ROUNDS"); do
	v=v$r
	out=$(curl -s --unix-socket "$T/bob/p.sock" -X POST http://p/VolumeDriver.Create -d "{\"Name\":\"$v\"}")
	[ "$out" = "{}" ] || fail "creating $v: $out"
	# Many files: the manifest makes a digest for each.
	python3 - "$T/bob/state/volumes/$v/data" "$FILES" "$KIB" <<'PY' || fail "filling $v"
import os, sys
d, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(k * 1024))
PY
	start_alice "$T/alice/daemon-$r.log"
	backup "$v" >"$T/backup.out" 2>&1 || { cat "$T/backup.out" >&2; fail "round $r: the backup of $v failed"; }
	# At once: the work after the transfer has just begun.
	kill -TERM "$ALICE"
	t0=$SECONDS
	wait "$ALICE"
	rc=$?
	ALICE=
	[ $rc = 0 ] || fail "round $r: alice stopped during the work after a backup exited with status $rc (139: SIGSEGV)"
	! grep -E "fatal|Sanitizer|runtime error" "$T/alice/daemon-$r.log" >&2 ||
		fail "round $r: alice's log reports the above"
	[ $((SECONDS - t0)) -le 30 ] || fail "round $r: alice took $((SECONDS - t0)) s to stop"
done

# The next backup, with nobody doing anything, succeeds and is complete.
start_alice "$T/alice/daemon-last.log"
echo changed >"$T/bob/state/volumes/v1/data/new"
backup v1 >"$T/backup.out" 2>&1 || { cat "$T/backup.out" >&2; fail "the backup after the stops failed"; }
for r in $(seq 1 "$ROUNDS"); do
	l=$(readlink "$T/alice/state/server/bob/v$r/latest") || fail "v$r has no latest snapshot"
	n=$(find "$T/alice/state/server/bob/v$r/$l" -type f | wc -l)
	want=$FILES
	[ "$r" = 1 ] && want=$((FILES + 1))
	[ "$n" = "$want" ] || fail "v$r's latest snapshot $l has $n files, not $want"
done
exit 0
