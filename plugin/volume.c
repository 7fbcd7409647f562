/*
 * volume: the volume registry. Every change is persisted (meta.c) before
 * the request is answered, so a plugin killed at any point restarts with
 * what Docker was told. Two kinds of lock: the registry's mutex guards
 * what is in memory and is held only for moments, never across I/O, so
 * Get and List never wait for a disk; each volume's change lock orders
 * the changes to that volume, I/O included, so two writers never lose
 * each other's update. A change takes its volume's lock first, reads
 * what it starts from, persists the result (write, fsync, rename), and
 * only then publishes it under the registry's mutex: a reader sees the
 * state before or after, never one on its way to the disk. (What cannot
 * be taken back — an unmount done, a backup or restore finished — is
 * published even if its save failed, as it always was.) Creation builds the
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT	0x00002000
#endif

#include "log.h"
#include "meta.h"
#include "name.h"
#include "util.h"
#include "vopts.h"

struct vol {
	struct vol_meta meta;	/* changed under change and reg->lock */
	struct vopts opts;	/* fixed at creation */
	char *dir;		/* <volumes>/<name>; the paths are fixed */
	char *data;		/* <volumes>/<name>/data */
	char *mountpoint;	/* <mount root>/<name> */
	/* Its entry in List's answer, as JSON text, and whether that was
	 * made with the mount point (mounted); remade when that changes
	 * (reg->lock). */
	char *listing;
	size_t listing_len;
	int listing_mounted;
	char *staging;		/* a restore in progress, or NULL */
	int restore_percent;	/* of a pending restore-from */
	/* A pending restore whose last attempt failed and will be tried
	 * again: that attempt's number and error, the next one's time. */
	int restore_failed_attempts;
	char *restore_last_error;
	time_t restore_next_attempt;

	/*
	 * Held by one change of this volume from start to end, I/O
	 * included; taken before reg->lock, never while holding it.
	 */
	pthread_mutex_t change;
	unsigned users;		/* threads holding a pointer (lock) */
	int creating;		/* reserved by a Create or Import */
	int gone;		/* out of the registry; the last user frees */

	struct vol *hnext;	/* the next in its hash bucket (reg->lock) */
	size_t idx;		/* its place in reg->v (reg->lock) */
};

struct vol_registry {
	pthread_mutex_t lock;
	const struct vol_os *os;
	char *volumes_dir;
	char *tmp_dir;
	char *trash_dir;
	char *mount_root;
	struct vol **v;		/* in no order; for walking every volume */
	size_t n;
	/*
	 * By name, so a call about one volume costs the same with 10,000
	 * volumes as with ten (a walk of v cost ~40 us at 10,000).
	 */
	struct vol **buckets;
	size_t nbuckets;	/* a power of two, >= n; 0 when empty */
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
vol_mountinfo_has(const char *path)
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

/*
 * Linux 5.8 and later say in statx whether a path is the root of a mount:
 * one system call, where reading /proc/self/mountinfo costs a line per
 * mount (a host with 10,000 mounted volumes has 10,000 lines), and the
 * registry asks for every volume at start-up.
 */
static int
vol_linux_mounted(const char *path)
{
	struct statx stx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
	    STATX_TYPE, &stx) != 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 :
		    vol_mountinfo_has(path);
	if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	return vol_mountinfo_has(path);
}

static int
vol_linux_write_file(const char *path, const void *data, size_t len,
    int fresh, char **cause)
{
	if (fresh)
		return write_file_new(path, data, len, 0600, cause);
	return write_file_atomic(path, data, len, 0600, cause);
}

const struct vol_os vol_os_linux = {
	vol_linux_bind,
	vol_linux_unbind,
	vol_linux_mounted,
	vol_linux_write_file,
};

/* ---- registry internals; callers hold reg->lock ---- */

static void
vol_free(struct vol *v)
{
	if (v == NULL)
		return;
	pthread_mutex_destroy(&v->change);
	meta_free(&v->meta);
	vopts_free(&v->opts);
	free(v->dir);
	free(v->data);
	free(v->mountpoint);
	free(v->listing);
	free(v->staging);
	free(v->restore_last_error);
	free(v);
}

/* FNV-1a: names are short, and only those allowed to call Docker choose
 * them. */
static size_t
vol_hash(const char *name)
{
	uint64_t h = 1469598103934665603ULL;

	while (*name != '\0')
		h = (h ^ (unsigned char)*name++) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 32));
}

static void
vol_rehash(struct vol_registry *reg, size_t nbuckets)
{
	struct vol **b = xcalloc(nbuckets, sizeof *b), *v;
	size_t i, k;

	for (i = 0; i < reg->n; i++) {
		v = reg->v[i];
		k = vol_hash(v->meta.name) & (nbuckets - 1);
		v->hnext = b[k];
		b[k] = v;
	}
	free(reg->buckets);
	reg->buckets = b;
	reg->nbuckets = nbuckets;
}

/* name's volume, even one still being created, or NULL. */
static struct vol *
vol_find_any(struct vol_registry *reg, const char *name)
{
	struct vol *v;

	if (reg->nbuckets == 0)
		return NULL;
	for (v = reg->buckets[vol_hash(name) & (reg->nbuckets - 1)];
	    v != NULL; v = v->hnext) {
		if (strcmp(v->meta.name, name) == 0)
			return v;
	}
	return NULL;
}

/* name's volume as Docker sees it: created, not yet removed. */
static struct vol *
vol_find(struct vol_registry *reg, const char *name)
{
	struct vol *v = vol_find_any(reg, name);

	return v != NULL && !v->creating ? v : NULL;
}

static void
vol_insert(struct vol_registry *reg, struct vol *v)
{
	size_t k;

	reg->v = xreallocarray(reg->v, reg->n + 1, sizeof *reg->v);
	v->idx = reg->n;
	reg->v[reg->n++] = v;
	if (reg->n > reg->nbuckets)
		vol_rehash(reg, reg->nbuckets == 0 ? 64 : reg->nbuckets * 2);
	else {
		k = vol_hash(v->meta.name) & (reg->nbuckets - 1);
		v->hnext = reg->buckets[k];
		reg->buckets[k] = v;
	}
}

static void
vol_detach(struct vol_registry *reg, struct vol *v)
{
	struct vol **pp;

	if (reg->nbuckets == 0)
		return;
	pp = &reg->buckets[vol_hash(v->meta.name) & (reg->nbuckets - 1)];
	while (*pp != NULL && *pp != v)
		pp = &(*pp)->hnext;
	if (*pp == NULL)
		return;		/* not in the registry */
	*pp = v->hnext;
	v->hnext = NULL;
	reg->v[v->idx] = reg->v[--reg->n];
	reg->v[v->idx]->idx = v->idx;
}

/* A struct vol for name with paths filled in; meta and opts left empty. */
static struct vol *
vol_new(struct vol_registry *reg, const char *name)
{
	struct vol *v = xcalloc(1, sizeof *v);

	pthread_mutex_init(&v->change, NULL);
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

/* t as RFC 3339 UTC, as inspect shows times. */
static void
vol_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Mount's answer while v's restore is pending: its progress, and what
 * went wrong with the last attempt if it is being retried. */
static void
vol_still_restoring(const struct vol *v, const char *name, char **cause)
{
	if (v->restore_last_error != NULL)
		set_cause(cause, "volume %s is still being restored (%d%%; "
		    "attempt %d failed: %s; trying again)", name,
		    v->restore_percent, v->restore_failed_attempts,
		    v->restore_last_error);
	else
		set_cause(cause, "volume %s is still being restored (%d%%)",
		    name, v->restore_percent);
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

/*
 * Starts a change of name's volume: returns with its change lock and
 * reg->lock held, after every change before it has ended; NULL with
 * *cause and nothing held if there is no such volume (or it was removed
 * while this one waited).
 */
static struct vol *
vol_change_begin(struct vol_registry *reg, const char *name, char **cause)
{
	struct vol *v;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v == NULL) {
		pthread_mutex_unlock(&reg->lock);
		return NULL;
	}
	v->users++;
	pthread_mutex_unlock(&reg->lock);
	pthread_mutex_lock(&v->change);
	pthread_mutex_lock(&reg->lock);
	if (v->gone) {
		set_cause(cause, "no such volume: %s", name);
		pthread_mutex_unlock(&v->change);
		v->users--;
		if (v->users == 0)
			vol_free(v);
		pthread_mutex_unlock(&reg->lock);
		return NULL;
	}
	return v;
}

/* Ends a change: called with reg->lock held; releases both locks. */
static void
vol_change_end(struct vol_registry *reg, struct vol *v)
{
	pthread_mutex_unlock(&v->change);
	if (--v->users == 0 && v->gone)
		vol_free(v);
	pthread_mutex_unlock(&reg->lock);
}

/*
 * Publishes *next as v's metadata (under reg->lock, during a change); *next
 * is left holding the old one, for the caller to free.
 */
static void
vol_publish(struct vol *v, struct vol_meta *next)
{
	struct vol_meta old = v->meta;

	v->meta = *next;
	*next = old;
}

/*
 * Persists m as dir/meta.json, through the OS table; fresh: dir is a new
 * directory out of view, without one. No lock held.
 */
static int
vol_save_as(struct vol_registry *reg, const char *dir,
    const struct vol_meta *m, int fresh, char **cause)
{
	json_t *doc = meta_encode(m);
	char *path, *text;
	size_t len;
	int rc;

	text = meta_format(doc, &len);
	json_decref(doc);
	path = xasprintf("%s/" META_FILE, dir);
	if (text == NULL) {
		set_cause(cause, "%s: cannot encode JSON", path);
		free(path);
		return -1;
	}
	rc = reg->os->write_file(path, text, len, fresh, cause);
	free(text);
	free(path);
	return rc;
}

static int
vol_save(struct vol_registry *reg, const char *dir, const struct vol_meta *m,
    char **cause)
{
	return vol_save_as(reg, dir, m, 0, cause);
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

/*
 * restore-* beside data: an unfinished staging area, or old data swapped
 * out by a restore that crashed before deleting it. meta.json.tmp-*: a
 * metadata write that a crash cut short before its rename (meta.json is
 * the old one, whole). None of them is the volume.
 */
static void
vol_clean_leftovers(const char *dir)
{
	static const char tmp_prefix[] = META_FILE ".tmp-";
	struct dirent *de;
	char *path, *why = NULL;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, tmp_prefix,
		    sizeof tmp_prefix - 1) == 0) {
			path = xasprintf("%s/%s", dir, de->d_name);
			log_info("removing %s, a metadata write cut short",
			    path);
			if (unlink(path) != 0)
				log_error("removing %s: %s", path,
				    strerror(errno));
			free(path);
			continue;
		}
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
	vol_clean_leftovers(v->dir);
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
		if (vol_save(reg, v->dir, &v->meta, &why) != 0) {
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
	free(reg->buckets);
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
 * directory; *tmp (caller frees) is where. Nothing is in view yet, and no
 * lock is held: this is I/O.
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
	/* Written in place: out of view, a rename would only cost another
	 * journal commit. The rename into view follows the fsyncs. */
	if (vol_save_as(reg, *tmp, &v->meta, 1, cause) != 0)
		goto out;
	rc = 0;
out:
	free(tmpdata);
	return rc;
}

/*
 * Enters v in the registry as reserved for its creator (reg->lock held):
 * invisible to readers, its change lock held, so that a Create of the same
 * name waits for this one to end. Takes v.
 */
static void
vol_reserve(struct vol_registry *reg, struct vol *v)
{
	pthread_mutex_lock(&v->change);	/* new: nobody else has it */
	v->creating = 1;
	v->users = 1;
	vol_insert(reg, v);
}

/* Ends a reservation: the volume appears, or (ok 0) is dropped. */
static void
vol_settle(struct vol_registry *reg, struct vol *v, int ok)
{
	pthread_mutex_lock(&reg->lock);
	if (ok) {
		v->creating = 0;
		log_info("created volume %s", v->meta.name);
	} else {
		v->gone = 1;
		vol_detach(reg, v);
	}
	vol_change_end(reg, v);
}

/* Renames a built volume into place (reserved, no lock held). */
static int
vol_place(struct vol_registry *reg, const struct vol *v, const char *tmp,
    char **cause)
{
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

/*
 * Waits (reg->lock held) until no Create or Import of name is under way;
 * returns name's volume then, or NULL. The lock is dropped while waiting.
 */
static struct vol *
vol_wait_created(struct vol_registry *reg, const char *name)
{
	struct vol *v;

	while ((v = vol_find_any(reg, name)) != NULL && v->creating) {
		v->users++;
		pthread_mutex_unlock(&reg->lock);
		pthread_mutex_lock(&v->change);
		pthread_mutex_lock(&reg->lock);
		pthread_mutex_unlock(&v->change);
		if (--v->users == 0 && v->gone)
			vol_free(v);
	}
	return v;
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
	int taken;

	*out = NULL;
	*data = NULL;
	if (name_volume_check(name, cause) != 0)
		return -1;
	pthread_mutex_lock(&reg->lock);
	taken = vol_find_any(reg, name) != NULL;
	pthread_mutex_unlock(&reg->lock);
	if (taken) {
		set_cause(cause, "volume %s exists; import makes a new volume "
		    "(remove it first, or import under another name)", name);
		return -1;
	}
	imp = xcalloc(1, sizeof *imp);
	imp->v = vol_new(reg, name);
	imp->v->meta.name = xstrdup(name);
	imp->v->meta.created = time(NULL);
	imp->v->meta.options = json_object();
	if (vol_build(reg, imp->v, &imp->tmp, cause) != 0) {
		vol_import_abort(reg, imp);
		return -1;
	}
	*data = xasprintf("%s/data", imp->tmp);
	*out = imp;
	return 0;
}

int
vol_import_commit(struct vol_registry *reg, struct vol_import *imp,
    char **cause)
{
	struct vol *v = imp->v;
	int rc;

	pthread_mutex_lock(&reg->lock);
	if (vol_find_any(reg, v->meta.name) != NULL) {
		pthread_mutex_unlock(&reg->lock);
		set_cause(cause, "volume %s exists", v->meta.name);
		vol_import_abort(reg, imp);
		return -1;
	}
	vol_reserve(reg, v);
	imp->v = NULL;		/* the registry's now */
	pthread_mutex_unlock(&reg->lock);
	rc = vol_place(reg, v, imp->tmp, cause);
	if (rc != 0)
		vol_discard(imp->tmp);
	vol_settle(reg, v, rc == 0);
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
	struct vol *v, *old;
	char *tmp = NULL;
	json_t *given;
	int rc = -1;

	if (name_volume_check(name, cause) != 0)
		return -1;
	given = opts != NULL && !json_is_null(opts) ? json_deep_copy(opts) :
	    json_object();
	v = vol_new(reg, name);
	if (vopts_parse(given, &v->opts, cause) != 0) {
		vol_free(v);
		json_decref(given);
		return -1;
	}
	pthread_mutex_lock(&reg->lock);
	old = vol_wait_created(reg, name);
	if (old != NULL) {
		/* Docker re-sends Create for volumes it already knows. */
		if (json_object_size(given) == 0 ||
		    json_equal(given, old->meta.options))
			rc = 0;
		else
			set_cause(cause, "volume %s already exists with "
			    "different options", name);
		pthread_mutex_unlock(&reg->lock);
		vol_free(v);
		json_decref(given);
		return rc;
	}
	v->meta.name = xstrdup(name);
	v->meta.created = time(NULL);
	v->meta.options = given;	/* taken */
	if (v->opts.restore_from != NULL)
		v->meta.restore = json_pack("{s:s}", "state", "pending");
	vol_reserve(reg, v);
	pthread_mutex_unlock(&reg->lock);

	if (vol_build(reg, v, &tmp, cause) == 0 &&
	    vol_place(reg, v, tmp, cause) == 0) {
		free(tmp);
		tmp = NULL;
		rc = 0;
	}
	vol_discard(tmp);
	free(tmp);
	vol_settle(reg, v, rc == 0);
	return rc;
}

int
vol_remove(struct vol_registry *reg, const char *name, char **cause)
{
	struct vol *v;
	char suffix[17], *trash = NULL;

	v = vol_change_begin(reg, name, cause);
	if (v == NULL)
		return -1;
	if (v->staging != NULL) {
		set_cause(cause, "volume %s is being restored", name);
		goto fail;
	}
	if (refs_total(&v->meta.refs) > 0) {
		char *id = utf8_clip(v->meta.refs.v[0].id, 12);
		set_cause(cause, "volume %s is in use (%u mount(s), first by "
		    "%s); stop the containers using it first", name,
		    refs_total(&v->meta.refs), id);
		free(id);
		goto fail;
	}
	pthread_mutex_unlock(&reg->lock);

	if (reg->os->mounted(v->mountpoint) &&
	    reg->os->unbind(v->mountpoint, cause) != 0)
		goto fail_unlocked;
	random_hex(suffix, 16);
	trash = xasprintf("%s/%s.%s", reg->trash_dir, name, suffix);
	if (rename(v->dir, trash) != 0) {
		set_cause(cause, "removing volume %s: renaming %s: %s", name,
		    v->dir, strerror(errno));
		goto fail_unlocked;
	}
	free(trash);
	if (fsync_dir(reg->volumes_dir) != 0)
		log_warn("syncing %s: %s", reg->volumes_dir, strerror(errno));

	pthread_mutex_lock(&reg->lock);
	v->gone = 1;
	vol_detach(reg, v);
	pthread_cond_broadcast(&reg->restored);
	vol_change_end(reg, v);
	vol_reap_request(reg);
	log_info("removed volume %s", name);
	return 0;

fail_unlocked:
	free(trash);
	pthread_mutex_lock(&reg->lock);
fail:
	vol_change_end(reg, v);
	return -1;
}

/*
 * Waits (at most restore_wait seconds) while name's restore-from is
 * pending; 0 when it no longer is, or -1 with *cause. Holds no change
 * lock: the restore's end is a change of the volume.
 */
static int
vol_wait_restored(struct vol_registry *reg, const char *name, char **cause)
{
	struct timespec ts;
	struct vol *v;
	int rc = 0, timed_out = 0;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v == NULL) {
		pthread_mutex_unlock(&reg->lock);
		return -1;
	}
	if (!vol_restore_pending(v)) {
		pthread_mutex_unlock(&reg->lock);
		return 0;
	}
	v->users++;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += reg->restore_wait;
	for (;;) {
		/* The volume may have been removed while we waited. */
		if (v->gone) {
			set_cause(cause, "no such volume: %s", name);
			rc = -1;
			break;
		}
		if (!vol_restore_pending(v))
			break;
		if (timed_out) {
			vol_still_restoring(v, name, cause);
			rc = -1;
			break;
		}
		timed_out = pthread_cond_timedwait(&reg->restored,
		    &reg->lock, &ts) == ETIMEDOUT;
	}
	if (--v->users == 0 && v->gone)
		vol_free(v);
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int
vol_mount(struct vol_registry *reg, const char *name, const char *id,
    char **mountpoint, char **cause)
{
	struct vol_meta next;
	struct vol *v;
	struct stat st;
	int bound = 0;

	memset(&next, 0, sizeof next);
	if (vol_wait_restored(reg, name, cause) != 0)
		return -1;
	v = vol_change_begin(reg, name, cause);
	if (v == NULL)
		return -1;
	if (vol_restore_pending(v)) {
		vol_still_restoring(v, name, cause);
		goto fail;
	}
	if (v->meta.restore != NULL && strcmp(json_string_value(
	    json_object_get(v->meta.restore, "state")), "failed") == 0) {
		set_cause(cause, "volume %s could not be restored: %s; remove "
		    "it and create it again", name, json_string_value(
		    json_object_get(v->meta.restore, "error")));
		goto fail;
	}
	if (v->staging != NULL) {
		set_cause(cause, "volume %s is being restored; mount it when "
		    "the restore has finished", name);
		goto fail;
	}
	/* This change alone writes v->meta until it ends: read it unlocked. */
	pthread_mutex_unlock(&reg->lock);

	if (lstat(v->data, &st) != 0 || !S_ISDIR(st.st_mode)) {
		/* Never hand out an empty directory in place of lost data. */
		set_cause(cause, "volume %s: its data directory %s is missing; "
		    "not mounting an empty volume in its place", name, v->data);
		goto fail_unlocked;
	}
	meta_copy(&next, &v->meta);
	if (refs_add(&next.refs, id) != 0) {
		set_cause(cause, "volume %s: too many mount IDs", name);
		goto fail_unlocked;
	}
	if (!reg->os->mounted(v->mountpoint)) {
		if (reg->os->bind(v->data, v->mountpoint, cause) != 0)
			goto fail_unlocked;
		bound = 1;
	}
	next.last_used = now_ms();
	if (vol_save(reg, v->dir, &next, cause) != 0) {
		if (bound)
			reg->os->unbind(v->mountpoint, NULL);
		goto fail_unlocked;
	}

	pthread_mutex_lock(&reg->lock);
	vol_publish(v, &next);
	*mountpoint = xstrdup(v->mountpoint);
	log_info("mounted volume %s for %.12s (%u reference(s))", name, id,
	    refs_total(&v->meta.refs));
	vol_change_end(reg, v);
	meta_free(&next);
	return 0;

fail_unlocked:
	pthread_mutex_lock(&reg->lock);
fail:
	vol_change_end(reg, v);
	meta_free(&next);
	return -1;
}

int
vol_unmount(struct vol_registry *reg, const char *name, const char *id,
    char **cause)
{
	struct vol_meta next;
	struct vol *v;
	int rc = -1;

	v = vol_change_begin(reg, name, cause);
	if (v == NULL)
		return -1;
	pthread_mutex_unlock(&reg->lock);
	meta_copy(&next, &v->meta);
	if (!refs_del(&next.refs, id)) {
		log_info("unmount of volume %s for unknown ID %.12s: nothing "
		    "to do", name, id);
		rc = 0;
		goto out;
	}
	if (refs_total(&next.refs) == 0 &&
	    reg->os->unbind(v->mountpoint, cause) != 0)
		goto out;
	next.last_used = now_ms();
	/*
	 * Unlike a Mount, this cannot be taken back: the container is gone.
	 * Memory follows it even if the save failed; the disk catches up at
	 * the next change, or at start (references without a mount go).
	 */
	rc = vol_save(reg, v->dir, &next, cause);
	pthread_mutex_lock(&reg->lock);
	vol_publish(v, &next);
	if (rc == 0)
		log_info("unmounted volume %s for %.12s (%u reference(s) "
		    "left)", name, id, refs_total(&v->meta.refs));
	vol_change_end(reg, v);
	meta_free(&next);
	return rc;
out:
	pthread_mutex_lock(&reg->lock);
	vol_change_end(reg, v);
	meta_free(&next);
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

/*
 * Used after a backup that started at since (ms; 0: none yet)? With no
 * mount left, last_used is the last Unmount, which Docker calls after the
 * container is gone: one in the same millisecond as the backup's start
 * was queued before it (the backup's reading comes later still), so only
 * a later one counts. ">=" here made a backup triggered by an Unmount
 * look stale at once when its worker woke within that millisecond.
 */
static int
vol_used_after(const struct vol *v, long long since)
{
	return since == 0 || v->meta.last_used > since;
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
		if (vol_used_after(v, since))
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
			if (vol_restore_pending(v) &&
			    v->restore_last_error != NULL) {
				char when[32];

				vol_time(v->restore_next_attempt, when,
				    sizeof when);
				json_object_set_new(restore, "failed_attempts",
				    json_integer(v->restore_failed_attempts));
				json_object_set_new(restore, "last_error",
				    json_string(v->restore_last_error));
				json_object_set_new(restore, "next_attempt",
				    json_string(when));
			}
		}
		json_object_set_new(status, "restore", restore);
	}
	return status;
}

json_t *
vol_get(struct vol_registry *reg, const char *name, char **cause)
{
	struct vol *v;
	char created[32];
	json_t *j = NULL;

	pthread_mutex_lock(&reg->lock);
	v = vol_lookup(reg, name, cause);
	if (v != NULL) {
		vol_time(v->meta.created, created, sizeof created);
		j = json_pack("{s:s, s:s, s:o}", "Name", v->meta.name,
		    "CreatedAt", created, "Status", vol_status(v));
		if (refs_total(&v->meta.refs) > 0)
			json_object_set_new(j, "Mountpoint",
			    json_string(v->mountpoint));
	}
	pthread_mutex_unlock(&reg->lock);
	return j;
}

/*
 * Only names are copied under the lock; the JSON (10,000 objects) is built
 * after it is let go, so List holds up no other call for long.
 */
json_t *
vol_list(struct vol_registry *reg)
{
	json_t *list, *item;
	char **names, **mps;
	size_t i, n = 0;

	pthread_mutex_lock(&reg->lock);
	names = xcalloc(reg->n + 1, sizeof *names);
	mps = xcalloc(reg->n + 1, sizeof *mps);
	for (i = 0; i < reg->n; i++) {
		if (reg->v[i]->creating)
			continue;
		names[n] = xstrdup(reg->v[i]->meta.name);
		if (refs_total(&reg->v[i]->meta.refs) > 0)
			mps[n] = xstrdup(reg->v[i]->mountpoint);
		n++;
	}
	pthread_mutex_unlock(&reg->lock);
	list = json_array();
	for (i = 0; i < n; i++) {
		item = json_pack("{s:s}", "Name", names[i]);
		if (mps[i] != NULL)
			json_object_set_new(item, "Mountpoint",
			    json_string(mps[i]));
		json_array_append_new(list, item);
		free(names[i]);
		free(mps[i]);
	}
	free(names);
	free(mps);
	return list;
}

/* v's entry in List's answer, remade if stale (reg->lock held). */
static const char *
vol_listing(struct vol *v, size_t *len)
{
	int mounted = refs_total(&v->meta.refs) > 0;
	json_t *item;

	if (v->listing == NULL || v->listing_mounted != mounted) {
		free(v->listing);
		item = json_pack("{s:s}", "Name", v->meta.name);
		if (mounted)
			json_object_set_new(item, "Mountpoint",
			    json_string(v->mountpoint));
		v->listing = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(item);
		if (v->listing == NULL)
			return NULL;
		v->listing_len = strlen(v->listing);
		v->listing_mounted = mounted;
	}
	*len = v->listing_len;
	return v->listing;
}

/*
 * List's answer, {"Volumes":[...]}, as text: each volume's entry is kept
 * made, so that with thousands of volumes an answer costs a copy, not a
 * JSON document built and encoded again (List is Docker's most frequent
 * call after Get, and `docker volume ls` makes it).
 */
char *
vol_list_text(struct vol_registry *reg)
{
	static const char head[] = "{\"Volumes\":[", tail[] = "]}";
	const char *item;
	size_t i, len, total, at;
	char *out;

	pthread_mutex_lock(&reg->lock);
	total = sizeof head - 1 + sizeof tail;
	for (i = 0; i < reg->n; i++) {
		if (reg->v[i]->creating)
			continue;
		if (vol_listing(reg->v[i], &len) == NULL)
			break;
		total += len + 1;
	}
	if (i < reg->n) {
		pthread_mutex_unlock(&reg->lock);
		return NULL;
	}
	out = xmalloc(total);
	memcpy(out, head, sizeof head - 1);
	at = sizeof head - 1;
	for (i = 0; i < reg->n; i++) {
		if (reg->v[i]->creating)
			continue;
		item = vol_listing(reg->v[i], &len);
		if (at > sizeof head - 1)
			out[at++] = ',';
		memcpy(out + at, item, len);
		at += len;
	}
	pthread_mutex_unlock(&reg->lock);
	memcpy(out + at, tail, sizeof tail);	/* with its NUL */
	return out;
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
	char suffix[17], *dir;

	*staging = *data = NULL;
	v = vol_change_begin(reg, name, cause);
	if (v == NULL)
		return -1;
	if (v->staging != NULL) {
		set_cause(cause, "volume %s is already being restored", name);
		goto fail;
	}
	if (refs_total(&v->meta.refs) > 0) {
		set_cause(cause, "volume %s is mounted (%u mount(s)); stop the "
		    "containers using it before restoring into it", name,
		    refs_total(&v->meta.refs));
		goto fail;
	}
	pthread_mutex_unlock(&reg->lock);
	random_hex(suffix, 16);
	dir = xasprintf("%s/restore-%s", v->dir, suffix);
	if (mkdir(dir, 0755) != 0) {
		set_cause(cause, "creating %s: %s", dir, strerror(errno));
		free(dir);
		pthread_mutex_lock(&reg->lock);
		goto fail;
	}
	*staging = xstrdup(dir);
	*data = xstrdup(v->data);
	pthread_mutex_lock(&reg->lock);
	v->staging = dir;
	vol_change_end(reg, v);
	return 0;
fail:
	vol_change_end(reg, v);
	return -1;
}

int
vol_restore_end(struct vol_registry *reg, const char *name, int ok,
    char **cause)
{
	struct vol *v;
	char suffix[17], *trash, *why = NULL, *staging;
	int rc = 0;

	v = vol_change_begin(reg, name, NULL);
	if (v == NULL || v->staging == NULL) {
		set_cause(cause, "volume %s has no restore in progress", name);
		if (v != NULL)
			vol_change_end(reg, v);
		return -1;
	}
	/* Mount, Remove and another restore refuse while staging is set. */
	staging = v->staging;
	pthread_mutex_unlock(&reg->lock);
	if (ok) {
		if (renameat2(AT_FDCWD, staging, AT_FDCWD, v->data,
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
	if (rename(staging, trash) != 0) {
		if (remove_tree(staging, &why) != 0) {
			log_error("%s", why);
			free(why);
		}
	} else
		vol_reap_request(reg);
	free(trash);
	log_info("volume %s: restore %s", name, !ok ? "abandoned" : rc == 0 ?
	    "complete" : "failed");
	pthread_mutex_lock(&reg->lock);
	v->staging = NULL;
	vol_change_end(reg, v);
	free(staging);
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
		*changed = refs_total(&v->meta.refs) > 0 ||
		    vol_used_after(v, since);
		rc = 0;
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int
vol_backup_record(struct vol_registry *reg, const char *name,
    const struct vol_backup_note *n, char **cause)
{
	struct vol_meta next;
	struct vol *v;
	char when[32];
	json_t *b;
	int rc, ok;

	v = vol_change_begin(reg, name, cause);
	if (v == NULL)
		return -1;
	pthread_mutex_unlock(&reg->lock);
	meta_copy(&next, &v->meta);
	if (next.backups == NULL)
		next.backups = json_object();
	b = json_object_get(next.backups, n->server);
	if (b == NULL) {
		b = json_object();
		json_object_set_new(next.backups, n->server, b);
	}
	ok = strcmp(n->result, "ok") == 0;
	vol_time(n->finished, when, sizeof when);
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
	/* What happened happened: kept in memory even if not saved. */
	rc = vol_save(reg, v->dir, &next, cause);
	pthread_mutex_lock(&reg->lock);
	vol_publish(v, &next);
	vol_change_end(reg, v);
	meta_free(&next);
	return rc;
}

json_t *
vol_backup_all(struct vol_registry *reg)
{
	json_t *all = json_object();
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		if (!reg->v[i]->creating && reg->v[i]->meta.backups != NULL &&
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
		if (!reg->v[i]->creating && reg->v[i]->opts.schedule != NULL)
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
		if (!reg->v[i]->creating && vol_restore_pending(reg->v[i]))
			json_array_append_new(names,
			    json_string(reg->v[i]->meta.name));
	}
	pthread_mutex_unlock(&reg->lock);
	return names;
}

void
vol_restore_retrying(struct vol_registry *reg, const char *name,
    int failed_attempts, const char *error, time_t next_attempt)
{
	struct vol *v;

	pthread_mutex_lock(&reg->lock);
	v = vol_find(reg, name);
	if (v != NULL) {
		free(v->restore_last_error);
		v->restore_last_error = utf8_clip(error != NULL ? error :
		    "failed", 2000);
		v->restore_failed_attempts = failed_attempts;
		v->restore_next_attempt = next_attempt;
	}
	pthread_mutex_unlock(&reg->lock);
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
	struct vol_meta next;
	struct vol *v;
	int rc;

	v = vol_change_begin(reg, name, cause);
	if (v == NULL)
		return -1;
	pthread_mutex_unlock(&reg->lock);
	meta_copy(&next, &v->meta);
	json_decref(next.restore);
	next.restore = json_pack("{s:s}", "state", ok ? "done" : "failed");
	if (!ok) {
		char *clean = utf8_clip(error != NULL ? error : "failed", 2000);
		json_object_set_new(next.restore, "error", json_string(clean));
		free(clean);
	}
	/* Kept in memory even if not saved: a Mount waiting for it goes on. */
	rc = vol_save(reg, v->dir, &next, cause);
	pthread_mutex_lock(&reg->lock);
	vol_publish(v, &next);
	if (ok)
		v->restore_percent = 100;
	free(v->restore_last_error);
	v->restore_last_error = NULL;
	v->restore_failed_attempts = 0;
	pthread_cond_broadcast(&reg->restored);
	vol_change_end(reg, v);
	meta_free(&next);
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
