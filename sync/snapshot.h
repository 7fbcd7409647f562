/*
 * snapshot: the server's snapshot store. Under the root (<state>/server):
 *
 *   <client>/<volume>/<ID>/           complete, immutable snapshots
 *   <client>/<volume>/latest -> <ID>  always names a complete one
 *   <client>/<volume>/.partial-<ID>/  a push in progress
 *   <client>/<volume>/.prune-<ID>/    a snapshot being deleted
 *   <client>/<volume>/.lock           one push per client and volume
 *   <client>/<volume>/.plain-<ID>     <ID> holds no ACLs and no xattrs
 *   <client>/<volume>/.nolinks-<ID>   <ID> holds no hard-linked files
 *
 * IDs are UTC times, YYYYMMDDTHHMMSSZ, so they sort by age. A push is
 * received into .partial-<ID> (sharing unchanged files with latest through
 * rsync's --link-dest) and only becomes <ID> by rename after rsync
 * succeeded and the data is on disk; latest is replaced by rename too. So
 * an interrupted push never looks complete and never touches a snapshot.
 *
 * A push without ACLs and xattrs (the client found none) may only share
 * files with a snapshot known to hold none either: rsync does not compare
 * what it was not asked to carry, so a file that lost its attributes since
 * would otherwise be linked with them. .plain-<ID> says so; without it such
 * a push copies unchanged files from latest (--copy-dest) instead.
 */
#ifndef PRIVATEER_SNAPSHOT_H
#define PRIVATEER_SNAPSHOT_H

#include <stddef.h>
#include <time.h>

#define SNAP_ID_LEN 16

struct store_ops;

/* How a push is received (snap_begin_with). */
struct snap_method {
	const struct store_ops *store;	/* NULL: hard links */
	int compress;		/* btrfs: zstd on the new snapshot */
	int in_place;		/* rsync writes in place (--inplace --delete)
				   into a private copy of latest: cow stores */
	int plain;		/* the push carries no ACLs or xattrs */
};

struct snap_push {
	char *dir;		/* <root>/<client>/<volume> */
	char *partial;		/* dir/.partial-<ID> */
	char *link_dest;	/* "../<latest ID>" or NULL */
	char id[SNAP_ID_LEN + 1];
	int lock_fd;
	int latest_plain;	/* latest holds no ACLs or xattrs */
	int latest_nolinks;	/* latest holds no hard-linked files */
	int plain;		/* set by the caller: this push carries none */
	/*
	 * A copy-on-write store: partial is a private copy of latest
	 * (in_place) or empty; link_dest then names the basis rsync may
	 * only copy from (--copy-dest), never link to.
	 */
	const struct store_ops *store;
	int in_place;
	int empty;		/* a cow store's partial starts empty */
	int prepared;		/* the copy was made ahead of the push */
	double copy_seconds;	/* making the private copy took */
};

struct snap_policy {
	int hourly, daily, weekly, monthly;
	int keep_all;		/* no retention configured */
	int last;		/* the newest N, whatever their age */
};

int snap_id_valid(const char *);
/* The ID of time t. */
void snap_id_format(time_t t, char out[SNAP_ID_LEN + 1]);
int snap_id_parse(const char *id, time_t *out);

/*
 * Starts a push of client's volume: takes the lock (waiting up to ten
 * minutes for another push of the same volume), picks a new ID, makes the
 * partial directory.
 */
/* How long snap_begin waits for the lock (default 600 s; tests use 0). */
void snap_set_lock_wait(int seconds);
/* For tests: snap_commit first waits ms, as a slow disk's sync would. */
void snap_set_commit_delay(int ms);
/* For tests: called the moment a commit has made latest name the new
 * snapshot (NULL: nothing), before anything else happens. */
void snap_set_commit_hook(void (*hook)(void));
int snap_begin(const char *root, const char *client, const char *volume,
    struct snap_push *out, char **cause);
/*
 * The same with a store (store.h): on a copy-on-write store the partial
 * is a subvolume or directory of that store, and with m->in_place a
 * private copy of latest (ACLs and xattrs dropped when m->plain and
 * latest may hold some) that rsync rewrites in place. Any other partial
 * of the volume, left by a push that died, is deleted first.
 */
int snap_begin_with(const struct snap_method *m, const char *root,
    const char *client, const char *volume, struct snap_push *out,
    char **cause);
/*
 * For a store whose copy costs per file (store.h, prepare): makes the
 * private copy of latest the next in-place push of client/volume will
 * rewrite, now rather than while that push's client waits, synced and
 * under the volume's lock (skipped if a push holds it: that push makes the
 * next). Deletes one made for an earlier latest. 0 (also when there is
 * nothing to do) or -1 with *cause.
 */
int snap_prepare_next(const struct snap_method *m, const char *root,
    const char *client, const char *volume, char **cause);
/* Makes the partial snapshot complete and latest; releases the lock. */
int snap_commit(struct snap_push *, char **cause);
/* Deletes the partial snapshot and releases the lock. */
void snap_abort(struct snap_push *);

/*
 * Marks the complete snapshot id as holding no regular file with more
 * than one link (found by a walk of it, usage.h): a copy-on-write push
 * then need not look for links to separate (store_unshare). Nothing if
 * the snapshot is gone. 0 or -1 with *cause.
 */
int snap_mark_nolinks(const char *root, const char *client,
    const char *volume, const char *id, char **cause);

/* Complete snapshot IDs of client/volume, oldest first (caller frees). */
int snap_list(const char *root, const char *client, const char *volume,
    char ***ids, size_t *n, char **cause);
void snap_list_free(char **ids, size_t n);
/*
 * The directory of snapshot (an ID or "latest") of client/volume; caller
 * frees. -1 with *cause naming what is missing.
 */
int snap_resolve(const char *root, const char *client, const char *volume,
    const char *snapshot, char **path, char **cause);

/*
 * Which of ids (oldest first, n of them) the policy keeps: keep[i] = 1.
 * Like restic/borg --keep-last/hourly/daily/weekly/monthly: the newest N
 * snapshots, and the newest snapshot of each of the last N hours/days/ISO
 * weeks/months (UTC); the newest snapshot is always kept. Pure.
 */
void snap_select(char *const *ids, size_t n, const struct snap_policy *,
    int *keep);
/*
 * Applies the policy to client/volume: each pruned snapshot is first
 * renamed to .prune-<ID> and then deleted (store_remove: a subvolume or
 * a tree, whichever it is). Returns the number pruned, -1
 * on error.
 */
int snap_prune(const char *root, const char *client, const char *volume,
    const struct snap_policy *, char **cause);
/*
 * At start: deletes every .partial-* and .prune-* under root (and marks of
 * snapshots that are not there), and repoints
 * a latest that names a missing snapshot at the newest complete one.
 */
void snap_recover(const char *root);

#endif
