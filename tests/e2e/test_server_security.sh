#!/usr/bin/env bash
# The replication server against the OpenSSH client: with a configured
# client key, everything but one exec of an allowed `rsync --server` is
# refused — shell, pty, sftp, env, X11, agent and port forwarding — as are
# unknown keys, crafted rsync command lines (devices, absolute paths, ..,
# --log-file, --files-from, --link-dest, --rsh, -s) and writes outside the
# client's own area; a symlink in a snapshot is never followed out of it.
# The server is the privateer daemon run directly (no Docker needed).
# SECURITY_FS=btrfs (test_server_security_btrfs.sh) puts the server's
# state on a loop-mounted btrfs: a copy-on-write store, where pushes may
# write in place and delete, in a private copy only.
. "$(dirname "$0")/lib.sh"
E2E_TMP=$(mktemp -d /tmp/privateer-e2e.XXXXXX)
SECURITY_FS=${SECURITY_FS:-}
daemon=
cleanup() {
	local rc=$?
	[ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	[ -n "${SSH_AGENT_PID-}" ] && kill "$SSH_AGENT_PID" 2>/dev/null
	if [ -n "$SECURITY_FS" ]; then
		umount "$E2E_TMP/state" 2>/dev/null || umount -l "$E2E_TMP/state" 2>/dev/null
	fi
	rm -rf "$E2E_TMP"
	[ $rc -eq 0 ] && e2e_log PASS
	exit $rc
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || e2e_skip "needs root (snapshots keep owners)"
for t in ssh sftp ssh-agent jq rsync; do
	command -v $t >/dev/null || e2e_fail "$t is not installed (dev/setup-debian installs it)"
done
P=$PRIVATEER_BUILD/privateer
port=$((20000 + RANDOM % 20000))
cfg=$E2E_TMP/config
mkdir -p "$cfg"
cat >"$cfg/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": ["vol"] }, { "name": "carol", "backup": ["vol"] } ],
  "volumes": [ { "name": "vol" } ],
  "keys": { "store": "file" }
}
JSON
"$P" --config "$cfg/privateer.json" keygen --all >/dev/null
jq -r .private "$cfg/keys/bob" >"$E2E_TMP/bob.key"
ssh-keygen -q -t ed25519 -N '' -f "$E2E_TMP/stranger.key"
chmod 600 "$E2E_TMP"/*.key
store_method=hardlink
if [ -n "$SECURITY_FS" ]; then
	mkdir -p "$E2E_TMP/state"
	truncate -s 1G "$E2E_TMP/state.img"
	"mkfs.$SECURITY_FS" -q -f "$E2E_TMP/state.img" >/dev/null
	mount -o loop "$E2E_TMP/state.img" "$E2E_TMP/state"
	store_method=$SECURITY_FS
fi
PRIVATEER_CONFIG=$cfg/privateer.json PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1 \
	"$P" plugin --socket "$E2E_TMP/p.sock" --state "$E2E_TMP/state" \
	--mount-root "$E2E_TMP/mnt" 2>"$E2E_TMP/daemon.log" &
daemon=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
store=$E2E_TMP/state/server

SSHOPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o BatchMode=yes -o LogLevel=ERROR -p "$port")
S() { timeout 30 ssh "${SSHOPTS[@]}" -i "$E2E_TMP/bob.key" "$@"; }
# refused_cmd "COMMAND" "reason": an exec that must be refused with reason
refused_cmd() {
	local out rc=0
	out=$(S -T bob@127.0.0.1 "$1" </dev/null 2>&1) || rc=$?
	[ $rc -ne 0 ] || e2e_fail "command [$1] was accepted"
	assert_contains "$out" "privateer: refused:" "command [$1]"
	assert_contains "$out" "$2" "command [$1]"
}
daemon_log() { cat "$E2E_TMP/daemon.log"; }

e2e_log "an allowed push with OpenSSH's rsync -e ssh works"
mkdir -p "$E2E_TMP/src/dir"
echo data >"$E2E_TMP/src/dir/file"
ln -s /etc "$E2E_TMP/src/escape"
out=$(rsync -rlpt -e "ssh ${SSHOPTS[*]} -i $E2E_TMP/bob.key" "$E2E_TMP/src/" "bob@127.0.0.1:vol/" 2>&1) ||
	e2e_fail "push with OpenSSH failed: $out"
[ -z "$out" ] || e2e_fail "push with OpenSSH printed: $out"
snap=$(readlink "$store/bob/vol/latest")
[ -f "$store/bob/vol/$snap/dir/file" ] || e2e_fail "the push made no snapshot"

e2e_log "an unknown key is refused"
out=$(timeout 30 ssh "${SSHOPTS[@]}" -i "$E2E_TMP/stranger.key" bob@127.0.0.1 true 2>&1 </dev/null) &&
	e2e_fail "an unknown key was let in"
assert_contains "$out" "Permission denied (publickey)" "unknown key"

e2e_log "shell, pty, sftp, env, X11, agent and port forwarding are refused"
out=$(S -T bob@127.0.0.1 </dev/null 2>&1) && e2e_fail "a shell was granted"
assert_contains "$(daemon_log)" "refused a shell" "shell"
out=$(S -tt bob@127.0.0.1 'rsync --version' </dev/null 2>&1) || true
assert_contains "$out" "PTY allocation request failed" "pty"
assert_contains "$(daemon_log)" "refused a pty" "pty"
out=$(timeout 30 sftp -b /dev/null -P "$port" -o StrictHostKeyChecking=no \
	-o UserKnownHostsFile=/dev/null -o BatchMode=yes -i "$E2E_TMP/bob.key" \
	bob@127.0.0.1 2>&1) && e2e_fail "sftp was granted"
assert_contains "$(daemon_log)" "refused a subsystem (e.g. sftp)" "sftp"
S -T -o SetEnv=EVIL=1 bob@127.0.0.1 'rsync --version' </dev/null >/dev/null 2>&1 || true
assert_contains "$(daemon_log)" "refused setting environment variables" "env"
DISPLAY=:0 S -T -X bob@127.0.0.1 'rsync --version' </dev/null >/dev/null 2>&1 || true
assert_contains "$(daemon_log)" "refused X11 forwarding" "X11"
# OpenSSH asks for agent forwarding without wanting a reply; refusing it
# means the server never opens an agent channel back to the client.
eval "$(ssh-agent -s -a "$E2E_TMP/agent.sock")" >/dev/null
out=$(S -v -T -A bob@127.0.0.1 'rsync --version' </dev/null 2>&1) || true
assert_contains "$out" "Requesting authentication agent forwarding" "agent forwarding"
case "$out" in *"ctype auth-agent"*) e2e_fail "the server opened an agent channel" ;; esac
out=$(S -T -W 127.0.0.1:22 bob@127.0.0.1 </dev/null 2>&1) && e2e_fail "stdio forwarding was granted"
assert_contains "$out" "stdio forwarding failed" "direct-tcpip"
assert_contains "$(daemon_log)" "refused port forwarding (direct-tcpip)" "direct-tcpip"
out=$(S -T -N -o ExitOnForwardFailure=yes -R 127.0.0.1:0:127.0.0.1:22 bob@127.0.0.1 </dev/null 2>&1) &&
	e2e_fail "remote forwarding was granted"
assert_contains "$out" "forwarding failed" "tcpip-forward"

e2e_log "crafted rsync command lines are refused"
refused_cmd "ls /" 'only "rsync --server ..." is accepted'
refused_cmd "rsync --daemon" 'only "rsync --server ..." is accepted'
refused_cmd "rsync --server -logDtpre.iLsfxCIvu . vol/" "-D (--devices --specials)"
refused_cmd "rsync --server --sender -logtpre.iLsfxCIvu . /etc/" "is absolute"
refused_cmd "rsync --server --sender -logtpre.iLsfxCIvu . bob/vol/../../../etc/" 'contains ".."'
refused_cmd "rsync --server -logtpre.iLsfxCIvu --log-file=/tmp/pwned . vol/" "--log-file is refused"
refused_cmd "rsync --server -logtpre.iLsfxCIvu --files-from=/etc/passwd . vol/" "--files-from is refused"
refused_cmd "rsync --server -logtpre.iLsfxCIvu --link-dest=/etc . vol/" "--link-dest is refused"
refused_cmd "rsync --server -logtpre.iLsfxCIvu --rsh=sh . vol/" "--rsh is refused"
refused_cmd "rsync --server -slogtpre.iLsfxCIvu . vol/" "-s (--protect-args)"
refused_cmd "rsync --server --sender -Llogtpre.iLsfxCIvu . bob/vol/latest/" "-L (--copy-links)"
refused_cmd "rsync --server -logtpre.iLsfxCIvu --copy-unsafe-links . vol/" "--copy-unsafe-links is refused"
grep -q "snapshot store: $store_method" "$E2E_TMP/daemon.log" ||
	e2e_fail "the server does not use the $store_method store"
if [ "$store_method" = hardlink ]; then
	# Whatever the client asks: the store decides.
	refused_cmd "rsync --server -logtpre.iLsfxCIvu --inplace . vol/" "--inplace is refused"
	refused_cmd "rsync --server -logtpre.iLsfxCIvu --inplace --delete . vol/" "--inplace is refused"
	refused_cmd "rsync --server -logtpre.iLsfxCIvu --delete . vol/" "--delete is refused on a backup"
fi
refused_cmd "rsync --server -logtpre.iLsfxCIvu --delete-excluded --inplace . vol/" "refused"
refused_cmd "rsync --server -logtpre.iLsfxCIvu --append . vol/" "--append is refused"
refused_cmd "rsync --server -logtpre.iLsfxCIvu --inplace . bob/vol/latest/" "refused"
refused_cmd "rsync --server -logtpre.iLsfxCIvu --inplace . vol/$(readlink "$store/bob/vol/latest")/" "refused"
refused_cmd "rsync --server -logtpre.iLsfxCIvu . carol/vol/" "a backup names only VOLUME"
refused_cmd "rsync --server -logtpre.iLsfxCIvu . vol/ ; sh" "shell character"
refused_cmd "rsync --server --sender -logtpre.iLsfxCIvu . bob/vol/latest/escape/" "SOURCE/VOLUME/SNAPSHOT"
[ ! -e /tmp/pwned ] || e2e_fail "--log-file wrote a file"
[ ! -e "$store/carol" ] || e2e_fail "bob wrote into carol's area"

e2e_log "a pull never follows a symlink out of the snapshot"
mkdir "$E2E_TMP/pulled"
rsync -rlpt -e "ssh ${SSHOPTS[*]} -i $E2E_TMP/bob.key" "bob@127.0.0.1:bob/vol/latest/" "$E2E_TMP/pulled/"
[ -L "$E2E_TMP/pulled/escape" ] || e2e_fail "the symlink did not come back as a link"
assert_eq "$(readlink "$E2E_TMP/pulled/escape")" /etc "symlink target after a pull"
[ -L "$store/bob/vol/$snap/escape" ] || e2e_fail "the snapshot holds no link"
case "$(readlink "$store/bob/vol/$snap/escape")" in
	/rsyncd-munged/*) ;;
	*) e2e_fail "the symlink is stored unmunged on the server" ;;
esac
assert_eq "$(cat "$E2E_TMP/pulled/dir/file")" data "pulled data"

e2e_log "a push never alters the existing snapshot"
echo changed >"$E2E_TMP/src/dir/file"
sleep 1
rsync -rlpt -e "ssh ${SSHOPTS[*]} -i $E2E_TMP/bob.key" "$E2E_TMP/src/" "bob@127.0.0.1:vol/"
assert_eq "$(cat "$store/bob/vol/$snap/dir/file")" data "the old snapshot after a new push"
assert_eq "$(cat "$store/bob/vol/latest/dir/file")" changed "the new snapshot"

if [ "$store_method" != hardlink ]; then
	e2e_log "in place and with --delete, a push writes only its own copy"
	snap2=$(readlink "$store/bob/vol/latest")
	sum_old=$(cd "$store/bob/vol/$snap" && find . -type f -exec sha256sum {} + | sort)
	sum_old2=$(cd "$store/bob/vol/$snap2" && find . -type f -exec sha256sum {} + | sort)
	echo "in place" >"$E2E_TMP/src/dir/file"
	rm -f "$E2E_TMP/src/escape"
	sleep 1
	out=$(rsync -rlpt --inplace --delete -e "ssh ${SSHOPTS[*]} -i $E2E_TMP/bob.key" \
		"$E2E_TMP/src/" "bob@127.0.0.1:vol/" 2>&1) || e2e_fail "in-place push refused: $out"
	assert_eq "$(cat "$store/bob/vol/latest/dir/file")" "in place" "the in-place snapshot"
	[ ! -e "$store/bob/vol/latest/escape" ] || e2e_fail "--delete did not delete"
	assert_eq "$(cd "$store/bob/vol/$snap" && find . -type f -exec sha256sum {} + | sort)" \
		"$sum_old" "the first snapshot after an in-place push"
	assert_eq "$(cd "$store/bob/vol/$snap2" && find . -type f -exec sha256sum {} + | sort)" \
		"$sum_old2" "the previous latest after an in-place push"
	assert_eq "$(btrfs property get -ts "$store/bob/vol/$snap2" ro)" "ro=true" "an old snapshot"

	e2e_log "--delete brings the client's filter rules: their files stay in its area"
	# A file only the server can read (the client runs where an empty
	# directory hides it): a dir-merge rule naming it must not have the
	# server read it, or its lines come back as unknown filter rules.
	echo "zzsecret:42" >"$E2E_TMP/state/secret"
	mkdir -p "$E2E_TMP/empty"
	sleep 1
	out=$(unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh \
		"$E2E_TMP/empty" "$E2E_TMP/state" \
		rsync -rlpt --inplace --delete --filter=": $E2E_TMP/state/secret" \
		-e "ssh ${SSHOPTS[*]} -i $E2E_TMP/bob.key" "$E2E_TMP/src/" "bob@127.0.0.1:vol/" 2>&1) || true
	case "$out" in
	*zzsecret* | *"$E2E_TMP/state/secret"*)
		e2e_fail "the server read a merge file outside the client's area: $out" ;;
	esac
	for _ in $(seq 1 50); do ls -A "$store/bob/vol" | grep -q '^\.partial-' || break; sleep 0.1; done
	! ls -A "$store/bob/vol" | grep -q '^\.partial-' || e2e_fail "a push left a partial"
fi

e2e_log "a push never links a file through a stored symlink"
# The snapshot holds escape -> /etc (munged). A push with a directory
# escape/ holding a copy of /etc/passwd (same size, mode and mtime) would
# have its file hard-linked to the real /etc/passwd if --link-dest lookups
# followed the stored link out of the snapshot.
rm -f "$E2E_TMP/src/escape"
mkdir "$E2E_TMP/src/escape"
cp -p /etc/passwd "$E2E_TMP/src/escape/passwd"
rsync -rlpt -e "ssh ${SSHOPTS[*]} -i $E2E_TMP/bob.key" "$E2E_TMP/src/" "bob@127.0.0.1:vol/"
[ -f "$store/bob/vol/latest/escape/passwd" ] || e2e_fail "the push made no escape/passwd"
[ "$(stat -c %i "$store/bob/vol/latest/escape/passwd")" != "$(stat -c %i /etc/passwd)" ] ||
	e2e_fail "a push hard-linked /etc/passwd into a snapshot"
