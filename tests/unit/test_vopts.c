/*
 * test_vopts: vopts_parse on jansson objects as Docker passes them. No
 * options (NULL, JSON null, {}); every option with valid values; the backup
 * list (several servers, duplicates, empty, too many, bad names);
 * on-unmount; schedule; the restore-* options and how they depend on each
 * other; unknown options, non-string and over-long values, each refused with
 * a cause naming the option. Also the snapshot ID format, that a failed
 * parse leaves the structure empty, and that vopts_free leaves it reusable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vopts.h"
#include "util.h"

static void
assert_mentions(const char *cause, const char *needle)
{
	if (cause == NULL)
		fail_msg("no cause set (expected one mentioning \"%s\")",
		    needle);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, needle);
}

static void
assert_empty(const struct vopts *o)
{
	assert_null(o->backup);
	assert_int_equal(o->nbackup, 0);
	assert_null(o->schedule);
	assert_int_equal(o->on_unmount, -1);
	assert_null(o->restore_from);
	assert_null(o->restore_source);
	assert_null(o->restore_volume);
	assert_null(o->restore_snapshot);
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

/* Parses the JSON text opts, which must be accepted; free with vopts_free. */
static void
parse_ok(const char *text, struct vopts *o)
{
	json_t *j = load(text);
	char *cause = NULL;

	if (vopts_parse(j, o, &cause) != 0)
		fail_msg("%s refused: %s", text,
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
	json_decref(j);
}

/* Must be refused with a cause mentioning each of the needles. */
static void
parse_refused_json(const json_t *j, const char *what, const char *needle1,
    const char *needle2)
{
	struct vopts o;
	char *cause = NULL;

	memset(&o, 0x5a, sizeof o);
	if (vopts_parse(j, &o, &cause) != -1)
		fail_msg("%s was accepted", what);
	assert_mentions(cause, needle1);
	if (needle2 != NULL)
		assert_mentions(cause, needle2);
	/* A refused parse leaves nothing to free. */
	assert_empty(&o);
	free(cause);
}

static void
parse_refused(const char *text, const char *needle1, const char *needle2)
{
	json_t *j = load(text);

	parse_refused_json(j, text, needle1, needle2);
	json_decref(j);
}

static void
test_no_options(void **state)
{
	struct vopts o;
	json_t *j;

	(void)state;
	memset(&o, 0x5a, sizeof o);
	assert_int_equal(vopts_parse(NULL, &o, NULL), 0);
	assert_empty(&o);
	vopts_free(&o);

	j = json_null();
	memset(&o, 0x5a, sizeof o);
	assert_int_equal(vopts_parse(j, &o, NULL), 0);
	assert_empty(&o);
	vopts_free(&o);
	json_decref(j);

	j = json_object();
	memset(&o, 0x5a, sizeof o);
	assert_int_equal(vopts_parse(j, &o, NULL), 0);
	assert_empty(&o);
	vopts_free(&o);
	json_decref(j);
}

static void
test_not_object(void **state)
{
	(void)state;
	parse_refused("[]", "object", NULL);
	parse_refused("\"backup=a\"", "object", NULL);
	parse_refused("42", "object", NULL);
}

static void
test_every_option(void **state)
{
	struct vopts o;
	struct cron c;

	(void)state;
	parse_ok("{\"backup\": \"alpha\", \"schedule\": \"30 3 * * mon-fri\","
	    " \"on-unmount\": \"false\", \"restore-from\": \"beta\","
	    " \"restore-source\": \"client-1\","
	    " \"restore-volume\": \"data.v2\","
	    " \"restore-snapshot\": \"20260131T235900Z\"}", &o);
	assert_int_equal(o.nbackup, 1);
	assert_string_equal(o.backup[0], "alpha");
	assert_string_equal(o.schedule, "30 3 * * mon-fri");
	assert_int_equal(cron_parse("30 3 * * mon-fri", &c, NULL), 0);
	assert_int_equal(o.sched.minutes, c.minutes);
	assert_int_equal(o.sched.hours, c.hours);
	assert_int_equal(o.sched.wdays, c.wdays);
	assert_int_equal(o.sched.wday_any, c.wday_any);
	assert_int_equal(o.on_unmount, 0);
	assert_string_equal(o.restore_from, "beta");
	assert_string_equal(o.restore_source, "client-1");
	assert_string_equal(o.restore_volume, "data.v2");
	assert_string_equal(o.restore_snapshot, "20260131T235900Z");
	vopts_free(&o);
}

static void
test_backup_list(void **state)
{
	struct vopts o;

	(void)state;
	parse_ok("{\"backup\": \"s1,backup-2,s3.example\"}", &o);
	assert_int_equal(o.nbackup, 3);
	assert_string_equal(o.backup[0], "s1");
	assert_string_equal(o.backup[1], "backup-2");
	assert_string_equal(o.backup[2], "s3.example");
	/* Only what was given is set. */
	assert_null(o.schedule);
	assert_int_equal(o.on_unmount, -1);
	assert_null(o.restore_from);
	vopts_free(&o);
}

static void
test_backup_max(void **state)
{
	struct vopts o;
	json_t *j;
	char buf[VOPTS_BACKUP_MAX * 8], *p;
	int i;

	(void)state;
	p = buf;
	for (i = 0; i < VOPTS_BACKUP_MAX; i++)
		p += sprintf(p, "%ss%d", i == 0 ? "" : ",", i);
	j = json_pack("{s:s}", "backup", buf);
	assert_int_equal(vopts_parse(j, &o, NULL), 0);
	assert_int_equal(o.nbackup, VOPTS_BACKUP_MAX);
	assert_string_equal(o.backup[VOPTS_BACKUP_MAX - 1], "s31");
	vopts_free(&o);
	json_decref(j);

	sprintf(p, ",one-more");
	j = json_pack("{s:s}", "backup", buf);
	parse_refused_json(j, "33 servers", "more than 32", "backup=");
	json_decref(j);
}

static void
test_backup_duplicates(void **state)
{
	(void)state;
	parse_refused("{\"backup\": \"a,b,a\"}", "listed twice", "\"a\"");
	parse_refused("{\"backup\": \"x,x\"}", "listed twice", "backup=x,x");
}

static void
test_backup_empty(void **state)
{
	(void)state;
	parse_refused("{\"backup\": \"\"}", "backup=", "SERVER");
	parse_refused("{\"backup\": \",\"}", "backup=", "SERVER");
	parse_refused("{\"backup\": \",,,\"}", "backup=", "SERVER");
}

static void
test_backup_bad_names(void **state)
{
	(void)state;
	parse_refused("{\"backup\": \"a/b\"}", "backup=a/b", "server name");
	parse_refused("{\"backup\": \"../x\"}", "backup=", "server name");
	parse_refused("{\"backup\": \"-x\"}", "backup=", "server name");
	parse_refused("{\"backup\": \"a b\"}", "backup=", "server name");
	parse_refused("{\"backup\": \"ok,not/ok\"}", "backup=", "server name");
	parse_refused("{\"backup\": \"a\\nb\"}", "backup=", "control");
	parse_refused("{\"backup\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "backup=",
	    "at most 64");
}

static void
test_on_unmount(void **state)
{
	struct vopts o;

	(void)state;
	parse_ok("{\"on-unmount\": \"true\"}", &o);
	assert_int_equal(o.on_unmount, 1);
	vopts_free(&o);
	parse_ok("{\"on-unmount\": \"false\"}", &o);
	assert_int_equal(o.on_unmount, 0);
	vopts_free(&o);

	parse_refused("{\"on-unmount\": \"yes\"}", "on-unmount=yes",
	    "true or false");
	parse_refused("{\"on-unmount\": \"TRUE\"}", "on-unmount", NULL);
	parse_refused("{\"on-unmount\": \"1\"}", "on-unmount", NULL);
	parse_refused("{\"on-unmount\": \"\"}", "on-unmount", NULL);
	parse_refused("{\"on-unmount\": \"true \"}", "on-unmount", NULL);
}

static void
test_schedule(void **state)
{
	struct vopts o;
	struct cron c;

	(void)state;
	parse_ok("{\"schedule\": \"@daily\"}", &o);
	assert_string_equal(o.schedule, "@daily");
	assert_int_equal(cron_parse("0 0 * * *", &c, NULL), 0);
	assert_int_equal(o.sched.minutes, c.minutes);
	assert_int_equal(o.sched.hours, c.hours);
	assert_int_equal(o.sched.mdays, c.mdays);
	assert_int_equal(o.sched.months, c.months);
	assert_int_equal(o.sched.wdays, c.wdays);
	vopts_free(&o);

	parse_refused("{\"schedule\": \"61 * * * *\"}", "schedule", "minute");
	parse_refused("{\"schedule\": \"@reboot\"}", "schedule", "@reboot");
	parse_refused("{\"schedule\": \"\"}", "schedule", "empty");
	parse_refused("{\"schedule\": \"daily\"}", "schedule", NULL);
	parse_refused("{\"schedule\": \"* * * *\"}", "schedule", "5 fields");
}

static void
test_restore_snapshot(void **state)
{
	static const char *const bad[] = {
		"", "LATEST", "Latest", "newest", "20260131", "20260131T2359Z",
		"20260131 235900Z", "20260131T235900", "20260131T235900z",
		"2026013XT235900Z", "20260131T235900ZZ", "2026-01-31T23:59:00Z",
	};
	struct vopts o;
	size_t i;
	json_t *j;

	(void)state;
	parse_ok("{\"restore-from\": \"s\", \"restore-snapshot\": \"latest\"}",
	    &o);
	assert_string_equal(o.restore_snapshot, "latest");
	vopts_free(&o);
	parse_ok("{\"restore-from\": \"s\", \"restore-snapshot\": "
	    "\"20260131T235900Z\"}", &o);
	assert_string_equal(o.restore_snapshot, "20260131T235900Z");
	vopts_free(&o);

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		j = json_pack("{s:s, s:s}", "restore-from", "s",
		    "restore-snapshot", bad[i]);
		parse_refused_json(j, bad[i], "restore-snapshot",
		    "20260131T235900Z");
		json_decref(j);
	}
}

static void
test_restore_needs_from(void **state)
{
	struct vopts o;

	(void)state;
	parse_refused("{\"restore-source\": \"c\"}", "restore-from", NULL);
	parse_refused("{\"restore-volume\": \"v\"}", "restore-from", NULL);
	parse_refused("{\"restore-snapshot\": \"latest\"}", "restore-from",
	    NULL);
	parse_refused("{\"backup\": \"a\", \"restore-source\": \"c\"}",
	    "restore-from", NULL);

	/* restore-from alone is enough. */
	parse_ok("{\"restore-from\": \"srv\"}", &o);
	assert_string_equal(o.restore_from, "srv");
	assert_null(o.restore_source);
	assert_null(o.restore_volume);
	assert_null(o.restore_snapshot);
	vopts_free(&o);
	/* Order of the keys does not matter. */
	parse_ok("{\"restore-volume\": \"v\", \"restore-from\": \"srv\"}", &o);
	assert_string_equal(o.restore_volume, "v");
	vopts_free(&o);
}

static void
test_restore_bad_names(void **state)
{
	(void)state;
	parse_refused("{\"restore-from\": \"a/b\"}", "restore-from=a/b",
	    "server name");
	parse_refused("{\"restore-from\": \"s\", \"restore-source\": \"..\"}",
	    "restore-source=..", "client name");
	parse_refused("{\"restore-from\": \"s\", \"restore-volume\": \"x y\"}",
	    "restore-volume=x y", "volume name");
	parse_refused("{\"restore-from\": \"\"}", "restore-from", "empty");
}

static void
test_unknown_option(void **state)
{
	char key[200];
	json_t *j;

	(void)state;
	parse_refused("{\"bakcup\": \"a\"}", "\"bakcup\"", "backup=SERVER");
	parse_refused("{\"size\": \"10G\"}", "unknown option", VOPTS_ACCEPTED);
	parse_refused("{\"Backup\": \"a\"}", "unknown option", NULL);
	/* A valid option does not excuse an unknown one. */
	parse_refused("{\"backup\": \"a\", \"x\": \"y\"}", "unknown option",
	    "restore-snapshot=ID|latest");

	/* A long key is cut short in the message. */
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	j = json_pack("{s:s}", key, "v");
	parse_refused_json(j, "long key", "unknown option", "backup=SERVER");
	json_decref(j);
}

static void
test_unknown_option_utf8(void **state)
{
	struct vopts o;
	char key[80], *cause = NULL;
	json_t *j;
	const unsigned char *p;

	(void)state;

	memset(key, 'k', 63);
	strcpy(key + 63, "\xc3\xa9");
	j = json_pack("{s:s}", key, "v");
	assert_non_null(j);
	assert_int_equal(vopts_parse(j, &o, &cause), -1);
	assert_non_null(cause);
	for (p = (const unsigned char *)cause; *p != '\0'; p++) {
		if (*p == 0xc3 && p[1] != 0xa9)
			fail_msg("cause ends in a split character");
	}
	free(cause);
	json_decref(j);
}

static void
test_non_string_value(void **state)
{
	(void)state;
	parse_refused("{\"backup\": 1}", "backup", "string");
	parse_refused("{\"on-unmount\": true}", "on-unmount", "string");
	parse_refused("{\"schedule\": null}", "schedule", "string");
	parse_refused("{\"backup\": [\"a\", \"b\"]}", "backup", "string");
	parse_refused("{\"restore-from\": {}}", "restore-from", "string");
}

static void
test_long_value(void **state)
{
	char *value, want[64];
	json_t *j;

	(void)state;
	value = xmalloc(VOPTS_VALUE_MAX + 2);
	memset(value, 'a', VOPTS_VALUE_MAX + 1);
	value[VOPTS_VALUE_MAX + 1] = '\0';
	snprintf(want, sizeof want, "longer than %d", VOPTS_VALUE_MAX);
	j = json_pack("{s:s}", "schedule", value);
	parse_refused_json(j, "long schedule", "schedule", want);
	json_decref(j);
	j = json_pack("{s:s}", "backup", value);
	parse_refused_json(j, "long backup", "backup", want);
	json_decref(j);

	/* At the limit the length is fine; the value itself is checked. */
	value[VOPTS_VALUE_MAX] = '\0';
	j = json_pack("{s:s}", "backup", value);
	parse_refused_json(j, "1024-byte backup", "server name",
	    "characters long");
	json_decref(j);
	free(value);
}

static void
test_nul_in_value(void **state)
{
	json_t *j;

	(void)state;
	j = json_object();
	json_object_set_new(j, "backup", json_stringn("a\0b", 3));
	parse_refused_json(j, "NUL in value", "backup", "NUL");
	json_decref(j);
}

static void
test_failure_frees(void **state)
{
	(void)state;
	/* Options parsed before the bad one are dropped, not leaked. */
	parse_refused("{\"backup\": \"a,b\", \"schedule\": \"@daily\", "
	    "\"restore-from\": \"s\", \"on-unmount\": \"maybe\"}",
	    "on-unmount", NULL);
	parse_refused("{\"backup\": \"a,b\", \"restore-volume\": \"v\"}",
	    "restore-from", NULL);
}

static void
test_snapshot_id_valid(void **state)
{
	static const struct {
		const char *id;
		int valid;
	} table[] = {
		{ "20260131T235900Z", 1 },
		{ "19700101T000000Z", 1 },
		{ "99991231T235959Z", 1 },
		{ "", 0 },
		{ "latest", 0 },
		{ "20260131T235900", 0 },
		{ "20260131T2359000Z", 0 },
		{ "2026013T235900Z", 0 },
		{ "20260131t235900Z", 0 },
		{ "20260131T235900z", 0 },
		{ "20260131X235900Z", 0 },
		{ "2026O131T235900Z", 0 },
		{ "20260131T23590OZ", 0 },
		{ "20260131T 35900Z", 0 },
		{ "-0260131T235900Z", 0 },
		{ "20260131T235900Z\n", 0 },
		{ "2026-01-31T23:59", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (vopts_snapshot_id_valid(table[i].id) != table[i].valid)
			fail_msg("vopts_snapshot_id_valid(\"%s\") is not %d",
			    table[i].id, table[i].valid);
	}
}

static void
test_free_reusable(void **state)
{
	struct vopts o;

	(void)state;
	parse_ok("{\"backup\": \"a,b,c\", \"schedule\": \"@hourly\", "
	    "\"on-unmount\": \"true\", \"restore-from\": \"s\", "
	    "\"restore-source\": \"c\", \"restore-volume\": \"v\", "
	    "\"restore-snapshot\": \"latest\"}", &o);
	vopts_free(&o);
	assert_empty(&o);
	/* Freeing again is harmless; so is parsing into it again. */
	vopts_free(&o);
	assert_empty(&o);
	parse_ok("{\"backup\": \"z\"}", &o);
	assert_int_equal(o.nbackup, 1);
	assert_string_equal(o.backup[0], "z");
	assert_null(o.schedule);
	assert_int_equal(o.on_unmount, -1);
	vopts_free(&o);
	assert_empty(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_options),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_backup_list),
		cmocka_unit_test(test_backup_max),
		cmocka_unit_test(test_backup_duplicates),
		cmocka_unit_test(test_backup_empty),
		cmocka_unit_test(test_backup_bad_names),
		cmocka_unit_test(test_on_unmount),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_restore_snapshot),
		cmocka_unit_test(test_restore_needs_from),
		cmocka_unit_test(test_restore_bad_names),
		cmocka_unit_test(test_unknown_option),
		cmocka_unit_test(test_unknown_option_utf8),
		cmocka_unit_test(test_non_string_value),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_nul_in_value),
		cmocka_unit_test(test_failure_frees),
		cmocka_unit_test(test_snapshot_id_valid),
		cmocka_unit_test(test_free_reusable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
