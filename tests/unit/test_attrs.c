/*
 * test_attrs: attrs_present on real trees in a temporary directory. A
 * tree of directories, files, a hard link, a fifo and symlinks has none;
 * one user xattr deep down, an access ACL, a default ACL or an xattr on
 * the top directory itself is seen; a symlink to a file with xattrs is
 * not followed; removing the attribute makes the tree plain again; a
 * missing directory is an error (callers then carry attributes). All of
 * it twice: with listxattrat (Linux 6.13+) and by path, as before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "attrs.h"
#include "util.h"

static char *top;	/* the tree */
static int paths_only;	/* this run asks by path (attrs_by_path) */
static char *outside;	/* a file next to it, with an xattr */

/* top/rel, in a small rotating pool (two may be used at once). */
static char *
at(const char *rel)
{
	static char pool[4][4096];
	static unsigned next;
	char *buf = pool[next++ % 4];

	snprintf(buf, sizeof pool[0], "%s/%s", top, rel);
	return buf;
}

static void
put(const char *rel, const char *text)
{
	int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char *base = xasprintf("%s/test_attrs.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");

	(void)state;
	if (mkdtemp(base) == NULL)
		return -1;
	top = xasprintf("%s/tree", base);
	outside = xasprintf("%s/outside", base);
	free(base);
	if (mkdir(top, 0755) != 0)
		return -1;
	assert_int_equal(mkdir(at("a"), 0755), 0);
	assert_int_equal(mkdir(at("a/b"), 0700), 0);
	assert_int_equal(mkdir(at("a/b/c"), 0755), 0);
	assert_int_equal(mkdir(at("empty"), 0755), 0);
	put("top.txt", "top\n");
	put("a/one.txt", "one\n");
	put("a/b/c/deep.txt", "deep\n");
	assert_int_equal(link(at("a/one.txt"), at("a/b/hard")), 0);
	assert_int_equal(mkfifo(at("a/fifo"), 0600), 0);
	assert_int_equal(symlink("../top.txt", at("a/rel")), 0);
	assert_int_equal(symlink("/nonexistent/x", at("a/b/dangling")), 0);
	return 0;
}

static int
teardown(void **state)
{
	char *base = xstrdup(top);

	(void)state;
	*strrchr(base, '/') = '\0';
	remove_tree(base, NULL);
	free(base);
	free(top);
	free(outside);
	return 0;
}

/* setxattr or skip the test where the filesystem has no user xattrs. */
static void
set_or_skip(const char *path, const char *name, const void *v, size_t n)
{
	if (lsetxattr(path, name, v, n, 0) == 0)
		return;
	if (errno == ENOTSUP) {
		print_message("no %s on this filesystem: skipped\n", name);
		skip();
	}
	fail_msg("setxattr %s %s: %s", path, name, strerror(errno));
}

/* A POSIX ACL in the kernel's xattr form: owner rwx, user 1234 r-x,
 * group r-x, mask r-x, other ---. */
static void
acl_blob(unsigned char *b, size_t *n)
{
	static const struct { uint16_t tag, perm; uint32_t id; } e[] = {
		{ 0x01, 7, 0xffffffffu }, { 0x02, 5, 1234 },
		{ 0x04, 5, 0xffffffffu }, { 0x10, 5, 0xffffffffu },
		{ 0x20, 0, 0xffffffffu },
	};
	uint32_t version = 2;
	size_t i, off = 0;

	memcpy(b, &version, 4);	/* little-endian hosts: the kernel's order */
	off = 4;
	for (i = 0; i < sizeof e / sizeof e[0]; i++) {
		memcpy(b + off, &e[i].tag, 2);
		memcpy(b + off + 2, &e[i].perm, 2);
		memcpy(b + off + 4, &e[i].id, 4);
		off += 8;
	}
	*n = off;
}

/* An ACL as attribute name (access or default) on path, or skip. */
static void
set_acl_or_skip(const char *path, const char *name)
{
	unsigned char blob[64];
	size_t n;

	acl_blob(blob, &n);
	set_or_skip(path, name, blob, n);
}

static void
test_plain_tree(void **state)
{
	(void)state;
	assert_int_equal(attrs_present(top), 0);
	assert_int_equal(attrs_present(at("empty")), 0);
}

static void
test_deep_xattr(void **state)
{
	(void)state;
	set_or_skip(at("a/b/c/deep.txt"), "user.colour", "blue", 4);
	assert_int_equal(attrs_present(top), 1);
	assert_int_equal(attrs_present(at("a/b/c")), 1);
	assert_int_equal(attrs_present(at("empty")), 0);
	assert_int_equal(lremovexattr(at("a/b/c/deep.txt"), "user.colour"), 0);
	assert_int_equal(attrs_present(top), 0);
}

static void
test_access_acl(void **state)
{
	(void)state;
	set_acl_or_skip(at("a/one.txt"), "system.posix_acl_access");
	assert_int_equal(attrs_present(top), 1);
	assert_int_equal(lremovexattr(at("a/one.txt"),
	    "system.posix_acl_access"), 0);
	assert_int_equal(attrs_present(top), 0);
}

static void
test_default_acl_on_directory(void **state)
{
	(void)state;
	set_acl_or_skip(at("a/b"), "system.posix_acl_default");
	assert_int_equal(attrs_present(top), 1);
}

static void
test_top_directory_itself(void **state)
{
	(void)state;
	set_or_skip(top, "user.top", "1", 1);
	assert_int_equal(attrs_present(top), 1);
	assert_int_equal(attrs_present(at("a")), 0);
}

static void
test_symlink_not_followed(void **state)
{
	int fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	set_or_skip(outside, "user.secret", "x", 1);
	assert_int_equal(symlink(outside, at("a/b/c/out")), 0);
	assert_int_equal(attrs_present(top), 0);
}

/* Deeper than PATH_MAX: listxattrat walks it; by path it cannot be
 * asked about, which must say so (-1: attributes carried), not overrun. */
static void
test_longer_than_path_max(void **state)
{
	char name[201];
	int fd, next, i;

	(void)state;
	memset(name, 'd', 200);
	name[200] = '\0';
	fd = open(at("a"), O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (i = 0; i < 24; i++) {	/* 24 * 201 bytes > 4096 */
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	next = openat(fd, "leaf", O_WRONLY | O_CREAT, 0644);
	assert_true(next >= 0);
	close(next);
	if (paths_only) {
		errno = 0;
		assert_int_equal(attrs_present(top), -1);
		assert_int_equal(errno, ENAMETOOLONG);
	} else
		assert_int_equal(attrs_present(top), 0);
	if (fsetxattr(fd, "user.deep", "1", 1, 0) == 0 && !paths_only)
		assert_int_equal(attrs_present(top), 1);
	close(fd);
}

static void
test_missing_directory(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(attrs_present(at("no/such/dir")), -1);
	assert_int_equal(errno, ENOENT);
}

static int
by_path(void **state)
{
	(void)state;
	attrs_by_path(1);
	paths_only = 1;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_tree, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deep_xattr, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_access_acl, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_default_acl_on_directory,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_directory_itself,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_not_followed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_longer_than_path_max,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup,
		    teardown),
	};

	int failed;

	/* listxattrat where the kernel has it, then llistxattr by path. */
	failed = cmocka_run_group_tests_name("listxattrat", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("by path", tests, by_path, NULL);
	return failed;
}
