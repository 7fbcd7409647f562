/*
 * test_snapshot: the server's snapshot store. Snapshot IDs (valid shapes,
 * formatting and parsing of fixed UTC times whatever TZ says, refusals);
 * snap_select as a pure table from sorted IDs and a policy to the exact
 * keep[] vector (hourly, daily, ISO-weekly and monthly buckets, the newest
 * in each winning, the newest snapshot always kept, keep_all); and, in a
 * fresh temporary root per test, the file operations: a push's partial
 * directory and its lock (a second push of the same volume fails at once
 * with no wait set, waits in another process while the first runs, and
 * gives up when the wait runs out), commit and the latest link, link_dest
 * for the next push, abort, listing, resolving, pruning (never the latest,
 * nothing left half-deleted, no symlink followed) and recovery at start.
 * The filesystem tests make IDs by creating directories with chosen
 * names; only the push tests use the clock.
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
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

#define MAX_IDS 12

/* ---- helpers ---- */

static char *path_of(const char *fmt, ...) PRINTFLIKE(1, 2);

static char *
path_of(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

static void
mkdir_p(const char *path)
{
	char *copy = xstrdup(path), *p;

	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", copy, strerror(errno));
		*p = '/';
	}
	if (mkdir(copy, 0700) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", copy, strerror(errno));
	free(copy);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		fail_msg("creating %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* root/client/volume/name as a directory holding one file. */
static void
make_snap(const char *root, const char *client, const char *volume,
    const char *name)
{
	char *dir = path_of("%s/%s/%s/%s", root, client, volume, name);
	char *file = path_of("%s/data", dir);

	mkdir_p(dir);
	write_text(file, name);
	free(file);
	free(dir);
}

static void
make_latest(const char *root, const char *client, const char *volume,
    const char *target)
{
	char *link = path_of("%s/%s/%s/latest", root, client, volume);

	if (symlink(target, link) != 0)
		fail_msg("symlink %s: %s", link, strerror(errno));
	free(link);
}

/* Where root/client/volume/latest points, or NULL; caller frees. */
static char *
read_latest(const char *root, const char *client, const char *volume)
{
	char *link = path_of("%s/%s/%s/latest", root, client, volume);
	char buf[256];
	ssize_t n;

	n = readlink(link, buf, sizeof buf - 1);
	free(link);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

static void
assert_latest(const char *root, const char *client, const char *volume,
    const char *want)
{
	char *got = read_latest(root, client, volume);

	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s/%s/latest -> %s, expected %s", client, volume,
		    got != NULL ? got : "(none)", want);
	free(got);
}

/* Entries of dir whose names start with prefix. */
static int
count_prefix(const char *dir, const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* snap_list must give exactly the NULL-terminated want, oldest first. */
static void
assert_list(const char *root, const char *client, const char *volume,
    const char *const *want)
{
	char **ids = NULL, *cause = NULL;
	size_t n = 0, i, nwant = 0;

	while (want[nwant] != NULL)
		nwant++;
	if (snap_list(root, client, volume, &ids, &n, &cause) != 0)
		fail_msg("snap_list %s/%s: %s", client, volume, cause);
	assert_null(cause);
	if (n != nwant) {
		for (i = 0; i < n; i++)
			print_error("  listed %s\n", ids[i]);
		fail_msg("snap_list %s/%s: %zu IDs, expected %zu", client,
		    volume, n, nwant);
	}
	for (i = 0; i < n; i++) {
		if (strcmp(ids[i], want[i]) != 0)
			fail_msg("snap_list %s/%s: [%zu] is %s, expected %s",
			    client, volume, i, ids[i], want[i]);
	}
	snap_list_free(ids, n);
}

static void
assert_mentions(const char *cause, const char *needle)
{
	if (cause == NULL)
		fail_msg("no cause set (expected one mentioning \"%s\")",
		    needle);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, needle);
}

/* A fresh root per filesystem test. */
static int
setup_root(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char *tmpl = path_of("%s/test_snapshot.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");

	if (mkdtemp(tmpl) == NULL) {
		free(tmpl);
		return -1;
	}
	*state = tmpl;
	return 0;
}

static int
teardown_root(void **state)
{
	char *root = *state;
	int rc = remove_tree(root, NULL);

	free(root);
	return rc;
}

/*
 * snap_begin that must get the lock at once (no other push holds it); if
 * a wait is set after all, SIGALRM ends the test rather than a hang.
 */
static void
begin_unlocked(const char *root, const char *client, const char *volume,
    struct snap_push *p)
{
	char *cause = NULL;

	alarm(20);
	if (snap_begin(root, client, volume, p, &cause) != 0)
		fail_msg("snap_begin %s/%s: %s", client, volume, cause);
	alarm(0);
}

/* ---- IDs ---- */

static const struct {
	time_t t;
	const char *id;
} fixed_times[] = {
	{ 0, "19700101T000000Z" },
	{ 951827696, "20000229T123456Z" },
	{ 1000000000, "20010909T014640Z" },
	{ 1767225599, "20251231T235959Z" },
	{ 1767225600, "20260101T000000Z" },
	{ 1798761600, "20270101T000000Z" },
	{ (time_t)2147483648LL, "20380119T031408Z" },
	{ (time_t)4102444799LL, "20991231T235959Z" },
};

static const char *const bad_shapes[] = {
	"",
	"latest",
	"2026010T000000Z",
	"20260101T0000000Z",
	"20260101T000000",
	"20260101T000000Zx",
	"20260101t000000Z",
	"20260101T000000z",
	"20260101-000000Z",
	"20260101 000000Z",
	"2026010aT000000Z",
	"20260101T00000aZ",
	"-2026101T000000Z",
	"+2026101T000000Z",
	" 0260101T000000Z",
	"20260101T000000Z ",
	"2026-01-01T00:00:00Z",
	".partial-20260101T000000Z",
	".prune-20260101T000000Z",
	"20260101T000000Z/",
	"../20260101T000000",
};

static void
test_id_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof fixed_times / sizeof fixed_times[0]; i++) {
		if (!snap_id_valid(fixed_times[i].id))
			fail_msg("\"%s\" is not valid", fixed_times[i].id);
	}
	/* The right shape is not enough: the time must exist. */
	assert_false(snap_id_valid("00000000T000000Z"));
	assert_false(snap_id_valid("99999999T999999Z"));
	assert_false(snap_id_valid("20260231T000000Z"));
	for (i = 0; i < sizeof bad_shapes / sizeof bad_shapes[0]; i++) {
		if (snap_id_valid(bad_shapes[i]))
			fail_msg("\"%s\" is valid", bad_shapes[i]);
	}
}

static void
check_format(void)
{
	char id[SNAP_ID_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof fixed_times / sizeof fixed_times[0]; i++) {
		memset(id, 'x', sizeof id);
		snap_id_format(fixed_times[i].t, id);
		if (strcmp(id, fixed_times[i].id) != 0)
			fail_msg("snap_id_format(%lld) = \"%.17s\", expected "
			    "%s", (long long)fixed_times[i].t, id,
			    fixed_times[i].id);
	}
}

static void
check_parse(void)
{
	char id[SNAP_ID_LEN + 1];
	time_t t;
	size_t i;

	for (i = 0; i < sizeof fixed_times / sizeof fixed_times[0]; i++) {
		t = -1;
		if (snap_id_parse(fixed_times[i].id, &t) != 0)
			fail_msg("snap_id_parse(%s) failed", fixed_times[i].id);
		if (t != fixed_times[i].t)
			fail_msg("snap_id_parse(%s) = %lld, expected %lld",
			    fixed_times[i].id, (long long)t,
			    (long long)fixed_times[i].t);
		snap_id_format(t, id);
		assert_string_equal(id, fixed_times[i].id);
	}
}

/* IDs are UTC: the same whatever the local time zone is. */
static void
with_tz(const char *tz, void (*check)(void))
{
	char *old = getenv("TZ") != NULL ? xstrdup(getenv("TZ")) : NULL;

	if (tz != NULL)
		setenv("TZ", tz, 1);
	else
		unsetenv("TZ");
	tzset();
	check();
	if (old != NULL)
		setenv("TZ", old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old);
}

static void
test_id_format(void **state)
{
	(void)state;
	with_tz("UTC0", check_format);
	with_tz("XYZ-5:30", check_format);
	with_tz("ABC+11DEF,M3.5.0,M10.5.0", check_format);
}

static void
test_id_parse_round_trip(void **state)
{
	(void)state;
	with_tz("UTC0", check_parse);
	with_tz("XYZ-5:30", check_parse);
	with_tz("ABC+11DEF,M3.5.0,M10.5.0", check_parse);
}

/* The ID of now is valid and within a few seconds of now. */
static void
test_id_now(void **state)
{
	char id[SNAP_ID_LEN + 1];
	time_t now = time(NULL), t;

	(void)state;
	snap_id_format(now, id);
	assert_true(snap_id_valid(id));
	assert_int_equal(snap_id_parse(id, &t), 0);
	assert_true(t == now);
}

static void
test_id_parse_refuses(void **state)
{
	static const char *const bad_values[] = {
		"20261301T000000Z",	/* month 13 */
		"20260001T000000Z",	/* month 0 */
		"20260100T000000Z",	/* day 0 */
		"20260132T000000Z",	/* day 32 */
		"20260101T240000Z",	/* hour 24 */
		"20260101T006000Z",	/* minute 60 */
		"20260101T000062Z",	/* second 62 */
		"20269999T999999Z",
	};
	/* Impossible dates that strptime and timegm would roll over. */
	static const char *const rollover_values[] = {
		"20260231T000000Z",
		"20260431T120000Z",
		"20260101T000060Z",
	};
	time_t t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad_shapes / sizeof bad_shapes[0]; i++) {
		if (snap_id_parse(bad_shapes[i], &t) != -1)
			fail_msg("snap_id_parse(\"%s\") succeeded",
			    bad_shapes[i]);
	}
	for (i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
		if (snap_id_parse(bad_values[i], &t) != -1)
			fail_msg("snap_id_parse(\"%s\") succeeded",
			    bad_values[i]);
	}
	for (i = 0; i < sizeof rollover_values / sizeof rollover_values[0]; i++) {
		if (snap_id_parse(rollover_values[i], &t) != -1)
			fail_msg("snap_id_parse(\"%s\") succeeded",
			    rollover_values[i]);
	}
}

/* ---- snap_select ---- */

struct select_case {
	const char *what;
	struct snap_policy pol;	/* hourly, daily, weekly, monthly, all, last */
	const char *ids[MAX_IDS];	/* oldest first, NULL-terminated */
	const char *keep;	/* '1' kept, '0' pruned, one per ID */
};

static const struct select_case select_cases[] = {
	{ "one snapshot, nothing asked for", { 0, 0, 0, 0, 0, 0 },
	    { "20260101T000000Z" }, "1" },
	{ "all zero keeps only the newest", { 0, 0, 0, 0, 0, 0 },
	    { "20250101T000000Z", "20260101T000000Z", "20260101T000001Z",
	    "20260601T000000Z" }, "0001" },
	{ "keep_all keeps everything", { 0, 0, 0, 0, 1, 0 },
	    { "20250101T000000Z", "20260101T000000Z", "20260101T000001Z",
	    "20260601T000000Z" }, "1111" },
	{ "keep_all wins over counts", { 1, 0, 0, 0, 1, 0 },
	    { "20260101T100000Z", "20260101T100100Z" }, "11" },
	/* Hours: the newest in each hour. */
	{ "hourly 1", { 1, 0, 0, 0, 0, 0 },
	    { "20260101T100500Z", "20260101T105000Z", "20260101T111000Z",
	    "20260101T114000Z", "20260101T120000Z" }, "00001" },
	{ "hourly 2", { 2, 0, 0, 0, 0, 0 },
	    { "20260101T100500Z", "20260101T105000Z", "20260101T111000Z",
	    "20260101T114000Z", "20260101T120000Z" }, "00011" },
	{ "hourly 3", { 3, 0, 0, 0, 0, 0 },
	    { "20260101T100500Z", "20260101T105000Z", "20260101T111000Z",
	    "20260101T114000Z", "20260101T120000Z" }, "01011" },
	{ "hourly: 10:59:59 and 11:00:00 are different hours",
	    { 2, 0, 0, 0, 0, 0 },
	    { "20260101T100000Z", "20260101T105959Z", "20260101T110000Z" },
	    "011" },
	{ "hourly counts hours that have snapshots, not clock hours",
	    { 2, 0, 0, 0, 0, 0 },
	    { "20250101T000000Z", "20250601T000000Z", "20260101T000000Z" },
	    "011" },
	/* Days (UTC). */
	{ "daily 2", { 0, 2, 0, 0, 0, 0 },
	    { "20260101T080000Z", "20260101T200000Z", "20260102T010000Z",
	    "20260102T235959Z", "20260103T000000Z" }, "00011" },
	{ "daily 3", { 0, 3, 0, 0, 0, 0 },
	    { "20260101T080000Z", "20260101T200000Z", "20260102T010000Z",
	    "20260102T235959Z", "20260103T000000Z" }, "01011" },
	{ "daily more than available", { 0, 100, 0, 0, 0, 0 },
	    { "20260101T080000Z", "20260101T200000Z", "20260102T010000Z",
	    "20260102T235959Z", "20260103T000000Z", "20260103T000001Z" },
	    "010101" },
	/* ISO weeks: Monday to Sunday; the ISO year, not the calendar's. */
	{ "weekly across a year boundary (2026-W53)", { 0, 0, 3, 0, 0, 0 },
	    { "20261224T120000Z", "20261231T120000Z", "20270101T120000Z",
	    "20270104T120000Z" }, "1011" },
	{ "weekly: 2026-12-28 to 2027-01-03 is one week", { 0, 0, 2, 0, 0, 0 },
	    { "20261227T235959Z", "20261228T000000Z", "20261231T000000Z",
	    "20270101T000000Z", "20270103T235959Z", "20270104T000000Z" },
	    "000011" },
	{ "weekly: a week starts on Monday", { 0, 0, 2, 0, 0, 0 },
	    { "20260104T230000Z", "20260105T003000Z", "20260111T235959Z" },
	    "101" },
	{ "weekly: 2025-12-31 is in 2026-W01", { 0, 0, 2, 0, 0, 0 },
	    { "20251228T000000Z", "20251229T000000Z", "20251231T000000Z",
	    "20260101T000000Z" }, "1001" },
	{ "weekly more than available", { 0, 0, 52, 0, 0, 0 },
	    { "20260105T000000Z", "20260106T000000Z", "20260112T000000Z",
	    "20260119T000000Z" }, "0111" },
	/* Months. */
	{ "monthly 2", { 0, 0, 0, 2, 0, 0 },
	    { "20260115T000000Z", "20260131T235959Z", "20260201T000000Z",
	    "20260220T000000Z", "20260301T000000Z" }, "00011" },
	{ "monthly 3", { 0, 0, 0, 3, 0, 0 },
	    { "20260115T000000Z", "20260131T235959Z", "20260201T000000Z",
	    "20260220T000000Z", "20260301T000000Z" }, "01011" },
	{ "monthly across a year boundary", { 0, 0, 0, 2, 0, 0 },
	    { "20251201T000000Z", "20251231T235959Z", "20260101T000000Z" },
	    "011" },
	{ "monthly: the same month of another year is another month",
	    { 0, 0, 0, 2, 0, 0 },
	    { "20250301T000000Z", "20260301T000000Z", "20260302T000000Z" },
	    "101" },
	{ "monthly more than available", { 0, 0, 0, 24, 0, 0 },
	    { "20250101T000000Z", "20250102T000000Z", "20250201T000000Z" },
	    "011" },
	/* The union of the kinds. */
	{ "all kinds", { 2, 2, 2, 3, 0, 0 },
	    { "20251110T000000Z", "20251220T000000Z", "20251231T120000Z",
	    "20260101T090000Z", "20260101T100000Z", "20260101T103000Z" },
	    "111101" },
	{ "hourly 1 daily 1 weekly 1 monthly 1", { 1, 1, 1, 1, 0, 0 },
	    { "20251110T000000Z", "20251220T000000Z", "20251231T120000Z",
	    "20260101T090000Z", "20260101T100000Z", "20260101T103000Z" },
	    "000001" },
	/* last: the newest N whatever their age (restic --keep-last). */
	{ "last 1 is the newest", { 0, 0, 0, 0, 0, 1 },
	    { "20260101T100000Z", "20260101T100001Z", "20260101T100002Z" },
	    "001" },
	{ "last 2, same second apart", { 0, 0, 0, 0, 0, 2 },
	    { "20260101T100000Z", "20260101T100001Z", "20260101T100002Z" },
	    "011" },
	{ "last more than available", { 0, 0, 0, 0, 0, 10 },
	    { "20260101T100000Z", "20260101T100001Z" }, "11" },
	/* Combined as restic does: the union of what each keeps. */
	{ "last 2 and daily 2", { 0, 2, 0, 0, 0, 2 },
	    { "20251230T100000Z", "20251231T100000Z", "20251231T110000Z",
	    "20260101T090000Z", "20260101T100000Z" }, "00111" },
	{ "last 2 and monthly 1", { 0, 0, 0, 1, 0, 2 },
	    { "20251001T000000Z", "20251101T000000Z", "20251201T000000Z",
	    "20251215T000000Z" }, "0011" },
	{ "last 1 and monthly 3", { 0, 0, 0, 3, 0, 1 },
	    { "20251001T000000Z", "20251101T000000Z", "20251201T000000Z",
	    "20251215T000000Z" }, "1101" },
	/* An ID of the right shape but no real time is never chosen. */
	{ "an unparseable ID", { 0, 5, 0, 0, 0, 0 },
	    { "20260101T000000Z", "20261301T000000Z", "20261302T000000Z",
	    "20270101T000000Z" }, "1001" },
	{ "an unparseable newest ID is still kept", { 0, 5, 0, 0, 0, 0 },
	    { "20260101T000000Z", "20260102T000000Z", "20261301T000000Z" },
	    "111" },
};

static void
test_select_table(void **state)
{
	const struct select_case *c;
	int keep[MAX_IDS + 1];
	char got[MAX_IDS + 1];
	size_t i, n, k, bad = 0;

	(void)state;
	for (k = 0; k < sizeof select_cases / sizeof select_cases[0]; k++) {
		c = &select_cases[k];
		for (n = 0; n < MAX_IDS && c->ids[n] != NULL; n++)
			;
		assert_int_equal(strlen(c->keep), n);
		for (i = 0; i <= MAX_IDS; i++)
			keep[i] = 7;
		snap_select((char *const *)c->ids, n, &c->pol, keep);
		for (i = 0; i < n; i++) {
			got[i] = keep[i] == 1 ? '1' : keep[i] == 0 ? '0' :
			    '?';
		}
		got[n] = '\0';
		if (keep[n] != 7) {
			print_error("%s: wrote past keep[%zu]\n", c->what, n);
			bad++;
		} else if (strcmp(got, c->keep) != 0) {
			print_error("%s: keep %s, expected %s\n", c->what, got,
			    c->keep);
			bad++;
		}
	}
	if (bad != 0)
		fail_msg("%zu of %zu snap_select cases failed", bad,
		    sizeof select_cases / sizeof select_cases[0]);
}

static void
test_select_empty(void **state)
{
	struct snap_policy pol = { 1, 1, 1, 1, 0, 0 };
	int keep[1] = { 7 };

	(void)state;
	snap_select(NULL, 0, &pol, keep);
	assert_int_equal(keep[0], 7);
	pol.keep_all = 1;
	snap_select(NULL, 0, &pol, keep);
	assert_int_equal(keep[0], 7);
}

/* ---- pushes: begin, commit, abort ---- */

static void
test_begin_partial_and_lock(void **state)
{
	const char *tmp = *state;
	char *root = path_of("%s/server", tmp), *dir, *partial, *cause = NULL;
	struct snap_push p, q;
	time_t t, now;

	/* The root, client and volume directories are made as needed. */
	now = time(NULL);
	if (snap_begin(root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin: %s", cause);
	assert_null(cause);
	dir = path_of("%s/alice/vol", root);
	assert_string_equal(p.dir, dir);
	assert_true(snap_id_valid(p.id));
	assert_int_equal(snap_id_parse(p.id, &t), 0);
	assert_true(t >= now && t <= time(NULL));
	partial = path_of("%s/.partial-%s", dir, p.id);
	assert_string_equal(p.partial, partial);
	assert_true(is_dir(partial));
	assert_null(p.link_dest);
	assert_true(p.lock_fd >= 0);
	assert_int_equal(count_prefix(dir, p.id), 0);
	assert_null(read_latest(root, "alice", "vol"));

	/* One push per client and volume (main() set no waiting). */
	alarm(20);
	assert_int_equal(snap_begin(root, "alice", "vol", &q, &cause), -1);
	alarm(0);
	assert_mentions(cause, "another backup");
	assert_mentions(cause, "vol");
	assert_mentions(cause, "alice");
	free(cause);
	cause = NULL;
	assert_null(q.partial);
	assert_null(q.dir);
	assert_null(q.link_dest);
	assert_int_equal(q.lock_fd, -1);
	/* The refused push did not touch the running one's partial. */
	assert_true(is_dir(partial));
	assert_int_equal(count_prefix(dir, ".partial-"), 1);

	/* Another volume, or another client's same volume, is independent:
	 * these must not wait for p's lock (SIGALRM ends a hang). */
	begin_unlocked(root, "alice", "other", &q);
	snap_abort(&q);
	begin_unlocked(root, "bob", "vol", &q);
	snap_abort(&q);
	assert_true(is_dir(partial));

	snap_abort(&p);
	free(partial);
	free(dir);
	free(root);
}

/* What the contending child saw. */
struct contender {
	int rc;
	long waited_ms;
	char id[SNAP_ID_LEN + 1];
};

static long
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)(t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * One push per client and volume: a second snap_begin (in another
 * process, as the server's pushes are) waits while the first holds the
 * lock and goes ahead once it is released.
 */
static void
test_begin_waits_for_lock(void **state)
{
	const char *root = *state;
	struct contender got;
	struct snap_push p, q;
	struct pollfd pfd;
	struct timespec t0;
	char *dir, *cause = NULL;
	int fds[2], status;
	pid_t pid;

	if (snap_begin(root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin: %s", cause);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* No cmocka in the child: report through the pipe. */
		close(fds[0]);
		close(p.lock_fd);
		snap_set_lock_wait(10);
		alarm(30);
		memset(&got, 0, sizeof got);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		got.rc = snap_begin(root, "alice", "vol", &q, NULL);
		got.waited_ms = ms_since(&t0);
		if (got.rc == 0) {
			strcpy(got.id, q.id);
			snap_abort(&q);
		}
		_exit(write(fds[1], &got, sizeof got) == sizeof got ? 0 : 1);
	}
	close(fds[1]);

	/* A second on, the child is still waiting and made nothing. */
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 1000), 0);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	dir = path_of("%s/alice/vol", root);
	assert_int_equal(count_prefix(dir, ".partial-"), 1);

	/* Released, the lock goes to the waiting push. */
	snap_abort(&p);
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(read(fds[0], &got, sizeof got), sizeof got);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(got.rc, 0);
	assert_true(got.waited_ms >= 900);
	assert_true(snap_id_valid(got.id));
	assert_int_equal(count_prefix(dir, ".partial-"), 0);

	/* And the lock is free again. */
	begin_unlocked(root, "alice", "vol", &q);
	snap_abort(&q);
	free(dir);
}

/* A push that holds the lock too long makes the next one give up. */
static void
test_begin_lock_timeout(void **state)
{
	const char *root = *state;
	struct snap_push p, q;
	struct timespec t0;
	char *cause = NULL;
	long ms;

	begin_unlocked(root, "alice", "vol", &p);
	snap_set_lock_wait(1);
	alarm(20);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(snap_begin(root, "alice", "vol", &q, &cause), -1);
	ms = ms_since(&t0);
	alarm(0);
	snap_set_lock_wait(0);
	assert_mentions(cause, "another backup of vol from alice");
	free(cause);
	if (ms < 900 || ms > 5000)
		fail_msg("gave up after %ld ms, expected about 1000", ms);
	assert_int_equal(q.lock_fd, -1);
	assert_true(is_dir(p.partial));
	snap_abort(&p);
}

static void
test_commit_makes_latest(void **state)
{
	const char *root = *state;
	char *final, *file, *partial, *cause = NULL, *path = NULL;
	char id[SNAP_ID_LEN + 1];
	struct snap_push p, q;

	if (snap_begin(root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin: %s", cause);
	strcpy(id, p.id);
	partial = xstrdup(p.partial);
	file = path_of("%s/data", p.partial);
	write_text(file, "hello");
	free(file);
	if (snap_commit(&p, &cause) != 0)
		fail_msg("snap_commit: %s", cause);
	assert_null(cause);
	/* The push is released. */
	assert_null(p.partial);
	assert_null(p.dir);
	assert_int_equal(p.lock_fd, -1);

	final = path_of("%s/alice/vol/%s", root, id);
	assert_true(is_dir(final));
	assert_false(exists(partial));
	file = path_of("%s/data", final);
	assert_true(exists(file));
	free(file);
	assert_latest(root, "alice", "vol", id);
	assert_list(root, "alice", "vol", (const char *[]){ id, NULL });
	if (snap_resolve(root, "alice", "vol", "latest", &path, &cause) != 0)
		fail_msg("snap_resolve latest: %s", cause);
	assert_string_equal(path, final);
	free(path);

	/* The lock is free again. */
	begin_unlocked(root, "alice", "vol", &q);
	snap_abort(&q);
	free(final);
	free(partial);
}

static void
test_second_push_links_to_first(void **state)
{
	const char *root = *state;
	char first[SNAP_ID_LEN + 1], second[SNAP_ID_LEN + 1], *want;
	char *cause = NULL;
	struct snap_push p;

	if (snap_begin(root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin: %s", cause);
	strcpy(first, p.id);
	if (snap_commit(&p, &cause) != 0)
		fail_msg("snap_commit: %s", cause);

	/* Within the same second: the second push waits for a new ID. */
	begin_unlocked(root, "alice", "vol", &p);
	want = path_of("../%s", first);
	assert_non_null(p.link_dest);
	assert_string_equal(p.link_dest, want);
	free(want);
	assert_true(strcmp(p.id, first) > 0);
	strcpy(second, p.id);
	if (snap_commit(&p, &cause) != 0)
		fail_msg("second snap_commit: %s", cause);
	assert_latest(root, "alice", "vol", second);
	assert_list(root, "alice", "vol",
	    (const char *[]){ first, second, NULL });
}

static void
test_begin_links_to_existing_latest(void **state)
{
	const char *root = *state;
	char *cause = NULL;
	struct snap_push p;

	make_snap(root, "alice", "vol", "20200101T000000Z");
	make_snap(root, "alice", "vol", "20200102T000000Z");
	/* latest need not be the newest ID. */
	make_latest(root, "alice", "vol", "20200101T000000Z");
	if (snap_begin(root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin: %s", cause);
	assert_non_null(p.link_dest);
	assert_string_equal(p.link_dest, "../20200101T000000Z");
	assert_true(strcmp(p.id, "20200102T000000Z") > 0);
	snap_abort(&p);
	assert_latest(root, "alice", "vol", "20200101T000000Z");
}

/* A latest that names no ID gives no --link-dest. */
static void
test_begin_ignores_bad_latest(void **state)
{
	const char *root = *state;
	char *cause = NULL;
	struct snap_push p;

	make_snap(root, "alice", "vol", "20200101T000000Z");
	make_latest(root, "alice", "vol", "../../../etc");
	if (snap_begin(root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin: %s", cause);
	assert_null(p.link_dest);
	snap_abort(&p);
}

/* A new push never reuses the ID of an existing snapshot. */
static void
test_begin_avoids_existing_id(void **state)
{
	const char *root = *state;
	char now_id[SNAP_ID_LEN + 1], next_id[SNAP_ID_LEN + 1];
	char *cause = NULL, *file;
	struct snap_push p;
	time_t now = time(NULL);

	snap_id_format(now, now_id);
	snap_id_format(now + 1, next_id);
	make_snap(root, "alice", "vol", now_id);
	make_snap(root, "alice", "vol", next_id);
	if (snap_begin(root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin: %s", cause);
	if (strcmp(p.id, next_id) <= 0)
		fail_msg("new ID %s, expected one after %s", p.id, next_id);
	snap_abort(&p);
	/* The existing snapshots are untouched. */
	file = path_of("%s/alice/vol/%s/data", root, now_id);
	assert_true(exists(file));
	free(file);
	file = path_of("%s/alice/vol/%s/data", root, next_id);
	assert_true(exists(file));
	free(file);
}

/* A partial left with the new ID (a crash, no recovery yet) starts over. */
static void
test_begin_replaces_stale_partial(void **state)
{
	const char *root = *state;
	char id[SNAP_ID_LEN + 1], name[SNAP_ID_LEN + 10], *stale;
	struct snap_push p;
	time_t now = time(NULL), t;

	for (t = now; t < now + 3; t++) {
		snap_id_format(t, id);
		snprintf(name, sizeof name, ".partial-%s", id);
		make_snap(root, "alice", "vol", name);
	}
	begin_unlocked(root, "alice", "vol", &p);
	assert_int_equal(snap_id_parse(p.id, &t), 0);
	if (t >= now + 3)
		fail_msg("the test took too long to hit a stale partial");
	assert_true(is_dir(p.partial));
	stale = path_of("%s/data", p.partial);
	assert_false(exists(stale));
	free(stale);
	snap_abort(&p);
}

static void
test_abort_removes_partial(void **state)
{
	const char *root = *state;
	char *partial, *sub, *file, *outside, *link, *cause = NULL;
	struct snap_push p, q;

	make_snap(root, "alice", "vol", "20200101T000000Z");
	make_latest(root, "alice", "vol", "20200101T000000Z");
	outside = path_of("%s/outside", root);
	write_text(outside, "keep me");

	if (snap_begin(root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin: %s", cause);
	partial = xstrdup(p.partial);
	sub = path_of("%s/a/b", partial);
	mkdir_p(sub);
	file = path_of("%s/f", sub);
	write_text(file, "x");
	/* What rsync wrote may hold symlinks; removal must not follow. */
	link = path_of("%s/escape", partial);
	assert_int_equal(symlink(outside, link), 0);
	snap_abort(&p);
	assert_null(p.partial);
	assert_null(p.dir);
	assert_int_equal(p.lock_fd, -1);

	assert_false(exists(partial));
	assert_true(exists(outside));
	assert_latest(root, "alice", "vol", "20200101T000000Z");
	assert_list(root, "alice", "vol",
	    (const char *[]){ "20200101T000000Z", NULL });
	/* The lock is free again. */
	begin_unlocked(root, "alice", "vol", &q);
	snap_abort(&q);
	free(link);
	free(file);
	free(sub);
	free(partial);
	free(outside);
}

/* ---- list and resolve ---- */

static void
test_list(void **state)
{
	const char *root = *state;
	char *p;

	make_snap(root, "alice", "vol", "20260101T000000Z");
	make_snap(root, "alice", "vol", "20250101T000000Z");
	make_snap(root, "alice", "vol", "20260301T120000Z");
	make_snap(root, "alice", "vol", "20251231T235959Z");
	make_snap(root, "alice", "vol", ".partial-20260401T000000Z");
	make_snap(root, "alice", "vol", ".prune-20240101T000000Z");
	make_snap(root, "alice", "vol", "junk");
	make_snap(root, "alice", "vol", "2026");
	make_snap(root, "alice", "vol", "20260101T000000Z.tmp");
	make_snap(root, "alice", "vol", "20260101t000000Z");
	make_latest(root, "alice", "vol", "20260301T120000Z");
	p = path_of("%s/alice/vol/.lock", root);
	write_text(p, "");
	free(p);
	p = path_of("%s/alice/vol/.latest.tmp", root);
	assert_int_equal(symlink("20250101T000000Z", p), 0);
	free(p);
	/* Another volume's and client's snapshots are not listed. */
	make_snap(root, "alice", "other", "20270101T000000Z");
	make_snap(root, "bob", "vol", "20270101T000000Z");

	assert_list(root, "alice", "vol", (const char *[]){
	    "20250101T000000Z", "20251231T235959Z", "20260101T000000Z",
	    "20260301T120000Z", NULL });
	assert_list(root, "bob", "vol",
	    (const char *[]){ "20270101T000000Z", NULL });
}

static void
test_list_missing_and_empty(void **state)
{
	const char *root = *state;
	char **ids = (char **)1, *cause = NULL;
	size_t n = 99;

	assert_int_equal(snap_list(root, "nobody", "vol", &ids, &n, &cause),
	    -1);
	assert_null(ids);
	assert_int_equal(n, 0);
	assert_mentions(cause, "no backups of vol from nobody");
	free(cause);
	cause = NULL;

	make_snap(root, "alice", "vol", ".partial-20260101T000000Z");
	assert_list(root, "alice", "vol", (const char *[]){ NULL });
	assert_int_equal(snap_list(root, "alice", "missing", &ids, &n, NULL),
	    -1);
}

static void
resolve_fails(const char *root, const char *client, const char *volume,
    const char *snapshot, const char *needle)
{
	char *path = (char *)1, *cause = NULL;

	if (snap_resolve(root, client, volume, snapshot, &path, &cause) != -1)
		fail_msg("snap_resolve %s/%s/%s gave %s", client, volume,
		    snapshot, path);
	assert_null(path);
	assert_mentions(cause, needle);
	free(cause);
}

static void
resolves_to(const char *root, const char *client, const char *volume,
    const char *snapshot, const char *id)
{
	char *path = NULL, *cause = NULL, *want;

	if (snap_resolve(root, client, volume, snapshot, &path, &cause) != 0)
		fail_msg("snap_resolve %s/%s/%s: %s", client, volume, snapshot,
		    cause);
	assert_null(cause);
	want = path_of("%s/%s/%s/%s", root, client, volume, id);
	assert_string_equal(path, want);
	free(want);
	free(path);
}

static void
test_resolve(void **state)
{
	const char *root = *state;
	char *p, *outside;

	make_snap(root, "alice", "vol", "20260101T000000Z");
	make_snap(root, "alice", "vol", "20260102T000000Z");
	make_snap(root, "alice", "vol", "20260103T000000Z");
	make_latest(root, "alice", "vol", "20260102T000000Z");
	make_snap(root, "alice", "vol", ".partial-20260104T000000Z");

	resolves_to(root, "alice", "vol", "latest", "20260102T000000Z");
	resolves_to(root, "alice", "vol", "20260101T000000Z",
	    "20260101T000000Z");
	resolves_to(root, "alice", "vol", "20260103T000000Z",
	    "20260103T000000Z");
	resolve_fails(root, "alice", "vol", "20260105T000000Z",
	    "no snapshot 20260105T000000Z of vol from alice");
	/* Only a complete snapshot: not a push in progress. */
	resolve_fails(root, "alice", "vol", "20260104T000000Z",
	    "no snapshot 20260104T000000Z");
	resolve_fails(root, "alice", "vol", ".partial-20260104T000000Z",
	    "is not a snapshot ID or latest");
	resolve_fails(root, "alice", "vol", "garbage",
	    "\"garbage\" is not a snapshot ID or latest");
	resolve_fails(root, "alice", "vol", "", "is not a snapshot ID");
	resolve_fails(root, "alice", "vol", "../../bob/vol/latest",
	    "is not a snapshot ID");
	resolve_fails(root, "alice", "vol", "LATEST", "is not a snapshot ID");
	resolve_fails(root, "alice", "vol", "20260101T000000Z/",
	    "is not a snapshot ID");

	/* A client or volume with no backups. */
	resolve_fails(root, "nobody", "vol", "latest",
	    "no backups of vol from nobody");
	resolve_fails(root, "alice", "none", "latest",
	    "no backups of none from alice");
	resolve_fails(root, "nobody", "vol", "20260101T000000Z",
	    "no snapshot 20260101T000000Z of vol from nobody");

	/* Only directories: not a file or a symlink with an ID's name. */
	p = path_of("%s/alice/vol/20260106T000000Z", root);
	write_text(p, "");
	free(p);
	resolve_fails(root, "alice", "vol", "20260106T000000Z",
	    "no snapshot 20260106T000000Z");
	outside = path_of("%s/outside", root);
	mkdir_p(outside);
	p = path_of("%s/alice/vol/20260107T000000Z", root);
	assert_int_equal(symlink(outside, p), 0);
	free(p);
	free(outside);
	resolve_fails(root, "alice", "vol", "20260107T000000Z",
	    "no snapshot 20260107T000000Z");
}

static void
test_resolve_dangling_latest(void **state)
{
	const char *root = *state;

	make_snap(root, "alice", "vol", "20260101T000000Z");
	make_latest(root, "alice", "vol", "20260109T000000Z");
	resolve_fails(root, "alice", "vol", "latest",
	    "no snapshot 20260109T000000Z");
	/* A latest that is no ID at all is like none. */
	make_snap(root, "bob", "vol", "20260101T000000Z");
	make_latest(root, "bob", "vol", "../../alice/vol/20260101T000000Z");
	resolve_fails(root, "bob", "vol", "latest", "no backups of vol from "
	    "bob");
}

/* ---- prune ---- */

static void
test_prune_policy(void **state)
{
	const char *root = *state;
	struct snap_policy pol = { 0, 2, 0, 0, 0, 0 };
	char *dir, *partial, *cause = NULL;
	int n;

	make_snap(root, "alice", "vol", "20260101T010000Z");
	make_snap(root, "alice", "vol", "20260101T130000Z");
	make_snap(root, "alice", "vol", "20260102T010000Z");
	make_snap(root, "alice", "vol", "20260102T130000Z");
	make_snap(root, "alice", "vol", "20260103T010000Z");
	make_snap(root, "alice", "vol", "20260103T130000Z");
	make_latest(root, "alice", "vol", "20260103T130000Z");
	/* A push in progress is not the pruner's. */
	make_snap(root, "alice", "vol", ".partial-20260103T140000Z");
	/* Another volume is not pruned. */
	make_snap(root, "alice", "other", "20250101T000000Z");
	make_snap(root, "alice", "other", "20260101T000000Z");

	n = snap_prune(root, "alice", "vol", &pol, &cause);
	if (n < 0)
		fail_msg("snap_prune: %s", cause);
	assert_int_equal(n, 4);
	assert_list(root, "alice", "vol", (const char *[]){
	    "20260102T130000Z", "20260103T130000Z", NULL });
	assert_latest(root, "alice", "vol", "20260103T130000Z");
	dir = path_of("%s/alice/vol", root);
	assert_int_equal(count_prefix(dir, ".prune-"), 0);
	partial = path_of("%s/.partial-20260103T140000Z/data", dir);
	assert_true(exists(partial));
	assert_list(root, "alice", "other", (const char *[]){
	    "20250101T000000Z", "20260101T000000Z", NULL });

	/* Nothing more to do the second time. */
	assert_int_equal(snap_prune(root, "alice", "vol", &pol, &cause), 0);
	assert_list(root, "alice", "vol", (const char *[]){
	    "20260102T130000Z", "20260103T130000Z", NULL });
	free(partial);
	free(dir);
}

/* The latest is kept even when the policy and the newest ID say not. */
static void
test_prune_keeps_latest_not_newest(void **state)
{
	const char *root = *state;
	struct snap_policy pol = { 0, 0, 0, 0, 0, 0 };
	char *dir, *cause = NULL;

	make_snap(root, "alice", "vol", "20260101T000000Z");
	make_snap(root, "alice", "vol", "20260201T000000Z");
	make_snap(root, "alice", "vol", "20260301T000000Z");
	make_snap(root, "alice", "vol", "20260401T000000Z");
	make_latest(root, "alice", "vol", "20260201T000000Z");
	assert_int_equal(snap_prune(root, "alice", "vol", &pol, &cause), 2);
	assert_list(root, "alice", "vol", (const char *[]){
	    "20260201T000000Z", "20260401T000000Z", NULL });
	assert_latest(root, "alice", "vol", "20260201T000000Z");
	dir = path_of("%s/alice/vol", root);
	assert_int_equal(count_prefix(dir, ".prune-"), 0);
	free(dir);

	/* The same with a policy that would keep the other months. */
	make_snap(root, "bob", "vol", "20260101T000000Z");
	make_snap(root, "bob", "vol", "20260102T000000Z");
	make_snap(root, "bob", "vol", "20260201T000000Z");
	make_snap(root, "bob", "vol", "20260301T000000Z");
	make_latest(root, "bob", "vol", "20260101T000000Z");
	pol.monthly = 2;
	assert_int_equal(snap_prune(root, "bob", "vol", &pol, &cause), 1);
	assert_list(root, "bob", "vol", (const char *[]){
	    "20260101T000000Z", "20260201T000000Z", "20260301T000000Z",
	    NULL });
}

/*
 * A push without ACLs and xattrs marks its snapshot plain; the next push
 * learns whether latest is; pruning and recovery drop the marks.
 */
static void
test_plain_marks(void **state)
{
	const char *root = *state;
	struct snap_policy pol = { 0, 0, 0, 0, 0, 0 };
	char first[SNAP_ID_LEN + 1], second[SNAP_ID_LEN + 1], *cause = NULL;
	char *mark, *orphan, *dir;
	struct snap_push p;

	begin_unlocked(root, "alice", "vol", &p);
	assert_null(p.link_dest);
	assert_false(p.latest_plain);
	strcpy(first, p.id);
	p.plain = 1;
	if (snap_commit(&p, &cause) != 0)
		fail_msg("snap_commit: %s", cause);
	mark = path_of("%s/alice/vol/.plain-%s", root, first);
	assert_true(exists(mark));

	begin_unlocked(root, "alice", "vol", &p);
	assert_non_null(p.link_dest);
	assert_true(p.latest_plain);
	strcpy(second, p.id);
	p.plain = 0;	/* this one carries ACLs or xattrs */
	if (snap_commit(&p, &cause) != 0)
		fail_msg("snap_commit: %s", cause);
	free(mark);
	mark = path_of("%s/alice/vol/.plain-%s", root, second);
	assert_false(exists(mark));

	begin_unlocked(root, "alice", "vol", &p);
	assert_false(p.latest_plain);
	/* an aborted push leaves no mark, even if it was to be plain */
	p.plain = 1;
	snap_abort(&p);
	dir = path_of("%s/alice/vol", root);
	assert_int_equal(count_prefix(dir, ".plain-"), 1);
	assert_list(root, "alice", "vol",
	    (const char *[]){ first, second, NULL });

	/* pruning the plain first snapshot removes its mark */
	assert_int_equal(snap_prune(root, "alice", "vol", &pol, &cause), 1);
	assert_int_equal(count_prefix(dir, ".plain-"), 0);

	/* a mark without its snapshot (a crash before the rename) goes at
	 * start; a mark with one stays */
	orphan = path_of("%s/.plain-20200101T000000Z", dir);
	write_text(orphan, "");
	free(mark);
	mark = path_of("%s/.plain-%s", dir, second);
	write_text(mark, "");
	snap_recover(root);
	assert_false(exists(orphan));
	assert_true(exists(mark));
	assert_latest(root, "alice", "vol", second);
	free(orphan);
	free(mark);
	free(dir);
}

/*
 * A snapshot marked as holding no hard links (after a walk of it) tells
 * the next push so; the mark goes with the snapshot, or at start when the
 * snapshot is gone; a snapshot that is not there gets none.
 */
static void
test_nolinks_marks(void **state)
{
	const char *root = *state;
	struct snap_policy pol = { 0, 0, 0, 0, 0, 0 };
	char first[SNAP_ID_LEN + 1], second[SNAP_ID_LEN + 1], *cause = NULL;
	char *dir, *orphan;
	struct snap_push p;

	begin_unlocked(root, "alice", "vol", &p);
	strcpy(first, p.id);
	assert_int_equal(snap_commit(&p, &cause), 0);
	begin_unlocked(root, "alice", "vol", &p);
	assert_false(p.latest_nolinks);
	snap_abort(&p);
	assert_int_equal(snap_mark_nolinks(root, "alice", "vol", first,
	    &cause), 0);
	dir = path_of("%s/alice/vol", root);
	assert_int_equal(count_prefix(dir, ".nolinks-"), 1);
	begin_unlocked(root, "alice", "vol", &p);
	assert_true(p.latest_nolinks);
	strcpy(second, p.id);
	assert_int_equal(snap_commit(&p, &cause), 0);
	/* no mark for a snapshot that is not there */
	assert_int_equal(snap_mark_nolinks(root, "alice", "vol",
	    "20200101T000000Z", &cause), 0);
	assert_int_equal(count_prefix(dir, ".nolinks-"), 1);
	/* pruned with its snapshot */
	assert_int_equal(snap_prune(root, "alice", "vol", &pol, &cause), 1);
	assert_int_equal(count_prefix(dir, ".nolinks-"), 0);
	/* an orphan goes at start */
	orphan = path_of("%s/.nolinks-20200101T000000Z", dir);
	write_text(orphan, "");
	snap_recover(root);
	assert_false(exists(orphan));
	assert_latest(root, "alice", "vol", second);
	free(orphan);
	free(dir);
}

/* Pruning deletes a snapshot's whole tree and follows no symlink. */
static void
test_prune_removes_tree(void **state)
{
	const char *root = *state;
	struct snap_policy pol = { 0, 0, 0, 0, 0, 0 };
	char *old, *sub, *outside, *outfile, *link, *cause = NULL;

	make_snap(root, "alice", "vol", "20260101T000000Z");
	make_snap(root, "alice", "vol", "20260102T000000Z");
	make_latest(root, "alice", "vol", "20260102T000000Z");
	old = path_of("%s/alice/vol/20260101T000000Z", root);
	sub = path_of("%s/deep/er/still", old);
	mkdir_p(sub);
	outside = path_of("%s/outside", root);
	mkdir_p(outside);
	outfile = path_of("%s/precious", outside);
	write_text(outfile, "x");
	link = path_of("%s/escape", sub);
	assert_int_equal(symlink(outside, link), 0);

	assert_int_equal(snap_prune(root, "alice", "vol", &pol, &cause), 1);
	assert_false(exists(old));
	assert_true(exists(outfile));
	assert_list(root, "alice", "vol",
	    (const char *[]){ "20260102T000000Z", NULL });
	free(link);
	free(outfile);
	free(outside);
	free(sub);
	free(old);
}

static void
test_prune_keep_all_and_missing(void **state)
{
	const char *root = *state;
	struct snap_policy all = { 0, 0, 0, 0, 1, 0 }, none = { 0, 0, 0, 0, 0, 0 };
	char *cause = NULL;

	make_snap(root, "alice", "vol", "20260101T000000Z");
	make_snap(root, "alice", "vol", "20260102T000000Z");
	make_snap(root, "alice", "vol", "20260103T000000Z");
	make_latest(root, "alice", "vol", "20260103T000000Z");
	assert_int_equal(snap_prune(root, "alice", "vol", &all, &cause), 0);
	assert_null(cause);
	assert_list(root, "alice", "vol", (const char *[]){
	    "20260101T000000Z", "20260102T000000Z", "20260103T000000Z",
	    NULL });

	assert_int_equal(snap_prune(root, "nobody", "vol", &none, &cause),
	    -1);
	assert_mentions(cause, "no backups of vol from nobody");
	free(cause);
	cause = NULL;

	/* A volume directory with nothing complete in it. */
	make_snap(root, "carol", "vol", ".partial-20260101T000000Z");
	assert_int_equal(snap_prune(root, "carol", "vol", &none, &cause), 0);
}

/* ---- recover ---- */

static void
test_recover(void **state)
{
	const char *root = *state;
	char *p, *outside, *outfile, *dir;

	outside = path_of("%s/outside", root);
	mkdir_p(outside);
	outfile = path_of("%s/precious", outside);
	write_text(outfile, "x");

	/* alice/vol: leftovers and a latest naming a missing snapshot. */
	make_snap(root, "alice", "vol", "20260101T000000Z");
	make_snap(root, "alice", "vol", "20260102T000000Z");
	make_snap(root, "alice", "vol", ".partial-20260103T000000Z");
	p = path_of("%s/alice/vol/.partial-20260103T000000Z/escape", root);
	assert_int_equal(symlink(outside, p), 0);
	free(p);
	make_snap(root, "alice", "vol", ".prune-20251201T000000Z");
	p = path_of("%s/alice/vol/.prune-20251201T000000Z/a/b", root);
	mkdir_p(p);
	free(p);
	make_latest(root, "alice", "vol", "20260109T000000Z");

	/* alice/old: latest names an older complete snapshot: it stays. */
	make_snap(root, "alice", "old", "20260101T000000Z");
	make_snap(root, "alice", "old", "20260102T000000Z");
	make_latest(root, "alice", "old", "20260101T000000Z");

	/* bob/vol: latest names no ID; bob/bare: no latest at all. */
	make_snap(root, "bob", "vol", "20250101T000000Z");
	make_snap(root, "bob", "vol", "20250301T000000Z");
	make_snap(root, "bob", "vol", "junk");
	make_latest(root, "bob", "vol", ".partial-20250401T000000Z");
	make_snap(root, "bob", "bare", "20250101T000000Z");
	make_snap(root, "bob", "bare", "20250201T000000Z");

	/* carol/vol: only an interrupted first push. */
	make_snap(root, "carol", "vol", ".partial-20260101T000000Z");

	/* Stray files are skipped. */
	p = path_of("%s/README", root);
	write_text(p, "x");
	free(p);
	p = path_of("%s/alice/notes", root);
	write_text(p, "x");
	free(p);

	snap_recover(root);

	dir = path_of("%s/alice/vol", root);
	assert_int_equal(count_prefix(dir, ".partial-"), 0);
	assert_int_equal(count_prefix(dir, ".prune-"), 0);
	free(dir);
	assert_true(exists(outfile));
	assert_list(root, "alice", "vol", (const char *[]){
	    "20260101T000000Z", "20260102T000000Z", NULL });
	assert_latest(root, "alice", "vol", "20260102T000000Z");
	resolves_to(root, "alice", "vol", "latest", "20260102T000000Z");

	assert_latest(root, "alice", "old", "20260101T000000Z");

	assert_latest(root, "bob", "vol", "20250301T000000Z");
	p = path_of("%s/bob/vol/junk", root);
	assert_true(exists(p));
	free(p);
	assert_latest(root, "bob", "bare", "20250201T000000Z");

	dir = path_of("%s/carol/vol", root);
	assert_int_equal(count_prefix(dir, ".partial-"), 0);
	assert_null(read_latest(root, "carol", "vol"));
	free(dir);
	p = path_of("%s/alice/vol/.latest.tmp", root);
	assert_false(exists(p));
	free(p);

	/* Running it again changes nothing. */
	snap_recover(root);
	assert_latest(root, "alice", "vol", "20260102T000000Z");
	assert_latest(root, "alice", "old", "20260101T000000Z");
	free(outfile);
	free(outside);
}

/* Only <root>/<client>/<volume> is recovered: never ".", "..", above. */
static void
test_recover_stays_inside(void **state)
{
	const char *tmp = *state;
	char *root = path_of("%s/server", tmp), *p;

	make_snap(root, "alice", "vol", "20260101T000000Z");
	make_latest(root, "alice", "vol", "20260101T000000Z");
	/* Beside the root, a directory that looks like a volume. */
	make_snap(tmp, "sibling", ".", ".partial-20260101T000000Z");
	make_snap(tmp, "sibling", ".", "20260101T000000Z");
	/* In the root itself, names that look like a volume's. */
	make_snap(root, ".", ".", ".partial-20260102T000000Z");
	make_snap(root, ".", ".", "20260102T000000Z");

	snap_recover(root);

	p = path_of("%s/sibling/.partial-20260101T000000Z/data", tmp);
	assert_true(exists(p));
	free(p);
	p = path_of("%s/sibling/latest", tmp);
	assert_false(exists(p));
	free(p);
	p = path_of("%s/.partial-20260102T000000Z/data", root);
	assert_true(exists(p));
	free(p);
	p = path_of("%s/latest", root);
	assert_false(exists(p));
	free(p);
	p = path_of("%s/alice/latest", root);
	assert_false(exists(p));
	free(p);
	assert_latest(root, "alice", "vol", "20260101T000000Z");
	free(root);
}

static void
test_recover_missing_root(void **state)
{
	const char *tmp = *state;
	char *root = path_of("%s/none", tmp);

	snap_recover(root);
	assert_false(exists(root));
	free(root);
}

/* ---- the next push's copy, made ahead (snapshot_next.c) ---- */

static char *
read_text(const char *path)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		fail_msg("opening %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return xstrdup(buf);
}

static void
assert_text(const char *path, const char *want)
{
	char *got = read_text(path);

	if (strcmp(got, want) != 0)
		fail_msg("%s holds \"%s\", not \"%s\"", path, got, want);
	free(got);
}

/* Overwrites the start of path without truncating: rsync --inplace. */
static void
write_in_place(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
push_one(const struct snap_method *m, const char *root, const char *text,
    char id[SNAP_ID_LEN + 1], int *prepared)
{
	struct snap_push p;
	char *cause = NULL, *file;

	if (snap_begin_with(m, root, "alice", "vol", &p, &cause) != 0)
		fail_msg("snap_begin_with: %s", cause);
	*prepared = p.prepared;
	strcpy(id, p.id);
	file = path_of("%s/data", p.partial);
	if (exists(file))
		write_in_place(file, text);
	else
		write_text(file, text);
	free(file);
	if (snap_commit(&p, &cause) != 0)
		fail_msg("snap_commit: %s", cause);
}

/*
 * A reflink store (copy_file_range stands in for FICLONE where the test's
 * filesystem has none): after a push the next one's copy is made ahead,
 * the next push takes it and writes in place without touching the
 * snapshot it came from; one for an older latest is removed; none is made
 * while a push holds the lock, nor for a hard-link store; a push that must
 * strip attributes clones its own; an unfinished one goes at start.
 */
static void
test_prepare_next(void **state)
{
	const char *root = *state;
	struct snap_method m = { &store_reflink, 0, 1, 0 };
	struct snap_method hl = { &store_hardlink, 0, 0, 0 };
	struct snap_method strip = { &store_reflink, 0, 1, 1 };
	char id1[SNAP_ID_LEN + 1], id2[SNAP_ID_LEN + 1], *cause = NULL;
	char *next, *p;
	struct snap_push q;
	int prepared;

	push_one(&m, root, "one", id1, &prepared);
	assert_false(prepared);
	next = path_of("%s/alice/vol/.next-%s", root, id1);
	assert_false(exists(next));
	assert_int_equal(snap_prepare_next(&hl, root, "alice", "vol",
	    &cause), 0);
	assert_false(exists(next));
	assert_int_equal(snap_prepare_next(&m, root, "alice", "vol", &cause),
	    0);
	assert_null(cause);
	p = path_of("%s/data", next);
	assert_text(p, "one");
	free(p);
	assert_list(root, "alice", "vol", (const char *[]){ id1, NULL });

	push_one(&m, root, "TWO", id2, &prepared);
	assert_true(prepared);
	assert_false(exists(next));
	p = path_of("%s/alice/vol/%s/data", root, id1);
	assert_text(p, "one");		/* the old snapshot is untouched */
	free(p);
	p = path_of("%s/alice/vol/%s/data", root, id2);
	assert_text(p, "TWO");
	free(p);

	/* One made for id1 is stale now: replaced by one for id2. */
	mkdir_p(next);
	assert_int_equal(snap_prepare_next(&m, root, "alice", "vol", &cause),
	    0);
	assert_false(exists(next));
	free(next);
	next = path_of("%s/alice/vol/.next-%s", root, id2);
	assert_true(is_dir(next));

	/* A push that strips attributes leaves it and clones. */
	if (snap_begin_with(&strip, root, "alice", "vol", &q, &cause) != 0)
		fail_msg("snap_begin_with: %s", cause);
	assert_false(q.prepared);
	assert_true(is_dir(next));
	/* While a push holds the lock, none is made. */
	assert_int_equal(remove_tree(next, NULL), 0);
	assert_int_equal(snap_prepare_next(&m, root, "alice", "vol", &cause),
	    0);
	assert_false(exists(next));
	snap_abort(&q);

	/* Left unfinished by a server that stopped: removed at start. */
	p = path_of("%s/alice/vol/.next-tmp-%s", root, id2);
	mkdir_p(p);
	snap_recover(root);
	assert_false(exists(p));
	free(p);
	assert_latest(root, "alice", "vol", id2);
	free(next);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_id_format),
		cmocka_unit_test(test_id_parse_round_trip),
		cmocka_unit_test(test_id_now),
		cmocka_unit_test(test_id_parse_refuses),
		cmocka_unit_test(test_select_table),
		cmocka_unit_test(test_select_empty),
		cmocka_unit_test_setup_teardown(test_begin_partial_and_lock,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_begin_waits_for_lock,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_begin_lock_timeout,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_commit_makes_latest,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(
		    test_second_push_links_to_first, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(
		    test_begin_links_to_existing_latest, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_begin_ignores_bad_latest,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_begin_avoids_existing_id,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(
		    test_begin_replaces_stale_partial, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_abort_removes_partial,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_list, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_list_missing_and_empty,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_resolve, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_resolve_dangling_latest,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_prune_policy, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(
		    test_prune_keeps_latest_not_newest, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_nolinks_marks, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_plain_marks, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_prune_removes_tree,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(
		    test_prune_keep_all_and_missing, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_recover, setup_root,
		    teardown_root),
		cmocka_unit_test_setup_teardown(test_recover_stays_inside,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_recover_missing_root,
		    setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_prepare_next,
		    setup_root, teardown_root),
	};

	/* The module logs each prune and repair; the tests check them. */
	log_set_level("error");
	/* A second push fails at once unless a test says otherwise. */
	snap_set_lock_wait(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
