/*
 * volume: the registry of privateer volumes. Each volume is a directory
 * <state>/volumes/<name>/ holding meta.json and data/; the data is exposed
 * to containers by a bind mount at <mount root>/<name>, where the mount root
 * is the plugin's propagated mount. OS effects (mounting, durable writes)
 * go through a small function table so tests can substitute them.
 *
 * Readers (Get, List, Path, the status of every volume) never wait for a
 * disk: a change to a volume holds that volume's own lock for its whole
 * length, I/O included, and the registry's lock only to read what it
 * starts from and to publish what it has persisted.
 */
#ifndef PRIVATEER_VOLUME_H
#define PRIVATEER_VOLUME_H

#include <jansson.h>
#include <stddef.h>

struct vol_os {
	/* Makes dst (creating it) show the directory src. */
	int (*bind)(const char *src, const char *dst, char **cause);
	/* Undoes bind and removes dst; succeeds if dst is not mounted. */
	int (*unbind)(const char *dst, char **cause);
	/* 1 if path is currently a mount point, else 0. */
	int (*mounted)(const char *path);
	/*
	 * Replaces path with len bytes of data atomically and durably: a
	 * temporary file, fsync, rename, fsync of the directory; or, when
	 * fresh (path is new, in a directory not in view yet), written in
	 * place, fsync, fsync of the directory. Every meta.json is written
	 * through here, never under the registry's lock (tests slow it down
	 * or make it fail).
	 */
	int (*write_file)(const char *path, const void *data, size_t len,
	    int fresh, char **cause);
};

extern const struct vol_os vol_os_linux;

struct vol_registry;

/*
 * Opens (creating if needed) the registry under state_dir, loads every
 * volume, finishes interrupted creations and removals, and drops mount
 * references whose mount no longer exists (the host or Docker restarted).
 * NULL with *cause on failure. The strings are copied.
 */
struct vol_registry *vol_open(const char *state_dir, const char *mount_root,
    const struct vol_os *os, char **cause);
/* How long Mount waits for a restore-from volume to be filled (seconds). */
void vol_set_restore_wait(struct vol_registry *, int seconds);
void vol_close(struct vol_registry *);

/* opts is a JSON object of strings or NULL; not taken. */
int vol_create(struct vol_registry *, const char *name, const json_t *opts,
    char **cause);
int vol_remove(struct vol_registry *, const char *name, char **cause);
/*
 * A new volume filled from outside (import). vol_import_begin fails if
 * name exists, else builds the volume out of view and sets *data (caller
 * frees) to its empty data directory for the caller to fill; the volume
 * appears only at vol_import_commit, which fails if name was created in
 * the meantime. vol_import_commit and vol_import_abort free the handle; a
 * crash in between leaves nothing (temporary directories are removed at
 * start).
 */
struct vol_import;
int vol_import_begin(struct vol_registry *, const char *name,
    struct vol_import **, char **data, char **cause);
int vol_import_commit(struct vol_registry *, struct vol_import *,
    char **cause);
void vol_import_abort(struct vol_registry *, struct vol_import *);
/* *mountpoint (caller frees) is where the volume is now visible. */
int vol_mount(struct vol_registry *, const char *name, const char *id,
    char **mountpoint, char **cause);
int vol_unmount(struct vol_registry *, const char *name, const char *id,
    char **cause);
/* *mountpoint is NULL when the volume is not mounted. */
int vol_path(struct vol_registry *, const char *name, char **mountpoint,
    char **cause);
/* Docker's Volume object {Name, Mountpoint, CreatedAt, Status}; caller owns. */
json_t *vol_get(struct vol_registry *, const char *name, char **cause);
/* Array of {Name, Mountpoint}; caller owns. */
json_t *vol_list(struct vol_registry *);
/* The same as List's answer, {"Volumes":[...]}, encoded; caller frees;
 * NULL if out of memory. */
char *vol_list_text(struct vol_registry *);
/* name's data directory (caller frees); readable while mounted. */
int vol_data_dir(struct vol_registry *, const char *name, char **dir,
    char **cause);
/*
 * Reserves name for a restore: it must exist and not be mounted; Mount and
 * Remove fail while it is reserved. *staging (caller frees) is a new empty
 * directory beside the data to restore into, *data the current data
 * directory (a restore may hard-link unchanged files from it).
 */
int vol_restore_begin(struct vol_registry *, const char *name,
    char **staging, char **data, char **cause);
/*
 * Ends the reservation. With ok, the staging directory atomically takes
 * the place of the data (renameat2 RENAME_EXCHANGE) and the old data is
 * deleted in the background; otherwise the staging directory is deleted
 * and the data is as it was. -1 with *cause only if the swap failed.
 */
int vol_restore_end(struct vol_registry *, const char *name, int ok,
    char **cause);
/* The outcome of one replication of a volume to a server. */
struct vol_backup_note {
	const char *server;
	long long started_ms;	/* what "changed since" compares with */
	time_t finished;
	const char *result;	/* "ok", "failed", "skipped: unchanged" */
	const char *error;	/* or NULL */
	unsigned long long bytes;
	double seconds;
};

/*
 * Whether name changed since its last successful replication to server
 * started: it is mounted now, or was mounted or unmounted after that.
 */
int vol_backup_changed(struct vol_registry *, const char *name,
    const char *server, int *changed, char **cause);
/* Records a replication result in the volume's metadata (persisted). */
int vol_backup_record(struct vol_registry *, const char *name,
    const struct vol_backup_note *, char **cause);
/* {name: {...per server results}} for every volume; caller owns. */
json_t *vol_backup_all(struct vol_registry *);
/* 1 if a volume called name exists here. */
int vol_exists(struct vol_registry *, const char *name);
/* Whether name replicates on unmount (on-unmount=, default true). */
int vol_on_unmount(struct vol_registry *, const char *name);
/* {name: "cron expression"} of volumes with schedule=; caller owns. */
json_t *vol_schedules(struct vol_registry *);
/*
 * Volumes created with restore-from are "pending" until their restore
 * finishes: Mount waits for it (bounded), then fails with the progress or
 * the reason of a failed restore.
 */
/* Names of volumes whose restore is pending (after a restart too). */
json_t *vol_pending_restores(struct vol_registry *);
void vol_restore_progress(struct vol_registry *, const char *name,
    int percent);
/* The attempt numbered failed_attempts failed with error; another comes at
 * next_attempt (shown by inspect and Mount until the restore finishes). */
void vol_restore_retrying(struct vol_registry *, const char *name,
    int failed_attempts, const char *error, time_t next_attempt);
/* Marks the restore done, or failed with error; persisted. */
int vol_restore_finish(struct vol_registry *, const char *name, int ok,
    const char *error, char **cause);
/* The volume's options as given at Create (caller owns), or NULL. */
json_t *vol_options(struct vol_registry *, const char *name);
/* Waits until removed volumes' data is deleted (tests, shutdown). */
void vol_reap_wait(struct vol_registry *);

#endif
