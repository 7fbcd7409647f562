/*
 * notify: episodes, the queue and its thread. An episode is a key
 * ("backup/<volume>/<server>", "stale/<client>/<volume>/<server>",
 * "verify/<client>/<volume>/<server>") mapped to its bad state in a small
 * JSON file written atomically on every change, before the notification
 * is queued: a restart finds the episode and does not tell it twice.
 * Each queued notification holds its own copy of the target and the
 * message, so a reload in between changes nothing already queued. What an
 * episode's change owes (failure, recovery, stale, verify) is kept in the
 * same file until it is sent or has failed for good, so a restart in
 * between sends it then instead of never: at least once, and at most
 * once but for a crash between a send and the write after it. Secrets
 * in a target ("$NAME", "secret:NAME#FIELD") stay references until the
 * sender thread reads them for one attempt, into a copy it wipes.
 */
#include "notify.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "keystore.h"
#include "log.h"
#include "util.h"

#define NOTIFY_ATTEMPTS 3
#define NOTIFY_QUEUE_MAX 1000
#define NOTIFY_STATE_MAX (1024 * 1024)
/* A stale episode ended by a backup: "recovered@<its last_success>". */
#define NOTIFY_RECOVERED "recovered@"
/* Notifications owed across a restart: which, and how many at most. */
#define NOTIFY_KEPT (CONFIG_EV_FAILURE | CONFIG_EV_RECOVERY | \
			 CONFIG_EV_STALE | CONFIG_EV_VERIFY)
#define NOTIFY_UNSENT_MAX 64

struct notify_item {
	struct config_notify target;
	int index;		/* notify[index] in the file, for logs */
	const struct notify_backend *backend;
	unsigned event;
	char *host, *volume, *server, *client, *message;
	time_t last_success, time;
	int attempts;
	long long not_before;	/* ms */
	unsigned long long seq;	/* its record in notify.unsent; 0: none */
	struct notify_item *next;
};

/* The key store secrets are read from, shared by the sender while in use. */
struct notify_store {
	struct keystore *ks;	/* NULL when it could not be opened */
	char *error;		/* why, then */
	int refs;		/* under notify.lock */
};

struct notify {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int stopping;
	int busy;		/* the thread is sending */
	char *state_file;
	json_t *episodes;	/* key -> "failing", "stale", "damaged" */
	json_t *unsent;		/* seq -> a notification owed (a record) */
	unsigned long long seq;	/* the last record's */
	int restored;		/* the records of the last run are queued */
	json_t *orphans;	/* episodes whose volume the last sweep missed */
	const struct notify_backend *const *backends;
	int retry_ms;
	struct config_notify *targets;
	const struct notify_backend **target_backends;	/* picked once */
	size_t ntargets;
	char *host;
	struct notify_store *store;	/* NULL: no target names a secret */
	struct notify_item *queue;
	size_t queued;
	unsigned long long failed, sent;
};

static const struct notify_backend *const notify_default_backends[] = {
	&notify_webhook, &notify_email, &notify_ping, NULL
};

static char *
notify_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Drops a reference to st; locked. */
static void
notify_store_release_locked(struct notify_store *st)
{
	if (st == NULL || --st->refs > 0)
		return;
	keystore_close(st->ks);
	free(st->error);
	free(st);
}

static void
notify_item_free(struct notify_item *it)
{
	notify_target_free(&it->target);
	free(it->host);
	free(it->volume);
	free(it->server);
	free(it->client);
	free(it->message);
	free(it);
}

static const struct notify_backend *
notify_backend_for(const struct notify *n, const char *type)
{
	size_t i;

	for (i = 0; type != NULL && n->backends[i] != NULL; i++) {
		if (strcmp(n->backends[i]->type, type) == 0)
			return n->backends[i];
	}
	return NULL;
}

/* Whether target t is told about event. */
static int
notify_wants(const struct config_notify *t, unsigned event)
{
	if (event == NOTIFY_START)	/* only where success is pinged */
		return strcmp(t->type, "ping") == 0 &&
		    (t->events & CONFIG_EV_SUCCESS) != 0;
	return (t->events & event) != 0;
}

/* Which target t is, for a record: FNV-1a of its type and url as written. */
static char *
notify_target_id(const struct config_notify *t)
{
	const char *parts[] = { t->type, "\n", t->url };
	uint64_t h = 14695981039346656037ULL;
	const char *p;
	size_t i;

	for (i = 0; i < 3; i++) {
		for (p = parts[i] != NULL ? parts[i] : ""; *p != '\0'; p++) {
			h ^= (unsigned char)*p;
			h *= 1099511628211ULL;
		}
	}
	return xasprintf("%016llx", (unsigned long long)h);
}

/* A new item for notify[i] at the end of the queue. Locked. */
static struct notify_item *
notify_item_add_locked(struct notify *n, size_t i, const struct notify_msg *m)
{
	struct notify_item *it, **tail;

	it = xcalloc(1, sizeof *it);
	notify_target_copy(&it->target, &n->targets[i]);
	it->index = (int)i;
	it->backend = n->target_backends[i];
	it->event = m->event;
	it->host = notify_dup(m->host != NULL ? m->host : n->host);
	it->volume = notify_dup(m->volume);
	it->server = notify_dup(m->server);
	it->client = notify_dup(m->client);
	it->message = notify_dup(m->message);
	it->last_success = m->last_success;
	it->time = m->time != 0 ? m->time : now_realtime();
	for (tail = &n->queue; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = it;
	n->queued++;
	return it;
}

/* Keeps it in notify.unsent (the caller saves); 0 when full. Locked. */
static int
notify_keep_locked(struct notify *n, struct notify_item *it)
{
	char key[32], *id;
	json_t *r;

	if (json_object_size(n->unsent) >= NOTIFY_UNSENT_MAX) {
		log_warn("notifications: %d owed already; this %s is not kept "
		    "across a restart", NOTIFY_UNSENT_MAX,
		    config_event_name(it->event));
		return 0;
	}
	it->seq = ++n->seq;
	id = notify_target_id(&it->target);
	r = json_pack("{s:s, s:s, s:I, s:I}", "target", id, "event",
	    config_event_name(it->event), "last_success",
	    (json_int_t)it->last_success, "time", (json_int_t)it->time);
	if (it->host != NULL)
		json_object_set_new(r, "host", json_string(it->host));
	if (it->volume != NULL)
		json_object_set_new(r, "volume", json_string(it->volume));
	if (it->server != NULL)
		json_object_set_new(r, "server", json_string(it->server));
	if (it->client != NULL)
		json_object_set_new(r, "client", json_string(it->client));
	if (it->message != NULL)
		json_object_set_new(r, "message", json_string(it->message));
	snprintf(key, sizeof key, "%llu", it->seq);
	json_object_set_new(n->unsent, key, r);
	free(id);
	return 1;
}

static void notify_save_locked(struct notify *);

/* it is sent, or failed for good: no longer owed. Locked. */
static void
notify_done_locked(struct notify *n, const struct notify_item *it)
{
	char key[32];

	if (it->seq == 0)
		return;
	snprintf(key, sizeof key, "%llu", it->seq);
	json_object_del(n->unsent, key);
	notify_save_locked(n);
}

/*
 * Queues m for every target that wants it, and the events also (0: no
 * more); the number queued. What an episode's change owes is kept until
 * sent. Locked.
 */
static unsigned
notify_queue_to_locked(struct notify *n, const struct notify_msg *m,
    unsigned also)
{
	struct notify_item *it;
	unsigned queued = 0;
	size_t i;
	int kept = 0;

	for (i = 0; i < n->ntargets; i++) {
		if (!notify_wants(&n->targets[i], m->event) ||
		    (n->targets[i].events & also) != also)
			continue;
		if (n->queued >= NOTIFY_QUEUE_MAX) {
			n->failed++;
			log_warn("notification queue full: %s to notify[%zu] "
			    "dropped", config_event_name(m->event), i);
			continue;
		}
		it = notify_item_add_locked(n, i, m);
		if ((m->event & NOTIFY_KEPT) != 0)
			kept += notify_keep_locked(n, it);
		queued++;
	}
	if (kept > 0)
		notify_save_locked(n);
	if (queued > 0)
		pthread_cond_broadcast(&n->cond);
	return queued;
}

/*
 * The notifications the last run owed, queued again for the targets they
 * were for (by type and url as written) if these still want them; the
 * others are dropped. Locked.
 */
static void
notify_restore_locked(struct notify *n)
{
	struct notify_msg m;
	struct notify_item *it;
	const char *key, *want, *event;
	unsigned long long seq;
	json_t *r;
	void *tmp;
	size_t i, again = 0, dropped = 0;
	char *id;
	int match;

	json_object_foreach_safe(n->unsent, tmp, key, r) {
		memset(&m, 0, sizeof m);
		event = json_string_value(json_object_get(r, "event"));
		m.event = event != NULL ? config_event_bit(event) : 0;
		m.host = json_string_value(json_object_get(r, "host"));
		m.volume = json_string_value(json_object_get(r, "volume"));
		m.server = json_string_value(json_object_get(r, "server"));
		m.client = json_string_value(json_object_get(r, "client"));
		m.message = json_string_value(json_object_get(r, "message"));
		m.last_success = (time_t)json_integer_value(json_object_get(r,
		    "last_success"));
		m.time = (time_t)json_integer_value(json_object_get(r, "time"));
		want = json_string_value(json_object_get(r, "target"));
		seq = strtoull(key, NULL, 10);
		for (i = 0; seq != 0 && i < n->ntargets; i++) {
			id = notify_target_id(&n->targets[i]);
			match = want != NULL && strcmp(id, want) == 0 &&
			    (m.event & NOTIFY_KEPT) != 0 &&
			    notify_wants(&n->targets[i], m.event);
			free(id);
			if (match)
				break;
		}
		if (seq == 0 || i == n->ntargets ||
		    n->queued >= NOTIFY_QUEUE_MAX) {
			json_object_del(n->unsent, key);
			dropped++;
			continue;
		}
		it = notify_item_add_locked(n, i, &m);
		it->seq = seq;
		again++;
	}
	if (again > 0 || dropped > 0) {
		log_info("notifications: %zu owed by the last run queued "
		    "again, %zu for targets no longer configured dropped",
		    again, dropped);
		pthread_cond_broadcast(&n->cond);
	}
	if (dropped > 0)
		notify_save_locked(n);
}

static unsigned
notify_queue_locked(struct notify *n, const struct notify_msg *m)
{
	return notify_queue_to_locked(n, m, 0);
}

static void
notify_save_locked(struct notify *n)
{
	char *text, *cause = NULL;
	json_t *doc;

	doc = json_copy(n->episodes);
	if (doc == NULL)
		fatal("out of memory");
	if (json_object_size(n->unsent) > 0)
		json_object_set(doc, "unsent", n->unsent);
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	if (text == NULL)
		return;
	if (n->state_file != NULL && write_file_atomic(n->state_file, text,
	    strlen(text), 0600, &cause) != 0) {
		log_warn("notifications: saving episodes: %s", cause);
		free(cause);
	}
	free(text);
}

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

/* The due item (taken off the queue), or NULL and *wait the next due. */
static struct notify_item *
notify_take_locked(struct notify *n, long long now, long long *wait)
{
	struct notify_item **p, *it;

	*wait = 0;
	for (p = &n->queue; *p != NULL; p = &(*p)->next) {
		it = *p;
		if (it->not_before <= now) {
			*p = it->next;
			it->next = NULL;
			n->queued--;
			return it;
		}
		if (*wait == 0 || it->not_before < *wait)
			*wait = it->not_before;
	}
	return NULL;
}

static void
notify_send_one(struct notify *n, struct notify_item *it,
    struct notify_store *st)
{
	struct config_notify resolved;
	struct notify_msg m;
	char *cause = NULL;
	int rc;

	memset(&m, 0, sizeof m);
	m.event = it->event;
	m.host = it->host;
	m.volume = it->volume;
	m.server = it->server;
	m.client = it->client;
	m.message = it->message;
	m.last_success = it->last_success;
	m.time = it->time;
	if (it->backend == NULL) {
		cause = xstrdup("no such target type");
		rc = -1;
		it->attempts = NOTIFY_ATTEMPTS;
	} else if ((rc = notify_target_values(&it->target, st != NULL ?
	    st->ks : NULL, st != NULL ? st->error : "not opened", &resolved,
	    &cause)) == 0) {
		rc = it->backend->send(&resolved, &m, &cause);
		notify_target_free(&resolved);
	}
	it->attempts++;
	pthread_mutex_lock(&n->lock);
	notify_store_release_locked(st);
	if (rc == 0) {
		n->sent++;
		log_info("notification %s sent to notify[%d] (%s)",
		    it->event == NOTIFY_START ? "start" :
		    config_event_name(it->event), it->index, it->target.type);
		notify_done_locked(n, it);
		notify_item_free(it);
	} else if (it->attempts < NOTIFY_ATTEMPTS && n->stopping &&
	    it->seq != 0) {
		log_warn("notification %s to notify[%d] (%s), attempt %d: %s; "
		    "kept for the next start", config_event_name(it->event),
		    it->index, it->target.type, it->attempts, cause);
		notify_item_free(it);
	} else if (it->attempts < NOTIFY_ATTEMPTS && !n->stopping) {
		log_warn("notification %s to notify[%d] (%s), attempt %d: %s",
		    it->event == NOTIFY_START ? "start" :
		    config_event_name(it->event), it->index, it->target.type,
		    it->attempts, cause);
		it->not_before = now_ms() + (long long)n->retry_ms *
		    (1LL << (it->attempts - 1));
		it->next = n->queue;
		n->queue = it;
		n->queued++;
	} else {
		n->failed++;
		log_error("notification %s to notify[%d] (%s) failed: %s",
		    it->event == NOTIFY_START ? "start" :
		    config_event_name(it->event), it->index, it->target.type,
		    cause);
		notify_done_locked(n, it);
		notify_item_free(it);
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	free(cause);
}

static void *
notify_main(void *arg)
{
	struct notify *n = arg;
	struct notify_store *st;
	struct notify_item *it;
	struct timespec ts;
	long long wait;

	pthread_mutex_lock(&n->lock);
	while (!n->stopping) {
		it = notify_take_locked(n, now_ms(), &wait);
		if (it == NULL) {
			if (wait == 0)
				pthread_cond_wait(&n->cond, &n->lock);
			else {
				ts.tv_sec = wait / 1000;
				ts.tv_nsec = (wait % 1000) * 1000000;
				pthread_cond_timedwait(&n->cond, &n->lock, &ts);
			}
			continue;
		}
		n->busy = 1;
		st = n->store;
		if (st != NULL)
			st->refs++;
		pthread_mutex_unlock(&n->lock);
		notify_send_one(n, it, st);
		pthread_mutex_lock(&n->lock);
		n->busy = 0;
		pthread_cond_broadcast(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

struct notify *
notify_start(const char *state_file,
    const struct notify_backend *const *backends, int retry_ms)
{
	struct notify *n = xcalloc(1, sizeof *n);
	unsigned long long seq;
	json_error_t jerr;
	const char *key;
	char *text;
	size_t len;
	json_t *r;
	void *tmp;

	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	n->state_file = notify_dup(state_file);
	n->backends = backends != NULL ? backends : notify_default_backends;
	n->retry_ms = retry_ms > 0 ? retry_ms : 2000;
	text = state_file != NULL ? read_file_capped(state_file,
	    NOTIFY_STATE_MAX, &len) : NULL;
	if (text != NULL) {
		n->episodes = json_loadb(text, len, 0, &jerr);
		if (n->episodes != NULL && !json_is_object(n->episodes)) {
			json_decref(n->episodes);
			n->episodes = NULL;
		}
		if (n->episodes == NULL)
			log_warn("notifications: %s unreadable, starting "
			    "afresh", state_file);
		free(text);
	}
	if (n->episodes == NULL)
		n->episodes = json_object();
	n->unsent = json_object_get(n->episodes, "unsent");
	if (json_is_object(n->unsent))
		json_incref(n->unsent);
	else
		n->unsent = json_object();
	json_object_del(n->episodes, "unsent");
	json_object_foreach_safe(n->episodes, tmp, key, r) {
		if (!json_is_string(r))	/* damaged: as if fine */
			json_object_del(n->episodes, key);
	}
	json_object_foreach(n->unsent, key, r) {
		seq = strtoull(key, NULL, 10);
		if (seq > n->seq)
			n->seq = seq;
	}
	if (pthread_create(&n->thread, NULL, notify_main, n) != 0)
		fatal("cannot start the notification thread");
	return n;
}

void
notify_stop(struct notify *n)
{
	struct notify_item *it, *next;
	size_t i, kept = 0;

	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = 1;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	for (it = n->queue; it != NULL; it = next) {
		next = it->next;
		kept += it->seq != 0;
		notify_item_free(it);
	}
	if (n->queued > 0)
		log_warn("notifications: %zu not sent at shutdown, %zu of them "
		    "kept for the next start", n->queued, kept);
	for (i = 0; i < n->ntargets; i++)
		notify_target_free(&n->targets[i]);
	free(n->targets);
	free(n->target_backends);
	notify_store_release_locked(n->store);
	free(n->host);
	free(n->state_file);
	json_decref(n->episodes);
	json_decref(n->unsent);
	json_decref(n->orphans);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void
notify_configure(struct notify *n, const struct config *cfg,
    const char *host)
{
	struct notify_store *st = NULL;
	char *why = NULL;
	size_t i;

	if (n == NULL)
		return;
	if (notify_target_names_secret(cfg)) {
		/* No request is made yet: Vault is asked at each send. */
		st = xcalloc(1, sizeof *st);
		st->refs = 1;
		st->ks = keys_open(cfg, 0, &why);
		if (st->ks == NULL) {
			st->error = why != NULL ? why : xstrdup("unknown error");
			log_warn("notifications: the key store for secret: "
			    "references cannot be opened: %s", st->error);
		}
	}
	pthread_mutex_lock(&n->lock);
	notify_store_release_locked(n->store);
	n->store = st;
	for (i = 0; i < n->ntargets; i++)
		notify_target_free(&n->targets[i]);
	free(n->targets);
	n->targets = NULL;
	n->ntargets = 0;
	free(n->target_backends);
	n->target_backends = NULL;
	if (cfg != NULL && cfg->nnotify > 0) {
		n->targets = xcalloc(cfg->nnotify, sizeof *n->targets);
		n->target_backends = xcalloc(cfg->nnotify,
		    sizeof *n->target_backends);
		for (i = 0; i < cfg->nnotify; i++) {
			notify_target_copy(&n->targets[i], &cfg->notify[i]);
			n->target_backends[i] = notify_backend_for(n,
			    cfg->notify[i].type);
			n->ntargets++;
		}
	}
	free(n->host);
	n->host = notify_dup(host);
	if (cfg != NULL && !n->restored) {
		n->restored = 1;
		notify_restore_locked(n);
	}
	pthread_mutex_unlock(&n->lock);
}

/* One of n's counters, read under its lock (0 without n). */
static unsigned long long
notify_counter(struct notify *n, const unsigned long long *field)
{
	unsigned long long v;

	if (n == NULL)
		return 0;
	pthread_mutex_lock(&n->lock);
	v = *field;
	pthread_mutex_unlock(&n->lock);
	return v;
}

unsigned long long
notify_failed_total(struct notify *n)
{
	return notify_counter(n, n != NULL ? &n->failed : NULL);
}

unsigned long long
notify_sent_total(struct notify *n)
{
	return notify_counter(n, n != NULL ? &n->sent : NULL);
}

int
notify_flush(struct notify *n, int timeout_ms)
{
	long long end = now_ms() + timeout_ms, t;
	struct timespec ts;
	int rc;

	pthread_mutex_lock(&n->lock);
	while ((n->queue != NULL || n->busy) && (t = now_ms()) < end) {
		t = t + 50 < end ? t + 50 : end;
		ts.tv_sec = t / 1000;
		ts.tv_nsec = (t % 1000) * 1000000;
		pthread_cond_timedwait(&n->cond, &n->lock, &ts);
	}
	rc = n->queue != NULL || n->busy ? -1 : 0;
	pthread_mutex_unlock(&n->lock);
	return rc;
}
