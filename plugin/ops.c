/*
 * ops: defaults follow privateer2: a backup goes to the volume's backup=
 * servers, else to every server when the volume is in this client's backup
 * list; a restore comes from the only server unless one is named, of the
 * only client that backs the volume up unless one is named (ambiguity is
 * an error that names the candidates).
 */
#include "ops.h"
#include "ops_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet.h"
#include "log.h"
#include "notify.h"
#include "repl.h"
#include "snapshot.h"
#include "util.h"
#include "volume.h"
#include "vopts.h"

#define OPS_RSYNC "/usr/bin/rsync"

int
ops_env_open(struct fleet *f, struct ops_env *env, int need_client,
    char **cause)
{
	memset(env, 0, sizeof *env);
	env->st = fleet_acquire(f, cause);
	if (env->st == NULL)
		return -1;
	if (need_client && config_role(env->st->cfg, env->st->identity) !=
	    CONFIG_ROLE_CLIENT) {
		set_cause(cause, "%s is a server; backups and restores run on "
		    "clients", env->st->identity);
		fleet_release(f, env->st);
		return -1;
	}
	if (child_self_exe(env->exe, sizeof env->exe, cause) != 0) {
		fleet_release(f, env->st);
		return -1;
	}
	env->self.name = env->st->identity;
	env->self.private_key = env->st->keys.self.private_key;
	env->self.rsync = OPS_RSYNC;
	env->self.exe = env->exe;
	return 0;
}

void
ops_env_close(struct fleet *f, struct ops_env *env)
{
	fleet_release(f, env->st);
	memset(env, 0, sizeof *env);
}

/* The repl view of a configured server, with its pinned key. */
int
ops_server(const struct ops_env *env, const char *name,
    struct repl_server *out, char **cause)
{
	const struct config_server *s = config_server(env->st->cfg, name);
	size_t i;

	if (s == NULL) {
		set_cause(cause, "\"%s\" is not a server in privateer.json",
		    name);
		return -1;
	}
	out->name = s->name;
	out->hostname = s->hostname;
	out->port = s->port;
	out->host_key = keys_peer(&env->st->keys, name);
	if (out->host_key == NULL) {
		for (i = 0; i < env->st->keys.npeers; i++) {
			if (strcmp(env->st->keys.peers[i].name, name) == 0)
				break;
		}
		set_cause(cause, "no pinned host key for server %s: %s", name,
		    i < env->st->keys.npeers && env->st->keys.peers[i].error !=
		    NULL ? env->st->keys.peers[i].error : "not loaded");
		return -1;
	}
	return 0;
}

static char *
ops_names(const char *const *names, size_t n)
{
	char *s = xstrdup(""), *tmp;
	size_t i;

	for (i = 0; i < n; i++) {
		tmp = s;
		s = xasprintf("%s%s%s", tmp, i > 0 ? ", " : "", names[i]);
		free(tmp);
	}
	return s;
}

static json_t *
ops_result(const char *server, const struct repl_result *r)
{
	json_t *j = json_pack("{s:s, s:i, s:I, s:I, s:I, s:f}", "Server",
	    server, "Status", r->status, "BytesSent",
	    (json_int_t)r->bytes_sent, "BytesReceived",
	    (json_int_t)r->bytes_received, "Files", (json_int_t)r->files,
	    "Seconds", r->seconds);

	if (r->error != NULL) {
		char *clean = utf8_clean(r->error);
		json_object_set_new(j, "Error", json_string(clean));
		free(clean);
	}
	return j;
}

struct ops_relay {
	const struct ops_request *req;
	const char *server;
};

static void
ops_relay_progress(void *arg, int percent, uint64_t bytes, uint64_t files)
{
	struct ops_relay *r = arg;

	r->req->progress(r->req->progress_arg, r->server, percent, bytes,
	    files);
}

/* The servers a backup of volume goes to (caller frees the array). */
static const char **
ops_backup_servers(const struct ops_env *env, struct vol_registry *reg,
    const struct ops_request *req, size_t *n, char **cause)
{
	const struct config_client *me = config_client(env->st->cfg,
	    env->st->identity);
	const char **out = NULL;
	json_t *vol, *backup;
	size_t i;

	*n = 0;
	if (req->server != NULL) {
		out = xcalloc(1, sizeof *out);
		out[(*n)++] = req->server;
		return out;
	}
	vol = vol_get(reg, req->volume, NULL);
	backup = json_object_get(json_object_get(vol, "Status"), "backup");
	if (json_array_size(backup) > 0) {
		out = xcalloc(json_array_size(backup), sizeof *out);
		for (i = 0; i < json_array_size(backup); i++) {
			const struct config_server *s = config_server(
			    env->st->cfg, json_string_value(
			    json_array_get(backup, i)));
			if (s == NULL) {
				set_cause(cause, "volume %s backs up to \"%s\", "
				    "which is not a server in privateer.json",
				    req->volume, json_string_value(
				    json_array_get(backup, i)));
				free(out);
				json_decref(vol);
				*n = 0;
				return NULL;
			}
			out[(*n)++] = s->name;
		}
		json_decref(vol);
		return out;
	}
	json_decref(vol);
	for (i = 0; me != NULL && i < me->nbackup; i++) {
		if (strcmp(me->backup[i], req->volume) == 0)
			break;
	}
	if (me == NULL || i == me->nbackup || env->st->cfg->nservers == 0) {
		set_cause(cause, "volume %s has no backup servers: create it "
		    "with -o backup=SERVER, list it in %s's backup in "
		    "privateer.json, or give --server", req->volume,
		    env->st->identity);
		return NULL;
	}
	out = xcalloc(env->st->cfg->nservers, sizeof *out);
	for (i = 0; i < env->st->cfg->nservers; i++)
		out[(*n)++] = env->st->cfg->servers[i].name;
	return out;
}

/* When volume last went to server, from its record; 0: never. */
static time_t
ops_last_success(struct vol_registry *reg, const char *volume,
    const char *server)
{
	json_t *all = vol_backup_all(reg);
	time_t t;

	t = (time_t)json_integer_value(json_object_get(json_object_get(
	    json_object_get(all, volume), server), "last_success"));
	json_decref(all);
	return t;
}

json_t *
ops_backup(struct fleet *f, struct vol_registry *reg,
    const struct ops_request *req, char **cause)
{
	struct repl_server srv;
	struct repl_result res;
	struct ops_env env;
	struct ops_relay relay;
	struct vol_backup_note note;
	const char **servers = NULL;
	json_t *results = NULL, *out = NULL;
	char *data = NULL, *why = NULL;
	size_t n = 0, i;
	int failed = 0, ok;

	if (ops_env_open(f, &env, 1, cause) != 0)
		return NULL;
	/* Never back up a volume that is not here: privateer2 wiped the
	 * server's copy that way. */
	if (vol_data_dir(reg, req->volume, &data, cause) != 0)
		goto out;
	servers = ops_backup_servers(&env, reg, req, &n, cause);
	if (servers == NULL)
		goto out;
	results = json_array();
	for (i = 0; i < n; i++) {
		if (ops_server(&env, servers[i], &srv, &why) != 0) {
			json_array_append_new(results, json_pack("{s:s, s:i, "
			    "s:s}", "Server", servers[i], "Status", 255,
			    "Error", why));
			free(why);
			why = NULL;
			failed++;
			continue;
		}
		if (req->dry_run) {
			char *cmd = repl_describe_backup(&env.self, &srv,
			    req->volume, data);
			json_array_append_new(results, json_pack("{s:s, s:s, "
			    "s:s}", "Server", servers[i], "Path", data,
			    "Command", cmd));
			free(cmd);
			continue;
		}
		log_info("backup of %s to %s starting", req->volume,
		    servers[i]);
		relay.req = req;
		relay.server = servers[i];
		if (req->progress != NULL) {
			env.self.progress = ops_relay_progress;
			env.self.progress_arg = &relay;
		}
		memset(&note, 0, sizeof note);
		note.server = servers[i];
		note.started_ms = now_ms();
		ok = repl_backup(&env.self, &srv, req->volume, data,
		    &res) == 0;
		if (!ok) {
			failed++;
			log_error("backup of %s to %s failed (%d): %s",
			    req->volume, servers[i], res.status, res.error);
		} else
			log_info("backup of %s to %s done: %llu bytes sent in "
			    "%.1f s", req->volume, servers[i],
			    (unsigned long long)res.bytes_sent, res.seconds);
		/* A backup by hand counts as any other: status, staleness,
		 * episodes. */
		note.finished = time(NULL);
		note.result = ok ? "ok" : "failed";
		note.error = ok ? NULL : res.error != NULL ? res.error :
		    "failed";
		note.bytes = res.bytes_sent;
		note.seconds = res.seconds;
		(void)vol_backup_record(reg, req->volume, &note, NULL);
		/* A failure too says when it last succeeded. */
		(void)notify_job(fleet_notify(f), "backup", req->volume,
		    servers[i], NULL, ok, note.error, ops_last_success(reg,
		    req->volume, servers[i]));
		json_array_append_new(results, ops_result(servers[i], &res));
		repl_result_free(&res);
	}
	if (failed > 0) {
		set_cause(cause, "backup of %s failed on %d of %zu server(s)",
		    req->volume, failed, n);
		/* The per-server reasons still go back to the caller. */
		out = json_pack("{s:O, s:s}", "Results", results, "Err",
		    *cause);
	} else
		out = json_pack("{s:O, s:b}", "Results", results, "DryRun",
		    req->dry_run);
out:
	json_decref(results);
	free(servers);
	free(data);
	ops_env_close(f, &env);
	return out;
}

/* The only server, or req->server. */
const char *
ops_pick_server(const struct ops_env *env, const char *given, char **cause)
{
	const char **names;
	char *list;
	size_t i;

	if (given != NULL)
		return given;
	if (env->st->cfg->nservers == 1)
		return env->st->cfg->servers[0].name;
	names = xcalloc(env->st->cfg->nservers + 1, sizeof *names);
	for (i = 0; i < env->st->cfg->nservers; i++)
		names[i] = env->st->cfg->servers[i].name;
	list = ops_names(names, env->st->cfg->nservers);
	set_cause(cause, "more than one server (%s): give --server", list);
	free(list);
	free(names);
	return NULL;
}

/*
 * The only client that backs volume up, or req->source. A volume marked
 * "local" in privateer.json is the server's own (privateer2's local:
 * true): its source is the server.
 */
const char *
ops_pick_source(const struct ops_env *env, const char *volume,
    const char *given, const char *server, char **cause)
{
	const struct config_volume *v = config_volume(env->st->cfg, volume);
	const struct config_client *c;
	const char **names;
	const char *found = NULL;
	char *list;
	size_t i, k, n = 0;

	if (v != NULL && v->local) {
		if (given == NULL || strcmp(given, server) == 0)
			return server;
		set_cause(cause, "%s is a local volume of the server %s, not a "
		    "backup from %s: leave out the source", volume, server,
		    given);
		return NULL;
	}
	if (given != NULL)
		return given;
	names = xcalloc(env->st->cfg->nclients + 1, sizeof *names);
	for (i = 0; i < env->st->cfg->nclients; i++) {
		c = &env->st->cfg->clients[i];
		for (k = 0; k < c->nbackup; k++) {
			if (strcmp(c->backup[k], volume) == 0) {
				names[n++] = c->name;
				found = c->name;
			}
		}
	}
	if (n == 1) {
		free(names);
		return found;
	}
	if (n == 0)
		set_cause(cause, "no client backs up %s in privateer.json: "
		    "give --source", volume);
	else {
		list = ops_names(names, n);
		set_cause(cause, "%s is backed up by more than one client "
		    "(%s): give --source", volume, list);
		free(list);
	}
	free(names);
	return NULL;
}

json_t *
ops_restore(struct fleet *f, struct vol_registry *reg,
    const struct ops_request *req, char **cause)
{
	const char *server, *source, *target, *snapshot;
	struct repl_server srv;
	struct repl_result res;
	struct ops_env env;
	struct ops_relay relay;
	char *staging = NULL, *data = NULL, *cmd, *why = NULL;
	json_t *out = NULL, *existing;
	int created = 0, ok;

	if (ops_env_open(f, &env, 1, cause) != 0)
		return NULL;
	server = ops_pick_server(&env, req->server, cause);
	if (server == NULL)
		goto out;
	source = ops_pick_source(&env, req->volume, req->source, server,
	    cause);
	if (source == NULL)
		goto out;
	if (ops_server(&env, server, &srv, cause) != 0)
		goto out;
	snapshot = req->snapshot != NULL ? req->snapshot : "latest";
	if (strcmp(snapshot, "latest") != 0 &&
	    !vopts_snapshot_id_valid(snapshot)) {
		set_cause(cause, "snapshot \"%s\" is not an ID like "
		    "20260131T235900Z or latest", snapshot);
		goto out;
	}
	target = req->to_volume != NULL ? req->to_volume : req->volume;
	if (req->dry_run) {
		cmd = repl_describe_restore(&env.self, &srv, source,
		    req->volume, snapshot, "<volume data>");
		out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "Server",
		    server, "Source", source, "Snapshot", snapshot, "Volume",
		    target, "Command", cmd, "DryRun", 1);
		free(cmd);
		goto out;
	}
	existing = vol_get(reg, target, NULL);
	if (existing == NULL) {
		if (vol_create(reg, target, NULL, cause) != 0)
			goto out;
		created = 1;
	}
	json_decref(existing);
	if (vol_restore_begin(reg, target, &staging, &data, cause) != 0)
		goto undo;
	log_info("restore of %s/%s/%s from %s into volume %s starting",
	    source, req->volume, snapshot, server, target);
	relay.req = req;
	relay.server = server;
	if (req->progress != NULL) {
		env.self.progress = ops_relay_progress;
		env.self.progress_arg = &relay;
	}
	ok = repl_restore(&env.self, &srv, source, req->volume, snapshot,
	    staging, &res) == 0;
	if (vol_restore_end(reg, target, ok, &why) != 0) {
		set_cause(cause, "%s", why);
		free(why);
		repl_result_free(&res);
		goto undo;
	}
	if (!ok) {
		set_cause(cause, "restore of %s/%s/%s from %s failed: %s",
		    source, req->volume, snapshot, server, res.error != NULL ?
		    res.error : "rsync failed");
		repl_result_free(&res);
		goto undo;
	}
	out = ops_result(server, &res);
	json_object_set_new(out, "Source", json_string(source));
	json_object_set_new(out, "Snapshot", json_string(snapshot));
	json_object_set_new(out, "Volume", json_string(target));
	log_info("restore into volume %s done: %llu bytes received in %.2f s "
	    "(%.2f s of it the final sync)", target,
	    (unsigned long long)res.bytes_received, res.seconds,
	    res.sync_seconds);
	repl_result_free(&res);
	goto out;
undo:
	/* A volume made for this restore does not outlive its failure. */
	if (created && vol_remove(reg, target, &why) != 0) {
		log_error("removing the half-restored volume %s: %s", target,
		    why);
		free(why);
	}
out:
	free(staging);
	free(data);
	ops_env_close(f, &env);
	return out;
}

json_t *
ops_snapshots(struct fleet *f, const struct ops_request *req, char **cause)
{
	const struct config_client *c;
	struct repl_server srv;
	struct repl_result res;
	struct ops_env env;
	json_t *list, *entry, *ids;
	char **got = NULL, *why = NULL;
	size_t i, k, m, n;

	if (ops_env_open(f, &env, 1, cause) != 0)
		return NULL;
	list = json_array();
	for (i = 0; i < env.st->cfg->nservers; i++) {
		const char *server = env.st->cfg->servers[i].name;
		if (req->server != NULL && strcmp(req->server, server) != 0)
			continue;
		for (k = 0; k < env.st->cfg->nclients; k++) {
			c = &env.st->cfg->clients[k];
			if (req->source != NULL) {
				if (strcmp(req->source, c->name) != 0)
					continue;
			} else {
				for (m = 0; m < c->nbackup; m++) {
					if (strcmp(c->backup[m],
					    req->volume) == 0)
						break;
				}
				if (m == c->nbackup)
					continue;
			}
			entry = json_pack("{s:s, s:s}", "Server", server,
			    "Source", c->name);
			if (ops_server(&env, server, &srv, &why) != 0) {
				json_object_set_new(entry, "Error",
				    json_string(why));
				free(why);
				why = NULL;
			} else if (repl_list(&env.self, &srv, c->name,
			    req->volume, &got, &n, &res) != 0) {
				char *clean = utf8_clean(res.error != NULL ?
				    res.error : "failed");
				json_object_set_new(entry, "Error",
				    json_string(clean));
				free(clean);
				repl_result_free(&res);
			} else {
				ids = json_array();
				for (m = 0; m < n; m++) {
					json_array_append_new(ids,
					    json_string(got[m]));
					free(got[m]);
				}
				free(got);
				json_object_set_new(entry, "Snapshots", ids);
				repl_result_free(&res);
			}
			json_array_append_new(list, entry);
		}
	}
	ops_env_close(f, &env);
	if (json_array_size(list) == 0) {
		json_decref(list);
		set_cause(cause, "no server/source pair holds %s%s%s",
		    req->volume, req->source != NULL ? " from " : "",
		    req->source != NULL ? req->source : "");
		return NULL;
	}
	return json_pack("{s:o}", "Snapshots", list);
}

json_t *
ops_check(struct fleet *f, const struct ops_request *req, char **cause)
{
	struct repl_server srv;
	struct repl_result res;
	struct ops_env env;
	json_t *list;
	char *why = NULL;
	size_t i;

	if (ops_env_open(f, &env, 1, cause) != 0)
		return NULL;
	list = json_array();
	for (i = 0; i < env.st->cfg->nservers; i++) {
		const char *server = env.st->cfg->servers[i].name;
		if (req->server != NULL && strcmp(req->server, server) != 0)
			continue;
		if (ops_server(&env, server, &srv, &why) != 0) {
			json_array_append_new(list, json_pack("{s:s, s:i, "
			    "s:s}", "Server", server, "Status", 255, "Error",
			    why));
			free(why);
			why = NULL;
			continue;
		}
		(void)repl_probe(&env.self, &srv, &res);
		json_array_append_new(list, ops_result(server, &res));
		repl_result_free(&res);
	}
	ops_env_close(f, &env);
	return json_pack("{s:o}", "Connections", list);
}

int
ops_volume_servers(struct fleet *f, struct vol_registry *reg,
    const char *volume, char ***serversp, size_t *np, int *on_unmount)
{
	struct ops_request req;
	struct fleet_state *st;
	struct ops_env env;
	const char **names;
	char *why = NULL;
	size_t i, n = 0;

	*serversp = NULL;
	*np = 0;
	*on_unmount = 0;
	memset(&env, 0, sizeof env);
	/* Only the configuration matters here, not the keys. */
	st = fleet_acquire_config(f);
	if (st == NULL || config_role(st->cfg, st->identity) !=
	    CONFIG_ROLE_CLIENT) {
		fleet_release(f, st);
		return 0;
	}
	env.st = st;
	memset(&req, 0, sizeof req);
	req.volume = volume;
	names = ops_backup_servers(&env, reg, &req, &n, &why);
	free(why);
	if (names != NULL && n > 0) {
		*serversp = xcalloc(n, sizeof **serversp);
		for (i = 0; i < n; i++)
			(*serversp)[i] = xstrdup(names[i]);
		*np = n;
		*on_unmount = vol_on_unmount(reg, volume);
	}
	free(names);
	fleet_release(f, st);
	return 0;
}

int
ops_backup_one(struct fleet *f, struct vol_registry *reg, const char *volume,
    const char *server, struct repl_result *res, char **cause)
{
	struct repl_server srv;
	struct ops_env env;
	char *data = NULL;
	int rc = -1;

	memset(res, 0, sizeof *res);
	if (ops_env_open(f, &env, 1, cause) != 0)
		return -1;
	if (vol_data_dir(reg, volume, &data, cause) != 0 ||
	    ops_server(&env, server, &srv, cause) != 0)
		goto out;
	if (repl_backup(&env.self, &srv, volume, data, res) != 0) {
		set_cause(cause, "%s", res->error != NULL ? res->error :
		    "rsync failed");
		goto out;
	}
	rc = 0;
out:
	free(data);
	ops_env_close(f, &env);
	return rc;
}

/* Server, source, volume and snapshot of a restore-from volume. */
static int
ops_restore_plan(const struct fleet_state *st, const char *name,
    const struct vopts *o, const char **server, const char **source,
    const char **volume, char **cause)
{
	struct ops_env env;
	const char **names;
	char *list;
	size_t i;

	memset(&env, 0, sizeof env);
	env.st = (struct fleet_state *)st;
	*volume = o->restore_volume != NULL ? o->restore_volume : name;
	if (config_server(st->cfg, o->restore_from) == NULL) {
		names = xcalloc(st->cfg->nservers + 1, sizeof *names);
		for (i = 0; i < st->cfg->nservers; i++)
			names[i] = st->cfg->servers[i].name;
		list = ops_names(names, st->cfg->nservers);
		set_cause(cause, "restore-from=%s is not a server in "
		    "privateer.json (servers: %s)", o->restore_from, list);
		free(list);
		free(names);
		return -1;
	}
	*server = o->restore_from;
	if (o->restore_source != NULL &&
	    config_client(st->cfg, o->restore_source) == NULL &&
	    strcmp(o->restore_source, *server) != 0) {
		names = xcalloc(st->cfg->nclients + 1, sizeof *names);
		for (i = 0; i < st->cfg->nclients; i++)
			names[i] = st->cfg->clients[i].name;
		list = ops_names(names, st->cfg->nclients);
		set_cause(cause, "restore-source=%s is not a client in "
		    "privateer.json (clients: %s)", o->restore_source, list);
		free(list);
		free(names);
		return -1;
	}
	*source = ops_pick_source(&env, *volume, o->restore_source, *server,
	    cause);
	return *source != NULL ? 0 : -1;
}

int
ops_restore_check(struct fleet *f, const char *name, const json_t *opts,
    char **cause)
{
	const char *server, *source, *volume;
	struct fleet_state *st;
	struct vopts o;
	int rc;

	if (vopts_parse(opts, &o, cause) != 0)
		return -1;
	if (o.restore_from == NULL) {
		vopts_free(&o);
		return 0;
	}
	st = fleet_acquire_config(f);
	if (st == NULL) {
		set_cause(cause, "restore-from needs privateer.json, and this "
		    "plugin has none loaded");
		vopts_free(&o);
		return -1;
	}
	rc = ops_restore_plan(st, name, &o, &server, &source, &volume, cause);
	fleet_release(f, st);
	vopts_free(&o);
	return rc;
}

struct ops_restorer {
	struct fleet *fleet;
	struct vol_registry *reg;
	char *name;
};

static void
ops_restorer_progress(void *arg, int percent, uint64_t bytes,
    uint64_t files)
{
	struct ops_restorer *r = arg;

	(void)bytes;
	(void)files;
	vol_restore_progress(r->reg, r->name, percent);
}

/* Whether rsync's error says this machine's disk is full. */
static int
ops_disk_full(const char *error)
{
	return error != NULL && (strstr(error, "No space left on device") !=
	    NULL || strstr(error, "Disk quota exceeded") != NULL);
}

/* One attempt: 0 done, 1 worth retrying, -1 failed for good. */
static int
ops_restorer_try(struct ops_restorer *r, const struct vopts *o, char **cause)
{
	const char *server, *source, *volume;
	struct repl_server srv;
	struct repl_result res;
	struct ops_env env;
	char *staging = NULL, *data = NULL, *why = NULL;
	int rc = 1, ok;

	if (ops_env_open(r->fleet, &env, 1, cause) != 0)
		return 1;	/* keys may come */
	if (ops_restore_plan(env.st, r->name, o, &server, &source, &volume,
	    cause) != 0) {
		rc = -1;
		goto out;
	}
	if (ops_server(&env, server, &srv, cause) != 0)
		goto out;
	env.self.progress = ops_restorer_progress;
	env.self.progress_arg = r;
	if (vol_restore_begin(r->reg, r->name, &staging, &data, cause) != 0) {
		rc = -1;
		goto out;
	}
	log_info("restore of volume %s from %s (%s/%s/%s) starting", r->name,
	    server, source, volume, o->restore_snapshot != NULL ?
	    o->restore_snapshot : "latest");
	ok = repl_restore(&env.self, &srv, source, volume,
	    o->restore_snapshot != NULL ? o->restore_snapshot : "latest",
	    staging, &res) == 0;
	if (vol_restore_end(r->reg, r->name, ok, &why) != 0) {
		set_cause(cause, "%s", why);
		free(why);
		rc = -1;
	} else if (ok)
		rc = 0;
	else {
		set_cause(cause, "%s", res.error != NULL ? res.error :
		    "rsync failed");
		/*
		 * The transport failing may pass, and so may a full disk
		 * here (the staging directory is gone now, and what filled
		 * the disk may go too); rsync refusing will not.
		 */
		rc = res.status == 255 || ops_disk_full(res.error) ? 1 : -1;
	}
	repl_result_free(&res);
out:
	free(staging);
	free(data);
	ops_env_close(r->fleet, &env);
	return rc;
}

static void *
ops_restorer_main(void *arg)
{
	struct ops_restorer *r = arg;
	char *cause = NULL, *why = NULL;
	json_t *opts;
	struct vopts o;
	unsigned delay = 5, attempt;
	char *from = NULL;
	int rc = -1;

	opts = vol_options(r->reg, r->name);
	if (vopts_parse(opts, &o, &cause) != 0 || o.restore_from == NULL) {
		if (cause == NULL)
			cause = xstrdup("the volume has no restore-from");
	} else {
		for (attempt = 1; attempt <= 6; attempt++) {
			free(cause);
			cause = NULL;
			rc = ops_restorer_try(r, &o, &cause);
			if (rc <= 0)
				break;
			log_warn("restore of volume %s, attempt %u: %s; trying "
			    "again in %u s", r->name, attempt, cause, delay);
			vol_restore_retrying(r->reg, r->name, (int)attempt,
			    cause, time(NULL) + delay);
			sleep(delay);
			delay *= 2;
		}
		from = xstrdup(o.restore_from);
		vopts_free(&o);
	}
	json_decref(opts);
	if (rc == 0)
		log_info("restore of volume %s done", r->name);
	else
		log_error("restore of volume %s failed: %s", r->name, cause);
	(void)notify_job(fleet_notify(r->fleet), "restore", r->name,
	    from != NULL ? from : "?", NULL, rc == 0, cause, 0);
	free(from);
	if (vol_restore_finish(r->reg, r->name, rc == 0, cause, &why) != 0) {
		log_error("%s", why);
		free(why);
	}
	free(cause);
	free(r->name);
	free(r);
	return NULL;
}

void
ops_restore_spawn(struct fleet *f, struct vol_registry *reg,
    const char *name)
{
	struct ops_restorer *r = xcalloc(1, sizeof *r);
	pthread_attr_t attr;
	pthread_t t;

	r->fleet = f;
	r->reg = reg;
	r->name = xstrdup(name);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, ops_restorer_main, r) != 0) {
		(void)vol_restore_finish(reg, name, 0, "cannot start a restore "
		    "thread", NULL);
		free(r->name);
		free(r);
	}
	pthread_attr_destroy(&attr);
}

/* ---- export ---- */

/* `privateer pack export DIR` here, reading dir. */
static int
ops_export_local(const char *dir, const char *compress, int unmunge,
    struct ops_export *out, char **cause)
{
	char exe[PATH_MAX], *argv[8];
	int n = 0;

	if (child_self_exe(exe, sizeof exe, cause) != 0)
		return -1;
	argv[n++] = exe;
	argv[n++] = "pack";
	argv[n++] = "export";
	argv[n++] = (char *)dir;
	argv[n++] = "--compress";
	argv[n++] = (char *)compress;
	if (unmunge)
		argv[n++] = "--unmunge";
	argv[n] = NULL;
	if (child_start(exe, argv, child_clean_env, "/", -1, -1, &out->child,
	    cause) != 0)
		return -1;
	close(out->child.in);
	out->child.in = -1;
	return 0;
}

/* A snapshot kept by a server, through the replication transport. */
static int
ops_export_remote(struct fleet *f, const struct ops_request *req,
    const char *compress, struct ops_export *out, char **cause)
{
	struct repl_server srv;
	struct repl_result res;
	struct ops_env env;
	const char *server, *source;
	char **ids = NULL;
	size_t n = 0;
	int rc = -1;

	if (ops_env_open(f, &env, 1, cause) != 0)
		return -1;
	server = req->server;
	source = req->source;
	if (server == NULL && source != NULL &&
	    config_server(env.st->cfg, source) != NULL) {
		/* privateer2: --source names the server; our own backup. */
		server = source;
		source = env.st->identity;
	}
	if (source == NULL)
		source = env.st->identity;
	server = ops_pick_server(&env, server, cause);
	if (server == NULL || ops_server(&env, server, &srv, cause) != 0)
		goto out;
	if (req->snapshot != NULL && strcmp(req->snapshot, "latest") != 0) {
		if (!snap_id_valid(req->snapshot)) {
			set_cause(cause, "snapshot \"%s\" is not an ID like "
			    "20260131T235900Z or latest", req->snapshot);
			goto out;
		}
		out->snapshot = xstrdup(req->snapshot);
	} else {
		/* The file is named after the snapshot: find latest's ID. */
		if (repl_list(&env.self, &srv, source, req->volume, &ids, &n,
		    &res) != 0) {
			set_cause(cause, "listing snapshots of %s/%s on %s: %s",
			    source, req->volume, server, res.error != NULL ?
			    res.error : "failed");
			repl_result_free(&res);
			goto out;
		}
		repl_result_free(&res);
		if (n == 0) {
			set_cause(cause, "server %s has no snapshot of %s from "
			    "%s", server, req->volume, source);
			goto out;
		}
		out->snapshot = xstrdup(ids[n - 1]);
	}
	if (repl_export_start(&env.self, &srv, source, req->volume,
	    out->snapshot, compress, &out->child, cause) != 0)
		goto out;
	out->source = xstrdup(source);
	out->server = xstrdup(server);
	log_info("export of %s/%s/%s from %s starting", source, req->volume,
	    out->snapshot, server);
	rc = 0;
out:
	snap_list_free(ids, n);
	ops_env_close(f, &env);
	return rc;
}

int
ops_export_start(struct fleet *f, struct vol_registry *reg,
    const struct ops_request *req, struct ops_export *out, char **cause)
{
	const char *compress = req->compress != NULL ? req->compress : "zstd";
	const char *root = f != NULL ? fleet_server_root(f) : NULL;
	char *dir = NULL, *held = NULL;
	struct stat st;
	int rc = -1;

	memset(out, 0, sizeof *out);
	out->child.pid = -1;
	out->child.in = out->child.out = out->child.err = -1;
	if ((req->source == NULL || strcmp(req->source, "local") == 0) &&
	    req->snapshot == NULL && req->server == NULL) {
		if (vol_data_dir(reg, req->volume, &dir, cause) != 0)
			return -1;
		rc = ops_export_local(dir, compress, 0, out, cause);
		if (rc == 0)
			out->source = xstrdup("local");
		goto out;
	}
	if (req->source != NULL && strcmp(req->source, "local") == 0) {
		set_cause(cause, "a local volume has no snapshots or server: "
		    "leave out --snapshot and --server");
		return -1;
	}
	/* A server exports what it keeps, in place. */
	if (root != NULL && req->source != NULL && req->server == NULL) {
		held = xasprintf("%s/%s/%s", root, req->source, req->volume);
		if (lstat(held, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (snap_resolve(root, req->source, req->volume,
			    req->snapshot != NULL ? req->snapshot : "latest",
			    &dir, cause) != 0)
				goto out;
			rc = ops_export_local(dir, compress, 1, out, cause);
			if (rc == 0) {
				out->source = xstrdup(req->source);
				out->snapshot = xstrdup(strrchr(dir, '/') + 1);
			}
			goto out;
		}
	}
	if (f == NULL) {
		set_cause(cause, "this plugin has no configuration: only local "
		    "volumes can be exported");
		goto out;
	}
	rc = ops_export_remote(f, req, compress, out, cause);
out:
	free(held);
	free(dir);
	return rc;
}

void
ops_export_free(struct ops_export *e)
{
	child_close(&e->child);
	if (e->child.pid > 0) {
		kill(e->child.pid, SIGTERM);
		(void)child_wait(&e->child);
	}
	free(e->source);
	free(e->snapshot);
	free(e->server);
	memset(e, 0, sizeof *e);
}
