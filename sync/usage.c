/*
 * usage: a depth-first walk of the snapshot directories with openat, each
 * inode with more than one link counted the first time it is met (an
 * open-addressing set of inode numbers; one file system per volume).
 */
#include "usage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define USAGE_FILE ".usage"
#define USAGE_FILE_MAX 4096

struct usage_walk {
	uint64_t *seen;		/* inode numbers + 1; 0 is empty */
	size_t size, used;
	unsigned long long bytes;
};

/* 1 if ino was already counted (and records it). */
static int
usage_seen(struct usage_walk *w, uint64_t ino)
{
	uint64_t *old = w->seen, key = ino + 1;
	size_t oldsize = w->size, i;

	if ((w->used + 1) * 2 > w->size) {
		w->size = w->size == 0 ? 1024 : w->size * 2;
		w->seen = xcalloc(w->size, sizeof *w->seen);
		w->used = 0;
		for (i = 0; i < oldsize; i++) {
			if (old[i] != 0)
				(void)usage_seen(w, old[i] - 1);
		}
		free(old);
	}
	for (i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (w->size - 1);
	    w->seen[i] != 0; i = (i + 1) & (w->size - 1)) {
		if (w->seen[i] == key)
			return 1;
	}
	w->seen[i] = key;
	w->used++;
	return 0;
}

static void
usage_dir(struct usage_walk *w, int dfd)
{
	struct dirent *de;
	struct stat st;
	int fd;
	DIR *d;

	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		/* A prune may delete under us: what is gone costs nothing. */
		if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) &&
		    usage_seen(w, (uint64_t)st.st_ino))
			continue;
		w->bytes += (unsigned long long)st.st_blocks * 512;
		if (!S_ISDIR(st.st_mode))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			usage_dir(w, fd);
	}
	closedir(d);
}

static char *
usage_path(const char *root, const char *client, const char *volume)
{
	return xasprintf("%s/%s/%s/%s", root, client, volume, USAGE_FILE);
}

int
usage_update(const char *root, const char *client, const char *volume,
    struct usage *out, char **cause)
{
	struct usage_walk w;
	char **ids = NULL, *path, *text;
	size_t n = 0, i;
	int fd, rc;

	memset(out, 0, sizeof *out);
	memset(&w, 0, sizeof w);
	if (snap_list(root, client, volume, &ids, &n, cause) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s/%s/%s", root, client, volume, ids[i]);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		free(path);
		if (fd >= 0)
			usage_dir(&w, fd);
	}
	out->snapshots = (unsigned long)n;
	if (n > 0)
		snprintf(out->latest, sizeof out->latest, "%s", ids[n - 1]);
	out->bytes = w.bytes;
	free(w.seen);
	snap_list_free(ids, n);
	text = xasprintf("{\"snapshots\":%lu,\"latest\":\"%s\",\"bytes\":%llu}\n",
	    out->snapshots, out->latest, out->bytes);
	path = usage_path(root, client, volume);
	rc = write_file_atomic(path, text, strlen(text), 0600, cause);
	free(path);
	free(text);
	return rc;
}

int
usage_get(const char *root, const char *client, const char *volume,
    struct usage *out, char **cause)
{
	char *path = usage_path(root, client, volume), *text, **ids = NULL;
	json_t *doc = NULL;
	const char *latest;
	size_t len, n = 0;
	int current = 0;

	text = read_file_capped(path, USAGE_FILE_MAX, &len);
	free(path);
	if (text != NULL)
		doc = json_loadb(text, len, 0, NULL);
	free(text);
	latest = json_string_value(json_object_get(doc, "latest"));
	if (latest != NULL && snap_list(root, client, volume, &ids, &n,
	    NULL) == 0) {
		/* Current: same snapshots (a prune changes the count). */
		current = n > 0 && strcmp(ids[n - 1], latest) == 0 &&
		    (json_int_t)n == json_integer_value(json_object_get(doc,
		    "snapshots"));
		snap_list_free(ids, n);
	}
	if (!current) {
		json_decref(doc);
		return usage_update(root, client, volume, out, cause);
	}
	memset(out, 0, sizeof *out);
	out->snapshots = (unsigned long)n;
	snprintf(out->latest, sizeof out->latest, "%s", latest);
	out->bytes = (unsigned long long)json_integer_value(json_object_get(
	    doc, "bytes"));
	json_decref(doc);
	return 0;
}

/* Names of the subdirectories of path that could be clients or volumes. */
static char **
usage_names(const char *path, size_t *n)
{
	struct dirent *de;
	char **names = NULL;
	DIR *d;

	*n = 0;
	d = opendir(path);
	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		char *p;

		if (de->d_name[0] == '.' || (de->d_type != DT_DIR &&
		    de->d_type != DT_UNKNOWN))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			p = xasprintf("%s/%s", path, de->d_name);
			if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
				free(p);
				continue;
			}
			free(p);
		}
		names = xreallocarray(names, *n + 1, sizeof *names);
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	return names;
}

json_t *
usage_all(const char *root)
{
	json_t *out = json_object(), *cj, *vols;
	char **clients, **volumes, *dir, *cause = NULL;
	unsigned long long cbytes;
	unsigned long csnaps;
	struct usage u;
	size_t nc, nv, i, k;

	clients = usage_names(root, &nc);
	for (i = 0; i < nc; i++) {
		dir = xasprintf("%s/%s", root, clients[i]);
		volumes = usage_names(dir, &nv);
		free(dir);
		vols = json_object();
		cbytes = 0;
		csnaps = 0;
		for (k = 0; k < nv; k++) {
			if (usage_get(root, clients[i], volumes[k], &u,
			    &cause) != 0) {
				log_warn("usage of %s/%s: %s", clients[i],
				    volumes[k], cause);
				free(cause);
				cause = NULL;
			} else {
				json_object_set_new(vols, volumes[k], json_pack(
				    "{s:I, s:s, s:I}", "snapshots",
				    (json_int_t)u.snapshots, "latest", u.latest,
				    "bytes", (json_int_t)u.bytes));
				cbytes += u.bytes;
				csnaps += u.snapshots;
			}
			free(volumes[k]);
		}
		free(volumes);
		cj = json_pack("{s:I, s:I, s:o}", "snapshots",
		    (json_int_t)csnaps, "bytes", (json_int_t)cbytes, "volumes",
		    vols);
		json_object_set_new(out, clients[i], cj);
		free(clients[i]);
	}
	free(clients);
	return out;
}
