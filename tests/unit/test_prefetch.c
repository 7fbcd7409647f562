/*
 * test_prefetch: reading ahead of rsync. In a temporary tree of files and
 * subdirectories: a walk sees every file and directory and asks for every
 * byte of every file (and, where dropping the pages really empties the
 * cache, the pages are in memory afterwards); `since` leaves files that
 * did not change alone; without PREFETCH_DATA nothing is asked for; ahead
 * of a reader that reads nothing, the walk asks for no more than its
 * window, waits, and ends when the reader exits; stopping while it waits
 * is prompt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prefetch.h"
#include "util.h"

#define MB (1024 * 1024)

static char root[64];

static void
put(const char *rel, size_t size)
{
	char *p = xasprintf("%s/%s", root, rel), *buf = xmalloc(size + 1);
	int fd;

	memset(buf, 'x', size);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	assert_int_equal(fsync(fd), 0);
	/* Out of the page cache, where the filesystem lets it go. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	free(buf);
	free(p);
}

/* Pages of rel in memory, of how many. */
static size_t
resident(const char *rel, size_t *pages)
{
	char *p = xasprintf("%s/%s", root, rel);
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *vec;
	struct stat st;
	size_t n, i, in = 0;
	void *m;
	int fd;

	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	n = ((size_t)st.st_size + (size_t)pg - 1) / (size_t)pg;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	vec = xmalloc(n);
	assert_int_equal(mincore(m, (size_t)st.st_size, vec), 0);
	for (i = 0; i < n; i++)
		in += vec[i] & 1;
	munmap(m, (size_t)st.st_size);
	close(fd);
	free(vec);
	free(p);
	*pages = n;
	return in;
}

static int
setup(void **state)
{
	char *d;

	(void)state;
	strcpy(root, "/var/tmp/test_prefetch.XXXXXX");
	assert_non_null(mkdtemp(root));
	d = xasprintf("%s/sub", root);
	assert_int_equal(mkdir(d, 0755), 0);
	free(d);
	d = xasprintf("%s/sub/deeper", root);
	assert_int_equal(mkdir(d, 0755), 0);
	free(d);
	d = xasprintf("%s/link", root);
	assert_int_equal(symlink("a", d), 0);
	free(d);
	put("a", 1 * MB);
	put("b", 300 * 1000);
	put("empty", 0);
	put("sub/c", 2 * MB + 5);
	put("sub/deeper/d", 4096);
	prefetch_set_window(64ULL * MB);
	return 0;
}

static int
teardown(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(remove_tree(root, &cause), 0);
	return 0;
}

static void
test_reads_everything(void **state)
{
	struct prefetch_stats st;
	struct prefetch *p;
	size_t pages, before, after, i;
	struct timespec ts = { 0, 20 * 1000000L };

	(void)state;
	before = resident("sub/c", &pages);
	p = prefetch_start(root, 0, 0, PREFETCH_DATA);
	assert_non_null(p);
	prefetch_wait(p);
	prefetch_get_stats(p, &st);
	prefetch_stop(p);
	assert_int_equal(st.files, 5);
	assert_int_equal(st.dirs, 3);
	assert_int_equal(st.advised, 4);	/* not the empty one */
	assert_int_equal(st.bytes, 1 * MB + 300 * 1000 + 2 * MB + 5 + 4096);
	assert_int_equal(st.waits, 0);
	/* The reads were asked for, not waited for: give them a moment. */
	for (i = 0, after = 0; i < 100 && after < pages; i++) {
		after = resident("sub/c", &pages);
		nanosleep(&ts, NULL);
	}
	if (before < pages)	/* the cache really was emptied */
		assert_int_equal(after, pages);
	else
		print_message("the filesystem kept the pages; residency not "
		    "checked\n");
}

static void
test_since(void **state)
{
	struct prefetch_stats st;
	struct prefetch *p;

	(void)state;
	/* Nothing changed after a minute from now. */
	p = prefetch_start(root, 0, time(NULL) + 60, PREFETCH_DATA);
	assert_non_null(p);
	prefetch_wait(p);
	prefetch_get_stats(p, &st);
	prefetch_stop(p);
	assert_int_equal(st.files, 5);
	assert_int_equal(st.advised, 0);
	assert_int_equal(st.bytes, 0);
	/* Everything changed after a minute ago. */
	p = prefetch_start(root, 0, time(NULL) - 60, PREFETCH_DATA);
	prefetch_wait(p);
	prefetch_get_stats(p, &st);
	prefetch_stop(p);
	assert_int_equal(st.advised, 4);
}

static void
test_metadata_only(void **state)
{
	struct prefetch_stats st;
	struct prefetch *p;

	(void)state;
	p = prefetch_start(root, 0, 0, 0);
	assert_non_null(p);
	prefetch_wait(p);
	prefetch_get_stats(p, &st);
	prefetch_stop(p);
	assert_int_equal(st.files, 5);
	assert_int_equal(st.dirs, 3);
	assert_int_equal(st.advised, 0);
	assert_int_equal(st.bytes, 0);
}

static pid_t
idle_reader(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

static void
test_window(void **state)
{
	struct timespec ts = { 0, 300 * 1000000L };
	struct prefetch_stats st;
	struct prefetch *p;
	pid_t reader = idle_reader();

	(void)state;
	prefetch_set_window(1 * MB + 300 * 1000);
	p = prefetch_start(root, reader, 0, PREFETCH_DATA);
	assert_non_null(p);
	nanosleep(&ts, NULL);
	prefetch_get_stats(p, &st);
	/* a and b fit; sub/c's first chunk does not. */
	assert_int_equal(st.bytes, 1 * MB + 300 * 1000);
	assert_true(st.waits > 0);
	/* The reader gone, the walk ends by itself. */
	kill(reader, SIGKILL);
	waitpid(reader, NULL, 0);
	prefetch_wait(p);
	prefetch_get_stats(p, &st);
	assert_int_equal(st.bytes, 1 * MB + 300 * 1000);
	prefetch_stop(p);
	prefetch_set_window(64ULL * MB);
}

static void
test_stop_while_waiting(void **state)
{
	struct timespec ts = { 0, 100 * 1000000L }, t0, t1;
	struct prefetch *p;
	pid_t reader = idle_reader();

	(void)state;
	prefetch_set_window(1);
	p = prefetch_start(root, reader, 0, PREFETCH_DATA);
	assert_non_null(p);
	nanosleep(&ts, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	prefetch_stop(p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(ts_seconds(&t0, &t1) < 0.5);
	kill(reader, SIGKILL);
	waitpid(reader, NULL, 0);
	prefetch_set_window(64ULL * MB);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_everything, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metadata_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_waiting, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
