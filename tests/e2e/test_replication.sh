#!/usr/bin/env bash
# Replication between two Docker hosts on this machine, each with the real
# plugin: alice (server, listening on 127.0.0.1) and bob (client). Backup
# of a volume with owners, modes, a hard link, a symlink and an xattr;
# restore into a new volume compared by a sha256 manifest with metadata;
# a second snapshot sharing unchanged files; listing; check --connection;
# a server whose host key is not the pinned one; an interrupted push that
# leaves latest intact and a next push that completes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifest.sh"
e2e_init
P=$PRIVATEER_BUILD/privateer
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((20000 + RANDOM % 20000)))

shared=$E2E_TMP/shared
mkdir -p "$shared"
cat >"$shared/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": ["data"] }, { "name": "carol" } ],
  "volumes": [ { "name": "data" }, { "name": "barman", "local": true } ],
  "keys": { "store": "file", "path": "keys" }
}
JSON
"$P" --config "$shared/privateer.json" keygen --all >/dev/null
for h in alice bob; do
	mkdir -p "$E2E_TMP/$h/config"
	cp -a "$shared/." "$E2E_TMP/$h/config/"
done

e2e_start_dockerd alice
e2e_install_plugin alice PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1
e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob
bsock=/run/docker/plugins/$(e2e_plugin_id bob)/privateer.sock
B() { "$P" --socket "$bsock" --config "$E2E_TMP/bob/config/privateer.json" --as bob "$@"; }
alice_store=$E2E_TMP/alice/state/server

e2e_log "the server listens, the client connects"
for _ in $(seq 1 60); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.5; done
for _ in $(seq 1 60); do B check --connection >/dev/null 2>&1 && break; sleep 0.5; done
out=$(B check --connection)
assert_contains "$out" "connection alice: ok" "check --connection"

e2e_log "a volume with owners, modes, a hard link, a symlink and an xattr"
# on-unmount=false: this test drives replication by hand (test_triggers
# covers the automatic kind).
dk bob volume create -d privateer -o backup=alice -o on-unmount=false data >/dev/null
run_bb bob --rm -v data:/data -- sh -c '
	mkdir -p /data/db/base && echo "row 1" > /data/db/base/t1 &&
	head -c 300000 /dev/urandom > /data/db/base/big &&
	chown 999:999 /data/db /data/db/base/t1 && chmod 700 /data/db &&
	chmod 640 /data/db/base/t1 && ln /data/db/base/t1 /data/db/t1.link &&
	ln -s base/t1 /data/db/t1.sym && ln -s /etc/shadow /data/db/abs.sym &&
	chown 70:70 /data && chmod 750 /data'
vdata=$E2E_TMP/bob/state/volumes/data/data
if command -v setfattr >/dev/null; then
	setfattr -n user.origin -v bob "$vdata/db/base/t1"
fi

e2e_log "backup makes a complete snapshot on alice"
out=$(B backup data)
assert_contains "$out" "data -> alice: backed up" "backup"
snap1=$(readlink "$alice_store/bob/data/latest")
[ -n "$snap1" ] && [ -d "$alice_store/bob/data/$snap1" ] || e2e_fail "no snapshot on alice"
[ -z "$(ls -A "$alice_store/bob/data" | grep '^\.partial')" ] || e2e_fail "a partial snapshot is left"

e2e_log "restore into a new volume: identical by manifest"
out=$(B restore data --to-volume copy)
assert_contains "$out" "restored bob/data/latest from alice into volume copy" "restore"
vcopy=$E2E_TMP/bob/state/volumes/copy/data
manifest "$vdata" >"$E2E_TMP/m1"
manifest "$vcopy" >"$E2E_TMP/m2"
diff "$E2E_TMP/m1" "$E2E_TMP/m2" || e2e_fail "restored volume differs from the original"
grep -q 'user.origin="bob"' "$E2E_TMP/m2" || ! command -v setfattr >/dev/null ||
	e2e_fail "xattr not restored"
assert_eq "$(run_bb bob --rm -v copy:/c -- cat /c/db/base/t1)" "row 1" "restored data in a container"

e2e_log "a second snapshot shares unchanged files"
sleep 1
run_bb bob --rm -v data:/data -- sh -c 'echo "row 2" >> /data/db/base/t2; rm /data/db/t1.link'
B backup data >/dev/null
snap2=$(readlink "$alice_store/bob/data/latest")
[ "$snap2" != "$snap1" ] || e2e_fail "no new snapshot"
assert_eq "$(stat -c %i "$alice_store/bob/data/$snap1/db/base/big")" \
	"$(stat -c %i "$alice_store/bob/data/$snap2/db/base/big")" "unchanged file shared"
[ -e "$alice_store/bob/data/$snap1/db/t1.link" ] || e2e_fail "the first snapshot changed"
[ ! -e "$alice_store/bob/data/$snap2/db/t1.link" ] || e2e_fail "deletion not in the new snapshot"
out=$(B snapshots data)
assert_contains "$out" "alice            bob              $snap1" "snapshots"
assert_contains "$out" "$snap2 (latest)" "snapshots"

e2e_log "status on the server shows what each client's backups cost it"
asock=/run/docker/plugins/$(e2e_plugin_id alice)/privateer.sock
st=$("$P" --socket "$asock" status --json)
assert_eq "$(jq -r '.Clients.bob.volumes.data.snapshots' <<<"$st")" "2" "snapshots of bob/data"
assert_eq "$(jq -r '.Clients.bob.volumes.data.latest' <<<"$st")" "$snap2" "latest of bob/data"
used=$(jq -r '.Clients.bob.bytes' <<<"$st")
# hard links shared by the two snapshots are counted once, as du does
du_used=$(du -s --block-size=1 "$alice_store/bob/data/$snap1" "$alice_store/bob/data/$snap2" |
	awk '{ s += $1 } END { print s }')
dirs=$(stat -c %b "$alice_store/bob/data/$snap1" "$alice_store/bob/data/$snap2" |
	awk '{ s += $1 * 512 } END { print s }')
assert_eq "$used" "$((du_used - dirs))" "bytes kept for bob"
assert_contains "$("$P" --socket "$asock" status)" "client bob: 1 volume(s), 2 snapshot(s)" "status text"

e2e_log "restore of the first snapshot by ID over an existing volume"
B restore data --to-volume copy --snapshot "$snap1" >/dev/null
diff "$E2E_TMP/m1" <(manifest "$vcopy") || e2e_fail "restore by ID differs from the first state"
out=$(must_fail B restore data --snapshot 20000101T000000Z --to-volume never)
assert_contains "$out" "no snapshot 20000101T000000Z of data from bob" "restore of a missing snapshot"
must_fail dk bob volume inspect never >/dev/null

e2e_log "restore refuses a mounted volume"
dk bob run -d --name user --network none -v copy:/c busybox sleep 600 >/dev/null
out=$(must_fail B restore data --to-volume copy)
assert_contains "$out" "is mounted" "restore into a mounted volume"
dk bob rm -f user >/dev/null

e2e_log "a server's local volume (privateer2's local: true) restores on a client"
dk alice volume create -d privateer barman >/dev/null
mkdir -p "$E2E_TMP/alice/state/volumes/barman/data/base"
echo "wal 1" >"$E2E_TMP/alice/state/volumes/barman/data/base/wal"
chown -R 70:70 "$E2E_TMP/alice/state/volumes/barman/data"
ln -s base/wal "$E2E_TMP/alice/state/volumes/barman/data/wal.link"
out=$(B restore barman --to-volume barman_copy)
assert_contains "$out" "restored alice/barman/latest from alice into volume barman_copy" \
	"restore of a local volume"
diff <(manifest "$E2E_TMP/alice/state/volumes/barman/data") \
	<(manifest "$E2E_TMP/bob/state/volumes/barman_copy/data") ||
	e2e_fail "the local volume restored differently"
dk bob volume create -d privateer -o restore-from=alice -o restore-volume=barman barman_opt >/dev/null
assert_eq "$(run_bb bob --rm -v barman_opt:/b -- cat /b/wal.link)" "wal 1" \
	"a restore-from volume of a local volume"
out=$(must_fail B restore barman --snapshot 20200101T000000Z --to-volume never2)
assert_contains "$out" "barman is a local volume of alice" "a local volume has no snapshots"
out=$(must_fail B restore barman --source bob --to-volume never3)
assert_contains "$out" "leave out the source" "a local volume's source is its server"

e2e_log "a backup of a volume that does not exist is refused (privateer2 wiped the copy)"
out=$(must_fail B backup nosuch --server alice)
assert_contains "$out" "no such volume: nosuch" "backup of a missing volume"

e2e_log "a server whose host key is not the pinned one is refused"
cp -a "$E2E_TMP/bob/config/keys/alice" "$E2E_TMP/alice-key.saved"
"$P" --config "$E2E_TMP/bob/config/privateer.json" keygen alice >/dev/null
B reload >/dev/null 2>&1 || true
out=$(must_fail B backup data)
assert_contains "$out" "host key of server alice (127.0.0.1 port $port)" "wrong host key"
assert_contains "$out" "refusing to connect" "wrong host key"
cp -a "$E2E_TMP/alice-key.saved" "$E2E_TMP/bob/config/keys/alice"
B reload >/dev/null

e2e_log "an interrupted push leaves latest intact; the next one completes"
head -c 400000000 /dev/urandom >"$vdata/huge"
before=$(readlink "$alice_store/bob/data/latest")
B backup data >"$E2E_TMP/bk.out" 2>&1 &
bk=$!
ppid=$(e2e_plugin_pid bob)
rs=""
for _ in $(seq 1 200); do
	for c in $(e2e_descendants "$ppid"); do
		if [ "$(cat /proc/"$c"/comm 2>/dev/null)" = rsync ]; then
			rs=$c
			break
		fi
	done
	[ -n "$rs" ] && break
	sleep 0.05
done
[ -n "$rs" ] || e2e_fail "the client rsync never started"
sleep 0.5
kill -KILL "$rs"
wait "$bk" && e2e_fail "the killed backup reported success"
for _ in $(seq 1 50); do ls -A "$alice_store/bob/data" | grep -q '^\.partial' || break; sleep 0.2; done
assert_eq "$(readlink "$alice_store/bob/data/latest")" "$before" "latest after an interrupted push"
[ -z "$(ls -A "$alice_store/bob/data" | grep '^\.partial')" ] || e2e_fail "partial snapshot left behind"
[ ! -e "$alice_store/bob/data/$before/huge" ] || e2e_fail "the previous snapshot was altered"
out=$(B backup data)
# Not a terminal: progress comes as plain lines, in 10% steps.
assert_contains "$out" "% (" "progress lines"
assert_contains "$out" "files" "progress lines"
after=$(readlink "$alice_store/bob/data/latest")
[ "$after" != "$before" ] || e2e_fail "the next push made no snapshot"
cmp "$vdata/huge" "$alice_store/bob/data/$after/huge" || e2e_fail "the next push is incomplete"
