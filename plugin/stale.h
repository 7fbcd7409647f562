/*
 * stale: the dead man's switch (PRODUCT.md §11). A volume and server pair
 * is stale when its last successful backup is older than its maximum age:
 * -o max-age= on the client, else the volume's max_age in privateer.json,
 * else twice its schedule's interval, else none. A client judges its own
 * volumes from their recorded results; a server judges every client
 * volume it keeps from the time of the latest snapshot, so a client that
 * died is noticed.
 */
#ifndef PRIVATEER_STALE_H
#define PRIVATEER_STALE_H

#include <jansson.h>
#include <time.h>

#include "config.h"
#include "cron.h"
#include "vopts.h"

struct fleet;
struct vol_registry;

/* The longest gap between c's next few runs after now, in seconds. */
long long stale_cron_interval(const struct cron *, time_t now);
/*
 * The maximum age of client's volume on server (0: none). o is the
 * volume's options on the client (NULL on a server); cfg may be NULL.
 */
long long stale_max_age(const struct config *cfg, const char *client,
    const char *volume, const char *server, const struct vopts *o,
    time_t now);
/*
 * This client's pairs: {volume: {server: {"max_age": seconds, "stale":
 * bool, "last_success": t}}} for pairs with a maximum age; caller owns.
 * A pair never backed up counts from the volume's creation.
 */
json_t *stale_client(struct vol_registry *, struct fleet *, time_t now);
/*
 * This server's clients: {client: {volume: {"max_age", "stale",
 * "last_success", "latest"}}} for every kept client volume with a
 * maximum age; caller owns. root is where the snapshots are.
 */
json_t *stale_server(struct fleet *, const char *root, time_t now);
/* Sets Status["last-backup"][server]["stale"] (and "max-age") of volume. */
void stale_annotate(struct vol_registry *, struct fleet *,
    const char *volume, json_t *status);

#endif
