/*
 * ops: privateer's own operations behind /Privateer.Backup, .Restore,
 * .Snapshots and .Check — choosing servers and sources from privateer.json
 * and the volume's options, and running replication (repl) with the keys
 * of the current fleet state. Each returns a JSON answer or NULL with
 * *cause. They run in the request thread of privateer's own endpoints,
 * never in a Docker request.
 */
#ifndef PRIVATEER_OPS_H
#define PRIVATEER_OPS_H

#include <jansson.h>
#include <stdint.h>

#include "child.h"

struct fleet;
struct vol_registry;

struct ops_request {
	const char *volume;
	const char *server;	/* NULL: the defaults */
	const char *source;
	const char *snapshot;
	const char *to_volume;
	const char *compress;	/* export: "none", "gzip", "zstd" */
	int dry_run;
	/* Optional: rsync's progress, per server, as it goes. */
	void (*progress)(void *arg, const char *server, int percent,
	    uint64_t bytes, uint64_t files);
	void *progress_arg;
};

json_t *ops_backup(struct fleet *, struct vol_registry *,
    const struct ops_request *, char **cause);
json_t *ops_restore(struct fleet *, struct vol_registry *,
    const struct ops_request *, char **cause);
json_t *ops_snapshots(struct fleet *, const struct ops_request *,
    char **cause);
struct repl_result;

/*
 * The servers volume replicates to (caller frees the array and strings)
 * and whether it replicates on unmount. 0 with *n 0 when it has none (or
 * this machine is standalone or a server).
 */
int ops_volume_servers(struct fleet *, struct vol_registry *,
    const char *volume, char ***servers, size_t *n, int *on_unmount);
/* One backup of volume to server; 0, or -1 with *cause (and res). */
int ops_backup_one(struct fleet *, struct vol_registry *, const char *volume,
    const char *server, struct repl_result *res, char **cause);
/*
 * For `docker volume create -o restore-from=...`: checks against
 * privateer.json that the server exists and the source is known and
 * unambiguous (errors name the candidates). Fast, no network.
 */
int ops_restore_check(struct fleet *, const char *name, const json_t *opts,
    char **cause);
/*
 * Fills the pending restore-from volume name in the background (a
 * detached thread), marking it done or failed in the registry.
 */
void ops_restore_spawn(struct fleet *, struct vol_registry *,
    const char *name);
/*
 * An export under way: a child process writing the tar file to its
 * stdout (child.out) and its reasons to stderr; exit 0 when complete.
 */
struct ops_export {
	char *source;		/* "local", or the client that backed it up */
	char *snapshot;		/* its ID, or NULL for a local volume */
	char *server;		/* where it is read from; NULL: here */
	struct child child;
};

/*
 * Starts the export of req->volume: without source (or "local") and
 * snapshot, the local volume; with a source whose snapshots this machine
 * keeps as a server, that snapshot read in place; otherwise the snapshot
 * streamed from a server over the replication transport (a source that
 * names a server means this client's own backup there). 0, or -1 with
 * *cause before anything was streamed. Free with ops_export_free.
 */
int ops_export_start(struct fleet *, struct vol_registry *,
    const struct ops_request *, struct ops_export *, char **cause);
void ops_export_free(struct ops_export *);
/* Handshake and a no-op rsync with every server (or req->server). */
json_t *ops_check(struct fleet *, const struct ops_request *, char **cause);

#endif
