/*
 * notify_episode: what is told, and when. An episode is a key
 * ("backup/<volume>/<server>", "restore/<volume>/<from>",
 * "stale/<client>/<volume>/<server>", "verify/<client>/<volume>/<server>")
 * mapped to its bad state; a change of state is persisted before its
 * notification is queued, so neither retries nor restarts tell it twice.
 * A stale episode ends with a recovery: from the watcher, or from the
 * backup that ended it (then "recovered@<its last_success>", so that the
 * watcher's view from before it is no new episode). A removed volume's
 * episodes end quietly (notify_sweep).
 */
#include "notify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/*
 * Moves key to state (NULL: fine) and says whether that is a change; the
 * change is persisted before anything is queued. Locked.
 */
static int
notify_episode_locked(struct notify *n, const char *key, const char *state)
{
	json_t *cur = json_object_get(n->episodes, key);

	if (state == NULL) {
		if (cur == NULL)
			return 0;
		json_object_del(n->episodes, key);
	} else {
		if (cur != NULL && strcmp(json_string_value(cur), state) == 0)
			return 0;
		json_object_set_new(n->episodes, key, json_string(state));
	}
	notify_save_locked(n);
	return 1;
}

unsigned
notify_job(struct notify *n, const char *kind, const char *volume,
    const char *server, const char *client, int ok, const char *error,
    time_t last_success)
{
	struct notify_msg m;
	char *key, *skey = NULL, *text, *why, mark[48];
	const char *cur;
	unsigned queued = 0;
	int was_stale = 0, ended;

	if (n == NULL)
		return 0;
	memset(&m, 0, sizeof m);
	key = xasprintf("%s/%s/%s", kind, volume, server);
	why = utf8_clip(error != NULL ? error : "unknown error", 2000);
	m.volume = volume;
	m.server = server;
	m.last_success = last_success;
	m.time = now_realtime();
	pthread_mutex_lock(&n->lock);
	m.client = client != NULL ? client : n->host;
	if (ok && strcmp(kind, "backup") == 0) {
		/*
		 * A stale pair that succeeds recovers here, with its failure
		 * if any, in one notification. The watcher may still report
		 * what it saw before this success: the episode keeps the
		 * success's time to tell such a view from a new episode.
		 */
		skey = xasprintf("stale/%s/%s/%s", m.client != NULL ?
		    m.client : "", volume, server);
		snprintf(mark, sizeof mark, "%s%lld", NOTIFY_RECOVERED,
		    (long long)last_success);
		cur = json_string_value(json_object_get(n->episodes, skey));
		was_stale = cur != NULL && strcmp(cur, "stale") == 0;
		if (was_stale || (cur != NULL && strncmp(cur,
		    NOTIFY_RECOVERED, strlen(NOTIFY_RECOVERED)) == 0))
			(void)notify_episode_locked(n, skey, mark);
	}
	if (ok) {
		ended = notify_episode_locked(n, key, NULL);
		if (ended || was_stale) {
			text = xasprintf("%s of %s %s %s succeeded again%s",
			    kind, volume, strcmp(kind, "backup") == 0 ?
			    "to" : "from", server, was_stale ?
			    ": no longer stale" : "");
			m.event = CONFIG_EV_RECOVERY;
			m.message = text;
			/* Only staleness ended: told to those told of it. */
			queued += notify_queue_to_locked(n, &m, ended ? 0 :
			    CONFIG_EV_STALE);
			free(text);
		}
		text = xasprintf("%s of %s %s %s succeeded", kind, volume,
		    strcmp(kind, "backup") == 0 ? "to" : "from", server);
		m.event = CONFIG_EV_SUCCESS;
		m.message = text;
		queued += notify_queue_locked(n, &m);
		free(text);
	} else if (notify_episode_locked(n, key, "failing")) {
		text = xasprintf("%s of %s %s %s failed: %s", kind, volume,
		    strcmp(kind, "backup") == 0 ? "to" : "from", server, why);
		m.event = CONFIG_EV_FAILURE;
		m.message = text;
		queued += notify_queue_locked(n, &m);
		free(text);
	}
	pthread_mutex_unlock(&n->lock);
	free(why);
	free(skey);
	free(key);
	return queued;
}

void
notify_job_start(struct notify *n, const char *volume, const char *server)
{
	struct notify_msg m;

	if (n == NULL)
		return;
	memset(&m, 0, sizeof m);
	m.event = NOTIFY_START;
	m.volume = volume;
	m.server = server;
	m.message = "starting";
	pthread_mutex_lock(&n->lock);
	m.client = n->host;
	(void)notify_queue_locked(n, &m);
	pthread_mutex_unlock(&n->lock);
}

static void
notify_age_text(long long secs, char *buf, size_t len)
{
	if (secs % 86400 == 0)
		snprintf(buf, len, "%lldd", secs / 86400);
	else if (secs % 3600 == 0)
		snprintf(buf, len, "%lldh", secs / 3600);
	else if (secs % 60 == 0)
		snprintf(buf, len, "%lldm", secs / 60);
	else
		snprintf(buf, len, "%llds", secs);
}

unsigned
notify_stale(struct notify *n, const char *volume, const char *server,
    const char *client, int stale, long long max_age, time_t last_success)
{
	struct notify_msg m;
	char *key, *text, age[32], when[32];
	const char *cur;
	unsigned queued = 0;
	long long since;

	if (n == NULL)
		return 0;
	pthread_mutex_lock(&n->lock);
	if (client == NULL)
		client = n->host != NULL ? n->host : "";
	key = xasprintf("stale/%s/%s/%s", client, volume, server);
	cur = json_string_value(json_object_get(n->episodes, key));
	if (cur != NULL && strncmp(cur, NOTIFY_RECOVERED,
	    strlen(NOTIFY_RECOVERED)) == 0) {
		/*
		 * notify_job told the end already. Stale again counts only
		 * when seen with that success (a view from before it is
		 * stale news); fresh ends the episode quietly.
		 */
		since = strtoll(cur + strlen(NOTIFY_RECOVERED), NULL, 10);
		if (!stale || (long long)last_success < since) {
			if (!stale)
				(void)notify_episode_locked(n, key, NULL);
			goto out;
		}
	}
	if (!notify_episode_locked(n, key, stale ? "stale" : NULL))
		goto out;
	memset(&m, 0, sizeof m);
	if (last_success > 0)
		notify_time(last_success, when, sizeof when);
	else
		snprintf(when, sizeof when, "never");
	if (stale) {
		notify_age_text(max_age, age, sizeof age);
		text = xasprintf("backup of %s's %s to %s is stale: no "
		    "successful backup for more than %s (last success: %s)",
		    client, volume, server, age, when);
		m.event = CONFIG_EV_STALE;
	} else {
		/* The end of the episode, told to those told of its start. */
		text = xasprintf("backup of %s's %s to %s is no longer stale "
		    "(last success: %s)", client, volume, server, when);
		m.event = CONFIG_EV_RECOVERY;
	}
	m.volume = volume;
	m.server = server;
	m.client = client;
	m.message = text;
	m.last_success = last_success;
	m.time = now_realtime();
	queued = notify_queue_to_locked(n, &m, stale ? 0 : CONFIG_EV_STALE);
	free(text);
out:
	pthread_mutex_unlock(&n->lock);
	free(key);
	return queued;
}

unsigned
notify_verify(struct notify *n, const char *volume, const char *server,
    const char *client, int damaged, const char *message)
{
	struct notify_msg m;
	char *key;
	unsigned queued = 0;

	if (n == NULL)
		return 0;
	pthread_mutex_lock(&n->lock);
	key = xasprintf("verify/%s/%s/%s", client != NULL ? client : "",
	    volume, server != NULL ? server : "");
	if (notify_episode_locked(n, key, damaged ? "damaged" : NULL) &&
	    damaged) {
		memset(&m, 0, sizeof m);
		m.event = CONFIG_EV_VERIFY;
		m.volume = volume;
		m.server = server;
		m.client = client;
		m.message = message;
		m.time = now_realtime();
		queued = notify_queue_locked(n, &m);
	}
	pthread_mutex_unlock(&n->lock);
	free(key);
	return queued;
}

/*
 * The volume of episode key if it is one of this machine's as a client
 * ("backup/<v>/<s>", "restore/<v>/<s>", "stale/<host>/<v>/<s>"), copied
 * into buf; NULL otherwise.
 */
static const char *
notify_key_volume(const struct notify *n, const char *key, char *buf,
    size_t len)
{
	const char *v, *end;
	size_t hl;

	if (strncmp(key, "backup/", 7) == 0)
		v = key + 7;
	else if (strncmp(key, "restore/", 8) == 0)
		v = key + 8;
	else if (strncmp(key, "stale/", 6) == 0 && n->host != NULL &&
	    strncmp(key + 6, n->host, (hl = strlen(n->host))) == 0 &&
	    key[6 + hl] == '/')
		v = key + 6 + hl + 1;
	else
		return NULL;
	if ((end = strchr(v, '/')) == NULL || (size_t)(end - v) >= len)
		return NULL;
	memcpy(buf, v, (size_t)(end - v));
	buf[end - v] = '\0';
	return buf;
}

void
notify_sweep(struct notify *n, const json_t *names)
{
	json_t *orphans, *v;
	const char *key;
	char buf[256];
	void *tmp;
	int changed = 0;

	if (n == NULL)
		return;
	orphans = json_object();
	pthread_mutex_lock(&n->lock);
	json_object_foreach_safe(n->episodes, tmp, key, v) {
		if (notify_key_volume(n, key, buf, sizeof buf) == NULL ||
		    json_object_get(names, buf) != NULL)
			continue;
		if (json_object_get(n->orphans, key) == NULL) {
			json_object_set_new(orphans, key, json_true());
			continue;
		}
		log_info("notifications: volume %s is gone; episode %s ended",
		    buf, key);
		json_object_del(n->episodes, key);
		changed = 1;
	}
	json_decref(n->orphans);
	n->orphans = orphans;
	if (changed)
		notify_save_locked(n);
	pthread_mutex_unlock(&n->lock);
}

