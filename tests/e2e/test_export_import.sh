#!/usr/bin/env bash
# Export and import through the real plugin on two Docker hosts: alice
# (server) and bob (client).
#  - a local volume with owners, modes, a hard link, symlinks, an xattr, a
#    sparse file and a FIFO exports as <volume>-local-<time>.tar[.zst|.gz];
#    GNU tar extracts it to the identical tree (sha256 manifest);
#  - import of that file makes a new volume Docker knows, identical again,
#    read by a container; import refuses a volume that exists (privateer's
#    or Docker's); a GNU tar archive made like privateer2's export imports;
#  - hostile archives (traversal, absolute path, symlink escape, hard links
#    out of the tree, device node, truncated, huge declared size) are each
#    refused with their reason and leave no volume, no temporary directory
#    and no change outside;
#  - an import whose client is killed midway, and one whose plugin is
#    killed midway, leave no volume;
#  - a server snapshot exports on the server (read in place, symlinks as
#    the client had them) and from the client over the transport
#    (`--source alice`), and imports back identical;
#  - an export interrupted by the user leaves no file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifest.sh"
e2e_init
P=$PRIVATEER_BUILD/privateer
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

shared=$E2E_TMP/shared
mkdir -p "$shared"
cat >"$shared/privateer.json" <<JSON
{
  "servers": [ { "name": "alice", "hostname": "127.0.0.1", "port": $port } ],
  "clients": [ { "name": "bob", "backup": ["data"] } ],
  "volumes": [ { "name": "data" } ],
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
# The CLI finds the plugin (and registers imports) through Docker's API.
B() { DOCKER_HOST="unix://$E2E_TMP/bob/docker.sock" "$P" "$@"; }
A() { DOCKER_HOST="unix://$E2E_TMP/alice/docker.sock" "$P" "$@"; }
out=$E2E_TMP/out
mkdir -p "$out"
bstate=$E2E_TMP/bob/state
no_xattr() { cut -d'|' -f1-10; }
# Replication carries no FIFOs (no -D) and writes sparse files dense.
no_fifo() { grep -v '|fifo|'; }

e2e_log "a local volume with every kind of entry"
dk bob volume create -d privateer -o on-unmount=false data >/dev/null
run_bb bob --rm -v data:/data -- sh -c '
	mkdir -p /data/db/base && echo "row 1" > /data/db/base/t1 &&
	head -c 300000 /dev/urandom > /data/db/base/big &&
	chown 999:999 /data/db /data/db/base/t1 && chmod 700 /data/db &&
	chmod 640 /data/db/base/t1 && ln /data/db/base/t1 /data/db/t1.link &&
	ln -s base/t1 /data/db/t1.sym && ln -s /etc/shadow /data/db/abs.sym &&
	mkfifo /data/db/fifo && touch -d "2020-02-02 02:02:02" /data/db/base/big &&
	chown 70:70 /data && chmod 750 /data'
vdata=$bstate/volumes/data/data
setfattr -n user.origin -v bob "$vdata/db/base/t1"
truncate -s 64M "$vdata/sparse" && echo end >>"$vdata/sparse"
manifest "$vdata" >"$E2E_TMP/m.orig"

e2e_log "export writes <volume>-local-<time>.tar.zst"
res=$(B export data --to-dir "$out")
zst=$(ls "$out"/data-local-*.tar.zst)
assert_contains "$res" "$zst" "export output"
[[ $(basename "$zst") =~ ^data-local-[0-9]{8}T[0-9]{6}Z\.tar\.zst$ ]] || e2e_fail "export name: $zst"
[ -z "$(ls -A "$out" | grep partial || true)" ] || e2e_fail "a partial file is left"
[ "$(stat -c %s "$zst")" -lt 2000000 ] || e2e_fail "the sparse file was not kept sparse"

e2e_log "GNU tar extracts privateer's exports to the identical tree"
for comp in none gzip; do
	B export data --to-dir "$out" --compress $comp >/dev/null
done
plain=$(ls "$out"/data-local-*.tar)
gz=$(ls "$out"/data-local-*.tar.gz)
for f in "$plain" "$gz" "$zst"; do
	rm -rf "$E2E_TMP/gnu" && mkdir "$E2E_TMP/gnu"
	tar --xattrs --xattrs-include='*' --acls --numeric-owner -xpf "$f" -C "$E2E_TMP/gnu" ||
		e2e_fail "GNU tar could not extract $f"
	manifest "$E2E_TMP/gnu" >"$E2E_TMP/m.gnu"
	diff "$E2E_TMP/m.orig" "$E2E_TMP/m.gnu" >&2 || e2e_fail "GNU tar's extraction of $f differs"
done
[ "$(du -k "$E2E_TMP/gnu/sparse" | cut -f1)" -lt 1024 ] || e2e_fail "sparse file extracted dense"

e2e_log "import makes a new volume Docker knows, identical, readable"
res=$(B import "$zst" copy)
assert_contains "$res" "imported $zst into volume copy" "import"
assert_eq "$(dk bob volume inspect -f '{{.Driver}}' copy)" "privateer:latest" "driver of the imported volume"
manifest "$bstate/volumes/copy/data" >"$E2E_TMP/m.copy"
diff "$E2E_TMP/m.orig" "$E2E_TMP/m.copy" || e2e_fail "imported volume differs"
assert_eq "$(run_bb bob --rm -v copy:/c -- cat /c/db/base/t1)" "row 1" "imported data in a container"
[ "$(du -k "$bstate/volumes/copy/data/sparse" | cut -f1)" -lt 1024 ] || e2e_fail "sparse file imported dense"

e2e_log "import refuses a volume that exists"
res=$(must_fail B import "$zst" copy)
assert_contains "$res" "volume copy exists" "import over a privateer volume"
dk bob volume create localvol >/dev/null
res=$(must_fail B import "$zst" localvol)
assert_contains "$res" "volume localvol exists (driver local)" "import over a local volume"
res=$(must_fail B import "$E2E_TMP/nowhere.tar" other)
assert_contains "$res" "nowhere.tar: No such file" "import of a missing file"

e2e_log "an archive made like privateer2's export (tar -cpf of the volume root) imports"
tar -cpf "$out/p2.tar" -C "$vdata" .
B import "$out/p2.tar" fromp2 >/dev/null
manifest "$bstate/volumes/fromp2/data" | no_xattr >"$E2E_TMP/m.p2"
no_xattr <"$E2E_TMP/m.orig" >"$E2E_TMP/m.orig.nx"
diff "$E2E_TMP/m.orig.nx" "$E2E_TMP/m.p2" || e2e_fail "privateer2-style tar imported differently"

e2e_log "hostile archives are refused with their reason, leaving nothing"
echo "precious" >"$bstate/victim"
hostile=$E2E_TMP/hostile
mkdir -p "$hostile"
python3 - "$hostile" <<'PY'
import io, sys, tarfile
d = sys.argv[1]
def reg(t, name, data=b"x"):
    ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
def link(t, name, target, kind):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = target; t.addfile(ti)
def make(name, build, fmt=tarfile.GNU_FORMAT):
    with tarfile.open(f"{d}/{name}.tar", "w", format=fmt) as t:
        reg(t, "ok.txt", b"fine")
        build(t)
make("traversal", lambda t: reg(t, "../../../../victim", b"pwned"))
make("absolute", lambda t: reg(t, "/var/lib/privateer/victim", b"pwned"))
def escape(t):
    link(t, "esc", "/var/lib/privateer", tarfile.SYMTYPE)
    reg(t, "esc/victim", b"pwned")
make("symlink-escape", escape)
make("hardlink-out", lambda t: link(t, "hl", "../../../../victim", tarfile.LNKTYPE))
def hl_through(t):
    link(t, "s", "/var/lib/privateer", tarfile.SYMTYPE)
    link(t, "h2", "s/victim", tarfile.LNKTYPE)
make("hardlink-through-symlink", hl_through)
def dev(t):
    ti = tarfile.TarInfo("null"); ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3
    t.addfile(ti)
make("device", dev)
make("long-name", lambda t: reg(t, "a" * 300), fmt=tarfile.PAX_FORMAT)
# a valid archive of a 2 MiB file, cut in the middle of the file's data
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
    reg(t, "big", b"y" * (2 << 20))
open(f"{d}/truncated.tar", "wb").write(buf.getvalue()[: 1 << 20])
# a header declaring 1 TiB followed by almost nothing
buf = io.BytesIO()
ti = tarfile.TarInfo("huge"); ti.size = 1 << 40
buf.write(ti.tobuf(format=tarfile.GNU_FORMAT)); buf.write(b"z" * 4096)
open(f"{d}/huge-size.tar", "wb").write(buf.getvalue())
PY
check_refused() {
	local tarfile=$1 reason=$2 vol res
	vol=h-$(basename "$tarfile" .tar)
	res=$(must_fail B import "$tarfile" "$vol")
	assert_contains "$res" "$reason" "import of $(basename "$tarfile")"
	[ ! -e "$bstate/volumes/$vol" ] || e2e_fail "$vol was left behind"
	[ -z "$(ls -A "$bstate/volumes/.tmp")" ] || e2e_fail "temporary data left by $vol"
	if dk bob volume inspect "$vol" >/dev/null 2>&1; then e2e_fail "Docker knows $vol"; fi
	assert_eq "$(cat "$bstate/victim")" "precious" "victim after $vol"
	assert_eq "$(stat -c %h "$bstate/victim")" "1" "victim's link count after $vol"
}
check_refused "$hostile/traversal.tar" '".." component'
check_refused "$hostile/absolute.tar" "absolute path"
check_refused "$hostile/symlink-escape.tar" "esc/victim"
check_refused "$hostile/hardlink-out.tar" '".." component'
check_refused "$hostile/hardlink-through-symlink.tar" 'hard link through the symlink "s"'
check_refused "$hostile/device.tar" "character device node"
check_refused "$hostile/long-name.tar" "more than 255"
check_refused "$hostile/truncated.tar" "runcated"
check_refused "$hostile/huge-size.tar" "declares 1099511627776 bytes"
[ ! -e "$bstate/volumes/victim" ] && [ ! -e "$E2E_TMP/bob/victim" ] || e2e_fail "something escaped"

e2e_log "an import whose client is killed midway leaves no volume"
python3 -c '
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    ti = tarfile.TarInfo("blob"); ti.size = 64 << 20
    t.addfile(ti, io.BytesIO(b"q" * ti.size))
' "$E2E_TMP/big.tar"
slow_import() { # VOLUME: feeds half the archive, then stalls
	rm -f "$E2E_TMP/fifo" && mkfifo "$E2E_TMP/fifo"
	(head -c $((32 << 20)) "$E2E_TMP/big.tar"; sleep 120) >"$E2E_TMP/fifo" &
	feeder=$!
	# Not through B: $! must be the CLI itself, not a subshell.
	DOCKER_HOST="unix://$E2E_TMP/bob/docker.sock" "$P" import "$E2E_TMP/fifo" "$1" \
		>/dev/null 2>&1 &
	importer=$!
	for _ in $(seq 1 100); do
		[ -n "$(ls -A "$bstate/volumes/.tmp")" ] &&
			[ "$(du -sm "$bstate/volumes/.tmp" | cut -f1)" -ge 16 ] && return 0
		sleep 0.2
	done
	e2e_fail "the slow import of $1 did not start"
}
wait_gone() {
	for _ in $(seq 1 100); do
		[ -z "$(ls -A "$bstate/volumes/.tmp")" ] && return 0
		sleep 0.2
	done
	e2e_fail "temporary data of an interrupted import is left"
}
slow_import killed
kill -TERM "$importer"
wait "$importer" 2>/dev/null || true
wait_gone
[ ! -e "$bstate/volumes/killed" ] || e2e_fail "a killed import left its volume"
kill "$feeder" 2>/dev/null || true
wait "$feeder" 2>/dev/null || true

e2e_log "an import whose plugin is killed midway leaves no volume"
slow_import crashed
old=$(e2e_plugin_pid bob)
kill -KILL "$old"
e2e_wait_plugin_restart bob "$old"
kill "$importer" "$feeder" 2>/dev/null || true
wait "$importer" "$feeder" 2>/dev/null || true
wait_gone
[ ! -e "$bstate/volumes/crashed" ] || e2e_fail "a crashed import left its volume"
if dk bob volume inspect crashed >/dev/null 2>&1; then e2e_fail "Docker knows crashed"; fi

e2e_log "a server snapshot exports on the server and from the client"
for _ in $(seq 1 60); do
	B --config "$E2E_TMP/bob/config/privateer.json" --as bob check --connection >/dev/null 2>&1 && break
	sleep 0.5
done
res=$(B backup data 2>&1) || e2e_fail "backup failed: $res"
assert_contains "$res" "data -> alice: backed up" "backup"
snap=$(readlink "$E2E_TMP/alice/state/server/bob/data/latest")
res=$(A export data --source bob --to-dir "$out" 2>&1) || e2e_fail "export on alice: $res"
assert_contains "$res" "$out/data-bob-$snap.tar.zst" "export on the server"
rm -rf "$E2E_TMP/gnu" && mkdir "$E2E_TMP/gnu"
tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$out/data-bob-$snap.tar.zst" -C "$E2E_TMP/gnu"
manifest "$E2E_TMP/gnu" >"$E2E_TMP/m.srv"
no_fifo <"$E2E_TMP/m.orig" >"$E2E_TMP/m.orig.nf"
diff "$E2E_TMP/m.orig.nf" "$E2E_TMP/m.srv" || e2e_fail "the server's export differs from the volume"
mv "$out/data-bob-$snap.tar.zst" "$out/on-server.tar.zst"
res=$(B export data --source alice --to-dir "$out" 2>&1) || e2e_fail "export via alice: $res"
assert_contains "$res" "$out/data-bob-$snap.tar.zst" "export from the client over the transport"
B import "$out/data-bob-$snap.tar.zst" fromsrv >/dev/null
manifest "$bstate/volumes/fromsrv/data" >"$E2E_TMP/m.fromsrv"
diff "$E2E_TMP/m.orig.nf" "$E2E_TMP/m.fromsrv" || e2e_fail "snapshot exported from the client differs"
res=$(must_fail B export data --source alice --snapshot 20000101T000000Z --to-dir "$out")
assert_contains "$res" "no snapshot 20000101T000000Z" "export of a missing snapshot"
[ -z "$(ls -A "$out" | grep -e partial -e 20000101 || true)" ] || e2e_fail "a failed export left a file"

e2e_log "an export the user interrupts leaves no file"
head -c $((256 << 20)) /dev/urandom >"$vdata/random"
rm -rf "$out/int" && mkdir "$out/int"
DOCKER_HOST="unix://$E2E_TMP/bob/docker.sock" "$P" export data --to-dir "$out/int" \
	--compress gzip >/dev/null 2>&1 &
exporter=$!
for _ in $(seq 1 100); do
	[ -n "$(ls -A "$out/int")" ] && break
	sleep 0.1
done
kill -INT "$exporter"
wait "$exporter" 2>/dev/null || true
[ -z "$(ls -A "$out/int")" ] || e2e_fail "an interrupted export left $(ls -A "$out/int")"
e2e_log "ok"
