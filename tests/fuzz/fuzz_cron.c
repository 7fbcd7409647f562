/*
 * fuzz_cron: cron_parse on any string (the schedule= volume option and
 * privateer.json's schedules), then cron_next from a few fixed times when
 * it parses (bounded by cron.c itself: five years, 100000 steps). The
 * input is the expression. A parsed expression must have at least one
 * bit in every field, and cron_next must move strictly forward.
 */
#include <time.h>

#include "cron.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* A zone with DST, so cron_next's step-back guard is exercised. */
	setenv("TZ", "Europe/London", 1);
	tzset();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const time_t starts[] = {
		0, 1774744200,		/* 2026-03-29 00:30 UTC: spring forward */
		1792888200,		/* 2026-10-25 00:30 UTC: fall back */
		4102444799,		/* 2099-12-31 23:59:59 */
	};
	struct cron c;
	char *s, *cause = NULL;
	time_t t;
	size_t i;
	int rc;

	if (size > 2 * 256)
		return 0;
	s = fuzz_str(data, size);
	memset(&c, 0xa5, sizeof c);
	rc = cron_parse(s, &c, &cause);
	fuzz_check_cause("cron_parse", rc, &cause);
	if (rc == 0) {
		if ((c.minutes & ~((1ULL << 60) - 1)) != 0 ||
		    (c.hours & ~((1U << 24) - 1)) != 0 ||
		    (c.mdays & 1) != 0 || (c.months & 1) != 0 ||
		    (c.months >> 13) != 0 || (c.wdays >> 7) != 0 ||
		    c.minutes == 0 || c.hours == 0 || c.mdays == 0 ||
		    c.months == 0 || c.wdays == 0) {
			fprintf(stderr, "cron_parse(\"%s\"): bits out of "
			    "range\n", s);
			abort();
		}
		for (i = 0; i < sizeof starts / sizeof starts[0]; i++) {
			t = cron_next(&c, starts[i]);
			if (t != -1 && t <= starts[i]) {
				fprintf(stderr, "cron_next(\"%s\", %lld) = "
				    "%lld\n", s, (long long)starts[i],
				    (long long)t);
				abort();
			}
		}
	}
	free(s);
	return 0;
}
