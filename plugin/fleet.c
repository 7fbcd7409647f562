/*
 * fleet: a loader thread owns every slow step (reading Vault over the
 * network); request threads only copy state out under the lock. A reload
 * builds the new configuration and keys completely before swapping them
 * in, so a failed reload leaves the previous working state in place, and
 * the old keys are wiped once replaced.
 */
#include "fleet.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "keystore.h"
#include "log.h"
#include "util.h"

struct fleet {
	pthread_mutex_t lock;	/* the state below */
	pthread_cond_t cond;
	char *config_path;
	char *identity_env;
	struct config *cfg;	/* NULL: standalone, or never loaded */
	char *identity;
	char *config_error;	/* last load's problem with the config */
	char *store_where;
	struct keys keys;
	int keys_loaded;
	char *keys_error;	/* "key store unavailable: ..." */
	time_t loaded_at;
	int standalone;
	int reload_wanted;
	int stopping;
	pthread_t thread;

	pthread_mutex_t reload_lock;	/* one reload at a time */
};

static void
fleet_set(char **field, char *value)
{
	free(*field);
	*field = value;
}

/* One complete load: config, identity, store, keys. */
static int
fleet_load(struct fleet *f, char **cause)
{
	struct config *cfg = NULL;
	struct keystore *ks = NULL;
	struct keys keys;
	char *identity = NULL, *why = NULL, *dircopy;
	int rc = -1, keys_ok = 0;

	memset(&keys, 0, sizeof keys);
	cfg = config_load(f->config_path, &why);
	if (cfg == NULL) {
		pthread_mutex_lock(&f->lock);
		if (access(f->config_path, F_OK) != 0 && errno == ENOENT &&
		    f->cfg == NULL) {
			f->standalone = 1;
			fleet_set(&f->config_error, NULL);
			pthread_mutex_unlock(&f->lock);
			log_info("no %s: standalone volume driver, no "
			    "replication", f->config_path);
			free(why);
			return 0;
		}
		fleet_set(&f->config_error, xstrdup(why));
		pthread_mutex_unlock(&f->lock);
		set_cause(cause, "config not loaded: %s", why);
		log_error("config not loaded%s: %s", f->cfg != NULL ?
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
		goto out;
	}
	ks = keys_open(cfg, 0, &why);
	if (ks != NULL && keys_load(cfg, identity, ks, &keys, &why) == 0)
		keys_ok = 1;

	pthread_mutex_lock(&f->lock);
	f->standalone = 0;
	config_free(f->cfg);
	f->cfg = cfg;
	cfg = NULL;
	fleet_set(&f->identity, identity);
	identity = NULL;
	fleet_set(&f->config_error, NULL);
	fleet_set(&f->store_where, ks != NULL ? xstrdup(ks->where) : NULL);
	if (keys_ok) {
		keys_free(&f->keys);
		f->keys = keys;
		memset(&keys, 0, sizeof keys);
		f->keys_loaded = 1;
		fleet_set(&f->keys_error, NULL);
	} else {
		/* Keep serving with the old keys if we had some. */
		fleet_set(&f->keys_error, xasprintf("key store unavailable: "
		    "%s", why));
	}
	f->loaded_at = time(NULL);
	pthread_mutex_unlock(&f->lock);
	if (keys_ok) {
		log_info("loaded %s as %s; keys from %s (%zu peer key(s), %zu "
		    "missing)", f->config_path, f->identity, ks->where,
		    f->keys.npeers - keys_missing(&f->keys),
		    keys_missing(&f->keys));
		rc = 0;
	} else {
		log_error("key store unavailable: %s", why);
		set_cause(cause, "key store unavailable: %s", why);
	}
out:
	keys_free(&keys);
	keystore_close(ks);
	config_free(cfg);
	free(identity);
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
		retry = !f->standalone && !f->keys_loaded;
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
fleet_start(const char *config_path, const char *identity)
{
	struct fleet *f = xcalloc(1, sizeof *f);

	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->reload_lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->config_path = xstrdup(config_path);
	f->identity_env = identity != NULL && *identity != '\0' ?
	    xstrdup(identity) : NULL;
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
	keys_free(&f->keys);
	config_free(f->cfg);
	free(f->config_path);
	free(f->identity_env);
	free(f->identity);
	free(f->config_error);
	free(f->store_where);
	free(f->keys_error);
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

json_t *
fleet_status(struct fleet *f)
{
	json_t *st, *keys, *peers, *p, *warn;
	char *fp;
	size_t i;

	pthread_mutex_lock(&f->lock);
	st = json_pack("{s:s, s:s}", "version", PRIVATEER_VERSION,
	    "config_path", f->config_path);
	if (f->standalone) {
		json_object_set_new(st, "role", json_string("standalone"));
		goto out;
	}
	if (f->config_error != NULL)
		json_object_set_new(st, "config_error",
		    json_string(f->config_error));
	if (f->cfg == NULL) {
		json_object_set_new(st, "role", json_string(
		    f->loaded_at == 0 && f->config_error == NULL ?
		    "loading" : "unconfigured"));
		goto out;
	}
	json_object_set_new(st, "identity", json_string(f->identity));
	json_object_set_new(st, "role", json_string(
	    config_role(f->cfg, f->identity) == CONFIG_ROLE_SERVER ?
	    "server" : "client"));
	json_object_set_new(st, "servers", fleet_names(f->cfg, 0));
	json_object_set_new(st, "clients", fleet_names(f->cfg, 1));
	json_object_set_new(st, "volumes", fleet_names(f->cfg, 2));
	warn = json_array();
	for (i = 0; i < f->cfg->nwarnings; i++)
		json_array_append_new(warn, json_string(f->cfg->warnings[i]));
	json_object_set_new(st, "config_warnings", warn);
	keys = json_object();
	if (f->store_where != NULL)
		json_object_set_new(keys, "store", json_string(f->store_where));
	json_object_set_new(keys, "loaded", json_boolean(f->keys_loaded));
	if (f->keys_error != NULL)
		json_object_set_new(keys, "error", json_string(f->keys_error));
	if (f->keys_loaded) {
		fp = keypair_fingerprint(f->keys.self.public_key);
		json_object_set_new(keys, "fingerprint", json_string(
		    fp != NULL ? fp : "?"));
		free(fp);
		peers = json_array();
		for (i = 0; i < f->keys.npeers; i++) {
			p = json_pack("{s:s}", "name", f->keys.peers[i].name);
			if (f->keys.peers[i].public_key != NULL) {
				fp = keypair_fingerprint(
				    f->keys.peers[i].public_key);
				json_object_set_new(p, "fingerprint",
				    json_string(fp != NULL ? fp : "?"));
				free(fp);
			} else
				json_object_set_new(p, "error",
				    json_string(f->keys.peers[i].error));
			json_array_append_new(peers, p);
		}
		json_object_set_new(keys, "peers", peers);
	}
	json_object_set_new(st, "keys", keys);
out:
	pthread_mutex_unlock(&f->lock);
	return st;
}
