/*
 * snapshot_int: what snapshot.c and snapshot_next.c share; not for other
 * callers (snapshot.h is the interface).
 */
#ifndef PRIVATEER_SNAPSHOT_INT_H
#define PRIVATEER_SNAPSHOT_INT_H

#include "snapshot.h"

/*
 * Empty files beside a snapshot saying something about it (snapshot.h):
 * .plain-<ID> no ACLs or xattrs, .nolinks-<ID> no hard links.
 */
#define SNAP_PLAIN ".plain-"
#define SNAP_NOLINKS ".nolinks-"
/* A copy made ahead for the next push: .next-<latest ID> when complete,
 * .next-tmp-<ID> while it is made (removed at start if left). */
#define SNAP_NEXT ".next-"
#define SNAP_NEXT_TMP ".next-tmp-"

char *snap_mark_path(const char *dir, const char *kind, const char *id);
char *snap_plain_mark(const char *dir, const char *id);
/* The ID latest points at, or "" if there is none. */
void snap_latest_id(const char *dir, char out[SNAP_ID_LEN + 1]);
/* Deletes name in dir, a push or prune that did not finish. */
void snap_remove_unfinished(const char *dir, const char *name);
/* The same for every name in dir that starts with prefix, but keep. */
void snap_remove_prefixed(const char *dir, const char *prefix,
    const char *keep);
/*
 * Under dir's lock: renames the copy made ahead for latest ID id to
 * partial. 1 if it did, 0 if there was none (or it could not).
 */
int snap_next_take(const char *dir, const char *id, const char *partial);

#endif
