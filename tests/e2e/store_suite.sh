# The snapshot store on a real filesystem, with two Docker hosts: alice's
# state mount (where her server keeps snapshots) is a loop-mounted $STORE_FS
# image (btrfs, xfs or ext4), bob backs a volume up to her. Sourced by
# test_store_btrfs.sh, test_store_xfs.sh and test_store_ext4.sh, which set
# STORE_FS and STORE_METHOD (the method alice must pick).
#
# Checked: the method in alice's log and status; backups on unmount and on
# demand; snapshots read-only (btrfs), with the store's compression; a file
# changed in place on the client and a hard link broken and edited leave
# every older snapshot as it was (manifests before and after); a restore of
# an older snapshot identical to the volume then (content, owners, modes,
# hard links, xattrs, ACLs); shared blocks counted once in status; a
# snapshot from a hard-link store before (a plain directory) still
# restores and the first backup after it starts a new chain; alice's
# plugin killed half way through a push leaves no staging subvolume or
# clone once it is back, and bob's retry succeeds; on a reflink store the
# next push's copy is made ahead and taken by it, leaving the older
# snapshot as it was; retention (last,
# hourly) deletes snapshots of both kinds; exports carry no btrfs.*.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifest.sh"
e2e_init
P=$PRIVATEER_BUILD/privateer
command -v "mkfs.$STORE_FS" >/dev/null ||
	e2e_fail "mkfs.$STORE_FS not found (apt-get install btrfs-progs xfsprogs)"
command -v setfacl >/dev/null || e2e_fail "setfacl not found (apt-get install acl)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

e2e_log "alice's state on a fresh loop-mounted $STORE_FS"
mkdir -p "$E2E_TMP/alice/state"
truncate -s 3G "$E2E_TMP/alice.img"
case $STORE_FS in
btrfs) mkfs.btrfs -q -f "$E2E_TMP/alice.img" >/dev/null ;;
xfs) mkfs.xfs -q -f "$E2E_TMP/alice.img" ;;
ext4) mkfs.ext4 -q -F "$E2E_TMP/alice.img" ;;
esac
mount -o loop "$E2E_TMP/alice.img" "$E2E_TMP/alice/state"
store=$E2E_TMP/alice/state/server/bob/data

shared=$E2E_TMP/shared
mkdir -p "$shared"
cat >"$shared/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": ["data"] } ],
  "volumes": [ { "name": "data" } ],
  "keys": { "store": "file", "path": "keys" },
  "retention": { "last": 30 }
}
JSON
"$P" --config "$shared/privateer.json" keygen --all >/dev/null
for h in alice bob; do
	mkdir -p "$E2E_TMP/$h/config"
	cp -a "$shared/." "$E2E_TMP/$h/config/"
done

# Two snapshots a hard-link store made earlier: plain directories. (Few
# are pruned until the end, where retention tightens.)
old0=20200101T000000Z old1=20200101T010000Z
for id in $old0 $old1; do
	mkdir -p "$store/$id"
	echo "from $id" >"$store/$id/old.txt"
	chmod 700 "$store/$id"
done
ln -s $old1 "$store/latest"

e2e_start_dockerd alice
e2e_install_plugin alice PRIVATEER_NAME=alice PRIVATEER_LISTEN_ADDRESS=127.0.0.1
e2e_start_dockerd bob
e2e_busybox_image bob
e2e_install_plugin bob PRIVATEER_NAME=bob
bsock=/run/docker/plugins/$(e2e_plugin_id bob)/privateer.sock
asock=/run/docker/plugins/$(e2e_plugin_id alice)/privateer.sock
B() { "$P" --socket "$bsock" --config "$E2E_TMP/bob/config/privateer.json" --as bob "$@"; }
A() { "$P" --socket "$asock" --config "$E2E_TMP/alice/config/privateer.json" --as alice "$@"; }
for _ in $(seq 1 60); do B check --connection >/dev/null 2>&1 && break; sleep 0.5; done

wait_for() {	# wait_for SECONDS DESCRIPTION COMMAND...
	local t=$1 what=$2 i
	shift 2
	for i in $(seq 1 $((t * 4))); do "$@" && return 0; sleep 0.25; done
	e2e_fail "timed out after ${t}s waiting for $what"
}
latest() { readlink "$store/latest"; }
new_latest() { [ -L "$store/latest" ] && [ "$(readlink "$store/latest")" != "$1" ]; }
no_partial() { ! ls -A "$store" | grep -q '^\.partial-'; }
# Read-only where the method makes it so (btrfs subvolumes).
check_sealed() {
	local dir=$1
	[ "$STORE_METHOD" = btrfs ] || return 0
	assert_eq "$(btrfs property get -ts "$dir" ro)" "ro=true" "$dir read-only"
	assert_eq "$(btrfs property get "$dir" compression)" "compression=zstd" \
		"$dir compression"
	touch "$dir/.try" 2>/dev/null && e2e_fail "$dir is writable"
	return 0
}

e2e_log "alice says which method her store uses"
plugin_log alice | grep -q "snapshot store: $STORE_METHOD" ||
	e2e_fail "alice's log does not name the store $STORE_METHOD"
assert_eq "$(A status --json | jq -r .Store)" "$STORE_METHOD" "Store in status"
assert_contains "$(A status)" "store: $STORE_METHOD" "status text"

e2e_log "a backup on unmount: the first on this store, after a hard-link snapshot"
dk bob volume create -d privateer -o backup=alice data >/dev/null
vdata=$E2E_TMP/bob/state/volumes/data/data
run_bb bob --rm -v data:/data -- sh -c '
	mkdir -p /data/db/base && echo "row 1" > /data/db/base/t1 &&
	head -c 8000000 /dev/urandom > /data/db/base/big &&
	echo "shared" > /data/db/pair.a && ln /data/db/pair.a /data/db/pair.b &&
	chown 999:999 /data/db /data/db/base/t1 && chmod 700 /data/db &&
	chmod 640 /data/db/base/t1 && ln -s base/t1 /data/db/t1.sym &&
	chown 70:70 /data && chmod 750 /data'
wait_for 60 "a snapshot of the data after the container stopped" \
	sh -c "[ -f '$store/latest/db/base/big' ]"
snap0=$(latest)
setfattr -n user.origin -v bob "$vdata/db/base/t1"
setfacl -m u:1234:r "$vdata/db/base/t1"
setfacl -d -m g:55:rx "$vdata/db"
out=$(B backup data)
assert_contains "$out" "data -> alice: backed up" "backup on demand"
snap1=$(latest)
[ "$snap1" != "$snap0" ] || e2e_fail "no snapshot on demand"
wait_for 10 "no partial left" no_partial
check_sealed "$store/$snap1"
manifest "$vdata" >"$E2E_TMP/m.vol1"
manifest "$store/$snap1" >"$E2E_TMP/m.snap1"
grep -q 'system.posix_acl_access' "$E2E_TMP/m.snap1" || e2e_fail "ACL not in the snapshot"
if [ "$STORE_METHOD" = btrfs ]; then
	btrfs subvolume show "$store/$snap1" >/dev/null || e2e_fail "$snap1 is not a subvolume"
fi

if [ "$STORE_METHOD" = reflink ]; then
	e2e_log "the next push's copy is made ahead, after the backup"
	wait_for 30 "the copy of $snap1 made ahead" test -d "$store/.next-$snap1"
	cmp -s "$store/$snap1/db/base/big" "$store/.next-$snap1/db/base/big" ||
		e2e_fail "the copy made ahead differs from $snap1"
fi

e2e_log "the hard-link snapshot from before still restores"
B restore data --snapshot $old1 --to-volume oldcopy >/dev/null
assert_eq "$(run_bb bob --rm -v oldcopy:/o -- cat /o/old.txt)" "from $old1" "old snapshot restored"

e2e_log "changed in place, a link broken and edited: older snapshots unchanged"
sleep 1
run_bb bob --rm -v data:/data -- sh -c '
	printf "CHANGED!" | dd of=/data/db/base/big bs=1 seek=4000000 conv=notrunc 2>/dev/null &&
	rm /data/db/pair.b && echo "shared" > /data/db/pair.b && echo "edited" > /data/db/pair.a &&
	echo "row 2" >> /data/db/base/t1'
wait_for 60 "the second snapshot" sh -c "grep -q 'row 2' '$store/latest/db/base/t1'"
snap2=$(latest)
if [ "$STORE_METHOD" = reflink ]; then
	plugin_log alice | grep -q "snapshot of data complete (copy [0-9.]* s, made ahead" ||
		e2e_fail "the push after $snap1 did not take the copy made ahead"
	[ ! -e "$store/.next-$snap1" ] || e2e_fail "the copy made ahead is still there"
fi
out=$(B backup data)
assert_contains "$out" "data -> alice: backed up" "backup on demand"
snap3=$(latest)
[ "$snap3" != "$snap2" ] || e2e_fail "no snapshot on demand"
check_sealed "$store/$snap2"
check_sealed "$store/$snap3"
diff "$E2E_TMP/m.snap1" <(manifest "$store/$snap1") || e2e_fail "the older snapshot changed"
assert_eq "$(cat "$store/$snap3/db/pair.b")" "shared" "the unlinked name keeps its content"
assert_eq "$(cat "$store/$snap3/db/pair.a")" "edited" "the edited name"
assert_eq "$(cat "$store/$snap1/db/pair.b")" "shared" "the old snapshot's link"
assert_eq "$(cat "$store/$snap1/db/pair.a")" "shared" "the old snapshot's link"
cmp -s "$vdata/db/base/big" "$store/$snap3/db/base/big" || e2e_fail "big differs in the new snapshot"
cmp -s "$vdata/db/base/big" "$store/$snap1/db/base/big" && e2e_fail "the old snapshot has the new big"

e2e_log "status counts shared blocks once"
used=$(A status --json | jq -r '.Clients.bob.volumes.data.bytes')
vol=$(du -s --block-size=1 "$vdata" | cut -f1)
e2e_log "bob/data: $used bytes kept for 4 snapshots of a $vol-byte volume"
if [ "$STORE_METHOD" != hardlink ]; then
	[ "$used" -lt $((vol * 3 / 2)) ] || e2e_fail "shared blocks counted more than once ($used)"
fi

e2e_log "an older snapshot restores identical to the volume then"
dk bob volume create -d privateer -o restore-from=alice -o restore-volume=data -o restore-snapshot="$snap1" back1 >/dev/null
run_bb bob --rm -v back1:/b -- true
diff "$E2E_TMP/m.vol1" <(manifest "$E2E_TMP/bob/state/volumes/back1/data") ||
	e2e_fail "the restore of $snap1 differs from the volume then"

e2e_log "an export of a snapshot carries no btrfs properties"
res=$(A export data --source bob --snapshot "$snap3" --compress none --to-dir "$E2E_TMP" 2>&1) ||
	e2e_fail "export on alice: $res"
tarfile=$(ls "$E2E_TMP"/data-bob-"$snap3".tar)
! grep -q 'btrfs\.' "$tarfile" || e2e_fail "btrfs.* xattrs in the export"
rm -f "$tarfile"

e2e_log "alice's plugin killed half way through a push; the retry completes"
head -c 600000000 /dev/urandom >"$vdata/huge"
B backup data >"$E2E_TMP/bk.out" 2>&1 &
bk=$!
wait_for 60 "a push in progress" sh -c "ls -A '$store' | grep -q '^\.partial-'"
sleep 0.5
apid=$(e2e_plugin_pid alice)
kill -KILL "$apid"
wait "$bk" && e2e_fail "the backup through a killed server reported success"
e2e_wait_plugin_restart alice "$apid"
asock=/run/docker/plugins/$(e2e_plugin_id alice)/privateer.sock
wait_for 30 "the partial removed at start" no_partial
assert_eq "$(latest)" "$snap3" "latest after a killed push"
if [ "$STORE_METHOD" = btrfs ]; then
	btrfs subvolume list "$E2E_TMP/alice/state" | grep -q 'partial' &&
		e2e_fail "a staging subvolume is left"
fi
for _ in $(seq 1 60); do B check --connection >/dev/null 2>&1 && break; sleep 0.5; done
out=$(B backup data)
assert_contains "$out" "backed up" "the next backup"
snap4=$(latest)
cmp -s "$vdata/huge" "$store/$snap4/huge" || e2e_fail "the next push is incomplete"
no_partial || e2e_fail "a partial after the next backup"

e2e_log "retention: last 3, hourly 2 delete snapshots of both kinds"
jq '.retention = {"last": 3, "hourly": 2}' "$E2E_TMP/alice/config/privateer.json" >"$E2E_TMP/p.json"
cp "$E2E_TMP/p.json" "$E2E_TMP/alice/config/privateer.json"
A reload >/dev/null
sleep 1
rm "$vdata/huge"
B backup data >/dev/null
snap5=$(latest)
wait_for 30 "the newest pruning" sh -c "[ \$(ls '$store' | grep -c '^20') -le 5 ]"
sleep 1
# What restic's --keep-last 3 --keep-hourly 2 keeps of all ever made (the
# ones left and the ones alice's log says she pruned) is what is left.
mapfile -t all < <({ ls "$store" | grep '^20'; plugin_log alice |
	sed -n 's/.*pruned snapshot \([0-9TZ]*\) of data from bob.*/\1/p'; } | sort -u)
declare -A keep
for id in "${all[@]: -3}"; do keep[$id]=1; done
hours=0 lasthour=
for ((i = ${#all[@]} - 1; i >= 0 && hours < 2; i--)); do
	h=${all[$i]:0:11}
	[ "$h" = "$lasthour" ] && continue
	lasthour=$h hours=$((hours + 1)) keep[${all[$i]}]=1
done
for id in "${all[@]}"; do
	if [ -n "${keep[$id]-}" ]; then [ -d "$store/$id" ] || e2e_fail "$id pruned, but kept by the policy"
	else [ ! -e "$store/$id" ] || e2e_fail "$id kept, but pruned by the policy"; fi
done
[ -d "$store/$old0" ] && e2e_fail "the hard-link snapshot $old0 was not pruned"
[ -d "$store/$snap1" ] && e2e_fail "the subvolume or clone $snap1 was not pruned"
if [ "$STORE_METHOD" = btrfs ]; then
	subs=$(btrfs subvolume list "$E2E_TMP/alice/state")
	for id in "${all[@]}"; do
		if [ -n "${keep[$id]-}" ] && [ "$id" != $old1 ]; then
			grep -q "$id" <<<"$subs" || e2e_fail "subvolume $id missing"
		elif [ -z "${keep[$id]-}" ]; then
			! grep -q "$id" <<<"$subs" || e2e_fail "subvolume $id not deleted"
		fi
	done
fi
! ls -A "$store" | grep -q '^\.prune-' || e2e_fail "a .prune- left"
e2e_log "snapshots kept: $(ls "$store" | grep -v latest | tr '\n' ' ')"
