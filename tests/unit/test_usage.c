/*
 * test_usage: what a client's snapshots cost a server. In a temporary
 * root, two snapshots of bob/data sharing a hard-linked file: the bytes
 * are every allocated block counted once (the shared file once), the
 * count and latest right; the figures are cached in .usage and served
 * from there while the snapshots stay the same (a change behind the
 * cache's back is not seen), and recomputed when a snapshot is added or
 * pruned; usage_all sums per client; a missing volume is an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usage.h"
#include "util.h"

#define ID1 "20261101T000000Z"
#define ID2 "20261102T000000Z"
#define ID3 "20261103T000000Z"

static char root[64];

/* mkdir -p root/rel */
static void
mkdirs(const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel), *s;

	for (s = p + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		(void)mkdir(p, 0755);
		*s = '/';
	}
	(void)mkdir(p, 0755);
	free(p);
}

/* A file of len bytes at root/rel; its allocated bytes. */
static unsigned long long
put(const char *rel, size_t len)
{
	char *path = xasprintf("%s/%s", root, rel), *buf = xmalloc(len + 1);
	struct stat st;
	int fd;

	memset(buf, 'x', len);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, buf, len), 0);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	free(path);
	free(buf);
	return (unsigned long long)st.st_blocks * 512;
}

static unsigned long long
blocks(const char *rel)
{
	char *path = xasprintf("%s/%s", root, rel);
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	free(path);
	return (unsigned long long)st.st_blocks * 512;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof root, "/tmp/test_usage.XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char *cause = NULL;

	(void)state;
	if (remove_tree(root, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
	}
	return 0;
}

static void
test_usage_counts_shared_once(void **state)
{
	unsigned long long want = 0;
	char *a1, *a2;
	struct usage u;
	char *cause = NULL;

	(void)state;
	a1 = xasprintf("%s/bob/data/" ID1 "/a", root);
	a2 = xasprintf("%s/bob/data/" ID2 "/a", root);
	mkdirs("bob/data/" ID1);
	mkdirs("bob/data/" ID2);
	want += put("bob/data/" ID1 "/a", 100000);
	want += put("bob/data/" ID1 "/b", 5000);
	assert_int_equal(link(a1, a2), 0);		/* shared: once */
	want += put("bob/data/" ID2 "/c", 20000);
	mkdirs("bob/data/" ID2 "/sub");
	want += blocks("bob/data/" ID2 "/sub");
	/* Not snapshots: a push in progress and the cache itself. */
	mkdirs("bob/data/.partial-" ID3);
	put("bob/data/.partial-" ID3 "/big", 300000);

	assert_int_equal(usage_get(root, "bob", "data", &u, &cause), 0);
	assert_int_equal(u.snapshots, 2);
	assert_string_equal(u.latest, ID2);
	assert_int_equal(u.bytes, want);
	free(a1);
	free(a2);
}

static void
test_usage_cache(void **state)
{
	unsigned long long before;
	struct usage u;
	char *cause = NULL, *p;

	test_usage_counts_shared_once(state);
	assert_int_equal(usage_get(root, "bob", "data", &u, &cause), 0);
	before = u.bytes;
	p = xasprintf("%s/bob/data/.usage", root);
	assert_int_equal(access(p, F_OK), 0);
	free(p);
	/* Changed behind the cache's back, same snapshots: cached. */
	p = xasprintf("%s/bob/data/" ID1 "/b", root);
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(usage_get(root, "bob", "data", &u, &cause), 0);
	assert_int_equal(u.bytes, before);
	/* A new snapshot: recomputed (b is gone now, d is new). */
	mkdirs("bob/data/" ID3);
	put("bob/data/" ID3 "/d", 7000);
	assert_int_equal(usage_get(root, "bob", "data", &u, &cause), 0);
	assert_int_equal(u.snapshots, 3);
	assert_string_equal(u.latest, ID3);
	assert_true(u.bytes != 0);
	/* Pruned: the count changes, so recomputed again. */
	p = xasprintf("%s/bob/data/" ID1, root);
	assert_int_equal(remove_tree(p, &cause), 0);
	free(p);
	assert_int_equal(usage_get(root, "bob", "data", &u, &cause), 0);
	assert_int_equal(u.snapshots, 2);
	assert_int_equal(u.bytes, blocks("bob/data/" ID2 "/a") +
	    blocks("bob/data/" ID2 "/c") + blocks("bob/data/" ID2 "/sub") +
	    blocks("bob/data/" ID3 "/d"));
}

static void
test_usage_all(void **state)
{
	json_t *all, *bob;
	struct usage u;
	char *cause = NULL;

	test_usage_counts_shared_once(state);
	mkdirs("bob/logs/" ID1);
	put("bob/logs/" ID1 "/l", 3000);
	mkdirs("carol/data/" ID2);
	put("carol/data/" ID2 "/x", 1000);
	mkdirs(".dry-run");
	all = usage_all(root);
	assert_int_equal(json_object_size(all), 2);
	bob = json_object_get(all, "bob");
	assert_int_equal(json_integer_value(json_object_get(bob,
	    "snapshots")), 3);
	assert_int_equal(json_object_size(json_object_get(bob, "volumes")), 2);
	assert_int_equal(usage_get(root, "bob", "data", &u, &cause), 0);
	assert_int_equal(json_integer_value(json_object_get(bob, "bytes")),
	    u.bytes + blocks("bob/logs/" ID1 "/l"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(bob, "volumes"), "data"), "latest")), ID2);
	json_decref(all);
	assert_int_equal(usage_get(root, "bob", "nosuch", &u, &cause), -1);
	assert_non_null(strstr(cause, "no backups of nosuch from bob"));
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_usage_counts_shared_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_cache, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_usage_all, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
