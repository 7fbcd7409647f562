/*
 * metrics: rendered from the volumes' persisted replication results, so
 * counters survive plugin restarts. Label values are names checked by
 * name.c (letters, digits, '_', '.', '-'): nothing to escape.
 */
#include "metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "util.h"
#include "volume.h"

struct metrics_buf {
	char *s;
	size_t len;
};

static void metrics_add(struct metrics_buf *, const char *fmt, ...)
    PRINTFLIKE(2, 3);

static void
metrics_add(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *line;
	size_t n;

	va_start(ap, fmt);
	line = xvasprintf(fmt, ap);
	va_end(ap);
	n = strlen(line);
	b->s = xreallocarray(b->s, b->len + n + 1, 1);
	memcpy(b->s + b->len, line, n + 1);
	b->len += n;
	free(line);
}

static void
metrics_family(struct metrics_buf *b, json_t *all, const char *name,
    const char *type, const char *help, const char *field)
{
	const char *vol, *server;
	json_t *servers, *r, *v;

	metrics_add(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
	json_object_foreach(all, vol, servers) {
		json_object_foreach(servers, server, r) {
			v = json_object_get(r, field);
			if (!json_is_number(v))
				continue;
			metrics_add(b, "%s{volume=\"%s\",server=\"%s\"} %.17g\n",
			    name, vol, server, json_number_value(v));
		}
	}
}

char *
metrics_render(struct vol_registry *reg, struct jobs *jobs)
{
	struct metrics_buf b = { NULL, 0 };
	json_t *all = vol_backup_all(reg);

	metrics_add(&b, "# HELP privateer_build_info The running privateer "
	    "version.\n# TYPE privateer_build_info gauge\n"
	    "privateer_build_info{version=\"%s\"} 1\n", PRIVATEER_VERSION);
	metrics_family(&b, all,
	    "privateer_replication_last_success_timestamp_seconds", "gauge",
	    "When the last successful replication finished (Unix time).",
	    "last_success");
	metrics_family(&b, all, "privateer_replication_last_duration_seconds",
	    "gauge", "How long the last replication took.",
	    "duration_seconds");
	metrics_family(&b, all, "privateer_replication_sent_bytes_total",
	    "counter", "Bytes sent by successful replications.",
	    "bytes_sent_total");
	metrics_family(&b, all, "privateer_replication_failures_total",
	    "counter", "Failed replications.", "failures_total");
	metrics_add(&b, "# HELP privateer_jobs_in_flight Replications running "
	    "now.\n# TYPE privateer_jobs_in_flight gauge\n"
	    "privateer_jobs_in_flight %u\n", jobs != NULL ?
	    jobs_in_flight(jobs) : 0);
	json_decref(all);
	return b.s;
}
