/*
 * api: the plugin's HTTP routes — Docker's Plugin.Activate and
 * VolumeDriver.*, and privateer's own Privateer.* — decoded from JSON into requests, run against the volume
 * registry, and encoded back with Docker's {"Err": "..."} convention. No
 * syscalls here beyond what the registry does.
 */
#ifndef PRIVATEER_API_H
#define PRIVATEER_API_H

#include <jansson.h>
#include <stddef.h>

#include "http.h"

#define API_BODY_MAX (1024 * 1024)
#define API_CONTENT_TYPE "application/vnd.docker.plugins.v1+json"

enum api_op {
	API_ACTIVATE,
	API_CAPABILITIES,
	API_CREATE,
	API_REMOVE,
	API_MOUNT,
	API_UNMOUNT,
	API_PATH,
	API_GET,
	API_LIST,
	API_STATUS,
	API_RELOAD,
	API_BACKUP,
	API_RESTORE,
	API_SNAPSHOTS,
	API_CHECK,
	API_EXPORT,
	API_VERIFY,
};

struct api_req {
	enum api_op op;
	char *name;		/* Create..Get */
	char *id;		/* Mount, Unmount */
	json_t *opts;		/* Create: object of strings, or NULL */
	/* Privateer.Backup/Restore/Snapshots/Check */
	char *volume;
	char *server;
	char *source;
	char *snapshot;
	char *to_volume;
	char *compress;		/* Export */
	int dry_run;
	int stream;
	int all, against_volume;	/* Verify */
};

/* The operation served at url, or -1 if none. */
int api_route(const char *url);
/*
 * Decodes body (len bytes, may be empty) for op into *req (free with
 * api_req_free). 0, or -1 with *cause naming the field that is wrong.
 */
int api_decode(enum api_op op, const char *body, size_t len,
    struct api_req *req, char **cause);
void api_req_free(struct api_req *);

struct vol_registry;
struct fleet;
struct jobs;
struct schedule;

/*
 * What the routes act on; fleet, jobs and sched may be NULL (tests): then
 * Privateer.* fail and no replication is triggered.
 */
struct api_ctx {
	struct vol_registry *reg;
	struct fleet *fleet;
	struct jobs *jobs;
	struct schedule *sched;
};

/*
 * Serves one request: returns the HTTP status and sets *out to the response
 * body (caller frees); *ctype, if not NULL, to its content type.
 */
int api_handle(const struct api_ctx *, const char *method, const char *url,
    const char *body, size_t len, char **out, const char **ctype);
/*
 * api_handle, and for a Privateer.Backup or .Restore with "Stream": true,
 * a streamed answer instead: *out stays NULL and stream->fd is a pipe that
 * carries one JSON object per line — {"Progress": {...}} as rsync reports
 * it, then the answer the unstreamed call would give (or {"Err": ...}).
 * Privateer.Export always answers with a stream: the tar file.
 */
int api_handle_stream(const struct api_ctx *, const char *method,
    const char *url, const char *body, size_t len, char **out,
    const char **ctype, struct http_stream *stream);
/*
 * The http_upload_open of the plugin: /Privateer.Import?Volume=NAME takes
 * its body (a tar file) as a stream; arg is the struct api_ctx.
 */
int api_upload_open(void *arg, const char *url, const struct http_conn *,
    struct http_sink *, char **out);

#endif
