/*
 * test_store: the snapshot store's methods on the filesystem the test runs
 * on (PRIVATEER_TEST_TMP, else /tmp; tests/integration/on_fs.sh runs it on
 * btrfs and XFS too): which method store_pick finds; a clone keeps
 * contents, owners, modes, times, xattrs and ACLs, symlinks and FIFOs, and
 * makes every name its own inode sharing the source's blocks; store_unshare
 * separates hard links and strips attributes when asked; store_remove
 * deletes what any method made, read-only subvolumes included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <btrfsutil.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

static char tmp[256];

static const char *
at(const char *fmt, ...)
{
	static char buf[4][512];
	static int k;
	char rel[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, rel);
	return buf[k];
}

static void
put(const char *p, const char *text, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *
get(const char *p)
{
	size_t len;

	return read_file_capped(p, 1 << 20, &len);
}

static int
setup(void **state)
{
	const char *base = getenv("PRIVATEER_TEST_TMP");

	(void)state;
	snprintf(tmp, sizeof tmp, "%s/test_store.XXXXXX",
	    base != NULL ? base : "/tmp");
	assert_non_null(mkdtemp(tmp));
	return 0;
}

static void
remove_all(const char *dir)
{
	char *cause = NULL;
	const char *names[] = { "src", "dst", "copy", "sub", NULL };
	size_t i;

	for (i = 0; names[i] != NULL; i++) {
		char *p = xasprintf("%s/%s", dir, names[i]);

		if (store_remove(p, &cause) != 0)
			fail_msg("store_remove: %s", cause);
		free(p);
	}
}

static int
teardown(void **state)
{
	(void)state;
	remove_all(tmp);
	assert_int_equal(remove_tree(tmp, NULL), 0);
	return 0;
}

static int
on_btrfs(void)
{
	struct statfs sf;

	return statfs(tmp, &sf) == 0 && sf.f_type == BTRFS_SUPER_MAGIC;
}

/* The source tree: every kind of entry and attribute a volume has. */
static void
make_source(void)
{
	struct timespec old[2] = { { 1000000000, 0 }, { 1100000000, 5000 } };

	assert_int_equal(mkdir(at("src"), 0750), 0);
	assert_int_equal(mkdir(at("src/dir"), 0711), 0);
	put(at("src/dir/file"), "contents\n", 04755);
	assert_int_equal(chown(at("src/dir/file"), 1234, 5678), 0);
	/* chown clears set-id bits */
	assert_int_equal(chmod(at("src/dir/file"), 04755), 0);
	(void)setxattr(at("src/dir/file"), "user.colour", "blue", 4, 0);
	assert_int_equal(utimensat(AT_FDCWD, at("src/dir/file"), old, 0), 0);
	put(at("src/a"), "linked\n", 0644);
	assert_int_equal(link(at("src/a"), at("src/b")), 0);
	assert_int_equal(symlink("dir/file", at("src/sym")), 0);
	assert_int_equal(lchown(at("src/sym"), 42, 43), 0);
	assert_int_equal(mkfifo(at("src/fifo"), 0640), 0);
	assert_int_equal(utimensat(AT_FDCWD, at("src/dir"), old, 0), 0);
}

static void
test_pick(void **state)
{
	const struct store_ops *s;
	struct statfs sf;
	char *why = NULL;

	(void)state;
	assert_int_equal(statfs(tmp, &sf), 0);
	s = store_pick(tmp, 1, &why);
	assert_null(why);
	if (sf.f_type == BTRFS_SUPER_MAGIC)
		assert_string_equal(s->name, "btrfs");
	else if (sf.f_type == 0x58465342)	/* XFS */
		assert_string_equal(s->name, "reflink");
	else if (sf.f_type == EXT4_SUPER_MAGIC)
		assert_string_equal(s->name, "hardlink");
	/* Without rsync's --confine-root no copy-on-write store is used. */
	s = store_pick(tmp, 0, &why);
	assert_string_equal(s->name, "hardlink");
	if (sf.f_type == BTRFS_SUPER_MAGIC || sf.f_type == 0x58465342) {
		assert_non_null(why);
		assert_non_null(strstr(why, "--confine-root"));
	}
	free(why);
	assert_ptr_equal(store_by_name("reflink"), &store_reflink);
	assert_null(store_by_name("zfs"));
	/* The probes leave nothing behind. */
	assert_int_equal(access(at(".store-probe"), F_OK), -1);
	assert_int_equal(access(at(".store-probe-a"), F_OK), -1);
}

static void
test_clone_keeps_everything(void **state)
{
	struct stat a, b;
	char buf[16], *cause = NULL, *text;

	(void)state;
	if (!store_reflink.probe(tmp))
		skip();		/* no FICLONE here (ext4) */
	make_source();
	assert_int_equal(mkdir(at("dst"), 0700), 0);
	if (store_clone_into(at("src"), at("dst"), 0, &cause) != 0)
		fail_msg("clone: %s", cause);
	text = get(at("dst/dir/file"));
	assert_string_equal(text, "contents\n");
	free(text);
	assert_int_equal(lstat(at("src/dir/file"), &a), 0);
	assert_int_equal(lstat(at("dst/dir/file"), &b), 0);
	assert_int_equal(b.st_mode, a.st_mode);
	assert_int_equal(b.st_mode & 07777, 04755);
	assert_int_equal(b.st_uid, 1234);
	assert_int_equal(b.st_gid, 5678);
	assert_int_equal(b.st_mtim.tv_sec, a.st_mtim.tv_sec);
	assert_int_equal(b.st_mtim.tv_nsec, a.st_mtim.tv_nsec);
	assert_true(a.st_ino != b.st_ino || a.st_dev != b.st_dev);
	if (getxattr(at("src/dir/file"), "user.colour", buf, sizeof buf) == 4) {
		assert_int_equal(getxattr(at("dst/dir/file"), "user.colour",
		    buf, sizeof buf), 4);
		assert_memory_equal(buf, "blue", 4);
	}
	/* The directory's own mode and times, set after its contents. */
	assert_int_equal(lstat(at("src/dir"), &a), 0);
	assert_int_equal(lstat(at("dst/dir"), &b), 0);
	assert_int_equal(b.st_mode, a.st_mode);
	assert_int_equal(b.st_mtim.tv_sec, a.st_mtim.tv_sec);
	assert_int_equal(lstat(at("dst"), &b), 0);
	assert_int_equal(b.st_mode & 07777, 0750);
	/* Hard links come apart: each name its own inode. */
	assert_int_equal(lstat(at("dst/a"), &a), 0);
	assert_int_equal(lstat(at("dst/b"), &b), 0);
	assert_int_not_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 1);
	/* A symlink is a symlink, with its owner; a FIFO a FIFO. */
	assert_int_equal(readlink(at("dst/sym"), buf, sizeof buf), 8);
	assert_memory_equal(buf, "dir/file", 8);
	assert_int_equal(lstat(at("dst/sym"), &a), 0);
	assert_int_equal(a.st_uid, 42);
	assert_int_equal(lstat(at("dst/fifo"), &a), 0);
	assert_true(S_ISFIFO(a.st_mode));
	assert_int_equal(a.st_mode & 07777, 0640);
	/* Writing into the copy leaves the source alone. */
	put(at("dst/a"), "changed\n", 0644);
	text = get(at("src/a"));
	assert_string_equal(text, "linked\n");
	free(text);
}

static void
test_clone_strips_when_asked(void **state)
{
	char buf[16], *cause = NULL;

	(void)state;
	if (!store_reflink.probe(tmp))
		skip();
	make_source();
	if (getxattr(at("src/dir/file"), "user.colour", buf, sizeof buf) != 4)
		skip();		/* no user xattrs here */
	assert_int_equal(mkdir(at("dst"), 0700), 0);
	assert_int_equal(store_clone_into(at("src"), at("dst"),
	    STORE_COPY_STRIP_XATTRS, &cause), 0);
	assert_int_equal(getxattr(at("dst/dir/file"), "user.colour", buf,
	    sizeof buf), -1);
	assert_int_equal(errno, ENODATA);
}

static void
test_unshare(void **state)
{
	struct stat a, b, c;
	char buf[16], *cause = NULL, *text;

	(void)state;
	make_source();
	assert_int_equal(link(at("src/a"), at("src/dir/c")), 0);
	if (store_unshare(at("src"), 0, &cause) != 0)
		fail_msg("unshare: %s", cause);
	assert_int_equal(lstat(at("src/a"), &a), 0);
	assert_int_equal(lstat(at("src/b"), &b), 0);
	assert_int_equal(lstat(at("src/dir/c"), &c), 0);
	assert_int_equal(a.st_nlink, 1);
	assert_int_equal(b.st_nlink, 1);
	assert_int_equal(c.st_nlink, 1);
	assert_true(a.st_ino != b.st_ino && b.st_ino != c.st_ino &&
	    a.st_ino != c.st_ino);
	assert_int_equal(b.st_mode & 07777, 0644);
	/* Writing one name no longer changes another. */
	put(at("src/a"), "changed\n", 0644);
	text = get(at("src/b"));
	assert_string_equal(text, "linked\n");
	free(text);
	assert_int_equal(access(at("src/.privateer-unshare.tmp"), F_OK), -1);
	if (getxattr(at("src/dir/file"), "user.colour", buf, sizeof buf) == 4) {
		assert_int_equal(store_unshare(at("src"),
		    STORE_COPY_STRIP_XATTRS, &cause), 0);
		assert_int_equal(getxattr(at("src/dir/file"), "user.colour",
		    buf, sizeof buf), -1);
	}
}

static void
test_btrfs_snapshots(void **state)
{
	char *cause = NULL, val[16], *text;
	bool ro;

	(void)state;
	if (!on_btrfs())
		skip();
	assert_int_equal(store_btrfs.make_empty(at("sub"), 1, &cause), 0);
	assert_int_equal(btrfs_util_is_subvolume(at("sub")), BTRFS_UTIL_OK);
	assert_int_equal(getxattr(at("sub"), "btrfs.compression", val,
	    sizeof val), 4);
	put(at("sub/a"), "one\n", 0644);
	assert_int_equal(link(at("sub/a"), at("sub/b")), 0);
	assert_int_equal(store_btrfs.seal(at("sub"), &cause), 0);
	assert_int_equal(btrfs_util_get_subvolume_read_only(at("sub"), &ro),
	    BTRFS_UTIL_OK);
	assert_true(ro);
	/* A writable copy of a read-only snapshot, its links apart, its
	 * compression as asked. */
	if (store_btrfs.copy(at("sub"), at("copy"), 0, 0, &cause) != 0)
		fail_msg("copy: %s", cause);
	assert_int_equal(btrfs_util_get_subvolume_read_only(at("copy"), &ro),
	    BTRFS_UTIL_OK);
	assert_false(ro);
	assert_int_equal(getxattr(at("copy"), "btrfs.compression", val,
	    sizeof val), -1);
	put(at("copy/a"), "two\n", 0644);
	text = get(at("copy/b"));
	assert_string_equal(text, "one\n");
	free(text);
	text = get(at("sub/a"));
	assert_string_equal(text, "one\n");
	free(text);
	/* A plain directory (a hard-link snapshot) becomes a subvolume. */
	make_source();
	if (store_btrfs.copy(at("src"), at("dst"), 0, 1, &cause) != 0)
		fail_msg("copy of a directory: %s", cause);
	assert_int_equal(btrfs_util_is_subvolume(at("dst")), BTRFS_UTIL_OK);
	text = get(at("dst/dir/file"));
	assert_string_equal(text, "contents\n");
	free(text);
	/* Read-only subvolumes go, through store_remove. */
	assert_int_equal(store_remove(at("sub"), &cause), 0);
	assert_int_equal(access(at("sub"), F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_keeps_everything,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_strips_when_asked,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unshare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_btrfs_snapshots, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
