/*
 * schedule: one thread wakes at every minute boundary (or when kicked),
 * gathers the schedules, and triggers the ones due. A schedule seen for the
 * first time starts counting from now; one whose next run after its last
 * recorded run is already past runs once now, however many runs were
 * missed. A volume's entry lives as long as the volume: removing it
 * forgets its last run, and entries of volumes that are gone (or no longer
 * have a schedule) are dropped at every tick, the first one at start-up
 * included. Only this thread writes the state file.
 */
#include "schedule.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "cron.h"
#include "fleet.h"
#include "jobs.h"
#include "log.h"
#include "meta.h"
#include "util.h"
#include "volume.h"
#include "vopts.h"

#define SCHEDULE_STATE_MAX (1024 * 1024)

struct schedule {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int stopping;
	int kicked;
	struct vol_registry *reg;
	struct fleet *fleet;
	struct jobs *jobs;
	char *state_file;
	json_t *last;		/* key -> epoch of the last run; lock */
	int forgot;		/* last changed outside a tick; lock */
};

struct schedule_item {
	char *key;		/* "volume/NAME" or "job/NAME/SERVER" */
	char *volume;
	char *server;		/* NULL: all of the volume's servers */
	struct cron cron;
};

static void
schedule_items_free(struct schedule_item *items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(items[i].key);
		free(items[i].volume);
		free(items[i].server);
	}
	free(items);
}

/*
 * Every schedule that applies here now, or only those of volume only (an
 * inspect: one volume's options read, not every volume's).
 */
static struct schedule_item *
schedule_collect(struct schedule *s, const char *only, size_t *np)
{
	struct schedule_item *items = NULL, *it;
	const struct config_client *me;
	struct fleet_state *st;
	const char *name;
	json_t *vols, *v, *opts;
	struct vopts o;
	size_t n = 0, i;

	if (only != NULL) {
		vols = json_object();
		opts = vol_options(s->reg, only);
		if (opts != NULL && vopts_parse(opts, &o, NULL) == 0) {
			if (o.schedule != NULL)
				json_object_set_new(vols, only,
				    json_string(o.schedule));
			vopts_free(&o);
		}
		json_decref(opts);
	} else
		vols = vol_schedules(s->reg);
	json_object_foreach(vols, name, v) {
		items = xreallocarray(items, n + 1, sizeof *items);
		it = &items[n];
		memset(it, 0, sizeof *it);
		if (cron_parse(json_string_value(v), &it->cron, NULL) != 0)
			continue;
		it->key = xasprintf("volume/%s", name);
		it->volume = xstrdup(name);
		n++;
	}
	json_decref(vols);
	st = s->fleet != NULL ? fleet_acquire_config(s->fleet) : NULL;
	me = st != NULL ? config_client(st->cfg, st->identity) : NULL;
	for (i = 0; me != NULL && i < me->njobs; i++) {
		if (me->jobs[i].volume == NULL || me->jobs[i].server == NULL ||
		    (only != NULL && strcmp(me->jobs[i].volume, only) != 0))
			continue;
		items = xreallocarray(items, n + 1, sizeof *items);
		it = &items[n++];
		memset(it, 0, sizeof *it);
		it->cron = me->jobs[i].cron;
		it->key = xasprintf("job/%s/%s", me->jobs[i].volume,
		    me->jobs[i].server);
		it->volume = xstrdup(me->jobs[i].volume);
		it->server = xstrdup(me->jobs[i].server);
	}
	if (st != NULL)
		fleet_release(s->fleet, st);
	*np = n;
	return items;
}

/* Writes doc (taken) as the state file; from the scheduler's thread. */
static void
schedule_save(struct schedule *s, json_t *doc)
{
	char *why = NULL;

	if (meta_write_json(s->state_file, doc, &why) != 0) {
		log_error("schedule: %s", why);
		free(why);
	}
	json_decref(doc);
}

/*
 * Drops the entries of volumes without a schedule here now (removed while
 * the plugin was down, or before this fix); s->lock held. 1 if any.
 */
static int
schedule_drop_stale(struct schedule *s, const struct schedule_item *items,
    size_t n)
{
	json_t *v, *keys = json_object();
	const char *key;
	void *tmp;
	size_t i;
	int dropped = 0;

	/* A set, not a walk of items per entry: 10,000 of each. */
	for (i = 0; i < n; i++)
		json_object_set_new(keys, items[i].key, json_true());
	json_object_foreach_safe(s->last, tmp, key, v) {
		if (strncmp(key, "volume/", 7) != 0 ||
		    json_object_get(keys, key) != NULL)
			continue;
		log_info("schedule %s: no such volume schedule; forgetting "
		    "its last run", key);
		json_object_del(s->last, key);
		dropped = 1;
	}
	json_decref(keys);
	return dropped;
}

/* Triggers what is due; returns the soonest next run (or 0). */
static time_t
schedule_tick(struct schedule *s)
{
	struct schedule_item *items;
	time_t now = now_realtime(), last, next, soonest = 0;
	json_t *save = NULL;
	size_t n, i, ndue = 0;
	const char **due;
	int dirty;

	/*
	 * Collected under the lock, so that a volume removed meanwhile is
	 * either not seen or forgotten after this tick.
	 */
	pthread_mutex_lock(&s->lock);
	items = schedule_collect(s, NULL, &n);
	due = xcalloc(n + 1, sizeof *due);
	dirty = s->forgot;
	s->forgot = 0;
	if (schedule_drop_stale(s, items, n))
		dirty = 1;
	for (i = 0; i < n; i++) {
		json_t *v = json_object_get(s->last, items[i].key);
		if (!json_is_integer(v)) {
			json_object_set_new(s->last, items[i].key,
			    json_integer((json_int_t)now));
			dirty = 1;
			last = now;
			log_info("schedule %s: first run due in %ld s",
			    items[i].key, (long)(cron_next(&items[i].cron,
			    now) - now));
		} else
			last = (time_t)json_integer_value(v);
		next = cron_next(&items[i].cron, last);
		if (next != -1 && next <= now) {
			due[i] = next + 60 < now ?
			    "schedule (missed while down)" : "schedule";
			ndue++;
			json_object_set_new(s->last, items[i].key,
			    json_integer((json_int_t)now));
			dirty = 1;
			next = cron_next(&items[i].cron, now);
		}
		if (next != -1 && (soonest == 0 || next < soonest))
			soonest = next;
	}
	if (dirty)
		save = json_deep_copy(s->last);
	pthread_mutex_unlock(&s->lock);

	for (i = 0; ndue > 0 && i < n; i++) {
		if (due[i] == NULL)
			continue;
		if (!vol_exists(s->reg, items[i].volume))
			log_info("schedule %s: no volume %s here",
			    items[i].key, items[i].volume);
		else if (s->jobs != NULL)
			(void)jobs_trigger(s->jobs, items[i].volume,
			    items[i].server, due[i]);
	}
	if (save != NULL)
		schedule_save(s, save);
	free(due);
	schedule_items_free(items, n);
	return soonest;
}

static void *
schedule_main(void *arg)
{
	struct schedule *s = arg;
	struct timespec ts;
	time_t soonest, now;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		s->kicked = 0;
		pthread_mutex_unlock(&s->lock);
		soonest = schedule_tick(s);
		pthread_mutex_lock(&s->lock);
		now = now_realtime();
		/* Due while the tick ran: look again at once. */
		if (soonest != 0 && soonest <= now)
			continue;
		/* At the next minute boundary at the latest (clock changes). */
		ts.tv_sec = now - now % 60 + 60;
		if (soonest > now && soonest < ts.tv_sec)
			ts.tv_sec = soonest;
		ts.tv_nsec = 0;
		log_debug("schedule: next check in %ld s", (long)(ts.tv_sec -
		    now));
		while (!s->stopping && !s->kicked && pthread_cond_timedwait(
		    &s->cond, &s->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct schedule *
schedule_start(struct vol_registry *reg, struct fleet *fleet,
    struct jobs *jobs, const char *state_file)
{
	struct schedule *s = xcalloc(1, sizeof *s);
	json_error_t jerr;
	char *text;
	size_t len;

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->reg = reg;
	s->fleet = fleet;
	s->jobs = jobs;
	s->state_file = xstrdup(state_file);
	text = read_file_capped(state_file, SCHEDULE_STATE_MAX, &len);
	if (text != NULL)
		s->last = json_loadb(text, len, 0, &jerr);
	if (text != NULL && !json_is_object(s->last))
		log_error("schedule: %s is not valid; starting afresh",
		    state_file);
	if (!json_is_object(s->last)) {
		json_decref(s->last);
		s->last = json_object();
	}
	free(text);
	tzset();
	if (pthread_create(&s->thread, NULL, schedule_main, s) != 0)
		fatal("cannot start the scheduler");
	return s;
}

void
schedule_stop(struct schedule *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	json_decref(s->last);
	free(s->state_file);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void
schedule_forget(struct schedule *s, const char *volume)
{
	char *key = xasprintf("volume/%s", volume);

	pthread_mutex_lock(&s->lock);
	if (json_object_del(s->last, key) == 0)
		s->forgot = 1;
	s->kicked = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	free(key);
}

void
schedule_kick(struct schedule *s)
{
	pthread_mutex_lock(&s->lock);
	s->kicked = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

json_t *
schedule_status(struct schedule *s, const char *volume)
{
	struct schedule_item *items;
	time_t now = now_realtime(), next, soonest = 0;
	json_t *out;
	char when[32];
	struct tm tm;
	size_t n, i;

	out = json_pack("{s:s}", "timezone", tzname[0] != NULL ?
	    tzname[0] : "UTC");
	items = schedule_collect(s, volume, &n);
	for (i = 0; i < n; i++) {
		next = cron_next(&items[i].cron, now);
		if (next != -1 && (soonest == 0 || next < soonest))
			soonest = next;
	}
	schedule_items_free(items, n);
	if (soonest != 0) {
		gmtime_r(&soonest, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(out, "next", json_string(when));
	}
	return out;
}
