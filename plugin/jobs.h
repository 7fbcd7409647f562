/*
 * jobs: replication jobs, one per (volume, server), run by a small pool of
 * worker threads so no Docker request ever waits on the network. A trigger
 * queues a job; a trigger while it runs is coalesced into one follow-up
 * run; a failure is retried with exponential backoff up to a cap, keeping
 * the reason. A volume unchanged since its last successful replication to
 * a server is skipped without contacting the server. At start, once
 * privateer.json has loaded, what a stop left undone (a volume used since
 * its last successful replication, not mounted, replicating on unmount) is
 * queued again.
 */
#ifndef PRIVATEER_JOBS_H
#define PRIVATEER_JOBS_H

#include <jansson.h>

struct fleet;
struct vol_registry;
struct jobs;

struct jobs *jobs_start(struct vol_registry *, struct fleet *, int workers,
    int retry_seconds);
void jobs_stop(struct jobs *);
/*
 * Queues replication of volume to server (NULL: each of its servers);
 * why is "unmount", "schedule"... Returns at once; the number queued.
 */
int jobs_trigger(struct jobs *, const char *volume, const char *server,
    const char *why);
/* [{volume, server, state, reason, attempts, next_retry, error}, ...] of
 * volume (NULL: all); caller owns. */
json_t *jobs_status(struct jobs *, const char *volume);
/* The fleet the jobs were started with. */
struct fleet *jobs_fleet(struct jobs *);
/* Jobs running now. */
unsigned jobs_in_flight(struct jobs *);

#endif
