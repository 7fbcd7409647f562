/*
 * cron: cron parsing and next-run computation. The parser follows Vixie
 * cron's accepted syntax; a field is a comma list of "*", "N", "N-M", each
 * optionally "/STEP", where N may be a month or weekday name. Weekday 7 is
 * Sunday, as in Vixie cron.
 */
#include "cron.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

struct cron_field {
	const char *name;
	int min, max;
	const char *const *names;	/* names[i] is value min + i */
};

static const char *const cron_months[] = { "jan", "feb", "mar", "apr",
	"may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const cron_wdays[] = { "sun", "mon", "tue", "wed",
	"thu", "fri", "sat", NULL };

static const struct cron_field cron_fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, cron_months },
	{ "day of week", 0, 7, cron_wdays },
};

static const struct {
	const char *name;
	const char *expr;
} cron_shorthands[] = {
	{ "@hourly", "0 * * * *" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@monthly", "0 0 1 * *" },
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
};

/* Parses a number or a name at *p; advances *p. -1 if neither. */
static int
cron_value(const struct cron_field *f, const char **p, int *out)
{
	const char *s = *p;
	size_t i;
	long v;
	char *end;

	if (isdigit((unsigned char)*s)) {
		v = strtol(s, &end, 10);
		if (end - s > 2)
			return -1;
		*out = (int)v;
		*p = end;
		return 0;
	}
	if (f->names == NULL)
		return -1;
	for (i = 0; f->names[i] != NULL; i++) {
		if (strncasecmp(s, f->names[i], 3) == 0 &&
		    !isalpha((unsigned char)s[3])) {
			*out = f->min + (int)i;
			*p = s + 3;
			return 0;
		}
	}
	return -1;
}

static int
cron_field_parse(const struct cron_field *f, const char *text,
    uint64_t *bits, int *any, char **cause)
{
	const char *p = text;
	int lo, hi, step, v;
	long lstep;
	char *end;

	*bits = 0;
	/*
	 * As in Vixie cron, a day field starting with '*' (a step over the
	 * whole range too) counts as unrestricted for the rule that joins
	 * day of month and day of week.
	 */
	*any = text[0] == '*';
	for (;;) {
		if (*p == '*') {
			lo = f->min;
			hi = f->max;
			p++;
		} else {
			if (cron_value(f, &p, &lo) != 0)
				goto bad;
			hi = lo;
			if (*p == '-') {
				p++;
				if (cron_value(f, &p, &hi) != 0)
					goto bad;
			}
		}
		step = 1;
		if (*p == '/') {
			p++;
			if (!isdigit((unsigned char)*p))
				goto bad;
			lstep = strtol(p, &end, 10);
			if (lstep < 1 || lstep > f->max || end - p > 2)
				goto bad;
			step = (int)lstep;
			p = end;
		}
		if (lo < f->min || hi > f->max || lo > hi) {
			set_cause(cause, "cron %s field \"%s\": %d-%d is outside "
			    "%d-%d", f->name, text, lo, hi, f->min, f->max);
			return -1;
		}
		for (v = lo; v <= hi; v += step)
			*bits |= UINT64_C(1) << v;
		if (*p == '\0')
			break;
		if (*p != ',')
			goto bad;
		p++;
	}
	return 0;

bad:
	set_cause(cause, "cron %s field \"%s\" is not valid (expected *, N, "
	    "N-M, a list of those, each optionally /STEP)", f->name, text);
	return -1;
}

int
cron_parse(const char *expr, struct cron *out, char **cause)
{
	char buf[CRON_EXPR_MAX + 1], *fields[6], *save = NULL, *tok;
	uint64_t bits[5];
	int any[5], n = 0;
	size_t i;

	if (expr == NULL || *expr == '\0') {
		set_cause(cause, "cron expression is empty");
		return -1;
	}
	if (strlen(expr) > CRON_EXPR_MAX) {
		set_cause(cause, "cron expression is longer than %d characters",
		    CRON_EXPR_MAX);
		return -1;
	}
	if (expr[0] == '@') {
		for (i = 0; i < sizeof cron_shorthands /
		    sizeof cron_shorthands[0]; i++) {
			if (strcmp(expr, cron_shorthands[i].name) == 0)
				return cron_parse(cron_shorthands[i].expr,
				    out, cause);
		}
		set_cause(cause, "unknown cron shorthand \"%s\" (accepted: "
		    "@hourly, @daily, @weekly, @monthly, @yearly)", expr);
		return -1;
	}
	strcpy(buf, expr);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (n == 5) {
			n++;
			break;
		}
		fields[n++] = tok;
	}
	if (n != 5) {
		set_cause(cause, "cron expression \"%s\" has %s than 5 fields "
		    "(minute hour day-of-month month day-of-week)", expr,
		    n < 5 ? "fewer" : "more");
		return -1;
	}
	for (i = 0; i < 5; i++) {
		if (cron_field_parse(&cron_fields[i], fields[i], &bits[i],
		    &any[i], cause) != 0)
			return -1;
	}
	memset(out, 0, sizeof *out);
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->mdays = (uint32_t)bits[2];
	out->months = (uint16_t)bits[3];
	/* Fold weekday 7 into 0: both are Sunday. */
	out->wdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	out->mday_any = any[2];
	out->wday_any = any[4];
	return 0;
}

static int
cron_day_matches(const struct cron *s, const struct tm *tm)
{
	int mday = (s->mdays >> tm->tm_mday) & 1;
	int wday = (s->wdays >> tm->tm_wday) & 1;

	if (s->mday_any && s->wday_any)
		return 1;
	if (s->mday_any)
		return wday;
	if (s->wday_any)
		return mday;
	return mday || wday;
}

time_t
cron_next(const struct cron *s, time_t after)
{
	struct tm tm;
	time_t t, prev, limit;
	unsigned iter;

	if (localtime_r(&after, &tm) == NULL)
		return -1;
	tm.tm_sec = 0;
	tm.tm_min++;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	limit = after + (time_t)5 * 366 * 24 * 3600;
	for (iter = 0; t != -1 && t <= limit && iter < 100000; iter++) {
		if (localtime_r(&t, &tm) == NULL)
			return -1;
		tm.tm_isdst = -1;
		if (!((s->months >> (tm.tm_mon + 1)) & 1)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!cron_day_matches(s, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!((s->hours >> tm.tm_hour) & 1)) {
			tm.tm_hour++;
			tm.tm_min = 0;
		} else if (!((s->minutes >> tm.tm_min) & 1)) {
			tm.tm_min++;
		} else {
			return t;
		}
		prev = t;
		t = mktime(&tm);
		/* Around a DST change mktime() may step back; never go back. */
		if (t != -1 && t <= prev)
			t = prev + 60 - prev % 60;
	}
	return -1;
}
