#!/usr/bin/env python3
"""fault_manifest: what manifest.sh prints, in one process (the fault
campaign takes many manifests of a tree with a large file).

    fault_manifest.py DIR [CACHE]

One line per entry, sorted: path, type, mode, owner, group, size, mtime,
hard-link group (the first path of the inode within the tree), symlink
target, sha256 and xattrs (security.* left out); then the root's mode and
owner. With CACHE (a JSON file), the sha256 of a file of 1 MiB or more is
kept per (device, inode, size, mtime, ctime): any write to a file changes
its ctime, so an altered file is hashed again.
"""
import hashlib
import json
import os
import stat
import sys


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ""
    out = []
    for n in sorted(names):
        if n.startswith("security."):
            continue
        try:
            v = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            continue
        out.append("%s=0x%s;" % (n, v.hex()))
    return "".join(out)


def kind(mode):
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISREG(mode):
        return "regular file"
    return "other %o" % stat.S_IFMT(mode)


def main():
    root = sys.argv[1]
    cache_path = sys.argv[2] if len(sys.argv) > 2 else None
    cache = {}
    if cache_path and os.path.exists(cache_path):
        with open(cache_path) as f:
            cache = json.load(f)
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            entries.append(("./" + os.path.relpath(p, root), p))
    entries.sort(key=lambda e: e[0].encode("utf-8", "surrogateescape"))
    st = {rel: os.lstat(p) for rel, p in entries}
    inodes = {}
    for rel, _ in entries:
        s = st[rel]
        if stat.S_ISREG(s.st_mode) and s.st_nlink > 1:
            inodes.setdefault((s.st_dev, s.st_ino), []).append(rel)
    out = sys.stdout
    for rel, p in entries:
        s = st[rel]
        mode = s.st_mode
        link = ""
        digest = "-"
        group = ""
        size = str(s.st_size)
        mtime = str(int(s.st_mtime))
        if stat.S_ISLNK(mode):
            link = os.readlink(p)
            mtime = "-"
        elif stat.S_ISREG(mode):
            key = "%d-%d-%d-%d-%d" % (s.st_dev, s.st_ino, s.st_size,
                                      s.st_mtime_ns, s.st_ctime_ns)
            if s.st_size >= 1 << 20 and key in cache:
                digest = cache[key]
            else:
                digest = sha256(p)
                if s.st_size >= 1 << 20:
                    cache[key] = digest
            paths = inodes.get((s.st_dev, s.st_ino), [])
            if len(paths) > 1:
                group = paths[0]
        if stat.S_ISDIR(mode):
            size = "-"
        out.write("%s|%s|%o|%d|%d|%s|%s|%s|%s|%s|%s\n" % (
            rel, kind(mode), stat.S_IMODE(mode), s.st_uid, s.st_gid, size,
            mtime, group, link, digest, xattrs(p)))
    s = os.lstat(root)
    out.write(".|root|%o|%d|%d\n" % (stat.S_IMODE(s.st_mode), s.st_uid,
                                     s.st_gid))
    if cache_path:
        tmp = cache_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(cache, f)
        os.rename(tmp, cache_path)


if __name__ == "__main__":
    main()
