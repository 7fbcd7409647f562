/*
 * snapshot: the snapshot store's file operations and retention. Every
 * step that changes what a reader could see is a rename followed by an
 * fsync of the directory.
 */
#include "snapshot.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "snapshot_int.h"
#include "store.h"
#include "util.h"

/* The marks (snapshot_int.h). */
static const char *const snap_marks[] = { SNAP_PLAIN, SNAP_NOLINKS, NULL };

char *
snap_mark_path(const char *dir, const char *kind, const char *id)
{
	return xasprintf("%s/%s%s", dir, kind, id);
}

char *
snap_plain_mark(const char *dir, const char *id)
{
	return snap_mark_path(dir, SNAP_PLAIN, id);
}

/* Which mark name is, or NULL. */
static const char *
snap_mark_kind(const char *name)
{
	size_t i;

	for (i = 0; snap_marks[i] != NULL; i++) {
		if (strncmp(name, snap_marks[i], strlen(snap_marks[i])) == 0)
			return snap_marks[i];
	}
	return NULL;
}

/* Seconds a push waits for another push of the same volume. */
static int snap_lock_seconds = 600;
static int snap_commit_delay_ms;
static void (*snap_commit_hook)(void);

void
snap_set_commit_hook(void (*hook)(void))
{
	snap_commit_hook = hook;
}

void
snap_set_commit_delay(int ms)
{
	snap_commit_delay_ms = ms;
}

void
snap_set_lock_wait(int seconds)
{
	snap_lock_seconds = seconds;
}

int
snap_id_valid(const char *s)
{
	time_t t;
	size_t i;

	if (strlen(s) != SNAP_ID_LEN || s[8] != 'T' || s[15] != 'Z')
		return 0;
	for (i = 0; i < 15; i++) {
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return 0;
	}
	return snap_id_parse(s, &t) == 0;
}

void
snap_id_format(time_t t, char out[SNAP_ID_LEN + 1])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SNAP_ID_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

int
snap_id_parse(const char *id, time_t *out)
{
	struct tm tm;
	const char *end;

	if (strlen(id) != SNAP_ID_LEN || id[8] != 'T' || id[15] != 'Z')
		return -1;
	char again[SNAP_ID_LEN + 1];

	memset(&tm, 0, sizeof tm);
	end = strptime(id, "%Y%m%dT%H%M%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = timegm(&tm);
	/* strptime/timegm accept Feb 31 and roll it over: refuse it. */
	snap_id_format(*out, again);
	return strcmp(again, id) == 0 ? 0 : -1;
}

static int
snap_mkdirs(const char *root, const char *client, const char *volume,
    char **dir, char **cause)
{
	char *c = xasprintf("%s/%s", root, client);

	*dir = xasprintf("%s/%s", c, volume);
	if ((mkdir(root, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(c, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(*dir, 0700) != 0 && errno != EEXIST)) {
		set_cause(cause, "creating %s: %s", *dir, strerror(errno));
		free(c);
		free(*dir);
		*dir = NULL;
		return -1;
	}
	free(c);
	return 0;
}

/* The ID latest points at, or "" if there is none. */
void
snap_latest_id(const char *dir, char out[SNAP_ID_LEN + 1])
{
	char *link = xasprintf("%s/latest", dir), buf[64];
	ssize_t n;

	out[0] = '\0';
	n = readlink(link, buf, sizeof buf - 1);
	free(link);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (snap_id_valid(buf))
		strcpy(out, buf);
}

/* Deletes name in dir, a push or prune that did not finish. */
void
snap_remove_unfinished(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name), *why = NULL;

	log_info("removing unfinished %s", path);
	if (store_remove(path, &why) != 0) {
		log_error("%s", why);
		free(why);
	}
	free(path);
}

void
snap_remove_prefixed(const char *dir, const char *prefix, const char *keep)
{
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    (keep == NULL || strcmp(de->d_name, keep) != 0))
			snap_remove_unfinished(dir, de->d_name);
	}
	closedir(d);
}

/* Deletes what pushes that died left in dir (called under its lock). */
static void
snap_remove_partials(const char *dir)
{
	snap_remove_prefixed(dir, ".partial-", NULL);
}

int
snap_begin(const char *root, const char *client, const char *volume,
    struct snap_push *p, char **cause)
{
	struct snap_method m;

	memset(&m, 0, sizeof m);
	return snap_begin_with(&m, root, client, volume, p, cause);
}

int
snap_begin_with(const struct snap_method *m, const char *root,
    const char *client, const char *volume, struct snap_push *p,
    char **cause)
{
	char latest[SNAP_ID_LEN + 1], *lock, *path;
	struct timespec t0, t1;
	struct stat st;
	time_t now;
	int waited, flags;

	memset(p, 0, sizeof *p);
	p->lock_fd = -1;
	if (snap_mkdirs(root, client, volume, &p->dir, cause) != 0)
		return -1;
	lock = xasprintf("%s/.lock", p->dir);
	p->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock);
	/* Pushes of one volume by one client take turns (a scheduled one
	 * and a manual one, say); a stuck one does not block forever. */
	for (waited = 0; p->lock_fd >= 0 &&
	    flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0; waited++) {
		if (errno != EWOULDBLOCK || waited >= snap_lock_seconds * 5) {
			set_cause(cause, "another backup of %s from %s is "
			    "still running", volume, client);
			goto fail;
		}
		if (waited == 0)
			log_info("snapshot: %s/%s: waiting for another backup "
			    "of it to end", client, volume);
		usleep(200000);
	}
	if (p->lock_fd < 0) {
		set_cause(cause, "locking %s/%s: %s", client, volume,
		    strerror(errno));
		goto fail;
	}
	/* One snapshot per second: wait out a collision with the last. */
	for (;;) {
		now = time(NULL);
		snap_id_format(now, p->id);
		path = xasprintf("%s/%s", p->dir, p->id);
		if (lstat(path, &st) != 0) {
			free(path);
			break;
		}
		free(path);
		usleep(200000);
	}
	snap_latest_id(p->dir, latest);
	if (*latest != '\0') {
		p->link_dest = xasprintf("../%s", latest);
		path = snap_plain_mark(p->dir, latest);
		p->latest_plain = lstat(path, &st) == 0;
		free(path);
		path = snap_mark_path(p->dir, SNAP_NOLINKS, latest);
		p->latest_nolinks = lstat(path, &st) == 0;
		free(path);
	}
	snap_remove_partials(p->dir);
	p->partial = xasprintf("%s/.partial-%s", p->dir, p->id);
	if (store_remove(p->partial, cause) != 0)
		goto fail;
	p->store = m->store;
	if (p->store == NULL || !p->store->cow) {
		if (mkdir(p->partial, 0700) != 0) {
			set_cause(cause, "creating %s: %s", p->partial,
			    strerror(errno));
			goto fail;
		}
		return 0;
	}
	if (m->in_place && *latest != '\0') {
		/* rsync rewrites the copy: it must not share what latest
		 * has that this push cannot correct (snapshot.h). */
		flags = m->plain && !p->latest_plain ?
		    STORE_COPY_STRIP_XATTRS : 0;
		if (p->latest_nolinks)
			flags |= STORE_COPY_NO_LINKS;
		if (p->latest_plain)
			flags |= STORE_COPY_NO_XATTRS;
		path = xasprintf("%s/%s", p->dir, latest);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* The copy made ahead (snapshot_next.c) holds everything:
		 * only one that strips attributes cannot be it. */
		if (!(flags & STORE_COPY_STRIP_XATTRS) &&
		    snap_next_take(p->dir, latest, p->partial))
			p->prepared = 1;
		else if (p->store->copy(path, p->partial, flags, m->compress,
		    cause) != 0) {
			free(path);
			goto fail;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		p->copy_seconds = ts_seconds(&t0, &t1);
		free(path);
		p->in_place = 1;
		free(p->link_dest);
		p->link_dest = NULL;
		return 0;
	}
	if (p->store->make_empty(p->partial, m->compress, cause) != 0)
		goto fail;
	p->in_place = m->in_place;
	p->empty = 1;
	return 0;
fail:
	snap_abort(p);
	return -1;
}

static void
snap_push_free(struct snap_push *p)
{
	if (p->lock_fd >= 0)
		close(p->lock_fd);
	free(p->dir);
	free(p->partial);
	free(p->link_dest);
	memset(p, 0, sizeof *p);
	p->lock_fd = -1;
}

void
snap_abort(struct snap_push *p)
{
	char *why = NULL;

	if (p->partial != NULL && store_remove(p->partial, &why) != 0) {
		log_error("snapshot: %s", why);
		free(why);
	}
	snap_push_free(p);
}

/* Points dir/latest at id with a rename, so it is never missing. */
static int
snap_set_latest(const char *dir, const char *id, char **cause)
{
	char *tmp = xasprintf("%s/.latest.tmp", dir);
	char *link = xasprintf("%s/latest", dir);
	int rc = -1;

	unlink(tmp);
	if (symlink(id, tmp) != 0 || rename(tmp, link) != 0) {
		set_cause(cause, "updating %s: %s", link, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (fsync_dir(dir) != 0) {
		set_cause(cause, "syncing %s: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(link);
	return rc;
}

static int
snap_mark_plain(const char *dir, const char *id, char **cause)
{
	char *mark = snap_plain_mark(dir, id);
	int fd, rc = 0;

	fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_cause(cause, "creating %s: %s", mark, strerror(errno));
		rc = -1;
	} else
		close(fd);
	free(mark);
	return rc;
}

int
snap_commit(struct snap_push *p, char **cause)
{
	char *final = xasprintf("%s/%s", p->dir, p->id);
	int fd, rc = -1;

	if (snap_commit_delay_ms > 0) {
		struct timespec d = { snap_commit_delay_ms / 1000,
		    (snap_commit_delay_ms % 1000) * 1000000L };

		nanosleep(&d, NULL);
	}
	/* Everything rsync wrote reaches the disk before it is visible. */
	fd = open(p->partial, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) != 0) {
		set_cause(cause, "syncing %s: %s", p->partial,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	/* Marked before it exists: never a plain-looking snapshot that is
	 * not (an orphan mark is removed at start). */
	if (p->plain && snap_mark_plain(p->dir, p->id, cause) != 0)
		goto out;
	/* Read-only before it is complete: a snapshot never changes. */
	if (p->store != NULL && p->store->seal(p->partial, cause) != 0)
		goto out;
	if (rename(p->partial, final) != 0) {
		set_cause(cause, "renaming %s: %s", p->partial,
		    strerror(errno));
		goto out;
	}
	free(p->partial);
	p->partial = NULL;
	if (fsync_dir(p->dir) != 0) {
		set_cause(cause, "syncing %s: %s", p->dir, strerror(errno));
		goto out;
	}
	if (snap_set_latest(p->dir, p->id, cause) != 0)
		goto out;
	if (snap_commit_hook != NULL)
		snap_commit_hook();
	rc = 0;
out:
	free(final);
	if (rc != 0)
		snap_abort(p);
	else
		snap_push_free(p);
	return rc;
}

int
snap_mark_nolinks(const char *root, const char *client, const char *volume,
    const char *id, char **cause)
{
	char *dir = xasprintf("%s/%s/%s", root, client, volume);
	char *mark = snap_mark_path(dir, SNAP_NOLINKS, id), *snap;
	struct stat st;
	int fd, rc = -1;

	snap = xasprintf("%s/%s", dir, id);
	/* Only beside a snapshot that is there (a prune may have won). */
	if (lstat(snap, &st) != 0) {
		rc = 0;
		goto out;
	}
	fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_cause(cause, "creating %s: %s", mark, strerror(errno));
		goto out;
	}
	close(fd);
	rc = 0;
out:
	free(snap);
	free(mark);
	free(dir);
	return rc;
}

static int
snap_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
snap_list_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int
snap_list(const char *root, const char *client, const char *volume,
    char ***idsp, size_t *np, char **cause)
{
	char *dir = xasprintf("%s/%s/%s", root, client, volume);
	struct dirent *de;
	char **ids = NULL;
	size_t n = 0;
	DIR *d;

	*idsp = NULL;
	*np = 0;
	d = opendir(dir);
	if (d == NULL) {
		set_cause(cause, errno == ENOENT ? "no backups of %s from %s "
		    "on this server" : "%s: %s", errno == ENOENT ? volume : dir,
		    errno == ENOENT ? client : strerror(errno));
		free(dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		char *p;

		if (!snap_id_valid(de->d_name))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
			free(p);
			continue;
		}
		free(p);
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		ids[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	free(dir);
	if (n > 0)
		qsort(ids, n, sizeof *ids, snap_cmp);
	*idsp = ids;
	*np = n;
	return 0;
}

int
snap_resolve(const char *root, const char *client, const char *volume,
    const char *snapshot, char **path, char **cause)
{
	char *dir = xasprintf("%s/%s/%s", root, client, volume);
	char id[SNAP_ID_LEN + 1];
	struct stat st;

	*path = NULL;
	if (strcmp(snapshot, "latest") == 0) {
		snap_latest_id(dir, id);
		if (*id == '\0') {
			set_cause(cause, "no backups of %s from %s on this "
			    "server", volume, client);
			free(dir);
			return -1;
		}
	} else if (snap_id_valid(snapshot)) {
		strcpy(id, snapshot);
	} else {
		set_cause(cause, "\"%.32s\" is not a snapshot ID or latest",
		    snapshot);
		free(dir);
		return -1;
	}
	*path = xasprintf("%s/%s", dir, id);
	free(dir);
	if (lstat(*path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		set_cause(cause, "no snapshot %s of %s from %s", id, volume,
		    client);
		free(*path);
		*path = NULL;
		return -1;
	}
	return 0;
}

/* A bucket key per kind: hour, day, ISO week, month. */
static long
snap_bucket(time_t t, int kind)
{
	struct tm tm;
	char buf[16];

	gmtime_r(&t, &tm);
	switch (kind) {
	case 0:
		return (long)(t / 3600);
	case 1:
		return (long)(t / 86400);
	case 2:
		strftime(buf, sizeof buf, "%G%V", &tm);
		return strtol(buf, NULL, 10);
	default:
		return (long)(tm.tm_year * 12 + tm.tm_mon);
	}
}

void
snap_select(char *const *ids, size_t n, const struct snap_policy *pol,
    int *keep)
{
	const int counts[4] = { pol->hourly, pol->daily, pol->weekly,
	    pol->monthly };
	long last;
	size_t i;
	time_t t;
	int kind, left;

	for (i = 0; i < n; i++)
		keep[i] = pol->keep_all;
	if (n == 0)
		return;
	keep[n - 1] = 1;
	for (i = n, left = pol->last; i-- > 0 && left > 0; left--)
		keep[i] = 1;
	for (kind = 0; kind < 4; kind++) {
		left = counts[kind];
		last = -1;
		/* Newest first: the first snapshot seen in a bucket wins. */
		for (i = n; i-- > 0 && left > 0;) {
			if (snap_id_parse(ids[i], &t) != 0)
				continue;
			if (snap_bucket(t, kind) == last)
				continue;
			last = snap_bucket(t, kind);
			keep[i] = 1;
			left--;
		}
	}
}

int
snap_prune(const char *root, const char *client, const char *volume,
    const struct snap_policy *pol, char **cause)
{
	char **ids = NULL, *dir, *from, *to, *why = NULL;
	char latest[SNAP_ID_LEN + 1];
	size_t n = 0, i;
	int *keep, pruned = 0;

	if (pol->keep_all)
		return 0;
	if (snap_list(root, client, volume, &ids, &n, cause) != 0)
		return -1;
	dir = xasprintf("%s/%s/%s", root, client, volume);
	snap_latest_id(dir, latest);
	keep = xcalloc(n, sizeof *keep);
	snap_select(ids, n, pol, keep);
	for (i = 0; i < n; i++) {
		if (keep[i] || strcmp(ids[i], latest) == 0)
			continue;
		from = xasprintf("%s/%s", dir, ids[i]);
		to = xasprintf("%s/.prune-%s", dir, ids[i]);
		if (rename(from, to) != 0) {
			/* ENOENT: pruned meanwhile by the previous backup's
			 * retention, which may still run. */
			if (errno != ENOENT)
				log_error("pruning %s: %s", from,
				    strerror(errno));
		} else {
			const char *const *k;

			for (k = snap_marks; *k != NULL; k++) {
				char *mark = snap_mark_path(dir, *k, ids[i]);

				unlink(mark);
				free(mark);
			}
			(void)fsync_dir(dir);
			if (store_remove(to, &why) != 0) {
				log_error("pruning: %s", why);
				free(why);
				why = NULL;
			}
			pruned++;
			log_info("pruned snapshot %s of %s from %s", ids[i],
			    volume, client);
		}
		free(from);
		free(to);
	}
	free(keep);
	free(dir);
	snap_list_free(ids, n);
	return pruned;
}

static void
snap_recover_volume(const char *dir)
{
	char latest[SNAP_ID_LEN + 1], *path, *why = NULL, *newest = NULL;
	struct dirent *de;
	struct stat st;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".partial-", 9) == 0 ||
		    strncmp(de->d_name, ".prune-", 7) == 0 ||
		    strncmp(de->d_name, SNAP_NEXT_TMP,
		    strlen(SNAP_NEXT_TMP)) == 0) {
			snap_remove_unfinished(dir, de->d_name);
		} else if (snap_mark_kind(de->d_name) != NULL) {
			/* A mark whose snapshot never became complete. */
			path = xasprintf("%s/%s", dir, de->d_name +
			    strlen(snap_mark_kind(de->d_name)));
			if (lstat(path, &st) != 0 && errno == ENOENT) {
				free(path);
				path = xasprintf("%s/%s", dir, de->d_name);
				unlink(path);
			}
			free(path);
		} else if (snap_id_valid(de->d_name) && (newest == NULL ||
		    strcmp(de->d_name, newest) > 0)) {
			free(newest);
			newest = xstrdup(de->d_name);
		}
	}
	closedir(d);
	snap_latest_id(dir, latest);
	path = xasprintf("%s/%s", dir, latest);
	if (newest == NULL && *latest != '\0' && lstat(path, &st) != 0) {
		char *link = xasprintf("%s/latest", dir);
		log_warn("%s names no snapshot and none is complete; removing "
		    "it", link);
		unlink(link);
		free(link);
	} else if (newest != NULL && (*latest == '\0' ||
	    lstat(path, &st) != 0)) {
		log_warn("%s/latest names no complete snapshot; pointing it "
		    "at %s", dir, newest);
		if (snap_set_latest(dir, newest, &why) != 0) {
			log_error("%s", why);
			free(why);
		}
	}
	free(path);
	free(newest);
}

void
snap_recover(const char *root)
{
	struct dirent *c, *v;
	char *cdir, *vdir;
	DIR *dc, *dv;

	dc = opendir(root);
	if (dc == NULL)
		return;
	while ((c = readdir(dc)) != NULL) {
		if (c->d_name[0] == '.')
			continue;
		cdir = xasprintf("%s/%s", root, c->d_name);
		dv = opendir(cdir);
		while (dv != NULL && (v = readdir(dv)) != NULL) {
			if (v->d_name[0] == '.')
				continue;
			vdir = xasprintf("%s/%s", cdir, v->d_name);
			snap_recover_volume(vdir);
			free(vdir);
		}
		if (dv != NULL)
			closedir(dv);
		free(cdir);
	}
	closedir(dc);
}
