/*
 * test_manifest: per-snapshot manifests. In a temporary root, a snapshot
 * of bob/data with a file, a nested file, an empty file, a symlink and a
 * FIFO: its manifest has one entry each plus the root, and the untouched
 * tree verifies clean. A second snapshot sharing files (hard links, as
 * the store makes them) reuses their hashes and hashes only the changed
 * file (a copy with another size). Then damage, each named by path: a
 * byte flipped with the mtime put back (bit rot: "damaged", content), a
 * file removed ("missing"), a file added ("unexpected"), a mode changed
 * and a symlink retargeted ("changed"), a directory replaced by a symlink
 * to outside (reported, never followed). The text round-trips names with
 * spaces, '%' and newlines. manifest_update builds the latest's manifest
 * once and removes those whose snapshot is gone; manifest_verify reports
 * per snapshot, "all" and by ID. A live volume compared with a
 * manifest: symlinks the server stored munged match, directory mtimes are
 * left out, what was added is named. Also `privateer-verify` on the wire:
 * what rsync_argv accepts and refuses.
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
#include <sys/time.h>
#include <unistd.h>

#include "manifest.h"
#include "rsync_argv.h"
#include "util.h"

#define ID1 "20261101T000000Z"
#define ID2 "20261102T000000Z"

static char root[64];
static char found[64][512];
static int nfound;

static char *
at(const char *rel)
{
	return xasprintf("%s/%s", root, rel);
}

static void
mkdirs(const char *rel)
{
	char *p = at(rel), *s;

	for (s = p + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		(void)mkdir(p, 0755);
		*s = '/';
	}
	(void)mkdir(p, 0755);
	free(p);
}

static void
put(const char *rel, const char *text)
{
	char *p = at(rel);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static void
link_rel(const char *from, const char *to)
{
	char *a = at(from), *b = at(to);

	assert_int_equal(link(a, b), 0);
	free(a);
	free(b);
}

static void
collect(void *arg, const char *what, const char *path, const char *detail)
{
	(void)arg;
	if (nfound < 64)
		snprintf(found[nfound++], sizeof found[0], "%s %s (%s)", what,
		    path, detail);
}

static int
has(const char *line)
{
	int i;

	for (i = 0; i < nfound; i++) {
		if (strcmp(found[i], line) == 0)
			return 1;
	}
	return 0;
}

static long
check(const char *id)
{
	struct manifest *m;
	char *cause = NULL, *dir;
	long k;

	m = manifest_load(root, "bob", "data", id, &cause);
	if (m == NULL)
		fail_msg("%s", cause);
	dir = xasprintf("%s/bob/data/%s", root, id);
	nfound = 0;
	k = manifest_check(m, dir, 0, collect, NULL, &cause);
	manifest_free(m);
	free(dir);
	return k;
}

static int
setup(void **state)
{
	char *p;

	(void)state;
	snprintf(root, sizeof root, "/tmp/test_manifest.XXXXXX");
	assert_non_null(mkdtemp(root));
	mkdirs("bob/data/" ID1 "/dir/sub");
	put("bob/data/" ID1 "/a.txt", "alpha\n");
	put("bob/data/" ID1 "/dir/sub/deep", "deep\n");
	put("bob/data/" ID1 "/empty", "");
	put("bob/data/" ID1 "/odd name %\n.txt", "odd\n");
	p = at("bob/data/" ID1 "/link");
	assert_int_equal(symlink("a.txt", p), 0);
	free(p);
	p = at("bob/data/" ID1 "/fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	free(p);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)remove_tree(root, NULL);
	return 0;
}

static void
test_build_and_verify_clean(void **state)
{
	struct manifest *m;
	char *cause = NULL, *path, *text;
	size_t len;

	(void)state;
	assert_int_equal(manifest_build(root, "bob", "data", ID1, &cause), 0);
	m = manifest_load(root, "bob", "data", ID1, &cause);
	assert_non_null(m);
	/* ., a.txt, dir, dir/sub, dir/sub/deep, empty, fifo, link, odd. */
	assert_int_equal(manifest_entries(m), 9);
	manifest_free(m);
	path = manifest_path(root, "bob", "data", ID1);
	text = read_file_capped(path, 1 << 20, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "privateer-manifest 1 " ID1 "\n"));
	assert_non_null(strstr(text, " odd%20name%20%25%0A.txt\n"));
	assert_non_null(strstr(text, " link a.txt\n"));
	/* sha256("alpha\n") */
	assert_non_null(strstr(text, " b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060 a.txt\n"));
	free(text);
	free(path);
	assert_int_equal(check(ID1), 0);
}

static void
test_damage_named(void **state)
{
	struct timeval tv[2];
	struct stat st;
	char *cause = NULL, *p, *q;
	int fd;

	(void)state;
	assert_int_equal(manifest_build(root, "bob", "data", ID1, &cause), 0);
	/* Bit rot: one byte, the mtime put back. */
	p = at("bob/data/" ID1 "/dir/sub/deep");
	assert_int_equal(stat(p, &st), 0);
	fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "D", 1, 0), 1);
	close(fd);
	tv[0].tv_sec = st.st_atim.tv_sec;
	tv[0].tv_usec = st.st_atim.tv_nsec / 1000;
	tv[1].tv_sec = st.st_mtim.tv_sec;
	tv[1].tv_usec = st.st_mtim.tv_nsec / 1000;
	assert_int_equal(utimes(p, tv), 0);
	free(p);
	/* utimes has microseconds: nanoseconds may differ, so also mtime. */
	assert_int_equal(check(ID1), 1);
	assert_true(strncmp(found[0], "damaged dir/sub/deep (", 22) == 0);
	assert_non_null(strstr(found[0], "content"));

	p = at("bob/data/" ID1 "/empty");
	assert_int_equal(unlink(p), 0);
	free(p);
	put("bob/data/" ID1 "/intruder", "x");
	p = at("bob/data/" ID1 "/a.txt");
	assert_int_equal(chmod(p, 0777), 0);
	free(p);
	p = at("bob/data/" ID1 "/link");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	free(p);
	/* The root's mtime changed with what came and went. */
	assert_int_equal(check(ID1), 6);
	assert_true(has("changed . (mtime)"));
	assert_true(has("missing empty (No such file or directory)"));
	assert_true(has("unexpected intruder (not in the manifest)"));
	assert_true(has("changed a.txt (mode)"));
	assert_true(has("changed link (size, target)"));

	/* A directory swapped for a symlink out of the tree. */
	p = at("bob/data/" ID1 "/dir");
	q = at("bob/data/" ID1 "/dir.moved");
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(symlink("/", p), 0);
	free(p);
	free(q);
	(void)check(ID1);
	assert_true(has("changed dir (type)"));
	assert_true(has("missing dir/sub (a directory on its path is now a "
	    "symlink)"));
	assert_true(has("unexpected dir.moved (not in the manifest)"));
}

static void
test_reuse_and_update(void **state)
{
	char *cause = NULL, *p1, *p2, *t1, *t2, *line;
	struct stat st;
	size_t len;
	FILE *out;
	char *report = NULL;

	(void)state;
	assert_int_equal(manifest_update(root, "bob", "data", &cause), 0);
	/* The second snapshot shares everything but a.txt (hard links). */
	mkdirs("bob/data/" ID2 "/dir/sub");
	link_rel("bob/data/" ID1 "/dir/sub/deep", "bob/data/" ID2
	    "/dir/sub/deep");
	link_rel("bob/data/" ID1 "/empty", "bob/data/" ID2 "/empty");
	put("bob/data/" ID2 "/a.txt", "alpha, longer\n");
	assert_int_equal(manifest_update(root, "bob", "data", &cause), 0);
	p1 = manifest_path(root, "bob", "data", ID1);
	p2 = manifest_path(root, "bob", "data", ID2);
	t1 = read_file_capped(p1, 1 << 20, &len);
	t2 = read_file_capped(p2, 1 << 20, &len);
	assert_non_null(t1);
	assert_non_null(t2);
	/* deep's line (hash included) is the same in both. */
	line = strstr(t1, "\nf ");
	while (line != NULL && strstr(line, " dir/sub/deep\n") != line +
	    strcspn(line + 1, "\n") + 1 - strlen(" dir/sub/deep"))
		line = strstr(line + 1, "\nf ");
	assert_non_null(line);
	{
		size_t n = strcspn(line + 1, "\n");
		char *want = xstrndup(line + 1, n);
		assert_non_null(strstr(t2, want));
		free(want);
	}
	assert_int_equal(check(ID2), 0);
	free(t1);
	free(t2);

	/* ID1 pruned: its manifest goes at the next update. */
	{
		char *d = at("bob/data/" ID1);
		assert_int_equal(remove_tree(d, NULL), 0);
		free(d);
	}
	assert_int_equal(manifest_update(root, "bob", "data", &cause), 0);
	assert_int_not_equal(stat(p1, &st), 0);
	assert_int_equal(stat(p2, &st), 0);
	free(p1);
	free(p2);

	out = open_memstream(&report, &len);
	assert_int_equal(manifest_verify(root, "bob", "data", "all", out,
	    &cause), 0);
	fclose(out);
	assert_non_null(strstr(report, "bob/data/" ID2 ": ok ("));
	free(report);
	report = NULL;
	put("bob/data/" ID2 "/a.txt", "alpha, LONGER\n");
	out = open_memstream(&report, &len);
	assert_int_equal(manifest_verify(root, "bob", "data", ID2, out,
	    &cause), 1);
	fclose(out);
	assert_non_null(strstr(report, "bob/data/" ID2 ": damaged: a.txt ("));
	assert_non_null(strstr(report, "bob/data/" ID2 ": 1 problem(s)\n"));
	free(report);
	out = open_memstream(&report, &len);
	assert_int_equal(manifest_verify(root, "bob", "data", "20990101T000000Z",
	    out, &cause), -1);
	fclose(out);
	free(report);
	assert_non_null(strstr(cause, "no snapshot"));
	free(cause);
}

/* A live volume against the server's manifest: links unmunged. */
static void
test_against_live(void **state)
{
	struct manifest *m;
	char *cause = NULL, *p, *live;
	long k;

	(void)state;
	/* As the server stores it: --munge-links. */
	p = at("bob/data/" ID1 "/link");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/rsyncd-munged/a.txt", p), 0);
	free(p);
	assert_int_equal(manifest_build(root, "bob", "data", ID1, &cause), 0);
	m = manifest_load(root, "bob", "data", ID1, &cause);
	assert_non_null(m);
	/* The live volume: a copy with the link as the client has it. */
	live = at("bob/data/" ID1);
	p = at("bob/data/" ID1 "/link");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("a.txt", p), 0);
	free(p);
	nfound = 0;
	k = manifest_check(m, live, MANIFEST_CHECK_NO_DIR_TIMES |
	    MANIFEST_CHECK_UNMUNGE, collect, NULL, &cause);
	assert_int_equal(k, 0);
	/* Without unmunging, the link differs. */
	k = manifest_check(m, live, MANIFEST_CHECK_NO_DIR_TIMES, collect, NULL,
	    &cause);
	assert_int_equal(k, 1);
	assert_true(has("changed link (size, target)"));
	/* A file added changes the root's mtime: left out for a live one. */
	put("bob/data/" ID1 "/new", "n");
	nfound = 0;
	k = manifest_check(m, live, MANIFEST_CHECK_NO_DIR_TIMES |
	    MANIFEST_CHECK_UNMUNGE, collect, NULL, &cause);
	assert_int_equal(k, 1);
	assert_true(has("unexpected new (not in the manifest)"));
	manifest_free(m);
	free(live);
}

/* An empty snapshot (a first backup of an empty volume, the probe). */
static void
test_empty_snapshot(void **state)
{
	char *cause = NULL;

	(void)state;
	mkdirs("bob/data/" ID2);
	assert_int_equal(manifest_update(root, "bob", "data", &cause), 0);
	assert_int_equal(check(ID2), 0);
}

static void
test_verify_command(void **state)
{
	struct rsync_verify v;
	char *cause = NULL;

	(void)state;
	assert_true(rsync_is_verify("privateer-verify bob data all"));
	assert_false(rsync_is_verify("privateer-verifyx bob data all"));
	assert_int_equal(rsync_parse_verify("privateer-verify bob data all",
	    &v, &cause), 0);
	assert_string_equal(v.source, "bob");
	assert_string_equal(v.snapshot, "all");
	assert_int_equal(v.manifest, 0);
	rsync_verify_free(&v);
	assert_int_equal(rsync_parse_verify("privateer-verify bob data "
	    ID1 " manifest", &v, &cause), 0);
	assert_int_equal(v.manifest, 1);
	rsync_verify_free(&v);
	assert_int_equal(rsync_parse_verify("privateer-verify ../x data all",
	    &v, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(rsync_parse_verify("privateer-verify bob data all "
	    "manifest", &v, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(rsync_parse_verify("privateer-verify bob data all "
	    "--delete", &v, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(rsync_parse_verify("privateer-verify bob", &v,
	    &cause), -1);
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_build_and_verify_clean,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_named, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reuse_and_update, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_against_live, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty_snapshot, setup,
		    teardown),
		cmocka_unit_test(test_verify_command),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
