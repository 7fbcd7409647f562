/*
 * usage: what a client's volume costs its server — complete snapshots,
 * the newest, and bytes allocated, a file shared by several snapshots
 * (hard links) counted once. Walking every snapshot is not free, so the
 * result is kept in <root>/<client>/<volume>/.usage and recomputed only
 * when the volume's latest snapshot is not the one it was computed for.
 */
#ifndef PRIVATEER_USAGE_H
#define PRIVATEER_USAGE_H

#include <jansson.h>

#include "snapshot.h"

struct usage {
	unsigned long snapshots;
	char latest[SNAP_ID_LEN + 1];	/* "" if none */
	unsigned long long bytes;
	unsigned long latest_links;	/* files of latest with > 1 link */
};

/* Walks client/volume now and writes the cache; 0 or -1 with *cause. */
int usage_update(const char *root, const char *client, const char *volume,
    struct usage *out, char **cause);
/* The cached figures if still current, else usage_update. */
int usage_get(const char *root, const char *client, const char *volume,
    struct usage *out, char **cause);
/*
 * Every client's volumes under root: {client: {"snapshots": N, "bytes":
 * B, "volumes": {volume: {"snapshots", "bytes", "latest"}}}}; caller
 * owns. Volumes that cannot be read are left out (and logged).
 */
json_t *usage_all(const char *root);

#endif
