/*
 * jobs: a list of jobs under one mutex; workers take the queued job that
 * is due soonest. All slow work (the changed-check reads metadata, the
 * backup runs rsync) happens outside the lock.
 */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "log.h"
#include "notify.h"
#include "ops.h"
#include "repl.h"
#include "util.h"
#include "volume.h"

#define JOBS_MAX_WORKERS 8
#define JOBS_RETRY_CAP 3600
/* How often a job that failed for want of keys looks for them. */
#define JOBS_KEYS_POLL 2
/* How long the catch-up at start waits for privateer.json to load. */
#define JOBS_CATCHUP_WAIT_MS (120 * 1000)

enum job_state { JOB_IDLE, JOB_QUEUED, JOB_RUNNING };

struct job {
	char *volume;
	char *server;
	enum job_state state;
	int again;		/* triggered while running */
	unsigned attempts;	/* consecutive failures */
	int no_keys;		/* failed while the keys were unavailable */
	time_t not_before;
	char *reason;
	char *error;		/* last failure */
	struct job *next;
};

struct jobs {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *list;
	pthread_t workers[JOBS_MAX_WORKERS];
	int nworkers;
	pthread_t catchup;
	int catchup_started;
	int stopping;
	unsigned running;
	int retry_seconds;
	struct vol_registry *reg;
	struct fleet *fleet;
};

static struct job *
jobs_find(struct jobs *j, const char *volume, const char *server)
{
	struct job *job;

	for (job = j->list; job != NULL; job = job->next) {
		if (strcmp(job->volume, volume) == 0 &&
		    strcmp(job->server, server) == 0)
			return job;
	}
	return NULL;
}

static void
jobs_queue_locked(struct jobs *j, const char *volume, const char *server,
    const char *why)
{
	struct job *job = jobs_find(j, volume, server);

	if (job == NULL) {
		job = xcalloc(1, sizeof *job);
		job->volume = xstrdup(volume);
		job->server = xstrdup(server);
		job->next = j->list;
		j->list = job;
	}
	switch (job->state) {
	case JOB_RUNNING:
		job->again = 1;
		break;
	case JOB_QUEUED:
		/* Coalesced; a new trigger does not wait out a backoff. */
		job->not_before = 0;
		break;
	case JOB_IDLE:
		job->state = JOB_QUEUED;
		job->not_before = 0;
		break;
	}
	free(job->reason);
	job->reason = xstrdup(why);
}

int
jobs_trigger(struct jobs *j, const char *volume, const char *server,
    const char *why)
{
	char **servers = NULL;
	size_t n = 0, i;
	int on_unmount, queued = 0;

	if (server == NULL)
		(void)ops_volume_servers(j->fleet, j->reg, volume, &servers,
		    &n, &on_unmount);
	pthread_mutex_lock(&j->lock);
	if (server != NULL) {
		jobs_queue_locked(j, volume, server, why);
		queued = 1;
	} else if (strcmp(why, "unmount") != 0 || on_unmount) {
		for (i = 0; i < n; i++) {
			jobs_queue_locked(j, volume, servers[i], why);
			queued++;
		}
	}
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	for (i = 0; i < n; i++)
		free(servers[i]);
	free(servers);
	if (queued > 0)
		log_info("queued replication of %s to %d server(s) (%s)",
		    volume, queued, why);
	return queued;
}

/* Whether the keys are loaded (replication can start). */
static int
jobs_keys_ready(struct jobs *j)
{
	struct fleet_state *st;

	st = fleet_acquire(j->fleet, NULL);
	fleet_release(j->fleet, st);
	return st != NULL;
}

/*
 * The due queued job, or NULL and *wait_until the next due time. A job
 * that failed for want of keys (Vault sealed or down) is due as soon as
 * they load, whatever its backoff: the store coming back must not wait
 * out an hour's retry; until then the workers look every few seconds.
 */
static struct job *
jobs_next(struct jobs *j, time_t now, time_t *wait_until)
{
	struct job *job, *best = NULL;
	int keys = -1;

	*wait_until = 0;
	for (job = j->list; job != NULL; job = job->next) {
		if (job->state != JOB_QUEUED)
			continue;
		if (job->no_keys && job->not_before > now) {
			if (keys == -1)
				keys = jobs_keys_ready(j);
			if (keys) {
				job->no_keys = 0;
				job->not_before = now;
			} else if (job->not_before > now + JOBS_KEYS_POLL)
				*wait_until = *wait_until == 0 ||
				    now + JOBS_KEYS_POLL < *wait_until ?
				    now + JOBS_KEYS_POLL : *wait_until;
		}
		if (job->not_before <= now) {
			if (best == NULL || job->not_before < best->not_before)
				best = job;
		} else if (*wait_until == 0 || job->not_before < *wait_until)
			*wait_until = job->not_before;
	}
	return best;
}

/* When volume last replicated to server successfully (0: never). */
static time_t
jobs_last_success(struct jobs *j, const char *volume, const char *server)
{
	json_t *all = vol_backup_all(j->reg);
	time_t t;

	t = (time_t)json_integer_value(json_object_get(json_object_get(
	    json_object_get(all, volume), server), "last_success"));
	json_decref(all);
	return t;
}

/* Runs one job; returns 0, or -1 with *error (caller frees). */
static int
jobs_run(struct jobs *j, const char *volume, const char *server,
    char **error, int *gone)
{
	struct vol_backup_note note;
	struct repl_result res;
	char *cause = NULL;
	int changed, rc;

	*gone = 0;
	memset(&note, 0, sizeof note);
	note.server = server;
	note.started_ms = now_ms();
	if (vol_backup_changed(j->reg, volume, server, &changed,
	    &cause) != 0) {
		*gone = 1;	/* the volume was removed */
		free(cause);
		return 0;
	}
	if (!changed) {
		note.finished = time(NULL);
		/* What deciding cost: no server was contacted. */
		note.seconds = (double)(now_ms() - note.started_ms) / 1000;
		note.result = "skipped: unchanged";
		log_info("replication of %s to %s skipped: unchanged since the "
		    "last one", volume, server);
		(void)vol_backup_record(j->reg, volume, &note, NULL);
		return 0;
	}
	log_info("replication of %s to %s starting", volume, server);
	notify_job_start(fleet_notify(j->fleet), volume, server);
	rc = ops_backup_one(j->fleet, j->reg, volume, server, &res, &cause);
	note.finished = time(NULL);
	note.bytes = res.bytes_sent;
	note.seconds = res.seconds;
	if (rc == 0) {
		note.result = "ok";
		log_info("replication of %s to %s done: %llu bytes sent in "
		    "%.1f s", volume, server, (unsigned long long)res.bytes_sent,
		    res.seconds);
	} else {
		note.result = "failed";
		note.error = cause;
		log_error("replication of %s to %s failed: %s", volume, server,
		    cause);
	}
	(void)vol_backup_record(j->reg, volume, &note, NULL);
	repl_result_free(&res);
	/* Told once per failing episode, whatever the retries (notify.h). */
	(void)notify_job(fleet_notify(j->fleet), "backup", volume, server,
	    NULL, rc == 0, cause, jobs_last_success(j, volume, server));
	*error = cause;
	return rc;
}

static void *
jobs_worker(void *arg)
{
	struct jobs *j = arg;
	struct timespec ts;
	struct job *job;
	char *volume, *server, *error = NULL;
	time_t now, wait_until;
	unsigned delay;
	int rc, gone;

	pthread_mutex_lock(&j->lock);
	while (!j->stopping) {
		now = now_realtime();
		job = jobs_next(j, now, &wait_until);
		if (job == NULL) {
			if (wait_until == 0)
				pthread_cond_wait(&j->cond, &j->lock);
			else {
				ts.tv_sec = wait_until;
				ts.tv_nsec = 0;
				pthread_cond_timedwait(&j->cond, &j->lock, &ts);
			}
			continue;
		}
		job->state = JOB_RUNNING;
		job->again = 0;
		volume = xstrdup(job->volume);
		server = xstrdup(job->server);
		j->running++;
		pthread_mutex_unlock(&j->lock);

		error = NULL;
		rc = jobs_run(j, volume, server, &error, &gone);

		pthread_mutex_lock(&j->lock);
		j->running--;
		job = jobs_find(j, volume, server);
		if (job != NULL) {
			if (rc != 0) {
				job->no_keys = !jobs_keys_ready(j);
				job->attempts++;
				delay = (unsigned)j->retry_seconds;
				for (unsigned k = 1; k < job->attempts &&
				    delay < JOBS_RETRY_CAP; k++)
					delay *= 2;
				if (delay > JOBS_RETRY_CAP)
					delay = JOBS_RETRY_CAP;
				job->state = JOB_QUEUED;
				job->not_before = now_realtime() + delay;
				free(job->error);
				job->error = error;
				error = NULL;
				free(job->reason);
				job->reason = xasprintf("retry %u in %u s",
				    job->attempts, delay);
			} else {
				job->attempts = 0;
				job->no_keys = 0;
				free(job->error);
				job->error = NULL;
				job->state = job->again && !gone ? JOB_QUEUED :
				    JOB_IDLE;
				/* Idle, "retry 1 in 3 s" is over; queued
				 * again, the new trigger's reason stays. */
				if (job->state == JOB_IDLE) {
					free(job->reason);
					job->reason = NULL;
				}
				job->not_before = 0;
			}
			job->again = 0;
		}
		free(error);
		free(volume);
		free(server);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/*
 * Waits (j->lock held) up to ms for the configuration to load; 1 when it
 * has, 0 when stopping or out of time.
 */
static int
jobs_wait_config(struct jobs *j, int ms)
{
	struct fleet_state *st;
	struct timespec ts;
	int waited;

	for (waited = 0; !j->stopping && waited < ms; waited += 250) {
		st = fleet_acquire_config(j->fleet);
		if (st != NULL) {
			fleet_release(j->fleet, st);
			return 1;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&j->cond, &j->lock, &ts);
	}
	return 0;
}

/*
 * Replications a stop left undone, queued once at start: a volume that
 * replicates on unmount, is not mounted now and was used after its last
 * successful replication to a server had an Unmount whose replication
 * never finished — the plugin was killed or stopped while it ran, was
 * queued, or was waiting out a retry. Nobody else would queue it again
 * until the next use.
 */
static void *
jobs_catchup_main(void *arg)
{
	struct jobs *j = arg;
	json_t *list, *item;
	const char *name;
	char **servers, *mp;
	size_t i, k, n;
	int on_unmount, changed, ready;

	pthread_mutex_lock(&j->lock);
	ready = jobs_wait_config(j, JOBS_CATCHUP_WAIT_MS);
	pthread_mutex_unlock(&j->lock);
	if (!ready)
		return NULL;
	list = vol_list(j->reg);
	json_array_foreach(list, i, item) {
		name = json_string_value(json_object_get(item, "Name"));
		if (name == NULL || json_object_get(item, "Mountpoint") != NULL)
			continue;
		servers = NULL;
		n = 0;
		(void)ops_volume_servers(j->fleet, j->reg, name, &servers, &n,
		    &on_unmount);
		for (k = 0; k < n; k++) {
			mp = NULL;
			if (on_unmount &&
			    vol_path(j->reg, name, &mp, NULL) == 0 &&
			    mp == NULL &&
			    vol_backup_changed(j->reg, name, servers[k],
			    &changed, NULL) == 0 && changed)
				(void)jobs_trigger(j, name, servers[k],
				    "restart: used since its last replication");
			free(mp);
			free(servers[k]);
		}
		free(servers);
	}
	json_decref(list);
	return NULL;
}

struct jobs *
jobs_start(struct vol_registry *reg, struct fleet *fleet, int workers,
    int retry_seconds)
{
	struct jobs *j = xcalloc(1, sizeof *j);
	int i;

	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->reg = reg;
	j->fleet = fleet;
	j->retry_seconds = retry_seconds > 0 ? retry_seconds : 30;
	if (workers < 1)
		workers = 1;
	if (workers > JOBS_MAX_WORKERS)
		workers = JOBS_MAX_WORKERS;
	for (i = 0; i < workers; i++) {
		if (pthread_create(&j->workers[i], NULL, jobs_worker, j) != 0)
			fatal("cannot start replication workers");
		j->nworkers++;
	}
	if (fleet != NULL && pthread_create(&j->catchup, NULL,
	    jobs_catchup_main, j) == 0)
		j->catchup_started = 1;
	return j;
}

void
jobs_stop(struct jobs *j)
{
	struct job *job, *next;
	int i;

	if (j == NULL)
		return;
	pthread_mutex_lock(&j->lock);
	j->stopping = 1;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	for (i = 0; i < j->nworkers; i++)
		pthread_join(j->workers[i], NULL);
	if (j->catchup_started)
		pthread_join(j->catchup, NULL);
	for (job = j->list; job != NULL; job = next) {
		next = job->next;
		free(job->volume);
		free(job->server);
		free(job->reason);
		free(job->error);
		free(job);
	}
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

json_t *
jobs_status(struct jobs *j, const char *volume)
{
	static const char *const names[] = { "idle", "queued", "running" };
	json_t *list = json_array(), *e;
	struct job *job;
	char when[32];
	struct tm tm;

	pthread_mutex_lock(&j->lock);
	for (job = j->list; job != NULL; job = job->next) {
		if (volume != NULL && strcmp(job->volume, volume) != 0)
			continue;
		e = json_pack("{s:s, s:s, s:s, s:i}", "volume", job->volume,
		    "server", job->server, "state", names[job->state],
		    "attempts", (int)job->attempts);
		if (job->reason != NULL)
			json_object_set_new(e, "reason",
			    json_string(job->reason));
		if (job->error != NULL) {
			char *clean = utf8_clip(job->error, 2000);
			json_object_set_new(e, "error", json_string(clean));
			free(clean);
		}
		if (job->state == JOB_QUEUED && job->not_before > 0) {
			gmtime_r(&job->not_before, &tm);
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
			json_object_set_new(e, "next_retry", json_string(when));
		}
		json_array_append_new(list, e);
	}
	pthread_mutex_unlock(&j->lock);
	return list;
}

struct fleet *
jobs_fleet(struct jobs *j)
{
	return j->fleet;
}

unsigned
jobs_in_flight(struct jobs *j)
{
	unsigned n;

	pthread_mutex_lock(&j->lock);
	n = j->running;
	pthread_mutex_unlock(&j->lock);
	return n;
}
