/*
 * verify: checking kept snapshots against the manifests the server wrote
 * when it made them (sync/manifest.h) — on a server directly, from a
 * client on the named server through the replication transport
 * (`privateer-verify`, run there as the child `privateer verify-snapshots`)
 * — and comparing a snapshot with the client's live, unmounted volume
 * (--against-volume: a restore test without restoring). Damage found is a
 * verify event (notify.h), told once an episode.
 */
#ifndef PRIVATEER_VERIFY_H
#define PRIVATEER_VERIFY_H

#include <jansson.h>

struct fleet;
struct vol_registry;

struct verify_request {
	const char *volume;
	const char *server;	/* NULL: the only one (clients) */
	const char *source;	/* NULL: this client, or the only one */
	const char *snapshot;	/* an ID; NULL: latest */
	int all;		/* every kept snapshot */
	int against_volume;	/* compare with the live volume instead */
};

/*
 * Runs a verification: {"Report": text, "Problems": n, "Server",
 * "Source"}, or NULL with *cause when nothing could be checked.
 */
json_t *verify_run(struct fleet *, struct vol_registry *,
    const struct verify_request *, char **cause);
/*
 * The last verification of each kept volume since start: {"client/volume":
 * {server: {"client", "volume", "problems", "time"}}}; caller owns.
 */
json_t *verify_results(void);
/*
 * Verifies every snapshot of every client kept under root (the schedule);
 * stops before the next volume once *stop is set (may be NULL).
 */
void verify_server_all(struct fleet *, const char *root, const int *stop);
/*
 * The child `privateer verify-snapshots ROOT SOURCE VOLUME WHICH
 * [--manifest]`: the report (or the manifest) on stdout; exit 0 clean,
 * 1 damaged, 2 on error.
 */
int verify_snapshots_main(int argc, char **argv);

#endif
