/*
 * ops_int: what ops.c shares with the operations kept in their own files
 * (verify.c): the current fleet state with this machine's keys, and the
 * choice of server and source. Not for other modules.
 */
#ifndef PRIVATEER_OPS_INT_H
#define PRIVATEER_OPS_INT_H

#include <limits.h>

#include "fleet.h"
#include "repl.h"

struct ops_env {
	struct fleet_state *st;
	struct repl_self self;
	char exe[PATH_MAX];
};

/* Takes the fleet state with its keys (a client's, if need_client). */
int ops_env_open(struct fleet *, struct ops_env *, int need_client,
    char **cause);
void ops_env_close(struct fleet *, struct ops_env *);
/* The repl view of a configured server, with its pinned key. */
int ops_server(const struct ops_env *, const char *name,
    struct repl_server *out, char **cause);
/* given, else the only server; NULL with *cause. */
const char *ops_pick_server(const struct ops_env *, const char *given,
    char **cause);
/* given, else the only client that backs volume up; NULL with *cause. */
const char *ops_pick_source(const struct ops_env *, const char *volume,
    const char *given, const char *server, char **cause);

#endif
