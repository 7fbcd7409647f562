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

#include "fleet.h"
#include "jobs.h"
#include "notify.h"
#include "stale.h"
#include "usage.h"
#include "util.h"
#include "verify.h"
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

/* {a: {b: {field: n}}} as name{la="a",lb="b"} n; the header always. */
static void
metrics_pairs(struct metrics_buf *b, json_t *all, const char *name,
    const char *help, const char *la, const char *lb, const char *field)
{
	const char *x, *y;
	json_t *per, *r, *v;

	metrics_add(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	json_object_foreach(all, x, per) {
		json_object_foreach(per, y, r) {
			v = json_object_get(r, field);
			if (json_is_boolean(v))
				v = json_integer(json_is_true(v));
			else
				json_incref(v);
			if (json_is_number(v))
				metrics_add(b, "%s{%s=\"%s\",%s=\"%s\"} "
				    "%.17g\n", name, la, x, lb, y,
				    json_number_value(v));
			json_decref(v);
		}
	}
}

/* What a server keeps, and what verification found. */
static void
metrics_server(struct metrics_buf *b, struct fleet *f)
{
	json_t *all, *per, *vols, *r, *v;
	const char *client, *key, *server, *volume;

	all = json_object();
	if (fleet_server_root(f) != NULL) {
		json_t *u = usage_all(fleet_server_root(f));

		json_object_foreach(u, client, per) {
			vols = json_object_get(per, "volumes");
			if (json_object_size(vols) > 0)
				json_object_set(all, client, vols);
		}
		json_decref(u);
	}
	metrics_pairs(b, all, "privateer_client_snapshots", "Snapshots a "
	    "server keeps of a client's volume.", "client", "volume",
	    "snapshots");
	metrics_pairs(b, all, "privateer_client_stored_bytes", "Bytes a "
	    "client's volume takes on this server, shared blocks once.",
	    "client", "volume", "bytes");
	json_decref(all);
	all = verify_results();
	metrics_add(b, "# HELP privateer_verify_problems Damaged, missing or "
	    "changed entries the last verification found.\n# TYPE "
	    "privateer_verify_problems gauge\n");
	json_object_foreach(all, key, per) {
		json_object_foreach(per, server, r) {
			client = json_string_value(json_object_get(r,
			    "client"));
			volume = json_string_value(json_object_get(r,
			    "volume"));
			v = json_object_get(r, "problems");
			metrics_add(b, "privateer_verify_problems{client=\"%s\","
			    "volume=\"%s\",server=\"%s\"} %lld\n", client,
			    volume, server, (long long)json_integer_value(v));
		}
	}
	metrics_add(b, "# HELP privateer_verify_last_run_timestamp_seconds "
	    "When the last verification ran (Unix time).\n# TYPE "
	    "privateer_verify_last_run_timestamp_seconds gauge\n");
	json_object_foreach(all, key, per) {
		json_object_foreach(per, server, r) {
			metrics_add(b, "privateer_verify_last_run_timestamp_"
			    "seconds{client=\"%s\",volume=\"%s\",server="
			    "\"%s\"} %lld\n", json_string_value(
			    json_object_get(r, "client")), json_string_value(
			    json_object_get(r, "volume")), server,
			    (long long)json_integer_value(json_object_get(r,
			    "time")));
		}
	}
	json_decref(all);
}

/* Staleness, a server's view of its clients, notifications. */
static void
metrics_fleet(struct metrics_buf *b, struct vol_registry *reg,
    struct fleet *f)
{
	struct notify *n = fleet_notify(f);
	time_t now = now_realtime();
	json_t *all;

	all = stale_client(reg, f, now);
	metrics_pairs(b, all, "privateer_backup_stale", "1 when the last "
	    "successful replication is older than the maximum age.",
	    "volume", "server", "stale");
	metrics_pairs(b, all, "privateer_backup_max_age_seconds", "The "
	    "maximum age of a volume's backup on a server.", "volume",
	    "server", "max_age");
	json_decref(all);
	all = stale_server(f, fleet_server_root(f), now);
	metrics_pairs(b, all, "privateer_client_backup_stale", "1 when a "
	    "client's latest snapshot here is older than its maximum age.",
	    "client", "volume", "stale");
	metrics_pairs(b, all, "privateer_client_backup_last_success_"
	    "timestamp_seconds", "When a client's latest snapshot here was "
	    "made (Unix time).", "client", "volume", "last_success");
	json_decref(all);
	metrics_server(b, f);
	metrics_add(b, "# HELP privateer_notifications_sent_total "
	    "Notifications sent.\n# TYPE privateer_notifications_sent_total "
	    "counter\nprivateer_notifications_sent_total %llu\n",
	    notify_sent_total(n));
	metrics_add(b, "# HELP privateer_notifications_failed_total "
	    "Notifications that could not be sent after every attempt.\n"
	    "# TYPE privateer_notifications_failed_total counter\n"
	    "privateer_notifications_failed_total %llu\n",
	    notify_failed_total(n));
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
	if (jobs != NULL)
		metrics_fleet(&b, reg, jobs_fleet(jobs));
	return b.s;
}
