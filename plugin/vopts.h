/*
 * vopts: the `docker volume create -o key=value` options of PRODUCT.md §4,
 * parsed and validated. The original string map is what gets persisted;
 * this structure is always re-derived from it, so there is one truth.
 */
#ifndef PRIVATEER_VOPTS_H
#define PRIVATEER_VOPTS_H

#include <jansson.h>
#include <stddef.h>

#include "cron.h"

#define VOPTS_ACCEPTED \
	"backup=SERVER[,SERVER...], schedule=CRON, on-unmount=true|false, " \
	"restore-from=SERVER, restore-source=CLIENT, restore-volume=NAME, " \
	"restore-snapshot=ID|latest, max-age=DURATION"
#define VOPTS_VALUE_MAX 1024
#define VOPTS_BACKUP_MAX 32

struct vopts {
	char **backup;		/* explicit servers; NULL when not given */
	size_t nbackup;
	char *schedule;		/* NULL when not given */
	struct cron sched;
	int on_unmount;		/* -1 when not given */
	char *restore_from;
	char *restore_source;
	char *restore_volume;
	char *restore_snapshot;	/* "latest" or a snapshot ID */
	long long max_age;	/* max-age= in seconds; 0 when not given */
};

/*
 * Parses opts (a JSON object of strings, or NULL/null for none) into *out.
 * 0, or -1 with *cause (caller frees) naming the option, the value and what
 * is accepted; *out is then empty. Free with vopts_free.
 */
int vopts_parse(const json_t *opts, struct vopts *out, char **cause);
void vopts_free(struct vopts *);
/*
 * A duration: a positive number and a unit, s, m, h, d or w ("90m",
 * "26h", "8d"), at most ten years. 0 and *secs, or -1 with *cause.
 */
int vopts_duration_parse(const char *, long long *secs, char **cause);
/* A snapshot ID: UTC time as YYYYMMDDTHHMMSSZ. */
int vopts_snapshot_id_valid(const char *);

#endif
