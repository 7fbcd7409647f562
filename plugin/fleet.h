/*
 * fleet: the plugin's picture of the fleet — privateer.json, this
 * machine's identity and keys — loaded at start in the background (Docker
 * is served meanwhile), reloaded on SIGHUP and /Privateer.Reload, and
 * retried while the key store is unreachable. Replication asks it for keys
 * and gets the reason when there are none.
 */
#ifndef PRIVATEER_FLEET_H
#define PRIVATEER_FLEET_H

#include <jansson.h>

#define FLEET_RETRY_SECONDS 30

struct fleet;

/*
 * Starts the loader thread. config_path is privateer.json inside the
 * plugin; identity is PRIVATEER_NAME (NULL or "" to read
 * .privateer_identity beside the config). Strings are copied.
 */
struct fleet *fleet_start(const char *config_path, const char *identity);
void fleet_stop(struct fleet *);
/* Asks the loader thread to reload (SIGHUP); returns at once. */
void fleet_request_reload(struct fleet *);
/* Reloads now and waits; 0, or -1 with *cause describing what failed. */
int fleet_reload(struct fleet *, char **cause);
/* Identity, role, config and key state as a JSON object; caller owns. */
json_t *fleet_status(struct fleet *);

#endif
