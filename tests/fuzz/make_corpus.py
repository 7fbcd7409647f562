#!/usr/bin/env python3
"""make_corpus: builds the seed corpora of tests/fuzz/corpus/<target>/ from
the unit tests' own cases: the string literals of tests/unit/test_*.c
(after the preprocessor, so macros such as FLAGS are expanded and adjacent
literals joined), the example privateer.json files and the recorded Vault
answers, plus a few inputs made here where the tests build theirs at run
time (tar files, ssh keys, raw HTTP requests). Each seed is a file named
by its SHA-1, as libFuzzer names what it adds.

Run from anywhere: python3 tests/fuzz/make_corpus.py. It only adds files;
to start afresh, remove tests/fuzz/corpus first. Key seeds are made only
when corpus/keyfile does not exist yet (or with --keys): they are new
keys every time. Needs clang (or cc) and,
for the key seeds, ssh-keygen and openssl.
"""
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(SRC, "tests", "fuzz", "corpus")
MAX_SEED = 16 * 1024

counts = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_SEED and target != "pack_import":
        return
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(data)
        counts[target] = counts.get(target, 0) + 1


LIT = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"((?:[^\"\\\n]|\\.)*)\"")


def unescape(s):
    out = bytearray()
    i = 0
    simple = {"n": 10, "t": 9, "r": 13, "\\": 92, '"': 34, "'": 39,
              "a": 7, "b": 8, "f": 12, "v": 11, "?": 63, "e": 27}
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        i += 1
        c = s[i]
        if c in simple:
            out.append(simple[c])
            i += 1
        elif c == "x":
            j = i + 1
            while j < len(s) and s[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(s[i + 1:j], 16) & 0xFF)
            i = j
        elif c in "01234567":
            j = i
            while j < len(s) and j < i + 3 and s[j] in "01234567":
                j += 1
            out.append(int(s[i:j], 8) & 0xFF)
            i = j
        else:
            out += c.encode()
            i += 1
    return bytes(out)


def literals(test):
    """The string literals of tests/unit/<test>.c, macros expanded."""
    path = os.path.join(SRC, "tests", "unit", test + ".c")
    incs = []
    for d in ("plugin", "sync", "vault", "common", "tests"):
        incs += ["-I", os.path.join(SRC, d)]
    cc = "clang" if subprocess.call(["which", "clang"], stdout=subprocess.DEVNULL) == 0 else "cc"
    text = subprocess.run([cc, "-E", "-D_GNU_SOURCE", "-DPRIVATEER_VERSION=\"0\""] + incs
                          + subprocess.run(["pkg-config", "--cflags", "jansson", "libssh", "libcurl"],
                                           capture_output=True, text=True).stdout.split()
                          + [path], capture_output=True, text=True, check=True).stdout
    mine, keep = [], False
    for line in text.splitlines():
        m = re.match(r'^# \d+ "([^"]*)"', line)
        if m:
            keep = m.group(1).endswith("unit/" + test + ".c")
            continue
        if keep:
            mine.append(line)
    body = "\n".join(mine)
    out, cur, last_end = [], None, -1
    for m in LIT.finditer(body):
        if m.group(0).startswith("'"):
            continue
        piece = unescape(m.group(1))
        if cur is not None and body[last_end:m.start()].strip() == "":
            cur += piece
        else:
            if cur is not None:
                out.append(cur)
            cur = piece
        last_end = m.end()
    if cur is not None:
        out.append(cur)
    return out


def as_json(b, swap_quotes=False):
    """b if it is JSON (or becomes JSON with ' as " / wrapped in {})."""
    cands = [b]
    if swap_quotes:
        s = b.replace(b"'", b'"')
        cands += [s, b"{" + s + b"}"]
    for c in cands:
        try:
            json.loads(c.decode("utf-8"))
            return c
        except Exception:
            pass
    return None


ROUTES = ["/Plugin.Activate", "/VolumeDriver.Capabilities",
          "/VolumeDriver.Create", "/VolumeDriver.Remove",
          "/VolumeDriver.Mount", "/VolumeDriver.Unmount",
          "/VolumeDriver.Path", "/VolumeDriver.Get", "/VolumeDriver.List",
          "/Privateer.Status", "/Privateer.Reload", "/Privateer.Backup",
          "/Privateer.Restore", "/Privateer.Snapshots", "/Privateer.Check",
          "/Privateer.Export", "/Privateer.Verify"]


def seeds_simple():
    for s in literals("test_name"):
        if len(s) <= 300:
            add("name", s)
    for s in literals("test_cron"):
        if 0 < len(s) <= 300 and b"%" not in s:
            add("cron", s)
    for s in literals("test_rsync_argv"):
        if s.startswith(b"rsync") or s.startswith(b"privateer-"):
            add("rsync", s)
    for s in literals("test_vopts"):
        j = as_json(s)
        if j is not None and j.lstrip().startswith(b"{"):
            add("vopts", j)
        elif 0 < len(s) <= 64 and b"%" not in s:
            add("vopts", s)	# snapshot IDs and values
    for s in literals("test_vault_parse"):
        j = as_json(s)
        if j is not None:
            add("vault_parse", j)
    vd = os.path.join(SRC, "tests", "data", "vault")
    for f in sorted(os.listdir(vd)):
        with open(os.path.join(vd, f), "rb") as fh:
            add("vault_parse", fh.read())
    for s in literals("test_config"):
        j = as_json(s, swap_quotes=True)
        if j is not None and j.lstrip().startswith(b"{"):
            add("config", j)
    ed = os.path.join(SRC, "example")
    for f in sorted(os.listdir(ed)):
        if f.endswith(".json"):
            with open(os.path.join(ed, f), "rb") as fh:
                add("config", fh.read())


def seeds_api():
    bodies = [b""]
    for s in literals("test_api"):
        j = as_json(s)
        if j is not None:
            bodies.append(j)
        elif s.startswith(b"/"):
            add("api", s + b"\n")
    for b in bodies:
        for r in ROUTES:
            if b == b"" or (b"Name" in b) == (r.startswith("/VolumeDriver.")):
                add("api", r.encode() + b"\n" + b)
    # http: the same bodies as raw requests, and framing cases
    reqs = []
    for b in bodies[:40]:
        for r in ("/VolumeDriver.Create", "/VolumeDriver.Get",
                  "/Privateer.Backup"):
            reqs.append(b"POST %s HTTP/1.1\r\nHost: plugin\r\nContent-Type: "
                        b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                        % (r.encode(), len(b), b))
    reqs += [
        b"POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"GET /VolumeDriver.List HTTP/1.0\r\n\r\n",
        b"POST /VolumeDriver.Remove%00junk HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"Name\":\"v\"}",
        b"POST /VolumeDriver.Get\x00junk HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"Name\":\"v\"}",
        b"POST /VolumeDriver.Get?x=%00 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"d\r\n{\"Name\":\"v\"}\r\n0\r\n\r\n",
        b"POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + b"x" * 2000,
        b"POST /Privateer.Import?Volume=v HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789",
        b"POST /Privateer.Import HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /Privateer.Import?Volume=v HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nabcd\r\n0\r\n\r\n",
        b"POST /VolumeDriver.Get HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n{\"Name\":\"a\"}"
        b"POST /VolumeDriver.Path HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n{\"Name\":\"b\"}",
        b"GET /%2e%2e/VolumeDriver.List HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
    ]
    for q in reqs:
        add("http", q)


def seeds_keys():
    tmp = tempfile.mkdtemp()
    pairs = []
    try:
        for t, extra in (("ed25519", []), ("ecdsa", ["-b", "256"]),
                         ("rsa", ["-b", "1024"])):
            k = os.path.join(tmp, t)
            subprocess.run(["ssh-keygen", "-q", "-t", t] + extra + ["-N", "", "-C", "",
                            "-f", k], check=True)
            pairs.append((open(k).read(), open(k + ".pub").read().strip()))
        # privateer2's RSA keys: PKCS#8 PEM
        k = os.path.join(tmp, "p8")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:1024", "-out", k], check=True,
                       stderr=subprocess.DEVNULL)
        pub = subprocess.run(["ssh-keygen", "-y", "-f", k], capture_output=True,
                             text=True, check=True).stdout.strip()
        pairs.append((open(k).read(), pub))
    finally:
        subprocess.run(["rm", "-rf", tmp])
    for priv, pub in pairs:
        add("keyfile", json.dumps({"private": priv, "public": pub}))
        add("keyfile", json.dumps({"public": pub}))
    priv0, pub0 = pairs[0]
    add("keyfile", json.dumps({"private": priv0, "public": pairs[1][1]}))
    add("keyfile", json.dumps({"private": "", "public": pub0}))
    add("keyfile", json.dumps({"private": 1, "public": pub0}))
    add("keyfile", b"[]")
    for t in ("test_keypair", "test_file_store"):
        for s in literals(t):
            j = as_json(s)
            if j is not None:
                add("keyfile", j)


def tar_bytes(members, fmt=tarfile.PAX_FORMAT, mode="w"):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode, format=fmt) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    out = b.getvalue()
    if mode == "w":
        # Python pads to 10 KiB; the two end blocks are enough.
        body = out.rstrip(b"\0")
        body += b"\0" * (-len(body) % 512)
        out = body + b"\0" * 1024
    return out


def ti(name, type=tarfile.REGTYPE, size=0, linkname="", mode=0o644):
    i = tarfile.TarInfo(name)
    i.type, i.size, i.linkname, i.mode = type, size, linkname, mode
    i.mtime, i.uid, i.gid = 1767225600, 1000, 1000
    return i


def seeds_tar():
    have_tar = os.path.isdir(os.path.join(OUT, "pack_import"))
    good = [
        (ti("./", tarfile.DIRTYPE, mode=0o755), None),
        (ti("./a.txt", size=6), b"hello\n"),
        (ti("./sub/", tarfile.DIRTYPE, mode=0o700), None),
        (ti("./sub/b", size=3, mode=0o600), b"abc"),
        (ti("./link", tarfile.SYMTYPE, linkname="a.txt"), None),
        (ti("./hard", tarfile.LNKTYPE, linkname="./a.txt"), None),
    ]
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT):
        add("pack_import", tar_bytes(good, fmt))
    import gzip
    add("pack_import", gzip.compress(tar_bytes(good), mtime=0))
    add("pack_import", tar_bytes(good, mode="w:bz2"))
    add("pack_import", tar_bytes(good, mode="w:xz"))
    x = ti("./x", size=2)
    x.pax_headers = {"SCHILY.xattr.user.k": "v", "SCHILY.xattr.security.s": "z"}
    add("pack_import", tar_bytes([(x, b"xx")]))
    add("pack_import", b"")
    add("pack_import", b"not a tar file at all")
    hostile = [
        [(ti("../escape", size=1), b"e")],
        [(ti("/abs", size=1), b"a")],
        [(ti("./l", tarfile.SYMTYPE, linkname="/"), None),
         (ti("./l/etc-file", size=1), b"x")],
        [(ti("./l", tarfile.SYMTYPE, linkname=".."), None),
         (ti("./l/up", size=1), b"x")],
        [(ti("./h", tarfile.LNKTYPE, linkname="../../etc/passwd"), None)],
        [(ti("./h", tarfile.LNKTYPE, linkname="/etc/passwd"), None)],
        [(ti("./dev", tarfile.CHRTYPE), None)],
        [(ti("./fifo", tarfile.FIFOTYPE), None)],
        [(ti("./" + "n" * 300, size=1), b"n")],
        [(ti("./a/../../b", size=1), b"b")],
        [(ti("./s", tarfile.SYMTYPE, linkname="d"), None),
         (ti("./d/", tarfile.DIRTYPE), None), (ti("./s/f", size=1), b"f")],
    ]
    for h in hostile:
        add("pack_import", tar_bytes(h, tarfile.PAX_FORMAT))
    try:
        zst = subprocess.run(["zstd", "-q", "-c"], input=tar_bytes(good),
                             capture_output=True, check=True).stdout
        add("pack_import", zst)
    except Exception:
        pass
    # A sparse file, as GNU tar writes it (its headers vary from run to
    # run: only for a new corpus).
    if have_tar:
        return
    tmp = tempfile.mkdtemp()
    try:
        d = os.path.join(tmp, "d")
        os.mkdir(d)
        with open(os.path.join(d, "sparse"), "wb") as f:
            f.seek(1 << 20)
            f.write(b"end")
        out = subprocess.run(["tar", "-C", d, "--sparse", "--format=pax", "--mtime=@1767225600",
                              "--owner=0", "--group=0", "--numeric-owner", "--sort=name",
                              "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
                              "-cf", "-", "."], capture_output=True, check=True).stdout
        add("pack_import", out)
    except Exception:
        pass
    finally:
        subprocess.run(["rm", "-rf", tmp])


def fnv1a(text):
    h = 14695981039346656037
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def seeds_manifest():
    """Manifests as a server sends them (sync/manifest.h's format), for
    fuzz_manifest's tree: a file a, a directory d, d/l and d/fifo."""
    h = "5" * 64
    good = ("privateer-manifest 1 20261205T101010Z\n"
            "d 755 0 0 4096 1764929410.123456789 - .\n"
            "f 644 0 0 6 1764929410.000000001 %s a\n"
            "d 700 0 0 4096 1764929410.5 - d\n"
            "l 777 0 0 10 1764929410.0 - d/l /rsyncd-munged/../outside\n"
            "p 600 0 0 0 1764929410.0 - d/fifo\n" % h)
    add("manifest", good)
    add("manifest", good.replace(" a\n", " gone\n"))
    add("manifest", "privateer-manifest 1 20261205T101010Z\n")
    add("manifest", "privateer-manifest 1 x\nf 644 0 0 6 1.0 - ../outside\n"
        "f 644 0 0 6 1.0 - /etc/passwd\nf 644 0 0 6 1.0 - d/l/x\n"
        "l 777 0 0 1 1.0 - d/l ..%2foutside\n")
    add("manifest", "privateer-manifest 1 x\nf 644 99999999999 -1 "
        "18446744073709551615 -9223372036854775808.999999999 zz a%20b%0a%25 x y\n")
    add("manifest", "privateer-manifest 1 x\nc 600 0 0 0 1.0 - a\n"
        "b 600 0 0 0 1.0 - d\ns 600 0 0 0 1.0 - d/fifo\nd 777 0 0 0 1.0 - a\n")
    add("manifest", "privateer-manifest 1 x\r\nf 644 0 0 6 1.0 - a\r\n\n\n")
    add("manifest", "not a manifest\n")


def seeds_notify():
    """notify.json state files: episodes and what is owed, as notify.c
    writes them, for fuzz_notify's two targets."""
    hook = fnv1a("webhook\nhttps://hooks.example/x")
    mail = fnv1a("email\nsmtp://mail.example:25")
    rec = {"target": hook, "event": "failure", "last_success": 1764900000,
           "time": 1764929410, "host": "bob", "volume": "data",
           "server": "alice", "message": "rsync: connection unexpectedly "
           "closed (0 bytes received so far) [sender]"}
    add("notify", json.dumps({"backup/data/alice": "failing",
                              "stale/bob/data/alice": "stale",
                              "unsent": {"1": rec}}))
    hostile = dict(rec, target=mail, message="line\r\nBcc: everyone@example.com"
                   "\r\n\r\n.\r\nQUIT\u0000\u007f\u00e9\u2028",
                   volume="a\nSubject: x", host="bob\r\nX: y")
    add("notify", json.dumps({"unsent": {"2": hostile, "3": dict(rec, event="verify"),
                                         "4": dict(rec, event="recovery", target=mail),
                                         "0": rec, "x": rec,
                                         "5": dict(rec, event="nonsense")}}))
    add("notify", json.dumps({"unsent": {"7": {"target": hook, "event": "stale"}}}))
    add("notify", json.dumps({"unsent": [1, 2], "verify/bob/data/alice": 3}))
    add("notify", json.dumps({"unsent": {"18446744073709551615": dict(rec, time=-1,
                                                                      last_success=2**62)}}))
    add("notify", "[]")
    add("notify", "{")


if __name__ == "__main__":
    seeds_simple()
    seeds_api()
    seeds_manifest()
    seeds_notify()
    # New keys every time: only when there are none yet.
    if not os.path.isdir(os.path.join(OUT, "keyfile")) or "--keys" in sys.argv:
        seeds_keys()
    seeds_tar()
    for t in sorted(counts):
        print("%-12s +%d" % (t, counts[t]))
