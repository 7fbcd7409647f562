/*
 * notify: the queue, its thread and the state file (what is told, and
 * when, is notify_episode.c's). The episodes live in a small JSON file
 * written atomically on every change, before the notification is queued:
 * a restart finds an episode and does not tell it twice. Each queued
 * notification holds its own copy of the target and the message, so a
 * reload in between changes nothing already queued. What an episode's
 * change owes (failure, recovery, stale, verify) is kept in the same file
 * until it is sent or has failed for good, so a restart in between sends
 * it then instead of never: at least once, and at most once but for a
 * crash between a send and the write after it. Secrets in a target
 * ("$NAME", "secret:NAME#FIELD") stay references until the sender thread
 * reads them for one attempt, into a copy it wipes.
 */
#include "notify_int.h"

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
unsigned
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

unsigned
notify_queue_locked(struct notify *n, const struct notify_msg *m)
{
	return notify_queue_to_locked(n, m, 0);
}

void
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
