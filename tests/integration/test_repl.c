/*
 * Replication on loopback with the real parts: the exec-only libssh server
 * (sshd_start) on 127.0.0.1, the real rsync on both ends, the privateer
 * binary as the ssh transport, fresh ed25519 keys. Checks that a backup
 * becomes a complete snapshot sharing unchanged files with the previous
 * one, that a restore brings back contents, modes, owners, times, hard
 * links, symlinks and xattrs, listing, deletions, a wrong pinned host key,
 * an unknown client key, a refused command and a dry run; that ACLs and
 * xattrs follow the volume when it gains or loses them; that a server gone
 * mid-push (its connection cut, by FIN or reset) is a lost connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "keypair.h"
#include "repl.h"
#include "snapshot.h"
#include "ssh_server.h"
#include "store.h"
#include "usage.h"

#include <btrfsutil.h>
#include "util.h"

#ifndef PRIVATEER_EXE
#error "PRIVATEER_EXE must name the built privateer binary"
#endif

/* Formatted paths in a small rotating pool, so tests need not free them. */
static const char *path(const char *fmt, ...) PRINTFLIKE(1, 2);

static const char *
path(const char *fmt, ...)
{
	static char pool[8][512];
	static unsigned next;
	char *buf = pool[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof pool[0], fmt, ap);
	va_end(ap);
	return buf;
}

struct fixture {
	char tmp[64];
	char *root;
	char *src;
	struct keypair server_key, client_key, other_key;
	struct sshd *sshd;
	int port;
	struct repl_self self;
	struct repl_server srv;
};

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void
put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* Every entry of root/CLIENT/VOLUME, subvolumes included (store_remove). */
static void
remove_snapshots(const char *root)
{
	DIR *c, *v, *e;
	struct dirent *dc, *dv, *de;
	char *p1, *p2, *p3;

	if ((c = opendir(root)) == NULL)
		return;
	while ((dc = readdir(c)) != NULL) {
		if (dc->d_name[0] == '.')
			continue;
		p1 = xasprintf("%s/%s", root, dc->d_name);
		v = opendir(p1);
		while (v != NULL && (dv = readdir(v)) != NULL) {
			if (dv->d_name[0] == '.')
				continue;
			p2 = xasprintf("%s/%s", p1, dv->d_name);
			e = opendir(p2);
			while (e != NULL && (de = readdir(e)) != NULL) {
				if (strcmp(de->d_name, ".") == 0 ||
				    strcmp(de->d_name, "..") == 0)
					continue;
				p3 = xasprintf("%s/%s", p2, de->d_name);
				assert_int_equal(store_remove(p3, NULL), 0);
				free(p3);
			}
			if (e != NULL)
				closedir(e);
			free(p2);
		}
		if (v != NULL)
			closedir(v);
		free(p1);
	}
	closedir(c);
}

/* (Re)starts the replication server of f on its port. */
static void
start_server(struct fixture *f)
{
	struct sshd_client client;
	struct sshd_config cfg;
	char *cause = NULL;

	client.name = "bob";
	client.public_key = f->client_key.public_key;
	memset(&cfg, 0, sizeof cfg);
	cfg.address = "127.0.0.1";
	cfg.port = f->port;
	cfg.host_key = f->server_key.private_key;
	cfg.clients = &client;
	cfg.nclients = 1;
	cfg.root = f->root;
	cfg.rsync = "/usr/bin/rsync";
	cfg.policy.keep_all = 1;
	cfg.keepalive_seconds = 1;
	cfg.compress = 1;	/* on btrfs: btrfs.compression everywhere */
	f->sshd = sshd_start(&cfg, &cause);
	if (f->sshd == NULL)
		fail_msg("sshd_start: %s", cause);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char *cause = NULL, *p;

	/* PRIVATEER_TEST_TMP: run it all on another filesystem (btrfs,
	 * XFS), whose snapshot store the server then picks. */
	snprintf(f->tmp, sizeof f->tmp, "%s/privateer-repl.XXXXXX",
	    getenv("PRIVATEER_TEST_TMP") != NULL ?
	    getenv("PRIVATEER_TEST_TMP") : "/tmp");
	assert_non_null(mkdtemp(f->tmp));
	f->root = xasprintf("%s/server", f->tmp);
	f->src = xasprintf("%s/src", f->tmp);
	assert_int_equal(mkdir(f->src, 0750), 0);
	assert_int_equal(keypair_generate(&f->server_key, &cause), 0);
	assert_int_equal(keypair_generate(&f->client_key, &cause), 0);
	assert_int_equal(keypair_generate(&f->other_key, &cause), 0);

	/* Data with owners, modes, a hard link, a symlink and an xattr. */
	p = xasprintf("%s/a.txt", f->src);
	put_file(p, "alpha\n", 0640);
	assert_int_equal(chown(p, 1234, 5678), 0);
	(void)setxattr(p, "user.colour", "blue", 4, 0);
	free(p);
	p = xasprintf("%s/sub", f->src);
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	p = xasprintf("%s/sub/b.bin", f->src);
	put_file(p, "bravo bravo bravo\n", 0600);
	free(p);
	assert_int_equal(link(path("%s/sub/b.bin", f->src),
	    path("%s/hard", f->src)), 0);
	assert_int_equal(symlink("../etc/passwd",
	    path("%s/sub/escape", f->src)), 0);

	f->port = free_port();
	start_server(f);

	f->self.name = "bob";
	f->self.private_key = f->client_key.private_key;
	f->self.rsync = "/usr/bin/rsync";
	f->self.exe = PRIVATEER_EXE;
	f->srv.name = "alice";
	f->srv.hostname = "127.0.0.1";
	f->srv.port = f->port;
	f->srv.host_key = f->server_key.public_key;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	sshd_stop(f->sshd);
	remove_snapshots(f->root);
	assert_int_equal(remove_tree(f->tmp, NULL), 0);
	keypair_wipe(&f->server_key);
	keypair_wipe(&f->client_key);
	keypair_wipe(&f->other_key);
	free(f->root);
	free(f->src);
	free(f);
	return 0;
}

/* The first extent of path (FIEMAP): physical address, flags. */
static uint64_t
first_extent(const char *p, uint32_t *flags)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent fe[1];
	} m;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	memset(&m, 0, sizeof m);
	m.fm.fm_length = FIEMAP_MAX_OFFSET;
	m.fm.fm_flags = FIEMAP_FLAG_SYNC;
	m.fm.fm_extent_count = 1;
	assert_int_equal(ioctl(fd, FS_IOC_FIEMAP, &m.fm), 0);
	close(fd);
	assert_int_equal(m.fm.fm_mapped_extents, 1);
	*flags = m.fe[0].fe_flags;
	return m.fe[0].fe_physical;
}

/* a and b share their data blocks (inline data lives in metadata). */
static int
same_blocks(const char *a, const char *b)
{
	uint32_t fa, fb;
	uint64_t pa = first_extent(a, &fa), pb = first_extent(b, &fb);

	if ((fa & FIEMAP_EXTENT_DATA_INLINE) && (fb & FIEMAP_EXTENT_DATA_INLINE))
		return 1;
	return pa == pb && (fa & FIEMAP_EXTENT_SHARED) &&
	    (fb & FIEMAP_EXTENT_SHARED);
}

/* Whether the server's store is copy-on-write (it says, store.h). */
static int
server_cow(struct fixture *f)
{
	char *method = NULL, *cause = NULL;
	int cow;

	if (repl_store(&f->self, &f->srv, &method, &cause) != 0)
		fail_msg("privateer-store: %s", cause);
	cow = strcmp(method, "hardlink") != 0;
	free(method);
	return cow;
}

static void
backup_ok(struct fixture *f, const char *volume)
{
	struct repl_result res;

	if (repl_backup(&f->self, &f->srv, volume, f->src, &res) != 0)
		fail_msg("backup failed (%d): %s", res.status, res.error);
	assert_true(res.bytes_sent > 0);
	assert_true(res.seconds > 0);
	repl_result_free(&res);
}

/* The latest snapshot of bob's vol restored into a new tmp/restored. */
static char *
restore_ok(struct fixture *f)
{
	struct repl_result res;
	char *dst = xasprintf("%s/restored", f->tmp);

	assert_int_equal(mkdir(dst, 0755), 0);
	char buf[64];

	if (repl_restore(&f->self, &f->srv, "bob", "vol", "latest", dst,
	    &res) != 0)
		fail_msg("restore failed (%d): %s", res.status, res.error);
	repl_result_free(&res);
	/* The store's own xattrs stay in the store. */
	if (getxattr(path("%s/a.txt", dst), "btrfs.compression", buf,
	    sizeof buf) >= 0)
		fail_msg("btrfs.compression restored with the data");
	return dst;
}

static void
test_backup_restore_round_trip(void **state)
{
	struct fixture *f = *state;
	struct stat st, st2;
	char **ids, *dst, *p, buf[64], *snapdir;
	size_t n;
	ssize_t len;

	backup_ok(f, "vol");
	assert_int_equal(snap_list(f->root, "bob", "vol", &ids, &n, NULL), 0);
	assert_int_equal(n, 1);
	snapdir = xasprintf("%s/bob/vol/%s", f->root, ids[0]);
	p = xasprintf("%s/a.txt", snapdir);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(p);

	dst = restore_ok(f);
	/* the root directory's mode comes back too */
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	p = xasprintf("%s/a.txt", dst);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_mode & 07777, 0640);
	len = getxattr(p, "user.colour", buf, sizeof buf);
	if (len >= 0)
		assert_memory_equal(buf, "blue", 4);
	free(p);
	/* hard link kept */
	assert_int_equal(stat(path("%s/hard", dst), &st), 0);
	assert_int_equal(stat(path("%s/sub/b.bin", dst), &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	/* symlink kept as a link, with its original target (not munged) */
	len = readlink(path("%s/sub/escape", dst), buf, sizeof buf - 1);
	assert_true(len > 0);
	buf[len] = '\0';
	assert_string_equal(buf, "../etc/passwd");
	snap_list_free(ids, n);
	free(snapdir);
	free(dst);
}

static void
test_second_snapshot_shares_unchanged_files(void **state)
{
	struct fixture *f = *state;
	struct repl_result res;
	struct stat s1, s2;
	char **ids, **listed, *p;
	size_t n, nl;

	backup_ok(f, "vol");
	sleep(1);	/* a new second: a new snapshot ID */
	p = xasprintf("%s/new.txt", f->src);
	put_file(p, "charlie\n", 0644);
	free(p);
	p = xasprintf("%s/sub/b.bin", f->src);
	unlink(p);
	free(p);
	unlink(path("%s/hard", f->src));
	backup_ok(f, "vol");
	assert_int_equal(snap_list(f->root, "bob", "vol", &ids, &n, NULL), 0);
	assert_int_equal(n, 2);
	/* unchanged file: the same inode in both snapshots */
	assert_int_equal(lstat(path("%s/bob/vol/%s/a.txt", f->root,
	    ids[0]), &s1), 0);
	assert_int_equal(lstat(path("%s/bob/vol/%s/a.txt", f->root,
	    ids[1]), &s2), 0);
	if (!server_cow(f))
		assert_int_equal(s1.st_ino, s2.st_ino);
	else	/* its own inode, the same blocks */
		assert_true(same_blocks(path("%s/bob/vol/%s/a.txt", f->root,
		    ids[0]), path("%s/bob/vol/%s/a.txt", f->root, ids[1])));
	/* deletions reach the new snapshot, the old one is untouched */
	assert_int_equal(lstat(path("%s/bob/vol/%s/sub/b.bin", f->root,
	    ids[1]), &s1), -1);
	assert_int_equal(lstat(path("%s/bob/vol/%s/sub/b.bin", f->root,
	    ids[0]), &s1), 0);
	/* latest names the newest */
	assert_int_equal(snap_resolve(f->root, "bob", "vol", "latest", &p,
	    NULL), 0);
	assert_non_null(strstr(p, ids[1]));
	free(p);
	/* listing over the wire matches */
	assert_int_equal(repl_list(&f->self, &f->srv, "bob", "vol", &listed,
	    &nl, &res), 0);
	repl_result_free(&res);
	assert_int_equal(nl, 2);
	assert_string_equal(listed[0], ids[0]);
	assert_string_equal(listed[1], ids[1]);
	snap_list_free(listed, nl);
	snap_list_free(ids, n);
}

static void
test_wrong_host_key_refused(void **state)
{
	struct fixture *f = *state;
	struct repl_server bad = f->srv;
	struct repl_result res;

	bad.host_key = f->other_key.public_key;
	assert_int_not_equal(repl_backup(&f->self, &bad, "vol", f->src,
	    &res), 0);
	assert_int_equal(res.status, 255);
	assert_non_null(strstr(res.error, "host key of server alice"));
	assert_non_null(strstr(res.error, "refusing to connect"));
	repl_result_free(&res);
	assert_int_equal(access(path("%s/bob/vol", f->root), F_OK), -1);
}

static void
test_unknown_client_key_refused(void **state)
{
	struct fixture *f = *state;
	struct repl_self stranger = f->self;
	struct repl_result res;

	stranger.private_key = f->other_key.private_key;
	assert_int_not_equal(repl_backup(&stranger, &f->srv, "vol", f->src,
	    &res), 0);
	assert_int_equal(res.status, 255);
	assert_non_null(strstr(res.error, "refused our key"));
	repl_result_free(&res);
}

static void
test_probe_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct repl_result res;

	if (repl_probe(&f->self, &f->srv, &res) != 0)
		fail_msg("probe failed (%d): %s", res.status, res.error);
	repl_result_free(&res);
	assert_int_equal(access(path("%s/bob/privateer-probe", f->root),
	    F_OK), -1);
}

/*
 * ACLs and xattrs are carried when the volume has any (attrs.h), and a
 * snapshot never keeps one the volume lost: a backup without them copies
 * unchanged files from a latest that may hold some instead of linking.
 */
static void
test_attrs_follow_the_volume(void **state)
{
	struct fixture *f = *state;
	struct stat s1, s2;
	char **ids, buf[64], *dst;
	size_t n;
	ssize_t len;

	if (lgetxattr(path("%s/a.txt", f->src), "user.colour", buf,
	    sizeof buf) != 4)
		skip();		/* no user xattrs on this filesystem */
	backup_ok(f, "vol");		/* 1: a.txt has user.colour */
	assert_int_equal(lremovexattr(path("%s/a.txt", f->src),
	    "user.colour"), 0);
	backup_ok(f, "vol");		/* 2: nothing has any */
	backup_ok(f, "vol");		/* 3: still nothing, after 2 */
	assert_int_equal(lsetxattr(path("%s/sub/b.bin", f->src),
	    "user.colour", "green", 5, 0), 0);
	backup_ok(f, "vol");		/* 4: sub/b.bin has one */
	assert_int_equal(snap_list(f->root, "bob", "vol", &ids, &n, NULL), 0);
	assert_int_equal(n, 4);
#define SNAP(i, rel) path("%s/bob/vol/%s/%s", f->root, ids[i], rel)
	/* the first snapshot's file keeps its attribute */
	len = lgetxattr(SNAP(0, "a.txt"), "user.colour", buf, sizeof buf);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, "blue", 4);
	/* the second has none, in a file of its own */
	assert_int_equal(lgetxattr(SNAP(1, "a.txt"), "user.colour", buf,
	    sizeof buf), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(lstat(SNAP(0, "a.txt"), &s1), 0);
	assert_int_equal(lstat(SNAP(1, "a.txt"), &s2), 0);
	assert_true(s1.st_ino != s2.st_ino || s1.st_dev != s2.st_dev);
	/* two plain snapshots share unchanged files again (on a hard-link
	 * store as one inode; a copy-on-write store shares blocks) */
	assert_int_equal(lstat(SNAP(2, "a.txt"), &s1), 0);
	if (!server_cow(f))
		assert_int_equal(s1.st_ino, s2.st_ino);
	else
		assert_true(s1.st_ino != s2.st_ino || s1.st_dev != s2.st_dev);
	assert_int_equal(lstat(path("%s/bob/vol/.plain-%s", f->root, ids[1]),
	    &s1), 0);
	assert_int_equal(lstat(path("%s/bob/vol/.plain-%s", f->root, ids[3]),
	    &s1), -1);
	/* the attribute gained reaches the fourth, not the third */
	len = lgetxattr(SNAP(3, "sub/b.bin"), "user.colour", buf, sizeof buf);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "green", 5);
	assert_int_equal(lgetxattr(SNAP(2, "sub/b.bin"), "user.colour", buf,
	    sizeof buf), -1);
#undef SNAP
	/* and comes back with a restore */
	dst = restore_ok(f);
	len = lgetxattr(path("%s/sub/b.bin", dst), "user.colour", buf,
	    sizeof buf);
	assert_int_equal(len, 5);
	assert_int_equal(lgetxattr(path("%s/a.txt", dst), "user.colour", buf,
	    sizeof buf), -1);
	free(dst);
	snap_list_free(ids, n);
}

/* p holds exactly text (test files are small). */
static void
assert_content(const char *p, const char *text)
{
	size_t len;
	char *got = read_file_capped(p, 1 << 20, &len);

	if (got == NULL)
		fail_msg("reading %s: %s", p, strerror(errno));
	if (strcmp(got, text) != 0)
		fail_msg("%s holds \"%s\", not \"%s\"", p, got, text);
	free(got);
}

/*
 * Written in place, a snapshot's copy must not let one path change
 * another: two names linked on the client, the link broken and one of
 * them edited, each keeps its own content in the new snapshot, and the
 * old snapshot keeps both as they were.
 */
static void
test_broken_link_edited(void **state)
{
	struct fixture *f = *state;
	struct timespec later[2] = { { 0, UTIME_OMIT }, { 1700000000, 0 } };
	char **ids;
	size_t n;

	backup_ok(f, "vol");
	sleep(1);
	assert_int_equal(unlink(path("%s/hard", f->src)), 0);
	put_file(path("%s/hard", f->src), "bravo bravo bravo\n", 0600);
	put_file(path("%s/sub/b.bin", f->src), "delta delta delta\n", 0600);
	assert_int_equal(utimensat(AT_FDCWD, path("%s/sub/b.bin", f->src),
	    later, 0), 0);
	backup_ok(f, "vol");
	assert_int_equal(snap_list(f->root, "bob", "vol", &ids, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_content(path("%s/bob/vol/%s/hard", f->root, ids[1]),
	    "bravo bravo bravo\n");
	assert_content(path("%s/bob/vol/%s/sub/b.bin", f->root,
	    ids[1]), "delta delta delta\n");
	assert_content(path("%s/bob/vol/%s/hard", f->root, ids[0]),
	    "bravo bravo bravo\n");
	assert_content(path("%s/bob/vol/%s/sub/b.bin", f->root,
	    ids[0]), "bravo bravo bravo\n");
	/* Linked again on the client: linked again in the next snapshot. */
	sleep(1);
	assert_int_equal(unlink(path("%s/hard", f->src)), 0);
	assert_int_equal(link(path("%s/sub/b.bin", f->src),
	    path("%s/hard", f->src)), 0);
	backup_ok(f, "vol");
	snap_list_free(ids, n);
	assert_int_equal(snap_list(f->root, "bob", "vol", &ids, &n, NULL), 0);
	assert_int_equal(n, 3);
	{
		struct stat a, b;

		assert_int_equal(lstat(path("%s/bob/vol/%s/hard", f->root,
		    ids[2]), &a), 0);
		assert_int_equal(lstat(path("%s/bob/vol/%s/sub/b.bin", f->root,
		    ids[2]), &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
	}
	assert_content(path("%s/bob/vol/%s/hard", f->root, ids[1]),
	    "bravo bravo bravo\n");
	snap_list_free(ids, n);
}

/* Bytes of p's data not shared with any other file (FIEMAP). */
static uint64_t
unshared_bytes(const char *p, uint64_t *total)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent fe[512];
	} m;
	uint64_t own = 0;
	uint32_t i;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	memset(&m, 0, sizeof m);
	m.fm.fm_length = FIEMAP_MAX_OFFSET;
	m.fm.fm_flags = FIEMAP_FLAG_SYNC;
	m.fm.fm_extent_count = 512;
	assert_int_equal(ioctl(fd, FS_IOC_FIEMAP, &m.fm), 0);
	close(fd);
	*total = 0;
	for (i = 0; i < m.fm.fm_mapped_extents; i++) {
		*total += m.fe[i].fe_length;
		if (!(m.fe[i].fe_flags & FIEMAP_EXTENT_SHARED))
			own += m.fe[i].fe_length;
	}
	return own;
}

/*
 * On a copy-on-write store a changed file costs about the blocks that
 * changed, an unchanged one nothing, and no snapshot is ever writable.
 */
static void
test_changed_file_costs_changed_blocks(void **state)
{
	struct fixture *f = *state;
	char *method = NULL, *cause = NULL, **ids, *big, block[4096];
	uint64_t own, total, x = 88172645463325252ULL;
	size_t n, i;
	bool ro;
	int fd;

	if (repl_store(&f->self, &f->srv, &method, &cause) != 0)
		fail_msg("privateer-store: %s", cause);
	if (strcmp(method, "hardlink") == 0) {
		free(method);
		skip();		/* whole files, by design */
	}
	/* 8 MiB that do not compress. */
	big = xmalloc(8 << 20);
	for (i = 0; i < (8u << 20) / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(big + i * 8, &x, 8);
	}
	fd = open(path("%s/big.bin", f->src), O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, big, 8 << 20), 8 << 20);
	close(fd);
	backup_ok(f, "vol");
	sleep(1);
	memset(block, 'z', sizeof block);
	fd = open(path("%s/big.bin", f->src), O_WRONLY);
	assert_int_equal(pwrite(fd, block, sizeof block, 4 << 20),
	    (ssize_t)sizeof block);
	close(fd);
	backup_ok(f, "vol");
	assert_int_equal(snap_list(f->root, "bob", "vol", &ids, &n, NULL), 0);
	assert_int_equal(n, 2);
	own = unshared_bytes(path("%s/bob/vol/%s/big.bin", f->root, ids[1]),
	    &total);
	print_message("%s: %llu of %llu bytes of the changed file are its "
	    "own\n", method, (unsigned long long)own,
	    (unsigned long long)total);
	assert_true(total >= 8u << 20);
	assert_true(own <= 512 * 1024);
	/* What the server reports counts the shared blocks once. */
	{
		struct usage u;

		assert_int_equal(usage_update(f->root, "bob", "vol", &u,
		    &cause), 0);
		print_message("usage: %llu bytes in %lu snapshots\n",
		    u.bytes, u.snapshots);
		assert_true(u.bytes >= 8u << 20);
		assert_true(u.bytes <= (8u << 20) + 2 * 1024 * 1024);
	}
	/* The old snapshot still has the old bytes. */
	fd = open(path("%s/bob/vol/%s/big.bin", f->root, ids[0]), O_RDONLY);
	assert_int_equal(pread(fd, block, sizeof block, 4 << 20),
	    (ssize_t)sizeof block);
	close(fd);
	assert_memory_equal(block, big + (4 << 20), sizeof block);
	assert_true(same_blocks(path("%s/bob/vol/%s/a.txt", f->root, ids[0]),
	    path("%s/bob/vol/%s/a.txt", f->root, ids[1])));
	if (strcmp(method, "btrfs") == 0) {
		char val[16];
		ssize_t len;

		/* Compressed as the store says, files and all (a push with
		 * -X does not strip the property), never sent back. */
		len = getxattr(path("%s/bob/vol/%s/a.txt", f->root, ids[1]),
		    "btrfs.compression", val, sizeof val);
		assert_int_equal(len, 4);
		assert_memory_equal(val, "zstd", 4);
		free(restore_ok(f));
		for (i = 0; i < n; i++) {
			assert_int_equal(btrfs_util_get_subvolume_read_only(
			    path("%s/bob/vol/%s", f->root, ids[i]), &ro),
			    BTRFS_UTIL_OK);
			assert_true(ro);
		}
	}
	free(big);
	free(method);
	snap_list_free(ids, n);
}

static void
test_restore_of_missing_snapshot(void **state)
{
	struct fixture *f = *state;
	struct repl_result res;
	char *dst = xasprintf("%s/nothing", f->tmp);

	assert_int_equal(mkdir(dst, 0755), 0);
	assert_int_not_equal(repl_restore(&f->self, &f->srv, "bob", "novol",
	    "latest", dst, &res), 0);
	assert_non_null(strstr(res.error, "no backups of novol from bob"));
	/* A refusal, not a lost connection (which callers would retry):
	 * the server closing the channel while rsync still writes its
	 * greeting is how a refusal ends. */
	if (res.status == 255 || strstr(res.error, "connection to") != NULL)
		fail_msg("a refusal reported as a transport failure (%d): %s",
		    res.status, res.error);
	repl_result_free(&res);
	free(dst);
}

/*
 * A file rewritten at the same size within the same second as it was
 * backed up: rsync's quick check in whole seconds took it as unchanged and
 * the new snapshot kept the old content (seen in e2e_triggers). Times are
 * set explicitly: the same second, another nanosecond.
 */
static void
test_same_second_same_size_change(void **state)
{
	struct fixture *f = *state;
	struct timespec ts[2];
	char *p = xasprintf("%s/a.txt", f->src), *dst, buf[64];
	FILE *in;
	size_t n;

	ts[0].tv_sec = ts[1].tv_sec = 1700000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 100000000;
	put_file(p, "one\n", 0644);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	backup_ok(f, "vol");
	sleep(1);	/* a new second: a new snapshot ID */
	put_file(p, "two\n", 0644);
	ts[0].tv_nsec = ts[1].tv_nsec = 900000000;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	backup_ok(f, "vol");
	dst = restore_ok(f);
	in = fopen(path("%s/a.txt", dst), "r");
	assert_non_null(in);
	n = fread(buf, 1, sizeof buf - 1, in);
	fclose(in);
	buf[n] = '\0';
	assert_string_equal(buf, "two\n");
	free(dst);
	free(p);
}

struct heard {
	int calls, percent;
	uint64_t files;
};

static void
hear_progress(void *arg, int percent, uint64_t bytes, uint64_t files)
{
	struct heard *h = arg;

	(void)bytes;
	h->calls++;
	h->percent = percent;
	h->files = files;
}

/*
 * The caller hears the end of a transfer, however fast: a backup whose last
 * progress came within the progress interval of the one before once ended
 * on an early figure (and the CLI printed no progress line at all; seen in
 * e2e_replication). A stand-in rsync writes 50%, then 100% and the
 * statistics 30 ms later; then the real one, end to end.
 */
static void
test_progress_reaches_the_end(void **state)
{
	struct fixture *f = *state;
	struct repl_result res;
	struct heard h = { 0, -1, 0 };
	const char *real = f->self.rsync;
	char *p, *fake = xasprintf("%s/fake-rsync", f->tmp);
	FILE *out;
	int i;

	out = fopen(fake, "w");
	assert_non_null(out);
	fputs("#!/bin/sh\n"
	    "printf '\\r  1,000  50%%  1.00MB/s  0:00:00 (xfr#1, to-chk=1/2)'\n"
	    "sleep 0.03\n"
	    "printf '\\r  2,000 100%%  1.00MB/s  0:00:00 (xfr#2, to-chk=0/2)"
	    "\\n\\nNumber of regular files transferred: 2\\n"
	    "Total bytes sent: 2,100\\n'\n", out);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(fake, 0755), 0);
	f->self.rsync = fake;
	f->self.progress = hear_progress;
	f->self.progress_arg = &h;
	if (repl_backup(&f->self, &f->srv, "vol", f->src, &res) != 0)
		fail_msg("backup failed (%d): %s", res.status, res.error);
	assert_int_equal(res.files, 2);
	assert_int_equal(h.percent, 100);
	assert_int_equal(h.files, 2);
	repl_result_free(&res);

	f->self.rsync = real;
	h.calls = 0;
	h.percent = -1;
	for (i = 0; i < 300; i++) {
		p = xasprintf("%s/sub/many-%03d", f->src, i);
		put_file(p, "a small file, one of many\n", 0644);
		free(p);
	}
	if (repl_backup(&f->self, &f->srv, "vol", f->src, &res) != 0)
		fail_msg("backup failed (%d): %s", res.status, res.error);
	assert_true(h.calls > 0);
	/* rsync counts the hard link in its total but sends it once: 99%. */
	assert_true(h.percent >= 99);
	assert_int_equal(h.files, res.files);
	repl_result_free(&res);
	f->self.progress = NULL;
	free(fake);
}

/*
 * A commit slower than the client's patience for silence: the server
 * speaks while it syncs, so a backup that completes is not failed by the
 * transport's watchdog. Here the transport gives up after 3 s of silence
 * and the commit takes 6 s; without the server's voice the backup fails
 * with "connection to alice lost".
 */
static void
test_slow_commit_is_not_a_dead_connection(void **state)
{
	struct fixture *f = *state;
	char **ids;
	size_t n;

	f->self.dead_seconds = 3;
	snap_set_commit_delay(6000);
	backup_ok(f, "vol");
	snap_set_commit_delay(0);
	f->self.dead_seconds = 0;
	assert_int_equal(snap_list(f->root, "bob", "vol", &ids, &n, NULL), 0);
	assert_int_equal(n, 1);
	snap_list_free(ids, n);
}

/*
 * A server that goes away in the middle of a push, as when its process is
 * killed: a proxy between client and server passes the session on until
 * the client has sent CUT_AFTER bytes, then the kernel's end of a dead
 * process: a FIN to the client and nothing more read (cut_rst 0), or a
 * reset (cut_rst 1).
 */
#define CUT_AFTER (512 * 1024)

struct cutter {
	int listen_fd, port, server_port, cut_rst, cuts;
	pthread_t thread;
};

static int
connect_local(int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	/* In the cutter's thread: no cmocka failure here (it would jump
	 * across threads); the test sees the session refused instead. */
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		fprintf(stderr, "cutter: connect to port %d: %s\n", port,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	return fd;
}

/* One session through the cutter: passed on, or cut. */
static void
cutter_session(struct cutter *c, int cfd)
{
	struct pollfd pfd[2];
	struct linger lg = { 1, 0 };
	char buf[16384];
	uint64_t up = 0;
	int sfd, i;
	ssize_t n;

	if ((sfd = connect_local(c->server_port)) < 0) {
		close(cfd);
		return;
	}
	pfd[0].fd = cfd;
	pfd[1].fd = sfd;
	while (up < CUT_AFTER) {
		pfd[0].events = pfd[1].events = POLLIN;
		if (poll(pfd, 2, 60000) <= 0)	/* a stall, even under ASan */
			goto out;
		for (i = 0; i < 2; i++) {
			if (pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, buf, sizeof buf);
			if (n <= 0 || write(pfd[1 - i].fd, buf, (size_t)n) != n)
				goto out;
			if (i == 0)
				up += (uint64_t)n;
		}
	}
	c->cuts++;
	close(sfd);
	sfd = -1;
	if (c->cut_rst) {
		(void)setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(cfd);
		return;
	}
	/* Closed for writing; what the client still sends is dropped
	 * unread until it gives up. */
	shutdown(cfd, SHUT_WR);
	while (read(cfd, buf, sizeof buf) > 0)
		;
out:
	if (sfd >= 0)
		close(sfd);
	close(cfd);
}

/* Sessions one after another (the client asks the server's store
 * first), until the test shuts the listener. */
static void *
cutter_main(void *arg)
{
	struct cutter *c = arg;
	int cfd;

	while ((cfd = accept(c->listen_fd, NULL, NULL)) >= 0)
		cutter_session(c, cfd);
	return NULL;
}

static void
cutter_start(struct cutter *c, int server_port, int rst)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	memset(c, 0, sizeof *c);
	c->server_port = server_port;
	c->cut_rst = rst;
	c->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(c->listen_fd, (struct sockaddr *)&sin,
	    sizeof sin), 0);
	assert_int_equal(listen(c->listen_fd, 1), 0);
	assert_int_equal(getsockname(c->listen_fd, (struct sockaddr *)&sin,
	    &len), 0);
	c->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&c->thread, NULL, cutter_main, c), 0);
}

/* A push cut by the cutter fails as a lost connection (which the plugin
 * retries and shows with the server's name), never as rsync's or the
 * server's own refusal. */
static void
cut_mid_push(struct fixture *f, int rst)
{
	struct repl_result res;
	struct cutter c;
	int fd, rnd, port = f->srv.port;
	char *big = xasprintf("%s/big", f->src);
	static char block[65536];
	size_t i;

	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rnd = open("/dev/urandom", O_RDONLY);
	assert_true(fd >= 0 && rnd >= 0);
	for (i = 0; i < 256; i++) {	/* 16 MiB that no codec shrinks */
		assert_int_equal(read(rnd, block, sizeof block),
		    (ssize_t)sizeof block);
		assert_int_equal(write(fd, block, sizeof block),
		    (ssize_t)sizeof block);
	}
	close(rnd);
	close(fd);
	free(big);
	cutter_start(&c, port, rst);
	f->srv.port = c.port;
	assert_int_not_equal(repl_backup(&f->self, &f->srv, "vol", f->src,
	    &res), 0);
	f->srv.port = port;
	shutdown(c.listen_fd, SHUT_RDWR);
	pthread_join(c.thread, NULL);
	close(c.listen_fd);
	print_message("cut (%s): status %d: %s\n", rst ? "reset" : "FIN",
	    res.status, res.error);
	assert_int_equal(c.cuts, 1);
	assert_int_equal(res.status, 255);
	if (strstr(res.error, "connection to alice lost") == NULL)
		fail_msg("a server gone mid-push reported as: %s", res.error);
	/* Seen at once, not after the transport's 60 s of silence. */
	assert_true(res.seconds < 20);
	repl_result_free(&res);
	/* Nothing of it was kept, and the next push is whole. */
	backup_ok(f, "vol");
}

static void
test_server_gone_fin(void **state)
{
	cut_mid_push(*state, 0);
}

static void
test_server_gone_rst(void **state)
{
	cut_mid_push(*state, 1);
}

/* XFS's shutdown ioctl (xfs_fs.h), without flushing its log. */
#define TEST_XFS_IOC_GOINGDOWN _IOR('X', 125, uint32_t)
#define TEST_XFS_GOING_NOLOGFLUSH 0x2
#define TEST_XFS_MAGIC 0x58465342

/*
 * A power cut under the test's filesystem: XFS shut down without writing
 * its log (what was not on disk is gone, as xfstests' godown does). Done
 * the moment an operation returns, with the server still running.
 */
static void
crash(void)
{
	uint32_t how = TEST_XFS_GOING_NOLOGFLUSH;
	int fd = open(getenv("PRIVATEER_TEST_TMP"), O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, TEST_XFS_IOC_GOINGDOWN, &how), 0);
	close(fd);
}

/* After crash(): the server stopped, the filesystem mounted again. */
static void
remount(struct fixture *f)
{
	const char *mnt = getenv("PRIVATEER_TEST_TMP");
	char *cmd;

	sshd_stop(f->sshd);
	f->sshd = NULL;
	if (umount(mnt) != 0)
		fail_msg("umount %s: %s", mnt, strerror(errno));
	cmd = xasprintf("mount -o loop '%s' '%s'", getenv(
	    "PRIVATEER_TEST_IMAGE"), mnt);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void
assert_file_text(const char *p, const char *want)
{
	char buf[256];
	size_t n;
	FILE *in = fopen(p, "r");

	if (in == NULL)
		fail_msg("%s: %s", p, strerror(errno));
	n = fread(buf, 1, sizeof buf - 1, in);
	fclose(in);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

/*
 * What privateer answers "done" for is on disk: a snapshot before latest
 * names it, a restored volume before the restore returns. Each is
 * followed at once by a crash of the filesystem (XFS only, with
 * on_fs.sh's image to mount again); without the syncs the snapshot, latest
 * or the restored files are gone after it.
 */
static void
test_done_means_on_disk(void **state)
{
	struct fixture *f = *state;
	const char *mnt = getenv("PRIVATEER_TEST_TMP");
	struct statfs sf;
	char id[64], *dst;
	ssize_t n;

	if (mnt == NULL || getenv("PRIVATEER_TEST_IMAGE") == NULL ||
	    statfs(mnt, &sf) != 0 || sf.f_type != TEST_XFS_MAGIC)
		skip();
	/* The crash the moment latest names it, before the server does
	 * anything else (its later work syncs too, and would hide a
	 * missing sync here). */
	snap_set_commit_hook(crash);
	backup_ok(f, "vol");
	snap_set_commit_hook(NULL);
	remount(f);
	n = readlink(path("%s/bob/vol/latest", f->root), id, sizeof id - 1);
	if (n <= 0)
		fail_msg("no latest after the crash: %s", strerror(errno));
	id[n] = '\0';
	assert_file_text(path("%s/bob/vol/%s/a.txt", f->root, id), "alpha\n");
	assert_file_text(path("%s/bob/vol/%s/sub/b.bin", f->root, id),
	    "bravo bravo bravo\n");

	start_server(f);
	dst = restore_ok(f);
	crash();
	remount(f);
	assert_file_text(path("%s/a.txt", dst), "alpha\n");
	assert_file_text(path("%s/sub/b.bin", dst), "bravo bravo bravo\n");
	assert_file_text(path("%s/hard", dst), "bravo bravo bravo\n");
	free(dst);
	start_server(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backup_restore_round_trip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_second_snapshot_shares_unchanged_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_broken_link_edited,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_changed_file_costs_changed_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_host_key_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unknown_client_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_writes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_restore_of_missing_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_attrs_follow_the_volume, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_same_second_same_size_change, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_progress_reaches_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_slow_commit_is_not_a_dead_connection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_server_gone_fin,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_gone_rst,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_means_on_disk,
		    setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_repl needs root (owners)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
