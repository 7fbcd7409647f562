/*
 * metrics: GET /metrics on the plugin socket, in Prometheus' text format:
 * per volume and server the last success time, last duration, bytes sent
 * and failures, staleness and max age; jobs in flight; build info; on a
 * server, per client volume its staleness, latest snapshot time, snapshots
 * kept, bytes stored and the last verification's problems; notifications
 * sent and failed.
 */
#ifndef PRIVATEER_METRICS_H
#define PRIVATEER_METRICS_H

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct jobs;
struct vol_registry;

/* The exposition text; caller frees. jobs may be NULL. */
char *metrics_render(struct vol_registry *, struct jobs *);

#endif
