/*
 * usage: a depth-first walk of the snapshot directories with openat, each
 * inode with more than one link counted the first time it is met (an
 * open-addressing set of inode numbers; one file system per volume).
 *
 * On btrfs and XFS files share blocks without sharing an inode (reflinks,
 * subvolume snapshots), and a btrfs snapshot reuses inode numbers. There
 * a regular file costs its extents (FIEMAP), and the blocks of all
 * snapshots are summed as the union of their physical ranges, so a block
 * shared by any number of files counts once. Data small enough to live
 * in btrfs metadata (inline) has no physical address: it counts once per
 * version of a file (inode, size, times).
 */
#include "usage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define USAGE_FILE ".usage"
#define USAGE_FILE_MAX 4096

#define USAGE_EXTENTS 256

struct usage_range {
	uint64_t start, len;
};

struct usage_walk {
	uint64_t *seen;		/* inode numbers + 1; 0 is empty */
	size_t size, used;
	unsigned long long bytes;
	int extents;		/* count by extents (btrfs, XFS) */
	int count_links;	/* walking latest: count multiply-linked */
	unsigned long links;
	struct usage_range *ranges;
	size_t nranges, cap;
	struct fiemap *fm;
};

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

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

/* Records fd's extents; -1 if the filesystem cannot tell them. */
static int
usage_extents(struct usage_walk *w, int fd, const struct stat *st)
{
	struct fiemap_extent *fe;
	uint64_t next = 0;
	uint32_t i;
	int last = 0;

	while (!last) {
		memset(w->fm, 0, sizeof *w->fm);
		w->fm->fm_start = next;
		w->fm->fm_length = FIEMAP_MAX_OFFSET - next;
		w->fm->fm_extent_count = USAGE_EXTENTS;
		if (ioctl(fd, FS_IOC_FIEMAP, w->fm) != 0)
			return -1;
		if (w->fm->fm_mapped_extents == 0)
			break;
		for (i = 0; i < w->fm->fm_mapped_extents; i++) {
			fe = &w->fm->fm_extents[i];
			last = (fe->fe_flags & FIEMAP_EXTENT_LAST) != 0;
			next = fe->fe_logical + fe->fe_length;
			if (fe->fe_flags & (FIEMAP_EXTENT_DATA_INLINE |
			    FIEMAP_EXTENT_NOT_ALIGNED)) {
				/* Once per version of the file. */
				uint64_t key = (uint64_t)st->st_ino * 31 +
				    (uint64_t)st->st_size * 131 +
				    (uint64_t)st->st_mtim.tv_sec * 1000003 +
				    (uint64_t)st->st_mtim.tv_nsec * 7 +
				    (uint64_t)st->st_ctim.tv_nsec;
				if (!usage_seen(w, key))
					w->bytes += fe->fe_length;
				continue;
			}
			if (fe->fe_flags & (FIEMAP_EXTENT_UNKNOWN |
			    FIEMAP_EXTENT_DELALLOC)) {
				w->bytes += fe->fe_length;
				continue;
			}
			if (w->nranges == w->cap) {
				w->cap = w->cap == 0 ? 1024 : w->cap * 2;
				w->ranges = xreallocarray(w->ranges, w->cap,
				    sizeof *w->ranges);
			}
			w->ranges[w->nranges].start = fe->fe_physical;
			w->ranges[w->nranges++].len = fe->fe_length;
		}
		if (w->fm->fm_mapped_extents < USAGE_EXTENTS)
			break;
	}
	return 0;
}

static int
usage_range_cmp(const void *a, const void *b)
{
	const struct usage_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The union of the recorded ranges, added to the total. */
static void
usage_ranges_sum(struct usage_walk *w)
{
	uint64_t end = 0;
	size_t i;

	if (w->nranges == 0)
		return;
	qsort(w->ranges, w->nranges, sizeof *w->ranges, usage_range_cmp);
	for (i = 0; i < w->nranges; i++) {
		uint64_t s = w->ranges[i].start, e = s + w->ranges[i].len;

		if (e <= end)
			continue;
		w->bytes += e - (s > end ? s : end);
		end = e;
	}
}

/* A regular file by its extents; -1: count it by its blocks instead. */
static int
usage_file(struct usage_walk *w, int dfd, const char *name,
    const struct stat *st)
{
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	rc = usage_extents(w, fd, st);
	close(fd);
	return rc;
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
		if (w->count_links && S_ISREG(st.st_mode) && st.st_nlink > 1)
			w->links++;
		if (w->extents && S_ISREG(st.st_mode) &&
		    usage_file(w, dirfd(d), de->d_name, &st) == 0)
			continue;
		if (!w->extents && st.st_nlink > 1 && !S_ISDIR(st.st_mode) &&
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
	struct statfs sf;
	char **ids = NULL, *path, *text;
	size_t n = 0, i;
	int fd, rc;

	memset(out, 0, sizeof *out);
	memset(&w, 0, sizeof w);
	if (snap_list(root, client, volume, &ids, &n, cause) != 0)
		return -1;
	path = xasprintf("%s/%s/%s", root, client, volume);
	if (statfs(path, &sf) == 0 && (sf.f_type == BTRFS_SUPER_MAGIC ||
	    sf.f_type == XFS_SUPER_MAGIC)) {
		w.extents = 1;
		w.fm = xmalloc(sizeof *w.fm + USAGE_EXTENTS *
		    sizeof(struct fiemap_extent));
	}
	free(path);
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s/%s/%s", root, client, volume, ids[i]);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		free(path);
		w.count_links = i == n - 1;
		if (fd >= 0)
			usage_dir(&w, fd);
	}
	usage_ranges_sum(&w);
	out->snapshots = (unsigned long)n;
	if (n > 0)
		snprintf(out->latest, sizeof out->latest, "%s", ids[n - 1]);
	out->bytes = w.bytes;
	out->latest_links = w.links;
	free(w.seen);
	free(w.ranges);
	free(w.fm);
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
