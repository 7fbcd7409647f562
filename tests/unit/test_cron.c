/*
 * test_cron: cron_parse and cron_next. Parsing is checked bit by bit for
 * lists, ranges, steps, names (case-insensitive), weekday 7 as Sunday and the
 * @shorthands, and every refusal is checked to name the field at fault.
 * cron_next runs with TZ=UTC (set in main) and is checked for exact times
 * from fixed instants: steps, month and year ends, weekdays, Vixie cron's
 * day-of-month OR day-of-week rule, impossible dates, "strictly after", and
 * against a minute-by-minute brute-force search.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "util.h"

#define ALL_MINUTES	((UINT64_C(1) << 60) - 1)
#define ALL_HOURS	((UINT32_C(1) << 24) - 1)
#define ALL_MDAYS	(UINT32_C(0xfffffffe))
#define ALL_MONTHS	((uint16_t)0x1ffe)
#define ALL_WDAYS	((uint8_t)0x7f)

static struct cron
parse_ok(const char *expr)
{
	struct cron c;
	char *cause = NULL;

	memset(&c, 0xa5, sizeof c);
	if (cron_parse(expr, &c, &cause) != 0)
		fail_msg("\"%s\" refused: %s", expr,
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
	return c;
}

static void
parse_refused(const char *expr, const char *needle)
{
	struct cron c;
	char *cause = NULL;

	if (cron_parse(expr, &c, &cause) != -1)
		fail_msg("\"%s\" was accepted", expr);
	if (cause == NULL)
		fail_msg("\"%s\": no cause", expr);
	if (strstr(cause, needle) == NULL)
		fail_msg("\"%s\": cause \"%s\" does not mention \"%s\"", expr,
		    cause, needle);
	free(cause);
}

static void
assert_cron_equal(const struct cron *a, const struct cron *b)
{
	assert_int_equal(a->minutes, b->minutes);
	assert_int_equal(a->hours, b->hours);
	assert_int_equal(a->mdays, b->mdays);
	assert_int_equal(a->months, b->months);
	assert_int_equal(a->wdays, b->wdays);
	assert_int_equal(a->mday_any, b->mday_any);
	assert_int_equal(a->wday_any, b->wday_any);
}

static void
same_as(const char *expr, const char *equivalent)
{
	struct cron a = parse_ok(expr), b = parse_ok(equivalent);

	assert_cron_equal(&a, &b);
}

/* Seconds since the epoch of a UTC date and time. */
static time_t
utc(int year, int mon, int mday, int hour, int min, int sec)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = mday;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	return timegm(&tm);
}

static void
format_utc(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == -1) {
		snprintf(buf, len, "-1");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S %a", &tm);
}

static void
next_is(const char *expr, time_t after, time_t want)
{
	struct cron c = parse_ok(expr);
	time_t got = cron_next(&c, after);
	char a[64], w[64], g[64];

	if (got != want) {
		format_utc(after, a, sizeof a);
		format_utc(want, w, sizeof w);
		format_utc(got, g, sizeof g);
		fail_msg("\"%s\" after %s: got %s, want %s", expr, a, g, w);
	}
}

/* An independent matcher for the brute-force comparison. */
static int
brute_matches(const struct cron *c, time_t t)
{
	struct tm tm;
	int mday, wday, day;

	gmtime_r(&t, &tm);
	if (!((c->minutes >> tm.tm_min) & 1) ||
	    !((c->hours >> tm.tm_hour) & 1) ||
	    !((c->months >> (tm.tm_mon + 1)) & 1))
		return 0;
	mday = (c->mdays >> tm.tm_mday) & 1;
	wday = (c->wdays >> tm.tm_wday) & 1;
	if (c->mday_any || c->wday_any)
		day = mday && wday;
	else
		day = mday || wday;
	return day;
}

static time_t
brute_next(const struct cron *c, time_t after, time_t horizon)
{
	time_t t;

	for (t = after - after % 60 + 60; t <= after + horizon; t += 60) {
		if (brute_matches(c, t))
			return t;
	}
	return -1;
}

/* ---- parsing ---- */

static void
test_parse_all_stars(void **state)
{
	struct cron c;

	(void)state;
	c = parse_ok("* * * * *");
	assert_int_equal(c.minutes, ALL_MINUTES);
	assert_int_equal(c.hours, ALL_HOURS);
	assert_int_equal(c.mdays, ALL_MDAYS);
	assert_int_equal(c.months, ALL_MONTHS);
	assert_int_equal(c.wdays, ALL_WDAYS);
	assert_true(c.mday_any);
	assert_true(c.wday_any);
}

static void
test_parse_complex(void **state)
{
	struct cron c;

	(void)state;
	c = parse_ok("*/15 0-6,22 1 jan-mar mon-fri");
	assert_int_equal(c.minutes, (UINT64_C(1) << 0) | (UINT64_C(1) << 15) |
	    (UINT64_C(1) << 30) | (UINT64_C(1) << 45));
	assert_int_equal(c.hours, 0x7f | (UINT32_C(1) << 22));
	assert_int_equal(c.mdays, UINT32_C(1) << 1);
	assert_int_equal(c.months, (1 << 1) | (1 << 2) | (1 << 3));
	assert_int_equal(c.wdays, 0x3e);
	assert_false(c.mday_any);
	assert_false(c.wday_any);
}

static void
test_parse_ranges_steps_lists(void **state)
{
	struct cron c;

	(void)state;
	c = parse_ok("10-30/10 1,2,23 */10 */5 */2");
	assert_int_equal(c.minutes, (UINT64_C(1) << 10) |
	    (UINT64_C(1) << 20) | (UINT64_C(1) << 30));
	assert_int_equal(c.hours, (1 << 1) | (1 << 2) | (UINT32_C(1) << 23));
	assert_int_equal(c.mdays, (1 << 1) | (1 << 11) | (1 << 21) |
	    (UINT32_C(1) << 31));
	assert_int_equal(c.months, (1 << 1) | (1 << 6) | (1 << 11));
	/* 0,2,4,6 */
	assert_int_equal(c.wdays, 0x55);

	c = parse_ok("59 23 31 12 6");
	assert_int_equal(c.minutes, UINT64_C(1) << 59);
	assert_int_equal(c.hours, UINT32_C(1) << 23);
	assert_int_equal(c.mdays, UINT32_C(1) << 31);
	assert_int_equal(c.months, 1 << 12);
	assert_int_equal(c.wdays, 1 << 6);

	c = parse_ok("00 05 07 08 01");
	assert_int_equal(c.minutes, 1);
	assert_int_equal(c.hours, 1 << 5);
	assert_int_equal(c.mdays, 1 << 7);
	assert_int_equal(c.months, 1 << 8);
	assert_int_equal(c.wdays, 1 << 1);

	/* Overlapping list items are harmless. */
	c = parse_ok("1-10,5-15 * * * *");
	assert_int_equal(c.minutes, ((UINT64_C(1) << 16) - 1) & ~UINT64_C(1));
}

static void
test_parse_whitespace(void **state)
{
	(void)state;
	same_as("0  0\t* *   *", "0 0 * * *");
	same_as("  0 0 * * *  ", "0 0 * * *");
}

static void
test_parse_shorthands(void **state)
{
	(void)state;
	same_as("@hourly", "0 * * * *");
	same_as("@daily", "0 0 * * *");
	same_as("@midnight", "0 0 * * *");
	same_as("@weekly", "0 0 * * 0");
	same_as("@monthly", "0 0 1 * *");
	same_as("@yearly", "0 0 1 1 *");
	same_as("@annually", "0 0 1 1 *");
}

static void
test_parse_names(void **state)
{
	(void)state;
	same_as("0 0 * jan,feb,mar *", "0 0 * 1,2,3 *");
	same_as("0 0 * JAN,Feb,mAr *", "0 0 * 1,2,3 *");
	same_as("0 0 * Dec *", "0 0 * 12 *");
	same_as("0 0 * apr-jun *", "0 0 * 4-6 *");
	same_as("0 0 * * sun,MON,Tue,wED,thu,FRI,Sat", "0 0 * * 0-6");
	same_as("0 0 * * Mon-Fri", "0 0 * * 1-5");
	same_as("0 0 * jan-dec/3 *", "0 0 * 1,4,7,10 *");
	same_as("0 0 * 1-mar *", "0 0 * 1-3 *");
}

static void
test_parse_sunday_7(void **state)
{
	struct cron c;

	(void)state;
	same_as("0 0 * * 7", "0 0 * * 0");
	same_as("0 0 * * 7", "0 0 * * sun");
	c = parse_ok("0 0 * * 5-7");
	assert_int_equal(c.wdays, (1 << 0) | (1 << 5) | (1 << 6));
	c = parse_ok("0 0 * * 0,7");
	assert_int_equal(c.wdays, 1 << 0);
	c = parse_ok("0 0 * * 0-7");
	assert_int_equal(c.wdays, ALL_WDAYS);
}

static void
test_refuse_field_count(void **state)
{
	(void)state;
	parse_refused("* * * *", "fewer than 5 fields");
	parse_refused("*", "fewer than 5 fields");
	parse_refused("* * * * * *", "more than 5 fields");
	parse_refused("0 0 * * * /bin/true", "more than 5 fields");
	parse_refused("   ", "fewer than 5 fields");
}

static void
test_refuse_range(void **state)
{
	(void)state;
	parse_refused("60 * * * *", "minute field");
	parse_refused("0-60 * * * *", "minute field");
	parse_refused("* 24 * * *", "hour field");
	parse_refused("* 20-24 * * *", "hour field");
	parse_refused("* * 0 * *", "day of month field");
	parse_refused("* * 32 * *", "day of month field");
	parse_refused("* * * 0 *", "cron month field");
	parse_refused("* * * 13 *", "cron month field");
	parse_refused("* * * * 8", "day of week field");
	parse_refused("* * * * 1-8", "day of week field");
	/* Backwards ranges are refused, not wrapped. */
	parse_refused("30-10 * * * *", "minute field");
	parse_refused("* * * * fri-mon", "day of week field");
	/* The value is in the message. */
	parse_refused("60 * * * *", "\"60\"");
}

static void
test_refuse_step(void **state)
{
	(void)state;
	parse_refused("*/0 * * * *", "minute field");
	parse_refused("*/60 * * * *", "minute field");
	parse_refused("* */0 * * *", "hour field");
	parse_refused("* * */0 * *", "day of month field");
	parse_refused("* * * */0 *", "cron month field");
	parse_refused("* * * */13 *", "cron month field");
	parse_refused("* * * * */0", "day of week field");
	parse_refused("*/ * * * *", "minute field");
	parse_refused("*/x * * * *", "minute field");
	parse_refused("*/-1 * * * *", "minute field");
	parse_refused("*/1/2 * * * *", "minute field");
	parse_refused("*/100 * * * *", "minute field");
}

static void
test_refuse_garbage(void **state)
{
	(void)state;
	parse_refused("a * * * *", "minute field");
	parse_refused("1x * * * *", "minute field");
	parse_refused("1- * * * *", "minute field");
	parse_refused("-1 * * * *", "minute field");
	parse_refused(", * * * *", "minute field");
	parse_refused("1, * * * *", "minute field");
	parse_refused(",1 * * * *", "minute field");
	parse_refused("1,,2 * * * *", "minute field");
	parse_refused("** * * * *", "minute field");
	parse_refused("123 * * * *", "minute field");
	parse_refused("* noon * * *", "hour field");
	parse_refused("* * mon * *", "day of month field");
	parse_refused("* * * january *", "cron month field");
	parse_refused("* * * ja *", "cron month field");
	parse_refused("* * * * funday", "day of week field");
	parse_refused("* * * * jan", "day of week field");
	parse_refused("* * * * ?", "day of week field");
	parse_refused("* * * * L", "day of week field");
}

static void
test_refuse_empty(void **state)
{
	(void)state;
	parse_refused("", "empty");
	parse_refused(NULL, "empty");
}

static void
test_refuse_too_long(void **state)
{
	char *expr;

	(void)state;
	/* Valid but for its length: "* * * * *" padded with spaces. */
	expr = xmalloc(CRON_EXPR_MAX + 2);
	memset(expr, ' ', CRON_EXPR_MAX + 1);
	memcpy(expr, "* * * * *", 9);
	expr[CRON_EXPR_MAX + 1] = '\0';
	parse_refused(expr, "longer than");
	/* One less is fine. */
	expr[CRON_EXPR_MAX] = '\0';
	(void)parse_ok(expr);
	free(expr);
}

static void
test_refuse_shorthand(void **state)
{
	(void)state;
	parse_refused("@reboot", "shorthand \"@reboot\"");
	parse_refused("@", "shorthand");
	parse_refused("@HOURLY", "shorthand");
	parse_refused("@daily ", "shorthand");
	parse_refused("@every 5m", "shorthand");
	/* The message lists what is accepted. */
	parse_refused("@reboot", "@hourly");
}

static void
test_parse_null_cause(void **state)
{
	struct cron c;

	(void)state;
	assert_int_equal(cron_parse("61 * * * *", &c, NULL), -1);
	assert_int_equal(cron_parse("@nope", &c, NULL), -1);
	assert_int_equal(cron_parse("* *", &c, NULL), -1);
}

/* ---- next ---- */

static void
test_next_every_quarter(void **state)
{
	(void)state;
	next_is("*/15 * * * *", utc(2026, 1, 10, 12, 7, 0),
	    utc(2026, 1, 10, 12, 15, 0));
	next_is("*/15 * * * *", utc(2026, 1, 10, 12, 7, 59),
	    utc(2026, 1, 10, 12, 15, 0));
	next_is("*/15 * * * *", utc(2026, 1, 10, 12, 14, 59),
	    utc(2026, 1, 10, 12, 15, 0));
	next_is("*/15 * * * *", utc(2026, 1, 10, 23, 50, 0),
	    utc(2026, 1, 11, 0, 0, 0));
}

static void
test_next_strictly_after(void **state)
{
	(void)state;
	next_is("*/15 * * * *", utc(2026, 1, 10, 12, 15, 0),
	    utc(2026, 1, 10, 12, 30, 0));
	next_is("* * * * *", utc(2026, 1, 10, 12, 15, 0),
	    utc(2026, 1, 10, 12, 16, 0));
	next_is("* * * * *", utc(2026, 1, 10, 12, 15, 30),
	    utc(2026, 1, 10, 12, 16, 0));
	next_is("30 2 * * *", utc(2026, 1, 10, 2, 30, 0),
	    utc(2026, 1, 11, 2, 30, 0));
	next_is("0 0 * * 0", utc(2026, 1, 11, 0, 0, 0),
	    utc(2026, 1, 18, 0, 0, 0));
}

static void
test_next_month_end(void **state)
{
	(void)state;
	next_is("0 0 1 * *", utc(2026, 1, 31, 13, 0, 0),
	    utc(2026, 2, 1, 0, 0, 0));
	next_is("0 0 1 * *", utc(2026, 2, 28, 23, 59, 0),
	    utc(2026, 3, 1, 0, 0, 0));
	next_is("0 0 1 * *", utc(2026, 12, 15, 8, 0, 0),
	    utc(2027, 1, 1, 0, 0, 0));
	next_is("@monthly", utc(2026, 4, 1, 0, 0, 0),
	    utc(2026, 5, 1, 0, 0, 0));
	/* The 31st skips the short months. */
	next_is("0 12 31 * *", utc(2026, 3, 31, 12, 0, 0),
	    utc(2026, 5, 31, 12, 0, 0));
}

static void
test_next_weekday(void **state)
{
	(void)state;
	/* 2026-01-07 is a Wednesday; the next Sunday is the 11th. */
	next_is("0 0 * * 0", utc(2026, 1, 7, 10, 0, 0),
	    utc(2026, 1, 11, 0, 0, 0));
	next_is("0 0 * * 7", utc(2026, 1, 7, 10, 0, 0),
	    utc(2026, 1, 11, 0, 0, 0));
	next_is("@weekly", utc(2026, 1, 7, 10, 0, 0),
	    utc(2026, 1, 11, 0, 0, 0));
	/* Friday evening to Monday morning. */
	next_is("30 8 * * mon-fri", utc(2026, 1, 9, 18, 0, 0),
	    utc(2026, 1, 12, 8, 30, 0));
	next_is("0 0 * * fri", utc(2026, 1, 10, 0, 0, 0),
	    utc(2026, 1, 16, 0, 0, 0));
}

static void
test_next_dom_or_dow(void **state)
{
	(void)state;
	/*
	 * Both restricted: the 13th OR any Friday. From Thursday 2026-01-01
	 * that is Friday the 2nd; from Saturday the 10th it is Tuesday the
	 * 13th, not Friday 2026-02-13 as an AND would give.
	 */
	next_is("0 0 13 * fri", utc(2026, 1, 1, 0, 0, 0),
	    utc(2026, 1, 2, 0, 0, 0));
	next_is("0 0 13 * fri", utc(2026, 1, 10, 0, 0, 0),
	    utc(2026, 1, 13, 0, 0, 0));
	next_is("0 0 13 * fri", utc(2026, 1, 13, 0, 0, 0),
	    utc(2026, 1, 16, 0, 0, 0));
	/* Only one restricted: that one alone decides. */
	next_is("0 0 13 * *", utc(2026, 1, 1, 0, 0, 0),
	    utc(2026, 1, 13, 0, 0, 0));
	next_is("0 0 * * fri", utc(2026, 1, 10, 0, 0, 0),
	    utc(2026, 1, 16, 0, 0, 0));
	/* With the month restricted too, only days in that month count. */
	next_is("0 0 13 feb fri", utc(2026, 1, 10, 0, 0, 0),
	    utc(2026, 2, 6, 0, 0, 0));
}

static void
test_next_impossible(void **state)
{
	struct cron c;

	(void)state;
	c = parse_ok("0 0 31 2 *");
	assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0, 0)), -1);
	c = parse_ok("0 0 30 feb *");
	assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0, 0)), -1);
	c = parse_ok("0 0 31 apr,jun,sep,nov *");
	assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0, 0)), -1);
}

static void
test_next_leap_day(void **state)
{
	(void)state;
	next_is("0 0 29 2 *", utc(2026, 3, 1, 0, 0, 0),
	    utc(2028, 2, 29, 0, 0, 0));
	next_is("0 0 29 2 *", utc(2028, 2, 28, 12, 0, 0),
	    utc(2028, 2, 29, 0, 0, 0));
}

static void
test_next_misc(void **state)
{
	(void)state;
	next_is("@hourly", utc(2026, 1, 10, 12, 0, 0),
	    utc(2026, 1, 10, 13, 0, 0));
	next_is("@daily", utc(2026, 1, 10, 12, 0, 0),
	    utc(2026, 1, 11, 0, 0, 0));
	next_is("@yearly", utc(2026, 6, 1, 0, 0, 0),
	    utc(2027, 1, 1, 0, 0, 0));
	next_is("0 0-6,22 * * *", utc(2026, 1, 10, 12, 0, 0),
	    utc(2026, 1, 10, 22, 0, 0));
	next_is("0 0-6,22 * * *", utc(2026, 1, 10, 22, 0, 0),
	    utc(2026, 1, 11, 0, 0, 0));
	next_is("0 12 1 jul *", utc(2026, 8, 1, 0, 0, 0),
	    utc(2027, 7, 1, 12, 0, 0));
	next_is("59 23 31 12 *", utc(2026, 1, 1, 0, 0, 0),
	    utc(2026, 12, 31, 23, 59, 0));
	next_is("*/15 0-6,22 1 jan-mar mon-fri", utc(2026, 1, 1, 6, 50, 0),
	    utc(2026, 1, 1, 22, 0, 0));
}

static void
test_next_brute_force(void **state)
{
	static const char *const exprs[] = {
		"* * * * *", "*/7 */3 * * *", "5 4 * * sun", "0 22 * * 1-5",
		"23 0-20/2 * * *", "0 0,12 1 */2 *", "15 14 1 * *",
		"0 0 13 * fri", "1,31,59 9-17 * * mon,wed", "0 0 29 * *",
		"*/10 * 5-9 * 6", "0 4 8-14 * *", "0 0 1,15 * 3",
	};
	static const int starts[][6] = {
		{ 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 31, 23, 59, 59 },
		{ 2026, 2, 28, 12, 34, 56 }, { 2027, 12, 31, 23, 0, 0 },
		{ 2028, 2, 28, 23, 59, 0 }, { 2026, 6, 13, 7, 7, 7 },
	};
	size_t i, j;
	struct cron c;
	time_t after, want, got;

	(void)state;
	for (i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
		c = parse_ok(exprs[i]);
		for (j = 0; j < sizeof starts / sizeof starts[0]; j++) {
			after = utc(starts[j][0], starts[j][1], starts[j][2],
			    starts[j][3], starts[j][4], starts[j][5]);
			want = brute_next(&c, after, 120 * 86400);
			assert_int_not_equal(want, -1);
			got = cron_next(&c, after);
			if (got != want)
				next_is(exprs[i], after, want);
			/* Always on a minute, always later. */
			assert_int_equal(got % 60, 0);
			assert_true(got > after);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_all_stars),
		cmocka_unit_test(test_parse_complex),
		cmocka_unit_test(test_parse_ranges_steps_lists),
		cmocka_unit_test(test_parse_whitespace),
		cmocka_unit_test(test_parse_shorthands),
		cmocka_unit_test(test_parse_names),
		cmocka_unit_test(test_parse_sunday_7),
		cmocka_unit_test(test_refuse_field_count),
		cmocka_unit_test(test_refuse_range),
		cmocka_unit_test(test_refuse_step),
		cmocka_unit_test(test_refuse_garbage),
		cmocka_unit_test(test_refuse_empty),
		cmocka_unit_test(test_refuse_too_long),
		cmocka_unit_test(test_refuse_shorthand),
		cmocka_unit_test(test_parse_null_cause),
		cmocka_unit_test(test_next_every_quarter),
		cmocka_unit_test(test_next_strictly_after),
		cmocka_unit_test(test_next_month_end),
		cmocka_unit_test(test_next_weekday),
		cmocka_unit_test(test_next_dom_or_dow),
		cmocka_unit_test(test_next_impossible),
		cmocka_unit_test(test_next_leap_day),
		cmocka_unit_test(test_next_misc),
		cmocka_unit_test(test_next_brute_force),
	};

	/* cron_next works in local time; make local time UTC. */
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
