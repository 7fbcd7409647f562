/*
 * fleet: a loader thread owns every slow step (reading Vault over the
 * network); request threads only take a reference to the current state
 * under the lock. A reload builds the new configuration and keys
 * completely before swapping them in, so a failed reload leaves the
 * previous working state in place.
 */
#include "fleet.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

#include "child.h"
#include "keystore.h"
#include "log.h"
#include "notify.h"
#include "ssh_server.h"
#include "stale.h"
#include "usage.h"
#include "util.h"

struct fleet {
	pthread_mutex_t lock;	/* everything below */
	pthread_cond_t cond;
	char *config_path;
	char *identity_env;
	char *server_root;
	char *volumes_root;
	char *listen_address;
	char *rsync;
	struct fleet_state *cur;	/* NULL: standalone or not loaded */
	char *config_error;	/* last load's problem with the config */
	time_t loaded_at;
	int standalone;
	int reload_wanted;
	int stopping;
	pthread_t thread;

	pthread_mutex_t reload_lock;	/* one reload at a time; also sshd */
	struct sshd *sshd;
	char *sshd_signature;	/* what the running server was made from */
	struct notify *notify;	/* not owned */
};

static void
fleet_set(char **field, char *value)
{
	free(*field);
	*field = value;
}

static void
fleet_state_free(struct fleet_state *st)
{
	if (st == NULL)
		return;
	keys_free(&st->keys);
	config_free(st->cfg);
	free(st->identity);
	free(st->keys_error);
	free(st->store_where);
	free(st);
}

struct fleet_state *
fleet_acquire(struct fleet *f, char **cause)
{
	struct fleet_state *st;

	pthread_mutex_lock(&f->lock);
	st = f->cur;
	if (st == NULL) {
		if (f->standalone)
			set_cause(cause, "no %s: this plugin is a standalone "
			    "volume driver", f->config_path);
		else
			set_cause(cause, "configuration not loaded: %s",
			    f->config_error != NULL ? f->config_error :
			    "still loading");
	} else if (!st->keys_loaded) {
		set_cause(cause, "%s", st->keys_error != NULL ?
		    st->keys_error : "key store unavailable: still loading");
		st = NULL;
	} else
		st->refs++;
	pthread_mutex_unlock(&f->lock);
	return st;
}

struct fleet_state *
fleet_acquire_config(struct fleet *f)
{
	struct fleet_state *st;

	pthread_mutex_lock(&f->lock);
	st = f->cur;
	if (st != NULL)
		st->refs++;
	pthread_mutex_unlock(&f->lock);
	return st;
}

void
fleet_release(struct fleet *f, struct fleet_state *st)
{
	int last;

	if (st == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	last = --st->refs == 0;
	pthread_mutex_unlock(&f->lock);
	if (last)
		fleet_state_free(st);
}

static void
fleet_swap(struct fleet *f, struct fleet_state *st)
{
	struct fleet_state *old;

	pthread_mutex_lock(&f->lock);
	old = f->cur;
	f->cur = st;
	pthread_mutex_unlock(&f->lock);
	fleet_release(f, old);
}

/* Starts, restarts or stops the ssh server to match st. Under reload_lock. */
static void
fleet_sshd(struct fleet *f, const struct fleet_state *st)
{
	const struct config_server *me = NULL;
	struct sshd_client *clients = NULL;
	struct sshd_config sc;
	char *sig = NULL, *tmp, *cause = NULL, exe[PATH_MAX];
	const char **locals = NULL;
	int exe_ok;
	size_t i, n = 0, nlocal = 0;

	if (st != NULL && st->keys_loaded)
		me = config_server(st->cfg, st->identity);
	if (me != NULL) {
		clients = xcalloc(st->keys.npeers, sizeof *clients);
		sig = xasprintf("%d %s", me->port, st->keys.self.public_key);
		for (i = 0; i < st->keys.npeers; i++) {
			if (st->keys.peers[i].public_key == NULL)
				continue;
			clients[n].name = st->keys.peers[i].name;
			clients[n++].public_key = st->keys.peers[i].public_key;
			tmp = sig;
			sig = xasprintf("%s %s=%s", tmp,
			    st->keys.peers[i].name,
			    st->keys.peers[i].public_key);
			free(tmp);
		}
		locals = xcalloc(st->cfg->nvolumes + 1, sizeof *locals);
		for (i = 0; i < st->cfg->nvolumes; i++) {
			if (!st->cfg->volumes[i].local)
				continue;
			locals[nlocal++] = st->cfg->volumes[i].name;
			tmp = sig;
			sig = xasprintf("%s local=%s", tmp,
			    st->cfg->volumes[i].name);
			free(tmp);
		}
		tmp = sig;
		sig = xasprintf("%s retention %d/%d/%d/%d/%d/%d store %d", tmp,
		    st->cfg->retention.set, st->cfg->retention.last,
		    st->cfg->retention.hourly, st->cfg->retention.daily,
		    st->cfg->retention.weekly, st->cfg->retention.monthly,
		    st->cfg->snapstore.compress);
		free(tmp);
	}
	if (sig != NULL && f->sshd_signature != NULL &&
	    strcmp(sig, f->sshd_signature) == 0) {
		free(sig);
		free(clients);
		free(locals);
		return;	/* unchanged: keep sessions running */
	}
	if (f->sshd != NULL) {
		log_info("stopping the ssh server (configuration changed)");
		sshd_stop(f->sshd);
		f->sshd = NULL;
		fleet_set(&f->sshd_signature, NULL);
	}
	if (me == NULL) {
		free(sig);
		free(clients);
		free(locals);
		return;
	}
	memset(&sc, 0, sizeof sc);
	exe_ok = child_self_exe(exe, sizeof exe, NULL) == 0;
	sc.address = f->listen_address;
	sc.port = me->port;
	sc.host_key = st->keys.self.private_key;
	sc.clients = clients;
	sc.nclients = n;
	sc.root = f->server_root;
	sc.rsync = f->rsync;
	sc.exe = exe_ok ? exe : NULL;
	sc.self = st->identity;
	sc.volumes_root = f->volumes_root;
	sc.local_volumes = (const char *const *)locals;
	sc.nlocal = nlocal;
	sc.policy.keep_all = !st->cfg->retention.set;
	sc.policy.hourly = st->cfg->retention.hourly;
	sc.policy.daily = st->cfg->retention.daily;
	sc.policy.weekly = st->cfg->retention.weekly;
	sc.policy.monthly = st->cfg->retention.monthly;
	sc.policy.last = st->cfg->retention.last;
	sc.compress = st->cfg->snapstore.compress;
	f->sshd = sshd_start(&sc, &cause);
	if (f->sshd == NULL) {
		log_error("ssh server not started: %s", cause);
		free(cause);
		free(sig);
	} else
		f->sshd_signature = sig;
	free(clients);
	free(locals);
}

/* One complete load: config, identity, store, keys. */
static int
fleet_load(struct fleet *f, char **cause)
{
	struct fleet_state *st = NULL, *old;
	struct config *cfg = NULL;
	struct keystore *ks = NULL;
	char *identity = NULL, *why = NULL, *dircopy;
	int rc = -1;

	cfg = config_load(f->config_path, &why);
	if (cfg == NULL) {
		pthread_mutex_lock(&f->lock);
		if (access(f->config_path, F_OK) != 0 && errno == ENOENT &&
		    f->cur == NULL) {
			f->standalone = 1;
			fleet_set(&f->config_error, NULL);
			pthread_mutex_unlock(&f->lock);
			log_info("no %s: standalone volume driver, no "
			    "replication", f->config_path);
			free(why);
			return 0;
		}
		fleet_set(&f->config_error, xstrdup(why));
		old = f->cur;
		pthread_mutex_unlock(&f->lock);
		set_cause(cause, "config not loaded: %s", why);
		log_error("config not loaded%s: %s", old != NULL ?
		    " (keeping the previous one)" : "", why);
		free(why);
		return -1;
	}
	if (f->identity_env != NULL)
		identity = xstrdup(f->identity_env);
	else {
		dircopy = xstrdup(f->config_path);
		identity = config_identity(dirname(dircopy), NULL, &why);
		free(dircopy);
	}
	if (identity == NULL || config_check_identity(cfg, identity,
	    &why) != 0) {
		pthread_mutex_lock(&f->lock);
		fleet_set(&f->config_error, xasprintf("identity: %s", why));
		pthread_mutex_unlock(&f->lock);
		set_cause(cause, "identity: %s", why);
		log_error("identity: %s (set PRIVATEER_NAME)", why);
		config_free(cfg);
		free(identity);
		free(why);
		return -1;
	}
	st = xcalloc(1, sizeof *st);
	st->refs = 1;
	st->cfg = cfg;
	st->identity = identity;
	ks = keys_open(cfg, 0, &why);
	if (ks != NULL) {
		st->store_where = xstrdup(ks->where);
		if (keys_load(cfg, identity, ks, &st->keys, &why) == 0)
			st->keys_loaded = 1;
	}
	if (!st->keys_loaded) {
		st->keys_error = xasprintf("key store unavailable: %s", why);
		log_error("%s", st->keys_error);
		set_cause(cause, "%s", st->keys_error);
		/* Keep working keys through a passing outage. */
		pthread_mutex_lock(&f->lock);
		old = f->cur;
		if (old != NULL && old->keys_loaded &&
		    strcmp(old->identity, identity) == 0 &&
		    keys_copy(&old->keys, &st->keys) == 0)
			st->keys_loaded = 1;
		pthread_mutex_unlock(&f->lock);
	} else {
		log_info("loaded %s as %s; keys from %s (%zu peer key(s), %zu "
		    "missing)", f->config_path, identity, ks->where,
		    st->keys.npeers - keys_missing(&st->keys),
		    keys_missing(&st->keys));
		rc = 0;
	}
	pthread_mutex_lock(&f->lock);
	f->standalone = 0;
	fleet_set(&f->config_error, NULL);
	f->loaded_at = time(NULL);
	pthread_mutex_unlock(&f->lock);
	fleet_sshd(f, st);
	notify_configure(f->notify, cfg, identity);
	fleet_swap(f, st);
	keystore_close(ks);
	free(why);
	return rc;
}

static void *
fleet_main(void *arg)
{
	struct fleet *f = arg;
	struct timespec ts;
	int retry;

	for (;;) {
		pthread_mutex_lock(&f->reload_lock);
		(void)fleet_load(f, NULL);
		pthread_mutex_unlock(&f->reload_lock);

		pthread_mutex_lock(&f->lock);
		f->reload_wanted = 0;
		retry = !f->standalone && (f->cur == NULL ||
		    !f->cur->keys_loaded || f->cur->keys_error != NULL);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FLEET_RETRY_SECONDS;
		while (!f->stopping && !f->reload_wanted) {
			if (!retry)
				pthread_cond_wait(&f->cond, &f->lock);
			else if (pthread_cond_timedwait(&f->cond, &f->lock,
			    &ts) == ETIMEDOUT)
				break;
		}
		if (f->stopping) {
			pthread_mutex_unlock(&f->lock);
			return NULL;
		}
		pthread_mutex_unlock(&f->lock);
	}
}

struct fleet *
fleet_start(const struct fleet_options *o)
{
	struct fleet *f = xcalloc(1, sizeof *f);

	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->reload_lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->config_path = xstrdup(o->config_path);
	f->identity_env = o->identity != NULL && *o->identity != '\0' ?
	    xstrdup(o->identity) : NULL;
	f->server_root = xasprintf("%s/server", o->state_dir);
	f->volumes_root = xasprintf("%s/volumes", o->state_dir);
	f->listen_address = xstrdup(o->listen_address != NULL &&
	    *o->listen_address != '\0' ? o->listen_address : "0.0.0.0");
	f->rsync = xstrdup(o->rsync);
	f->notify = o->notify;
	if (pthread_create(&f->thread, NULL, fleet_main, f) != 0)
		fatal("cannot start the configuration loader thread");
	return f;
}

void
fleet_stop(struct fleet *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_mutex_lock(&f->reload_lock);
	sshd_stop(f->sshd);
	f->sshd = NULL;
	pthread_mutex_unlock(&f->reload_lock);
	fleet_swap(f, NULL);
	free(f->sshd_signature);
	free(f->config_path);
	free(f->identity_env);
	free(f->server_root);
	free(f->volumes_root);
	free(f->listen_address);
	free(f->rsync);
	free(f->config_error);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->reload_lock);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void
fleet_request_reload(struct fleet *f)
{
	pthread_mutex_lock(&f->lock);
	f->reload_wanted = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

int
fleet_reload(struct fleet *f, char **cause)
{
	int rc;

	pthread_mutex_lock(&f->reload_lock);
	rc = fleet_load(f, cause);
	pthread_mutex_unlock(&f->reload_lock);
	/* Wake the loader so its retry timer follows the new state. */
	pthread_mutex_lock(&f->lock);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static json_t *
fleet_names(const struct config *cfg, int which)
{
	json_t *a = json_array();
	size_t i;

	if (which == 0)
		for (i = 0; i < cfg->nservers; i++)
			json_array_append_new(a,
			    json_string(cfg->servers[i].name));
	else if (which == 1)
		for (i = 0; i < cfg->nclients; i++)
			json_array_append_new(a,
			    json_string(cfg->clients[i].name));
	else
		for (i = 0; i < cfg->nvolumes; i++)
			json_array_append_new(a,
			    json_string(cfg->volumes[i].name));
	return a;
}

static json_t *
fleet_keys_status(const struct fleet_state *st)
{
	json_t *keys = json_object(), *peers, *p;
	char *fp;
	size_t i;

	if (st->store_where != NULL)
		json_object_set_new(keys, "store",
		    json_string(st->store_where));
	json_object_set_new(keys, "loaded", json_boolean(st->keys_loaded));
	if (st->keys_error != NULL)
		json_object_set_new(keys, "error", json_string(st->keys_error));
	if (!st->keys_loaded)
		return keys;
	fp = keypair_fingerprint(st->keys.self.public_key);
	json_object_set_new(keys, "fingerprint", json_string(fp != NULL ?
	    fp : "?"));
	free(fp);
	peers = json_array();
	for (i = 0; i < st->keys.npeers; i++) {
		p = json_pack("{s:s}", "name", st->keys.peers[i].name);
		if (st->keys.peers[i].public_key != NULL) {
			fp = keypair_fingerprint(st->keys.peers[i].public_key);
			json_object_set_new(p, "fingerprint",
			    json_string(fp != NULL ? fp : "?"));
			free(fp);
		} else
			json_object_set_new(p, "error",
			    json_string(st->keys.peers[i].error));
		json_array_append_new(peers, p);
	}
	json_object_set_new(keys, "peers", peers);
	return keys;
}

json_t *
fleet_status(struct fleet *f)
{
	struct fleet_state *st;
	struct sshd_stats ss;
	json_t *out, *warn;
	size_t i;

	pthread_mutex_lock(&f->lock);
	out = json_pack("{s:s, s:s}", "version", PRIVATEER_VERSION,
	    "config_path", f->config_path);
	if (f->standalone) {
		json_object_set_new(out, "role", json_string("standalone"));
		goto out;
	}
	if (f->config_error != NULL)
		json_object_set_new(out, "config_error",
		    json_string(f->config_error));
	st = f->cur;
	if (st == NULL) {
		json_object_set_new(out, "role", json_string(
		    f->loaded_at == 0 && f->config_error == NULL ?
		    "loading" : "unconfigured"));
		goto out;
	}
	json_object_set_new(out, "identity", json_string(st->identity));
	json_object_set_new(out, "role", json_string(
	    config_role(st->cfg, st->identity) == CONFIG_ROLE_SERVER ?
	    "server" : "client"));
	json_object_set_new(out, "servers", fleet_names(st->cfg, 0));
	json_object_set_new(out, "clients", fleet_names(st->cfg, 1));
	json_object_set_new(out, "volumes", fleet_names(st->cfg, 2));
	warn = json_array();
	for (i = 0; i < st->cfg->nwarnings; i++)
		json_array_append_new(warn, json_string(st->cfg->warnings[i]));
	json_object_set_new(out, "config_warnings", warn);
	json_object_set_new(out, "keys", fleet_keys_status(st));
out:
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_lock(&f->reload_lock);
	if (f->sshd != NULL) {
		sshd_get_stats(f->sshd, &ss);
		json_object_set_new(out, "ssh_server", json_pack(
		    "{s:I, s:I, s:i}", "sessions", (json_int_t)ss.sessions,
		    "refused", (json_int_t)ss.refused, "active",
		    (int)ss.active));
	}
	pthread_mutex_unlock(&f->reload_lock);
	return out;
}

struct notify *
fleet_notify(struct fleet *f)
{
	return f->notify;
}

const char *
fleet_server_root(struct fleet *f)
{
	return f->server_root;
}

void
fleet_server_status(struct fleet *f, json_t *out)
{
	json_t *clients, *stale, *per, *c, *vols, *v, *r;
	const char *client, *volume;

	pthread_mutex_lock(&f->reload_lock);
	if (f->sshd != NULL)
		json_object_set_new(out, "Store",
		    json_string(sshd_store_name(f->sshd)));
	pthread_mutex_unlock(&f->reload_lock);
	clients = usage_all(f->server_root);
	/* The dead man's switch: which client volumes are stale here. */
	stale = stale_server(f, f->server_root, now_realtime());
	json_object_foreach(stale, client, per) {
		c = json_object_get(clients, client);
		if (c == NULL) {
			c = json_object();
			json_object_set_new(clients, client, c);
		}
		vols = json_object_get(c, "volumes");
		if (vols == NULL) {
			vols = json_object();
			json_object_set_new(c, "volumes", vols);
		}
		json_object_foreach(per, volume, r) {
			v = json_object_get(vols, volume);
			if (v == NULL) {
				v = json_object();
				json_object_set_new(vols, volume, v);
			}
			json_object_set(v, "stale", json_object_get(r,
			    "stale"));
			json_object_set(v, "max-age", json_object_get(r,
			    "max_age"));
		}
	}
	json_decref(stale);
	json_object_set_new(out, "Clients", clients);
}
