/*
 * schedule: fires replication on cron schedules — a volume's schedule=
 * option (to each of its servers) and the schedule jobs of this client in
 * privateer.json (to the job's server) — in the plugin's local time zone.
 * The last run of each schedule is persisted, so a run missed while the
 * plugin or the host was down happens once at start-up. fleet and jobs may
 * be NULL (tests): no jobs from privateer.json, nothing triggered.
 */
#ifndef PRIVATEER_SCHEDULE_H
#define PRIVATEER_SCHEDULE_H

#include <jansson.h>

struct fleet;
struct jobs;
struct vol_registry;
struct schedule;

/* state_file: where last runs are kept (JSON, written atomically). */
struct schedule *schedule_start(struct vol_registry *, struct fleet *,
    struct jobs *, const char *state_file);
void schedule_stop(struct schedule *);
/* Re-reads the schedules now (a volume was created or removed). */
void schedule_kick(struct schedule *);
/*
 * volume was removed: forgets its schedule's last run (a new volume of
 * that name starts afresh), then kicks. The file is rewritten by the
 * scheduler's thread.
 */
void schedule_forget(struct schedule *, const char *volume);
/* {"timezone": ..., "next": "<UTC time>" or absent} for volume. */
json_t *schedule_status(struct schedule *, const char *volume);

#endif
