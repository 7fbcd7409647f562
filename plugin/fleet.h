/*
 * fleet: the plugin's picture of the fleet — privateer.json, this
 * machine's identity and keys — loaded at start in the background (Docker
 * is served meanwhile), reloaded on SIGHUP and /Privateer.Reload, and
 * retried while the key store is unreachable. On a server it also runs the
 * replication server with the loaded keys. Operations take a reference to
 * the current state and keep it however long they run; a reload swaps in a
 * new state and the old one (and its keys, wiped) goes when released.
 */
#ifndef PRIVATEER_FLEET_H
#define PRIVATEER_FLEET_H

#include <jansson.h>

#include "config.h"
#include "keys.h"

#define FLEET_RETRY_SECONDS 30

struct fleet;

struct fleet_state {
	int refs;		/* fleet.c's business */
	struct config *cfg;
	char *identity;
	struct keys keys;
	int keys_loaded;
	char *keys_error;	/* "key store unavailable: ..." */
	char *store_where;
};

struct fleet_options {
	const char *config_path;	/* privateer.json inside the plugin */
	const char *identity;		/* PRIVATEER_NAME; NULL or "" to read
					 * .privateer_identity */
	const char *state_dir;		/* server snapshots go under it */
	const char *listen_address;	/* ssh server; NULL: 0.0.0.0 */
	const char *rsync;		/* absolute path */
	struct notify *notify;		/* told each loaded config; not
					 * owned; may be NULL */
};

/* Starts the loader thread; the options' strings are copied. */
struct fleet *fleet_start(const struct fleet_options *);
void fleet_stop(struct fleet *);
/* Asks the loader thread to reload (SIGHUP); returns at once. */
void fleet_request_reload(struct fleet *);
/* Reloads now and waits; 0, or -1 with *cause describing what failed. */
int fleet_reload(struct fleet *, char **cause);
/* Identity, role, config and key state as a JSON object; caller owns. */
json_t *fleet_status(struct fleet *);
/*
 * The current state with its keys, for replication; NULL with *cause
 * saying why there is none (standalone, config invalid, key store
 * unavailable). Release with fleet_release.
 */
struct fleet_state *fleet_acquire(struct fleet *, char **cause);
void fleet_release(struct fleet *, struct fleet_state *);
/* Where notifications go (NULL: nowhere); not owned. */
struct notify *fleet_notify(struct fleet *);
/* Where this machine keeps the snapshots it receives as a server. */
const char *fleet_server_root(struct fleet *);
/*
 * A server's side of privateer status, set in out: "Store" (how snapshots
 * share data) and "Clients" (what each client's backups cost).
 */
void fleet_server_status(struct fleet *, json_t *out);
/* The current state whether or not its keys loaded; NULL if none. */
struct fleet_state *fleet_acquire_config(struct fleet *);

#endif
