/*
 * repl: replication operations as a library — back a directory up to a
 * server as a new snapshot, restore a snapshot into a directory, list a
 * volume's snapshots, probe a server — each by running the local rsync
 * with `privateer transport` as its remote shell. Results carry the exit
 * status, rsync's own error text, bytes on the wire and the duration.
 */
#ifndef PRIVATEER_REPL_H
#define PRIVATEER_REPL_H

#include <stddef.h>
#include <stdint.h>

struct repl_self {
	const char *name;		/* this machine */
	const char *private_key;	/* its key; never leaves memory/fd */
	const char *rsync;		/* absolute path of rsync */
	const char *exe;		/* absolute path of privateer */
	/* Optional: called as rsync reports overall progress
	 * (--info=progress2): percent, bytes and files done. */
	void (*progress)(void *arg, int percent, uint64_t bytes,
	    uint64_t files);
	void *progress_arg;
	/* How long a silent server may be before the transport gives up
	 * (0: its default, 60 s); for tests. */
	int dead_seconds;
};

struct repl_server {
	const char *name;
	const char *hostname;
	int port;
	const char *host_key;		/* the pinned public key */
};

struct repl_result {
	int status;			/* rsync's exit; 255: transport */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t files;			/* regular files transferred */
	double seconds;
	double sync_seconds;		/* restore: of seconds, the final sync */
	char *error;			/* rsync's/transport's stderr; or NULL */
};

void repl_result_free(struct repl_result *);

/*
 * The rsync command line (without the key) that an operation runs, for
 * --dry-run displays; caller frees.
 */
char *repl_describe_backup(const struct repl_self *,
    const struct repl_server *, const char *volume, const char *src_dir);
char *repl_describe_restore(const struct repl_self *,
    const struct repl_server *, const char *source, const char *volume,
    const char *snapshot, const char *into_dir);

/* src_dir's contents become a new snapshot of volume on server. */
int repl_backup(const struct repl_self *, const struct repl_server *,
    const char *volume, const char *src_dir, struct repl_result *);
/* Snapshot (ID or "latest") of source's volume fills into_dir, which must
 * be empty (files are written in place, nothing is deleted), and gives it
 * the snapshot's owner and mode. */
int repl_restore(const struct repl_self *, const struct repl_server *,
    const char *source, const char *volume, const char *snapshot,
    const char *into_dir, struct repl_result *);
/* Snapshot IDs of source's volume, oldest first. */
int repl_list(const struct repl_self *, const struct repl_server *,
    const char *source, const char *volume, char ***ids, size_t *n,
    struct repl_result *);
/*
 * Starts the transport running `privateer-export SOURCE VOLUME SNAPSHOT
 * COMPRESS` on server: out->out carries the tar stream, out->err the
 * reasons; the child's exit status is the server's (255: transport).
 * 0, or -1 with *cause. Wait for it with child_wait.
 */
struct child;
int repl_export_start(const struct repl_self *, const struct repl_server *,
    const char *source, const char *volume, const char *snapshot,
    const char *compress, struct child *out, char **cause);
/*
 * Asks server how it keeps snapshots (`privateer-store`): *method is
 * "btrfs", "reflink" or "hardlink" (caller frees). Backups ask this
 * themselves, once per server every ten minutes: into a copy-on-write
 * store they go in place (--inplace --delete). 0, or -1 with *cause.
 */
int repl_store(const struct repl_self *, const struct repl_server *,
    char **method, char **cause);
/*
 * Asks server to verify source's volume (`privateer-verify`): which is an
 * ID, "latest" or "all"; with manifest, *out is that snapshot's manifest
 * instead. *out (caller frees, at most cap bytes) is the report and
 * *status the server's answer: 0 nothing damaged, 1 damage. -1 with
 * *cause when there is no answer (or the server refused).
 */
int repl_verify(const struct repl_self *, const struct repl_server *,
    const char *source, const char *volume, const char *which, int manifest,
    size_t cap, char **out, int *status, char **cause);
/* Handshake and a no-op (dry-run) rsync. */
int repl_probe(const struct repl_self *, const struct repl_server *,
    struct repl_result *);

#endif
