/*
 * test_refs: mount references counted per ID. Adding and dropping
 * references, totals, the same ID held twice (Docker's `docker cp` reuses a
 * container's ID), dropping an unknown ID, order kept when an ID leaves from
 * the middle, the REFS_MAX limit, and the JSON form: a round trip, and
 * refs_from_json refusing anything but an object of positive integer counts
 * under non-empty IDs of at most REFS_ID_MAX bytes, without touching the
 * references it was to replace.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refs.h"
#include "util.h"

static void
assert_refs(const struct refs *r, size_t n, const char *const *ids,
    const unsigned *counts)
{
	size_t i;

	assert_int_equal(r->n, n);
	for (i = 0; i < n; i++) {
		assert_string_equal(r->v[i].id, ids[i]);
		assert_int_equal(r->v[i].count, counts[i]);
	}
}

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);

	if (j == NULL)
		fail_msg("test JSON %s: %s", text, err.text);
	return j;
}

/* refs_from_json must refuse text and leave r as it was ("keep":1). */
static void
from_json_refused(const char *text, const char *needle)
{
	struct refs r = { NULL, 0 };
	json_t *j = load(text);
	char *cause = NULL;

	assert_int_equal(refs_add(&r, "keep"), 0);
	if (refs_from_json(&r, j, &cause) != -1)
		fail_msg("%s was accepted", text);
	assert_non_null(cause);
	if (needle != NULL && strstr(cause, needle) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, needle);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].id, "keep");
	assert_int_equal(r.v[0].count, 1);
	free(cause);
	refs_clear(&r);
	json_decref(j);
}

static void
test_add_del_total(void **state)
{
	struct refs r = { NULL, 0 };

	(void)state;
	assert_int_equal(refs_total(&r), 0);
	assert_int_equal(refs_add(&r, "a"), 0);
	assert_int_equal(refs_total(&r), 1);
	assert_int_equal(refs_add(&r, "b"), 0);
	assert_int_equal(refs_total(&r), 2);
	assert_int_equal(r.n, 2);

	assert_int_equal(refs_del(&r, "a"), 1);
	assert_int_equal(refs_total(&r), 1);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].id, "b");
	/* Gone now: a second drop is of an unknown ID. */
	assert_int_equal(refs_del(&r, "a"), 0);
	assert_int_equal(refs_total(&r), 1);
	assert_int_equal(refs_del(&r, "b"), 1);
	assert_int_equal(refs_total(&r), 0);
	assert_int_equal(r.n, 0);
	refs_clear(&r);
}

static void
test_id_copied(void **state)
{
	struct refs r = { NULL, 0 };
	char id[8];

	(void)state;
	strcpy(id, "abc");
	assert_int_equal(refs_add(&r, id), 0);
	strcpy(id, "xyz");
	assert_string_equal(r.v[0].id, "abc");
	assert_int_equal(refs_del(&r, "abc"), 1);
	refs_clear(&r);
}

static void
test_same_id_twice(void **state)
{
	struct refs r = { NULL, 0 };

	(void)state;
	assert_int_equal(refs_add(&r, "c0ffee"), 0);
	assert_int_equal(refs_add(&r, "c0ffee"), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].count, 2);
	assert_int_equal(refs_total(&r), 2);

	assert_int_equal(refs_del(&r, "c0ffee"), 1);
	assert_int_equal(refs_total(&r), 1);
	assert_int_equal(r.n, 1);
	assert_int_equal(refs_del(&r, "c0ffee"), 1);
	assert_int_equal(refs_total(&r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(refs_del(&r, "c0ffee"), 0);
	refs_clear(&r);
}

static void
test_del_unknown(void **state)
{
	struct refs r = { NULL, 0 };

	(void)state;
	assert_int_equal(refs_del(&r, "nope"), 0);
	assert_int_equal(refs_add(&r, "a"), 0);
	assert_int_equal(refs_del(&r, "nope"), 0);
	assert_int_equal(refs_del(&r, "A"), 0);
	assert_int_equal(refs_del(&r, ""), 0);
	assert_int_equal(refs_total(&r), 1);
	refs_clear(&r);
}

static void
test_order_kept(void **state)
{
	static const char *const after_b[] = { "a", "c", "d" };
	static const unsigned counts_b[] = { 1, 2, 1 };
	static const char *const after_c[] = { "a", "d" };
	static const unsigned counts_c[] = { 1, 1 };
	static const char *const after_e[] = { "a", "d", "e" };
	static const unsigned counts_e[] = { 1, 1, 1 };
	struct refs r = { NULL, 0 };

	(void)state;
	refs_add(&r, "a");
	refs_add(&r, "b");
	refs_add(&r, "c");
	refs_add(&r, "c");
	refs_add(&r, "d");
	assert_int_equal(refs_del(&r, "b"), 1);
	assert_refs(&r, 3, after_b, counts_b);
	assert_int_equal(refs_del(&r, "c"), 1);
	assert_int_equal(refs_del(&r, "c"), 1);
	assert_refs(&r, 2, after_c, counts_c);
	refs_add(&r, "e");
	assert_refs(&r, 3, after_e, counts_e);
	refs_clear(&r);
}

static void
test_clear(void **state)
{
	struct refs r = { NULL, 0 };

	(void)state;
	refs_add(&r, "a");
	refs_add(&r, "b");
	refs_clear(&r);
	assert_null(r.v);
	assert_int_equal(r.n, 0);
	assert_int_equal(refs_total(&r), 0);
	/* Cleared references are usable again. */
	refs_clear(&r);
	assert_int_equal(refs_add(&r, "c"), 0);
	assert_int_equal(refs_total(&r), 1);
	refs_clear(&r);
}

static void
test_max(void **state)
{
	struct refs r = { NULL, 0 };
	char id[32];
	int i;

	(void)state;
	for (i = 0; i < REFS_MAX; i++) {
		snprintf(id, sizeof id, "id%d", i);
		assert_int_equal(refs_add(&r, id), 0);
	}
	assert_int_equal(refs_add(&r, "one-too-many"), -1);
	assert_int_equal(r.n, REFS_MAX);
	assert_int_equal(refs_total(&r), REFS_MAX);
	/* An ID already held still takes more references. */
	assert_int_equal(refs_add(&r, "id0"), 0);
	assert_int_equal(refs_total(&r), REFS_MAX + 1);
	/* After one ID leaves there is room again. */
	assert_int_equal(refs_del(&r, "id7"), 1);
	assert_int_equal(refs_add(&r, "one-too-many"), 0);
	refs_clear(&r);
}

static void
test_to_json(void **state)
{
	struct refs r = { NULL, 0 };
	json_t *j, *want;

	(void)state;
	j = refs_to_json(&r);
	assert_true(json_is_object(j));
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);

	refs_add(&r, "a");
	refs_add(&r, "b");
	refs_add(&r, "b");
	j = refs_to_json(&r);
	want = load("{\"a\": 1, \"b\": 2}");
	assert_true(json_equal(j, want));
	json_decref(want);
	json_decref(j);
	refs_clear(&r);
}

static void
test_round_trip(void **state)
{
	struct refs r = { NULL, 0 }, back = { NULL, 0 };
	char *cause = NULL, *long_id;
	json_t *j;
	size_t i;

	(void)state;
	long_id = xmalloc(REFS_ID_MAX + 1);
	memset(long_id, 'f', REFS_ID_MAX);
	long_id[REFS_ID_MAX] = '\0';
	refs_add(&r, "zeta");
	refs_add(&r, "alpha");
	refs_add(&r, "alpha");
	refs_add(&r, "alpha");
	refs_add(&r, long_id);
	refs_add(&r, "mid");

	/* Whatever back held before is replaced. */
	refs_add(&back, "stale");
	j = refs_to_json(&r);
	assert_int_equal(refs_from_json(&back, j, &cause), 0);
	assert_null(cause);
	assert_int_equal(back.n, r.n);
	for (i = 0; i < r.n; i++) {
		assert_string_equal(back.v[i].id, r.v[i].id);
		assert_int_equal(back.v[i].count, r.v[i].count);
	}
	assert_int_equal(refs_total(&back), 6);
	assert_int_equal(refs_del(&back, "stale"), 0);
	json_decref(j);
	refs_clear(&r);
	refs_clear(&back);
	free(long_id);
}

static void
test_from_json_empty(void **state)
{
	struct refs r = { NULL, 0 };
	json_t *j = json_object();

	(void)state;
	refs_add(&r, "old");
	assert_int_equal(refs_from_json(&r, j, NULL), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(refs_total(&r), 0);
	json_decref(j);
	refs_clear(&r);
}

static void
test_from_json_limits(void **state)
{
	struct refs r = { NULL, 0 };
	json_t *j;
	char *id;

	(void)state;
	j = load("{\"a\": 1000000}");
	assert_int_equal(refs_from_json(&r, j, NULL), 0);
	assert_int_equal(refs_total(&r), 1000000);
	json_decref(j);

	id = xmalloc(REFS_ID_MAX + 1);
	memset(id, 'i', REFS_ID_MAX);
	id[REFS_ID_MAX] = '\0';
	j = json_pack("{s:i}", id, 1);
	assert_int_equal(refs_from_json(&r, j, NULL), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].id, id);
	json_decref(j);
	free(id);
	refs_clear(&r);
}

static void
test_from_json_not_object(void **state)
{
	struct refs r = { NULL, 0 };
	char *cause = NULL;

	(void)state;
	from_json_refused("[]", "object");
	from_json_refused("[[\"a\", 1]]", "object");
	from_json_refused("\"a\"", "object");
	from_json_refused("1", "object");
	from_json_refused("null", "object");
	assert_int_equal(refs_from_json(&r, NULL, &cause), -1);
	assert_non_null(cause);
	free(cause);
}

static void
test_from_json_bad_counts(void **state)
{
	(void)state;
	from_json_refused("{\"a\": 0}", "\"a\"");
	from_json_refused("{\"a\": -1}", "\"a\"");
	from_json_refused("{\"a\": -4294967295}", "\"a\"");
	from_json_refused("{\"a\": 1000001}", "\"a\"");
	from_json_refused("{\"a\": 4294967296}", "\"a\"");
	from_json_refused("{\"a\": 1.0}", "\"a\"");
	from_json_refused("{\"a\": 1.5}", "\"a\"");
	from_json_refused("{\"a\": \"1\"}", "\"a\"");
	from_json_refused("{\"a\": true}", "\"a\"");
	from_json_refused("{\"a\": null}", "\"a\"");
	from_json_refused("{\"a\": [1]}", "\"a\"");
	/* One bad entry spoils the document, wherever it is. */
	from_json_refused("{\"ok\": 1, \"ok2\": 2, \"bad\": 0}", "\"bad\"");
}

static void
test_from_json_bad_ids(void **state)
{
	char *id, *text;

	(void)state;
	from_json_refused("{\"\": 1}", "not valid");

	id = xmalloc(REFS_ID_MAX + 2);
	memset(id, 'i', REFS_ID_MAX + 1);
	id[REFS_ID_MAX + 1] = '\0';
	text = xasprintf("{\"%s\": 1}", id);
	from_json_refused(text, "not valid");
	free(text);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_del_total),
		cmocka_unit_test(test_id_copied),
		cmocka_unit_test(test_same_id_twice),
		cmocka_unit_test(test_del_unknown),
		cmocka_unit_test(test_order_kept),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_from_json_empty),
		cmocka_unit_test(test_from_json_limits),
		cmocka_unit_test(test_from_json_not_object),
		cmocka_unit_test(test_from_json_bad_counts),
		cmocka_unit_test(test_from_json_bad_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
