/*
 * stale: computed on demand from what is on disk — the volumes' recorded
 * results on a client, the snapshot directories on a server — so it
 * survives restarts and needs no state of its own. Notifying is the
 * watcher's (watch.c); notify.c keeps the episodes.
 */
#include "stale.h"

#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "ops.h"
#include "snapshot.h"
#include "util.h"
#include "volume.h"

#define STALE_CRON_SAMPLES 16

long long
stale_cron_interval(const struct cron *c, time_t now)
{
	time_t t = cron_next(c, now), next;
	long long gap = 0;
	int i;

	for (i = 0; t > 0 && i < STALE_CRON_SAMPLES; i++) {
		next = cron_next(c, t);
		if (next <= 0)
			break;
		if (next - t > gap)
			gap = next - t;
		t = next;
	}
	return gap;
}

long long
stale_max_age(const struct config *cfg, const char *client,
    const char *volume, const char *server, const struct vopts *o,
    time_t now)
{
	const struct config_client *c;
	const struct config_volume *v;
	long long gap, best = 0;
	size_t i;

	if (o != NULL && o->max_age > 0)
		return o->max_age;
	v = cfg != NULL ? config_volume(cfg, volume) : NULL;
	if (v != NULL && v->max_age > 0)
		return v->max_age;
	if (o != NULL && o->schedule != NULL)
		best = stale_cron_interval(&o->sched, now);
	c = cfg != NULL && client != NULL ? config_client(cfg, client) : NULL;
	for (i = 0; c != NULL && i < c->njobs; i++) {
		if (c->jobs[i].volume == NULL || c->jobs[i].server == NULL ||
		    strcmp(c->jobs[i].volume, volume) != 0 ||
		    strcmp(c->jobs[i].server, server) != 0)
			continue;
		gap = stale_cron_interval(&c->jobs[i].cron, now);
		if (gap > 0 && (best == 0 || gap < best))
			best = gap;
	}
	return 2 * best;
}

/* When volume was created (0 if unknown). */
static time_t
stale_created(struct vol_registry *reg, const char *volume)
{
	json_t *v = vol_get(reg, volume, NULL);
	const char *s;
	struct tm tm;
	time_t t = 0;

	s = json_string_value(json_object_get(v, "CreatedAt"));
	memset(&tm, 0, sizeof tm);
	if (s != NULL && strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) != NULL)
		t = timegm(&tm);
	json_decref(v);
	return t;
}

/* volume's entry of out, a client's: backups is its last-backup record. */
static void
stale_client_volume(struct vol_registry *reg, struct fleet *f,
    const struct fleet_state *st, const char *volume, const json_t *backups,
    time_t now, json_t *out)
{
	json_t *per = NULL, *opts;
	char **servers, *why = NULL;
	struct vopts o;
	long long age;
	time_t last, since;
	size_t k, n;
	int on_unmount;

	opts = vol_options(reg, volume);
	if (vopts_parse(opts, &o, &why) != 0) {
		free(why);
		json_decref(opts);
		return;
	}
	json_decref(opts);
	(void)ops_volume_servers(f, reg, volume, &servers, &n, &on_unmount);
	for (k = 0; k < n; k++) {
		age = stale_max_age(st->cfg, st->identity, volume, servers[k],
		    &o, now);
		if (age > 0) {
			last = (time_t)json_integer_value(json_object_get(
			    json_object_get(backups, servers[k]),
			    "last_success"));
			since = last > 0 ? last : stale_created(reg, volume);
			if (per == NULL) {
				per = json_object();
				json_object_set_new(out, volume, per);
			}
			json_object_set_new(per, servers[k], json_pack(
			    "{s:I, s:b, s:I}", "max_age", (json_int_t)age,
			    "stale", since > 0 && now - since > age,
			    "last_success", (json_int_t)last));
		}
		free(servers[k]);
	}
	free(servers);
	vopts_free(&o);
}

/*
 * Every volume's, or only one's: inspect asks for one, and must not copy
 * every volume's records to answer (10,000 volumes made a Get 10,000
 * times dearer).
 */
static json_t *
stale_client_only(struct vol_registry *reg, struct fleet *f, time_t now,
    const char *only)
{
	json_t *out = json_object(), *list, *item, *all, *v;
	struct fleet_state *st;
	const char *volume;
	size_t i;

	st = fleet_acquire_config(f);
	if (st == NULL || config_role(st->cfg, st->identity) !=
	    CONFIG_ROLE_CLIENT) {
		fleet_release(f, st);
		return out;
	}
	if (only != NULL) {
		v = vol_get(reg, only, NULL);
		if (v != NULL)
			stale_client_volume(reg, f, st, only, json_object_get(
			    json_object_get(v, "Status"), "last-backup"), now,
			    out);
		json_decref(v);
		fleet_release(f, st);
		return out;
	}
	all = vol_backup_all(reg);
	list = vol_list(reg);
	json_array_foreach(list, i, item) {
		volume = json_string_value(json_object_get(item, "Name"));
		if (volume != NULL)
			stale_client_volume(reg, f, st, volume,
			    json_object_get(all, volume), now, out);
	}
	json_decref(list);
	json_decref(all);
	fleet_release(f, st);
	return out;
}

json_t *
stale_client(struct vol_registry *reg, struct fleet *f, time_t now)
{
	return stale_client_only(reg, f, now, NULL);
}

/* The volumes client keeps with us by the config: backup list, jobs. */
static void
stale_server_client(const struct config *cfg, const struct config_client *c,
    const char *me, const char *root, time_t now, json_t *out)
{
	const char *volume;
	json_t *per = NULL;
	char **ids = NULL, *why = NULL;
	size_t i, n;
	long long age;
	time_t last;

	for (i = 0; i < c->nbackup + c->njobs; i++) {
		volume = i < c->nbackup ? c->backup[i] :
		    c->jobs[i - c->nbackup].volume;
		if (volume == NULL || (per != NULL &&
		    json_object_get(per, volume) != NULL))
			continue;
		age = stale_max_age(cfg, c->name, volume, me, NULL, now);
		if (age <= 0)
			continue;
		n = 0;
		if (snap_list(root, c->name, volume, &ids, &n, &why) != 0) {
			free(why);
			why = NULL;
			continue;
		}
		if (n > 0 && snap_id_parse(ids[n - 1], &last) == 0) {
			if (per == NULL) {
				per = json_object();
				json_object_set_new(out, c->name, per);
			}
			json_object_set_new(per, volume, json_pack(
			    "{s:I, s:b, s:I, s:s}", "max_age", (json_int_t)age,
			    "stale", now - last > age, "last_success",
			    (json_int_t)last, "latest", ids[n - 1]));
		}
		snap_list_free(ids, n);
		ids = NULL;
	}
}

json_t *
stale_server(struct fleet *f, const char *root, time_t now)
{
	json_t *out = json_object();
	struct fleet_state *st;
	size_t i;

	st = fleet_acquire_config(f);
	if (st != NULL && config_role(st->cfg, st->identity) ==
	    CONFIG_ROLE_SERVER) {
		for (i = 0; i < st->cfg->nclients; i++) {
			if (st->cfg->clients[i].name != NULL)
				stale_server_client(st->cfg,
				    &st->cfg->clients[i], st->identity, root,
				    now, out);
		}
	}
	fleet_release(f, st);
	return out;
}

void
stale_annotate(struct vol_registry *reg, struct fleet *f, const char *volume,
    json_t *status)
{
	json_t *all, *per, *last, *b, *r;
	const char *server;

	if (f == NULL)
		return;
	all = stale_client_only(reg, f, now_realtime(), volume);
	per = json_object_get(all, volume);
	json_object_foreach(per, server, r) {
		last = json_object_get(status, "last-backup");
		if (last == NULL) {
			last = json_object();
			json_object_set_new(status, "last-backup", last);
		}
		b = json_object_get(last, server);
		if (b == NULL) {
			b = json_object();
			json_object_set_new(last, server, b);
		}
		json_object_set(b, "stale", json_object_get(r, "stale"));
		json_object_set(b, "max-age", json_object_get(r, "max_age"));
	}
	json_decref(all);
}
