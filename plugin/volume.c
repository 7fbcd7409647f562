/*
 * volume: the volume registry. One mutex guards the registry; every change
 * is persisted (meta.c) before the request is answered, so a plugin killed
 * at any point restarts with what Docker was told. Creation builds the
 * volume in <volumes>/.tmp/ and renames it into place; removal renames it
 * into <volumes>/.trash/ and a background thread deletes it, so neither a
 * crash nor a large volume leaves a half-made or half-deleted volume in
 * view, and no Docker request waits for a big tree to be deleted.
 */
#include "volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "meta.h"
#include "name.h"
#include "util.h"
#include "vopts.h"

struct vol {
	struct vol_meta meta;
	struct vopts opts;
	char *dir;		/* <volumes>/<name> */
	char *data;		/* <volumes>/<name>/data */
	char *mountpoint;	/* <mount root>/<name> */
	char *staging;		/* a restore in progress, or NULL */
	int restore_percent;	/* of a pending restore-from */
};

struct vol_registry {
	pthread_mutex_t lock;
	const struct vol_os *os;
	char *volumes_dir;
	char *tmp_dir;
	char *trash_dir;
	char *mount_root;
	struct vol **v;
	size_t n;
	pthread_cond_t restored;	/* a restore-from finished */
	int restore_wait;		/* seconds Mount waits for one */

	pthread_t reaper;
	pthread_mutex_t reaper_lock;
	pthread_cond_t reaper_cond;
	int reaper_stop;
	unsigned reaper_requested;	/* bumped per removal */
	unsigned reaper_done;		/* value of requested last reaped */
};

/* ---- the Linux implementation of vol_os ---- */

static int
vol_linux_bind(const char *src, const char *dst, char **cause)
{
	if (mkdir(dst, 0755) != 0 && errno != EEXIST) {
		set_cause(cause, "creating mount point %s: %s", dst,
		    strerror(errno));
		return -1;
	}
	if (mount(src, dst, NULL, MS_BIND, NULL) != 0) {
		set_cause(cause, "bind-mounting %s on %s: %s", src, dst,
		    strerror(errno));
		rmdir(dst);
		return -1;
	}
	return 0;
}

static int
vol_linux_unbind(const char *dst, char **cause)
{
	if (umount2(dst, UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
	    errno != ENOENT) {
		/* Busy: detach now, the kernel finishes when it is released. */
		if (errno != EBUSY || umount2(dst, MNT_DETACH |
		    UMOUNT_NOFOLLOW) != 0) {
			set_cause(cause, "unmounting %s: %s", dst,
			    strerror(errno));
			return -1;
		}
	}
	if (rmdir(dst) != 0 && errno != ENOENT)
		log_warn("removing mount point %s: %s", dst, strerror(errno));
	return 0;
}

/* Decodes the octal escapes (\040 for space) of /proc/self/mountinfo. */
static void
vol_unescape_mountinfo(char *s)
{
	char *out = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 4;
		} else
			*out++ = *s++;
	}
	*out = '\0';
}

static int
vol_linux_mounted(const char *path)
{
	char *line = NULL, *field, *save;
	size_t size = 0;
	int i, found = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return 0;
	while (!found && getline(&line, &size, f) != -1) {
		/* id parent major:minor root mountpoint ... */
		field = strtok_r(line, " ", &save);
		for (i = 0; field != NULL && i < 4; i++)
			field = strtok_r(NULL, " ", &save);
		if (field == NULL)
			continue;
		vol_unescape_mountinfo(field);
		found = strcmp(field, path) == 0;
	}
	free(line);
	fclose(f);
	return found;
}

const struct vol_os vol_os_linux = {
	vol_linux_bind,
	vol_linux_unbind,
	vol_linux_mounted,
};

/* ---- registry internals; callers hold reg->lock ---- */

static void
vol_free(struct vol *v)
{
	if (v == NULL)
		return;
	meta_free(&v->meta);
	vopts_free(&v->opts);
	free(v->dir);
	free(v->data);
	free(v->mountpoint);
	free(v->staging);
	free(v);
}

static struct vol *
vol_find(struct vol_registry *reg, const char *name)
{
	size_t i;

	for (i = 0; i < reg->n; i++) {
		if (strcmp(reg->v[i]->meta.name, name) == 0)
			return reg->v[i];
	}
	return NULL;
}

static void
vol_insert(struct vol_registry *reg, struct vol *v)
{
	reg->v = xreallocarray(reg->v, reg->n + 1, sizeof *reg->v);
	reg->v[reg->n++] = v;
}

static void
vol_detach(struct vol_registry *reg, struct vol *v)
{
	size_t i;

	for (i = 0; i < reg->n; i++) {
		if (reg->v[i] == v) {
			reg->v[i] = reg->v[--reg->n];
			return;
		}
	}
}

/* A struct vol for name with paths filled in; meta and opts left empty. */
static struct vol *
vol_new(struct vol_registry *reg, const char *name)
{
	struct vol *v = xcalloc(1, sizeof *v);

	v->opts.on_unmount = -1;
	v->dir = xasprintf("%s/%s", reg->volumes_dir, name);
	v->data = xasprintf("%s/data", v->dir);
	v->mountpoint = xasprintf("%s/%s", reg->mount_root, name);
	return v;
}

static int
vol_restore_pending(const struct vol *v)
{
	const char *state;

	if (v->meta.restore == NULL)
		return 0;
	state = json_string_value(json_object_get(v->meta.restore, "state"));
	return state != NULL && strcmp(state, "pending") == 0;
}

static struct vol *
vol_lookup(struct vol_registry *reg, const char *name, char **cause)
{
	struct vol *v;

	if (name_volume_check(name, cause) != 0)
		return NULL;
	v = vol_find(reg, name);
	if (v == NULL)
		set_cause(cause, "no such volume: %s", name);
	return v;
}

static int
vol_mkdir_p(const char *path, mode_t mode, char **cause)
{
	char *copy = xstrdup(path), *p;
	int rc = 0;

	for (p = copy + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, mode) != 0 && errno != EEXIST) {
			set_cause(cause, "creating %s: %s", copy,
			    strerror(errno));
			rc = -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return rc;
}

/* ---- the reaper: deletes removed volumes in the background ---- */

static void
vol_reap_all(struct vol_registry *reg)
{
	struct dirent *de;
	char *path, *why;
	DIR *d;

	d = opendir(reg->trash_dir);
	if (d == NULL) {
		log_error("reaper: %s: %s", reg->trash_dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", reg->trash_dir, de->d_name);
		why = NULL;
		if (remove_tree(path, &why) != 0) {
			log_error("reaper: %s", why);
			free(why);
		} else
			log_debug("reaper: deleted %s", path);
		free(path);
	}
	closedir(d);
}

static void *
vol_reaper_main(void *arg)
{
	struct vol_registry *reg = arg;
	unsigned target;

	pthread_mutex_lock(&reg->reaper_lock);
	for (;;) {
		while (!reg->reaper_stop &&
		    reg->reaper_done == reg->reaper_requested)
			pthread_cond_wait(&reg->reaper_cond, &reg->reaper_lock);
		if (reg->reaper_stop)
			break;
		target = reg->reaper_requested;
		pthread_mutex_unlock(&reg->reaper_lock);
		vol_reap_all(reg);
		pthread_mutex_lock(&reg->reaper_lock);
		reg->reaper_done = target;
		pthread_cond_broadcast(&reg->reaper_cond);
	}
	pthread_mutex_unlock(&reg->reaper_lock);
	return NULL;
}

static void
vol_reap_request(struct vol_registry *reg)
{
	pthread_mutex_lock(&reg->reaper_lock);
	reg->reaper_requested++;
	pthread_cond_broadcast(&reg->reaper_cond);
	pthread_mutex_unlock(&reg->reaper_lock);
}

void
vol_reap_wait(struct vol_registry *reg)
{
	pthread_mutex_lock(&reg->reaper_lock);
	while (reg->reaper_done != reg->reaper_requested)
		pthread_cond_wait(&reg->reaper_cond, &reg->reaper_lock);
	pthread_mutex_unlock(&reg->reaper_lock);
}

/* ---- loading ---- */

/* restore-* beside data: an unfinished staging area, or old data swapped
 * out by a restore that crashed before deleting it. Neither is the data. */
static void
vol_clean_restores(const char *dir)
{
	struct dirent *de;
	char *path, *why = NULL;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "restore-", 8) != 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		log_info("removing %s left by an interrupted restore", path);
		if (remove_tree(path, &why) != 0) {
			log_error("%s", why);
			free(why);
			why = NULL;
		}
		free(path);
	}
	closedir(d);
}

static void
vol_load_one(struct vol_registry *reg, const char *name)
{
	struct vol *v = NULL;
	char *why = NULL;

	if (name_volume_check(name, &why) != 0) {
		log_error("skipping %s/%s: %s", reg->volumes_dir, name, why);
		goto out;
	}
	v = vol_new(reg, name);
	if (meta_load(v->dir, &v->meta, &why) != 0) {
		log_error("skipping volume %s: %s", name, why);
		goto out;
	}
	if (strcmp(v->meta.name, name) != 0) {
		log_error("skipping volume %s: its metadata names \"%s\"",
		    name, v->meta.name);
		goto out;
	}
	vol_clean_restores(v->dir);
	if (vopts_parse(v->meta.options, &v->opts, &why) != 0) {
		/* Keep serving the data; the options need fixing by hand. */
		log_error("volume %s: stored options are not valid (%s); "
		    "using none", name, why);
		free(why);
		why = NULL;
	}
	if (refs_total(&v->meta.refs) > 0 && !reg->os->mounted(v->mountpoint)) {
		log_info("volume %s: dropping %u mount reference(s): its "
		    "mount is gone (Docker or the host restarted)", name,
		    refs_total(&v->meta.refs));
		refs_clear(&v->meta.refs);
		if (meta_save(v->dir, &v->meta, &why) != 0) {
			log_error("volume %s: %s", name, why);
			free(why);
			why = NULL;
		}
	} else if (refs_total(&v->meta.refs) == 0 &&
	    reg->os->mounted(v->mountpoint)) {
		if (reg->os->unbind(v->mountpoint, &why) != 0) {
			log_error("volume %s: %s", name, why);
			free(why);
			why = NULL;
		}
	}
	vol_insert(reg, v);
	v = NULL;
out:
	free(why);
	vol_free(v);
}

static int
vol_load(struct vol_registry *reg, char **cause)
{
	struct dirent *de;
	char *path, *why;
	DIR *d;

	/* Creations that did not finish: nothing in them was promised. */
	d = opendir(reg->tmp_dir);
	if (d == NULL) {
		set_cause(cause, "%s: %s", reg->tmp_dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", reg->tmp_dir, de->d_name);
		why = NULL;
		if (remove_tree(path, &why) != 0) {
			log_error("%s", why);
			free(why);
		}
		free(path);
	}
	closedir(d);

	d = opendir(reg->volumes_dir);
	if (d == NULL) {
		set_cause(cause, "%s: %s", reg->volumes_dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		vol_load_one(reg, de->d_name);
	}
	closedir(d);
	return 0;
}

struct vol_registry *
vol_open(const char *state_dir, const char *mount_root,
    const struct vol_os *os, char **cause)
{
	struct vol_registry *reg = xcalloc(1, sizeof *reg);

	pthread_mutex_init(&reg->lock, NULL);
	pthread_cond_init(&reg->restored, NULL);
	reg->restore_wait = 60;
	pthread_mutex_init(&reg->reaper_lock, NULL);
	pthread_cond_init(&reg->reaper_cond, NULL);
	reg->os = os;
	reg->volumes_dir = xasprintf("%s/volumes", state_dir);
	reg->tmp_dir = xasprintf("%s/.tmp", reg->volumes_dir);
	reg->trash_dir = xasprintf("%s/.trash", reg->volumes_dir);
	reg->mount_root = xstrdup(mount_root);
	if (vol_mkdir_p(reg->tmp_dir, 0700, cause) != 0 ||
	    vol_mkdir_p(reg->trash_dir, 0700, cause) != 0 ||
	    vol_mkdir_p(reg->mount_root, 0755, cause) != 0 ||
	    vol_load(reg, cause) != 0)
		goto fail;
	if (pthread_create(&reg->reaper, NULL, vol_reaper_main, reg) != 0) {
		set_cause(cause, "cannot start the reaper thread");
		goto fail;
	}
	/* Removals interrupted by a crash are finished now. */
	vol_reap_request(reg);
	log_info("loaded %zu volume(s) from %s", reg->n, reg->volumes_dir);
	return reg;
fail:
	reg->reaper_stop = 1;
	vol_close(reg);
	return NULL;
}

void
vol_close(struct vol_registry *reg)
{
	size_t i;

	if (reg == NULL)
		return;
	if (!reg->reaper_stop) {
		pthread_mutex_lock(&reg->reaper_lock);
		reg->reaper_stop = 1;
		pthread_cond_broadcast(&reg->reaper_cond);
		pthread_mutex_unlock(&reg->reaper_lock);
		pthread_join(reg->reaper, NULL);
	}
	for (i = 0; i < reg->n; i++)
		vol_free(reg->v[i]);
	free(reg->v);
	free(reg->volumes_dir);
	free(reg->tmp_dir);
	free(reg->trash_dir);
	free(reg->mount_root);
	pthread_cond_destroy(&reg->reaper_cond);
	pthread_cond_destroy(&reg->restored);
	pthread_mutex_destroy(&reg->reaper_lock);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

/* ---- operations ---- */

/*
 * Builds v's directory (meta.json, empty data/) under the temporary
 * directory; *tmp (caller frees) is where. Nothing is in view yet.
 */
static int
vol_build(struct vol_registry *reg, const struct vol *v, char **tmp,
    char **cause)
{
	char suffix[17], *tmpdata;
	int rc = -1;

	random_hex(suffix, 16);
	*tmp = xasprintf("%s/%s.%s", reg->tmp_dir, v->meta.name, suffix);
	tmpdata = xasprintf("%s/data", *tmp);
	if (mkdir(*tmp, 0700) != 0 || mkdir(tmpdata, 0755) != 0) {
		set_cause(cause, "creating %s: %s", *tmp, strerror(errno));
		goto out;
	}
	if (meta_save(*tmp, &v->meta, cause) != 0)
		goto out;
	rc = 0;
out:
	free(tmpdata);
	return rc;
}

/* Renames a built volume into place and registers it (takes v). */
static int
vol_install(struct vol_registry *reg, struct vol *v, const char *tmp,
    char **cause)
{
	if (vol_find(reg, v->meta.name) != NULL) {
		set_cause(cause, "volume %s exists", v->meta.name);
		return -1;
	}
	if (rename(tmp, v->dir) != 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			set_cause(cause, "%s exists but is not a loaded volume "
			    "(see the plugin log); not replacing it", v->dir);
		else
			set_cause(cause, "renaming %s to %s: %s", tmp, v->dir,
			    strerror(errno));
		return -1;
	}
	if (fsync_dir(reg->volumes_dir) != 0)
		log_warn("syncing %s: %s", reg->volumes_dir, strerror(errno));
	vol_insert(reg, v);
	log_info("created volume %s", v->meta.name);
	return 0;
}

static void
vol_discard(const char *tmp)
{
	char *why = NULL;

	if (tmp != NULL && remove_tree(tmp, &why) != 0) {
		log_error("%s", why);
		free(why);
	}
}

static int
vol_create_locked(struct vol_registry *reg, const char *name,
    const json_t *opts, char **cause)
{
	struct vol *v = NULL, *old;
	char *tmp = NULL;
	json_t *given;
	int rc = -1;

	given = opts != NULL && !json_is_null(opts) ? json_deep_copy(opts) :
	    json_object();
	old = vol_find(reg, name);
	if (old != NULL) {
		/* Docker re-sends Create for volumes it already knows. */
		if (json_object_size(given) == 0 ||
		    json_equal(given, old->meta.options))
			rc = 0;
		else
			set_cause(cause, "volume %s already exists with "
			    "different options", name);
		goto out;
	}
	v = vol_new(reg, name);
	if (vopts_parse(given, &v->opts, cause) != 0)
		goto out;
	v->meta.name = xstrdup(name);
	v->meta.created = time(NULL);
	v->meta.options = json_incref(given);
	if (v->opts.restore_from != NULL)
		v->meta.restore = json_pack("{s:s}", "state", "pending");
	if (vol_build(reg, v, &tmp, cause) != 0 ||
	    vol_install(reg, v, tmp, cause) != 0)
		goto out;
	v = NULL;
	free(tmp);
	tmp = NULL;
	rc = 0;
out:
	vol_discard(tmp);
	free(tmp);
	json_decref(given);
	vol_free(v);
	return rc;
}

struct vol_import {
	struct vol *v;
	char *tmp;
};

int
vol_import_begin(struct vol_registry *reg, const char *name,
    struct vol_import **out, char **data, char **cause)
{
	struct vol_import *imp;
	int rc = -1;

	*out = NULL;
	*data = NULL;
	if (name_volume_check(name, cause) != 0)
		return -1;
	imp = xcalloc(1, sizeof *imp);
	pthread_mutex_lock(&reg->lock);
	if (vol_find(reg, name) != NULL) {
		set_cause(cause, "volume %s exists; import makes a new volume "
		    "(remove it first, or import under another name)", name);
		goto out;
	}
	imp->v = vol_new(reg, name);
	imp->v->meta.name = xstrdup(name);
	imp->v->meta.created = time(NULL);
	imp->v->meta.options = json_object();
	if (vol_build(reg, imp->v, &imp->tmp, cause) != 0)
		goto out;
	*data = xasprintf("%s/data", imp->tmp);
	*out = imp;
	imp = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&reg->lock);
	if (imp != NULL)
		vol_import_abort(reg, imp);
	return rc;
}

int
vol_import_commit(struct vol_registry *reg, struct vol_import *imp,
    char **cause)
{
	int rc;

	pthread_mutex_lock(&reg->lock);
	rc = vol_install(reg, imp->v, imp->tmp, cause);
	if (rc == 0)
		imp->v = NULL;
	pthread_mutex_unlock(&reg->lock);
	vol_import_abort(reg, imp);
	return rc;
}

void
vol_import_abort(struct vol_registry *reg, struct vol_import *imp)
{
	(void)reg;
	if (imp == NULL)
		return;
	if (imp->v != NULL)
		vol_discard(imp->tmp);
	vol_free(imp->v);
	free(imp->tmp);
	free(imp);
}

int
vol_create(struct vol_registry *reg, const char *name, const json_t *opts,
    char **cause)
{
	int rc;

	if (name_volume_check(name, cause) != 0)
		return -1;
	pthread_mutex_lock(&reg->lock);
	rc = vol_create_locked(reg, name, opts, cause);
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int
vol_remove(struct vol_registry *reg, const char *name, char **cause)
{
	struct vol *v;
	char suffix[17], *trash = NULL;
	int rc = -1;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v == NULL)
		goto out;
	if (v->staging != NULL) {
		set_cause(cause, "volume %s is being restored", name);
		goto out;
	}
	if (refs_total(&v->meta.refs) > 0) {
		char *id = utf8_clip(v->meta.refs.v[0].id, 12);
		set_cause(cause, "volume %s is in use (%u mount(s), first by "
		    "%s); stop the containers using it first", name,
		    refs_total(&v->meta.refs), id);
		free(id);
		goto out;
	}
	if (reg->os->mounted(v->mountpoint) &&
	    reg->os->unbind(v->mountpoint, cause) != 0)
		goto out;
	random_hex(suffix, 16);
	trash = xasprintf("%s/%s.%s", reg->trash_dir, name, suffix);
	if (rename(v->dir, trash) != 0) {
		set_cause(cause, "removing volume %s: renaming %s: %s", name,
		    v->dir, strerror(errno));
		goto out;
	}
	if (fsync_dir(reg->volumes_dir) != 0)
		log_warn("syncing %s: %s", reg->volumes_dir, strerror(errno));
	vol_detach(reg, v);
	vol_free(v);
	pthread_cond_broadcast(&reg->restored);
	vol_reap_request(reg);
	log_info("removed volume %s", name);
	rc = 0;
out:
	pthread_mutex_unlock(&reg->lock);
	free(trash);
	return rc;
}

int
vol_mount(struct vol_registry *reg, const char *name, const char *id,
    char **mountpoint, char **cause)
{
	struct vol *v;
	struct stat st;
	int bound = 0, rc = -1;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v == NULL)
		goto out;
	if (vol_restore_pending(v)) {
		struct timespec ts;
		int timed_out = 0;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += reg->restore_wait;
		for (;;) {
			/* The volume may have been removed while we waited. */
			if (vol_find(reg, name) != v) {
				set_cause(cause, "no such volume: %s", name);
				goto out;
			}
			if (!vol_restore_pending(v))
				break;
			if (timed_out) {
				set_cause(cause, "volume %s is still being "
				    "restored (%d%%)", name, v->restore_percent);
				goto out;
			}
			timed_out = pthread_cond_timedwait(&reg->restored,
			    &reg->lock, &ts) == ETIMEDOUT;
		}
	}
	if (v->meta.restore != NULL && strcmp(json_string_value(
	    json_object_get(v->meta.restore, "state")), "failed") == 0) {
		set_cause(cause, "volume %s could not be restored: %s; remove "
		    "it and create it again", name, json_string_value(
		    json_object_get(v->meta.restore, "error")));
		goto out;
	}
	if (v->staging != NULL) {
		set_cause(cause, "volume %s is being restored; mount it when "
		    "the restore has finished", name);
		goto out;
	}
	if (lstat(v->data, &st) != 0 || !S_ISDIR(st.st_mode)) {
		/* Never hand out an empty directory in place of lost data. */
		set_cause(cause, "volume %s: its data directory %s is missing; "
		    "not mounting an empty volume in its place", name, v->data);
		goto out;
	}
	if (!reg->os->mounted(v->mountpoint)) {
		if (reg->os->bind(v->data, v->mountpoint, cause) != 0)
			goto out;
		bound = 1;
	}
	if (refs_add(&v->meta.refs, id) != 0) {
		set_cause(cause, "volume %s: too many mount IDs", name);
		goto undo;
	}
	v->meta.last_used = now_ms();
	if (meta_save(v->dir, &v->meta, cause) != 0) {
		refs_del(&v->meta.refs, id);
		goto undo;
	}
	*mountpoint = xstrdup(v->mountpoint);
	log_info("mounted volume %s for %.12s (%u reference(s))", name, id,
	    refs_total(&v->meta.refs));
	rc = 0;
	goto out;
undo:
	if (bound)
		reg->os->unbind(v->mountpoint, NULL);
out:
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int
vol_unmount(struct vol_registry *reg, const char *name, const char *id,
    char **cause)
{
	struct vol *v;
	int rc = -1;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v == NULL)
		goto out;
	if (!refs_del(&v->meta.refs, id)) {
		log_info("unmount of volume %s for unknown ID %.12s: nothing "
		    "to do", name, id);
		rc = 0;
		goto out;
	}
	if (refs_total(&v->meta.refs) == 0 &&
	    reg->os->unbind(v->mountpoint, cause) != 0) {
		refs_add(&v->meta.refs, id);
		goto out;
	}
	v->meta.last_used = now_ms();
	if (meta_save(v->dir, &v->meta, cause) != 0)
		goto out;
	log_info("unmounted volume %s for %.12s (%u reference(s) left)", name,
	    id, refs_total(&v->meta.refs));
	rc = 0;
out:
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int
vol_path(struct vol_registry *reg, const char *name, char **mountpoint,
    char **cause)
{
	struct vol *v;
	int rc = -1;

	*mountpoint = NULL;
	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v != NULL) {
		if (refs_total(&v->meta.refs) > 0)
			*mountpoint = xstrdup(v->mountpoint);
		rc = 0;
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

/* Mounted now, or used after the oldest last successful backup began. */
static int
vol_changed(const struct vol *v)
{
	const char *server;
	json_t *b;
	long long since;
	int any = 0;

	if (refs_total(&v->meta.refs) > 0)
		return 1;
	json_object_foreach(v->meta.backups, server, b) {
		since = (long long)json_integer_value(json_object_get(b,
		    "last_success_started_ms"));
		if (since == 0 || v->meta.last_used >= since)
			return 1;
		any = 1;
	}
	return !any;
}

static json_t *
vol_status(const struct vol *v)
{
	json_t *status = json_object(), *backup = json_array(), *restore;
	size_t i;

	for (i = 0; i < v->opts.nbackup; i++)
		json_array_append_new(backup, json_string(v->opts.backup[i]));
	json_object_set_new(status, "backup", backup);
	if (v->opts.schedule != NULL)
		json_object_set_new(status, "schedule",
		    json_string(v->opts.schedule));
	json_object_set_new(status, "on-unmount", json_boolean(
	    v->opts.on_unmount == -1 ? v->opts.nbackup > 0 :
	    v->opts.on_unmount));
	json_object_set_new(status, "mounts",
	    json_integer(refs_total(&v->meta.refs)));
	if (v->meta.backups != NULL && json_object_size(v->meta.backups) > 0)
		json_object_set_new(status, "last-backup",
		    json_deep_copy(v->meta.backups));
	json_object_set_new(status, "changed-since-backup",
	    json_boolean(vol_changed(v)));
	if (v->opts.restore_from != NULL) {
		restore = json_pack("{s:s}", "from", v->opts.restore_from);
		if (v->opts.restore_source != NULL)
			json_object_set_new(restore, "source",
			    json_string(v->opts.restore_source));
		json_object_set_new(restore, "volume", json_string(
		    v->opts.restore_volume != NULL ? v->opts.restore_volume :
		    v->meta.name));
		json_object_set_new(restore, "snapshot", json_string(
		    v->opts.restore_snapshot != NULL ?
		    v->opts.restore_snapshot : "latest"));
		if (v->meta.restore != NULL) {
			json_object_update(restore, v->meta.restore);
			if (vol_restore_pending(v))
				json_object_set_new(restore, "progress",
				    json_integer(v->restore_percent));
		}
		json_object_set_new(status, "restore", restore);
	}
	return status;
}

json_t *
vol_get(struct vol_registry *reg, const char *name, char **cause)
{
	struct vol *v;
	struct tm tm;
	char created[32];
	json_t *j = NULL;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v != NULL) {
		gmtime_r(&v->meta.created, &tm);
		strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
		j = json_pack("{s:s, s:s, s:o}", "Name", v->meta.name,
		    "CreatedAt", created, "Status", vol_status(v));
		if (refs_total(&v->meta.refs) > 0)
			json_object_set_new(j, "Mountpoint",
			    json_string(v->mountpoint));
	}
	pthread_mutex_unlock(&reg->lock);
	return j;
}

json_t *
vol_list(struct vol_registry *reg)
{
	json_t *list = json_array(), *item;
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		item = json_pack("{s:s}", "Name", reg->v[i]->meta.name);
		if (refs_total(&reg->v[i]->meta.refs) > 0)
			json_object_set_new(item, "Mountpoint",
			    json_string(reg->v[i]->mountpoint));
		json_array_append_new(list, item);
	}
	pthread_mutex_unlock(&reg->lock);
	return list;
}

int
vol_data_dir(struct vol_registry *reg, const char *name, char **dir,
    char **cause)
{
	struct vol *v;
	int rc = -1;

	*dir = NULL;
	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v != NULL && v->staging != NULL)
		set_cause(cause, "volume %s is being restored", name);
	else if (v != NULL) {
		*dir = xstrdup(v->data);
		rc = 0;
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int
vol_restore_begin(struct vol_registry *reg, const char *name,
    char **staging, char **data, char **cause)
{
	struct vol *v;
	char suffix[17];
	int rc = -1;

	*staging = *data = NULL;
	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v == NULL)
		goto out;
	if (v->staging != NULL) {
		set_cause(cause, "volume %s is already being restored", name);
		goto out;
	}
	if (refs_total(&v->meta.refs) > 0) {
		set_cause(cause, "volume %s is mounted (%u mount(s)); stop the "
		    "containers using it before restoring into it", name,
		    refs_total(&v->meta.refs));
		goto out;
	}
	random_hex(suffix, 16);
	v->staging = xasprintf("%s/restore-%s", v->dir, suffix);
	if (mkdir(v->staging, 0755) != 0) {
		set_cause(cause, "creating %s: %s", v->staging,
		    strerror(errno));
		free(v->staging);
		v->staging = NULL;
		goto out;
	}
	*staging = xstrdup(v->staging);
	*data = xstrdup(v->data);
	rc = 0;
out:
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int
vol_restore_end(struct vol_registry *reg, const char *name, int ok,
    char **cause)
{
	struct vol *v;
	char suffix[17], *trash = NULL, *why = NULL;
	int rc = -1;

	pthread_mutex_lock(&reg->lock);
	v = vol_find(reg, name);
	if (v == NULL || v->staging == NULL) {
		set_cause(cause, "volume %s has no restore in progress", name);
		goto out;
	}
	rc = 0;
	if (ok) {
		if (renameat2(AT_FDCWD, v->staging, AT_FDCWD, v->data,
		    RENAME_EXCHANGE) != 0) {
			set_cause(cause, "swapping the restored data into %s: "
			    "%s", v->data, strerror(errno));
			rc = -1;
		} else if (fsync_dir(v->dir) != 0) {
			log_warn("syncing %s: %s", v->dir, strerror(errno));
		}
	}
	/* The staging path now holds the old data, or the failed restore. */
	random_hex(suffix, 16);
	trash = xasprintf("%s/%s.restore.%s", reg->trash_dir, name, suffix);
	if (rename(v->staging, trash) != 0) {
		if (remove_tree(v->staging, &why) != 0) {
			log_error("%s", why);
			free(why);
		}
	} else
		vol_reap_request(reg);
	log_info("volume %s: restore %s", name, !ok ? "abandoned" : rc == 0 ?
	    "complete" : "failed");
	free(v->staging);
	v->staging = NULL;
out:
	pthread_mutex_unlock(&reg->lock);
	free(trash);
	return rc;
}

int
vol_backup_changed(struct vol_registry *reg, const char *name,
    const char *server, int *changed, char **cause)
{
	struct vol *v;
	json_t *b;
	long long since;
	int rc = -1;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v != NULL) {
		b = json_object_get(v->meta.backups, server);
		since = (long long)json_integer_value(json_object_get(b,
		    "last_success_started_ms"));
		*changed = since == 0 || refs_total(&v->meta.refs) > 0 ||
		    v->meta.last_used >= since;
		rc = 0;
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int
vol_backup_record(struct vol_registry *reg, const char *name,
    const struct vol_backup_note *n, char **cause)
{
	struct vol *v;
	char when[32];
	struct tm tm;
	json_t *b;
	int rc = -1, ok;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v == NULL)
		goto out;
	if (v->meta.backups == NULL)
		v->meta.backups = json_object();
	b = json_object_get(v->meta.backups, n->server);
	if (b == NULL) {
		b = json_object();
		json_object_set_new(v->meta.backups, n->server, b);
	}
	ok = strcmp(n->result, "ok") == 0;
	gmtime_r(&n->finished, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(b, "time", json_string(when));
	json_object_set_new(b, "result", json_string(n->result));
	if (n->error != NULL) {
		char *clean = utf8_clip(n->error, 2000);
		json_object_set_new(b, "error", json_string(clean));
		free(clean);
	} else
		json_object_del(b, "error");
	if (strncmp(n->result, "skipped", 7) != 0) {
		json_object_set_new(b, "bytes_sent",
		    json_integer((json_int_t)n->bytes));
		json_object_set_new(b, "duration_seconds",
		    json_real(n->seconds));
	} else	/* what deciding to skip took; the last run's stay */
		json_object_set_new(b, "skip_seconds", json_real(n->seconds));
	if (ok) {
		json_object_set_new(b, "last_success", json_integer(
		    (json_int_t)n->finished));
		json_object_set_new(b, "last_success_started_ms", json_integer(
		    (json_int_t)n->started_ms));
		json_object_set_new(b, "bytes_sent_total", json_integer(
		    json_integer_value(json_object_get(b,
		    "bytes_sent_total")) + (json_int_t)n->bytes));
	} else if (strcmp(n->result, "failed") == 0)
		json_object_set_new(b, "failures_total", json_integer(
		    json_integer_value(json_object_get(b, "failures_total")) +
		    1));
	rc = meta_save(v->dir, &v->meta, cause);
out:
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

json_t *
vol_backup_all(struct vol_registry *reg)
{
	json_t *all = json_object();
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		if (reg->v[i]->meta.backups != NULL &&
		    json_object_size(reg->v[i]->meta.backups) > 0)
			json_object_set_new(all, reg->v[i]->meta.name,
			    json_deep_copy(reg->v[i]->meta.backups));
	}
	pthread_mutex_unlock(&reg->lock);
	return all;
}

json_t *
vol_schedules(struct vol_registry *reg)
{
	json_t *all = json_object();
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		if (reg->v[i]->opts.schedule != NULL)
			json_object_set_new(all, reg->v[i]->meta.name,
			    json_string(reg->v[i]->opts.schedule));
	}
	pthread_mutex_unlock(&reg->lock);
	return all;
}

int
vol_on_unmount(struct vol_registry *reg, const char *name)
{
	struct vol *v;
	int on = 0;

	pthread_mutex_lock(&reg->lock);
	v = vol_find(reg, name);
	if (v != NULL)
		on = v->opts.on_unmount != 0;
	pthread_mutex_unlock(&reg->lock);
	return on;
}

int
vol_exists(struct vol_registry *reg, const char *name)
{
	int found;

	pthread_mutex_lock(&reg->lock);
	found = vol_find(reg, name) != NULL;
	pthread_mutex_unlock(&reg->lock);
	return found;
}

void
vol_set_restore_wait(struct vol_registry *reg, int seconds)
{
	pthread_mutex_lock(&reg->lock);
	reg->restore_wait = seconds > 0 ? seconds : 0;
	pthread_mutex_unlock(&reg->lock);
}

json_t *
vol_pending_restores(struct vol_registry *reg)
{
	json_t *names = json_array();
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		if (vol_restore_pending(reg->v[i]))
			json_array_append_new(names,
			    json_string(reg->v[i]->meta.name));
	}
	pthread_mutex_unlock(&reg->lock);
	return names;
}

void
vol_restore_progress(struct vol_registry *reg, const char *name, int percent)
{
	struct vol *v;

	pthread_mutex_lock(&reg->lock);
	v = vol_find(reg, name);
	if (v != NULL)
		v->restore_percent = percent;
	pthread_mutex_unlock(&reg->lock);
}

int
vol_restore_finish(struct vol_registry *reg, const char *name, int ok,
    const char *error, char **cause)
{
	struct vol *v;
	int rc = -1;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v != NULL) {
		json_decref(v->meta.restore);
		v->meta.restore = json_pack("{s:s}", "state", ok ? "done" :
		    "failed");
		if (!ok) {
			char *clean = utf8_clip(error != NULL ? error :
			    "failed", 2000);
			json_object_set_new(v->meta.restore, "error",
			    json_string(clean));
			free(clean);
		}
		v->restore_percent = ok ? 100 : v->restore_percent;
		rc = meta_save(v->dir, &v->meta, cause);
		pthread_cond_broadcast(&reg->restored);
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

json_t *
vol_options(struct vol_registry *reg, const char *name)
{
	struct vol *v;
	json_t *o = NULL;

	pthread_mutex_lock(&reg->lock);
	v = vol_find(reg, name);
	if (v != NULL && v->meta.options != NULL)
		o = json_deep_copy(v->meta.options);
	pthread_mutex_unlock(&reg->lock);
	return o;
}
