/*
 * ssh_server: the replication server inside the plugin. A libssh server
 * that authenticates only the configured clients' public keys, accepts one
 * session channel with one exec request, checks the command with
 * rsync_argv, and runs rsync --server itself (execve, clean environment,
 * fixed working directory) confined to the snapshot store: a client writes
 * only new snapshots of its own volumes and reads any snapshot. The one
 * other command, privateer-export, streams a snapshot as a tar file
 * (`privateer pack export`, read-only, in the snapshot's directory).
 */
#ifndef PRIVATEER_SSH_SERVER_H
#define PRIVATEER_SSH_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

struct sshd_client {
	const char *name;
	const char *public_key;		/* "ssh-ed25519 AAAA..." */
};

struct sshd_config {
	const char *address;		/* listen address, e.g. "0.0.0.0" */
	int port;
	const char *host_key;		/* private key text; copied, wiped */
	const struct sshd_client *clients;
	size_t nclients;
	const char *root;		/* <state>/server */
	const char *rsync;		/* absolute path of rsync */
	const char *exe;		/* privateer, for `pack export` */
	/* The server's own volumes clients may read (privateer2's local:
	 * true): source self, snapshot latest, data in
	 * <volumes_root>/<name>/data. */
	const char *self;
	const char *volumes_root;
	const char *const *local_volumes;
	size_t nlocal;
	struct snap_policy policy;
	int compress;			/* btrfs store: zstd on new snapshots */
	int auth_seconds;		/* grace time; 0 = 30 */
	int max_sessions;		/* 0 = 32 */
	/* While a push is committed (synced, renamed) the session is not
	 * read: the client hears something this often (0 = 15 s) so its
	 * watchdog does not take a long sync for a dead connection. */
	int keepalive_seconds;
};

struct sshd_stats {
	uint64_t sessions;		/* accepted so far */
	uint64_t refused;		/* auth or command refused */
	unsigned active;
};

struct sshd;

/* Binds and starts serving in background threads; NULL with *cause. */
struct sshd *sshd_start(const struct sshd_config *, char **cause);
/* Stops listening, ends sessions (killing their rsync), frees. */
void sshd_stop(struct sshd *);
void sshd_get_stats(struct sshd *, struct sshd_stats *);
/* The snapshot store's method: "btrfs", "reflink" or "hardlink". */
const char *sshd_store_name(struct sshd *);

#endif
