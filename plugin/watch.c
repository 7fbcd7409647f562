/*
 * watch: one pass is cheap (reading the volumes' records, listing snapshot
 * directories), so the thread simply repeats it; notify.c keeps the
 * episodes, so telling is once however often a pass sees the same thing.
 */
#include "watch.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "log.h"
#include "notify.h"
#include "stale.h"
#include "util.h"
#include "verify.h"
#include "volume.h"

struct watch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int stopping;
	int period;
	struct vol_registry *reg;
	struct fleet *fleet;
	time_t verify_next;	/* when the verify schedule fires next */
	char *verify_expr;	/* the schedule verify_next came from */
	int verifying;		/* a scheduled verification runs */
	pthread_t verifier;
};

/* A scheduled verification, in its own thread: it may take hours. */
static void *
watch_verify_main(void *arg)
{
	struct watch *w = arg;

	verify_server_all(w->fleet, fleet_server_root(w->fleet), &w->stopping);
	pthread_mutex_lock(&w->lock);
	w->verifying = 2;	/* done: to be joined */
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Tells n of the staleness r of volume on server (client: NULL here). */
static void
watch_tell(struct notify *n, const char *volume, const char *server,
    const char *client, const json_t *r)
{
	(void)notify_stale(n, volume, server, client,
	    json_is_true(json_object_get(r, "stale")),
	    json_integer_value(json_object_get(r, "max_age")),
	    (time_t)json_integer_value(json_object_get(r, "last_success")));
}

static void
watch_client(struct watch *w, time_t now)
{
	struct notify *n = fleet_notify(w->fleet);
	json_t *all = stale_client(w->reg, w->fleet, now), *per, *r;
	json_t *list, *names, *item;
	const char *volume, *server;
	size_t i;

	json_object_foreach(all, volume, per) {
		json_object_foreach(per, server, r)
			watch_tell(n, volume, server, NULL, r);
	}
	json_decref(all);
	/* A volume removed takes its episodes with it (notify_sweep). */
	list = vol_list(w->reg);
	names = json_object();
	json_array_foreach(list, i, item) {
		volume = json_string_value(json_object_get(item, "Name"));
		if (volume != NULL)
			json_object_set_new(names, volume, json_true());
	}
	notify_sweep(n, names);
	json_decref(names);
	json_decref(list);
}

static void
watch_server(struct watch *w, const char *me, time_t now)
{
	struct notify *n = fleet_notify(w->fleet);
	json_t *all, *per, *r;
	const char *client, *volume;

	all = stale_server(w->fleet, fleet_server_root(w->fleet), now);
	json_object_foreach(all, client, per) {
		json_object_foreach(per, volume, r)
			watch_tell(n, volume, me, client, r);
	}
	json_decref(all);
}

/* The verify schedule of cfg, if due: runs verification of everything. */
static void
watch_verify(struct watch *w, const struct config *cfg, time_t now)
{
	if (cfg->verify_schedule == NULL) {
		free(w->verify_expr);
		w->verify_expr = NULL;
		return;
	}
	if (w->verify_expr == NULL ||
	    strcmp(w->verify_expr, cfg->verify_schedule) != 0) {
		free(w->verify_expr);
		w->verify_expr = xstrdup(cfg->verify_schedule);
		w->verify_next = cron_next(&cfg->verify_cron, now);
	}
	if (w->verify_next <= 0 || now < w->verify_next)
		return;
	w->verify_next = cron_next(&cfg->verify_cron, now);
	pthread_mutex_lock(&w->lock);
	if (w->verifying == 2) {
		pthread_join(w->verifier, NULL);
		w->verifying = 0;
	}
	if (w->verifying) {
		pthread_mutex_unlock(&w->lock);
		log_warn("verify: the previous scheduled run is still going; "
		    "skipping this one");
		return;
	}
	log_info("verify: scheduled run (%s)", cfg->verify_schedule);
	if (pthread_create(&w->verifier, NULL, watch_verify_main, w) == 0)
		w->verifying = 1;
	else
		log_error("verify: cannot start a thread");
	pthread_mutex_unlock(&w->lock);
}

static void
watch_pass(struct watch *w)
{
	struct fleet_state *st = fleet_acquire_config(w->fleet);
	enum config_role role;
	time_t now = now_realtime();
	char *me;

	if (st == NULL)
		return;
	role = config_role(st->cfg, st->identity);
	me = xstrdup(st->identity);
	if (role == CONFIG_ROLE_SERVER)
		watch_verify(w, st->cfg, now);
	fleet_release(w->fleet, st);
	if (role == CONFIG_ROLE_CLIENT)
		watch_client(w, now);
	else if (role == CONFIG_ROLE_SERVER)
		watch_server(w, me, now);
	free(me);
}

static void *
watch_main(void *arg)
{
	struct watch *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		pthread_mutex_unlock(&w->lock);
		watch_pass(w);
		pthread_mutex_lock(&w->lock);
		ts.tv_sec = now_realtime() + w->period;
		ts.tv_nsec = 0;
		while (!w->stopping && pthread_cond_timedwait(&w->cond,
		    &w->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct watch *
watch_start(struct vol_registry *reg, struct fleet *f, int period_seconds)
{
	struct watch *w = xcalloc(1, sizeof *w);

	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->reg = reg;
	w->fleet = f;
	w->period = period_seconds > 0 ? period_seconds : 30;
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
		fatal("cannot start the watcher thread");
	return w;
}

void
watch_stop(struct watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&w->stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	/* A verification under way stops at its next volume. */
	if (w->verifying)
		pthread_join(w->verifier, NULL);
	free(w->verify_expr);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
