/*
 * cron: 5-field cron expressions (minute hour day-of-month month
 * day-of-week) with ranges, lists, steps, month and weekday names, and the
 * @hourly/@daily/@weekly/@monthly/@yearly shorthands; and the next time one
 * fires, in the local time zone. Pure: no I/O, no clocks.
 */
#ifndef PRIVATEER_CRON_H
#define PRIVATEER_CRON_H

#include <stdint.h>
#include <time.h>

#define CRON_EXPR_MAX 256

struct cron {
	uint64_t minutes;	/* bit 0..59 */
	uint32_t hours;		/* bit 0..23 */
	uint32_t mdays;		/* bit 1..31 */
	uint16_t months;	/* bit 1..12 */
	uint8_t wdays;		/* bit 0..6, Sunday = 0 */
	/* Cron's rule: when both day fields are restricted, either matches. */
	int mday_any;
	int wday_any;
};

/* 0, or -1 with *cause (caller frees) naming the bad field. */
int cron_parse(const char *expr, struct cron *out, char **cause);
/*
 * The first minute strictly after `after` that matches, in local time; -1
 * if none within five years (e.g. "0 0 31 2 *").
 */
time_t cron_next(const struct cron *, time_t after);

#endif
