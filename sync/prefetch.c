/* prefetch: reading ahead of rsync (prefetch.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prefetch.h"
#include "util.h"

/* Deeper trees are left to rsync: each level holds a descriptor. */
#define PREFETCH_DEPTH 128
/* Data is asked for in chunks this big, the window checked before each. */
#define PREFETCH_CHUNK (1024ULL * 1024)
/* How often the window is looked at again while the reader catches up. */
#define PREFETCH_POLL_MS 3

static _Atomic unsigned long long prefetch_window = 64ULL * 1024 * 1024;

struct prefetch {
	pthread_t thread;
	char *root;
	pid_t reader;
	time_t since;
	int flags;
	atomic_int stop;
	atomic_int done;
	pthread_mutex_t lock;
	pthread_cond_t ended;
	struct prefetch_stats st;
	unsigned long long asked;	/* bytes asked for in all */
	unsigned long long start_rchar;	/* the reader's rchar at start */
	int reader_gone;
};

void
prefetch_set_window(unsigned long long bytes)
{
	prefetch_window = bytes;
}

/* The reader's rchar, or -1 when it cannot be read (it has exited). */
static long long
prefetch_rchar(pid_t pid)
{
	char path[64], buf[512];
	long long v = -1;
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/io", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "rchar:");
	if (p != NULL)
		v = strtoll(p + 6, NULL, 10);
	return v;
}

/* Waits until `more` bytes fit in the window ahead of the reader; 0 to go
 * on, -1 to stop (asked to, or the reader has gone). */
static int
prefetch_room(struct prefetch *p, unsigned long long more)
{
	struct timespec ts = { 0, PREFETCH_POLL_MS * 1000000L };
	long long rchar;
	unsigned long long read;

	if (p->reader <= 0)
		return p->stop ? -1 : 0;
	for (;;) {
		if (p->stop)
			return -1;
		rchar = prefetch_rchar(p->reader);
		if (rchar < 0) {
			p->reader_gone = 1;
			return -1;
		}
		read = (unsigned long long)rchar > p->start_rchar ?
		    (unsigned long long)rchar - p->start_rchar : 0;
		if (p->asked + more <= read + prefetch_window)
			return 0;
		pthread_mutex_lock(&p->lock);
		p->st.waits++;
		pthread_mutex_unlock(&p->lock);
		nanosleep(&ts, NULL);
	}
}

/* Asks for dfd/name's contents, chunk by chunk; -1 to stop the walk. */
static int
prefetch_file(struct prefetch *p, int dfd, const char *name,
    const struct stat *st)
{
	unsigned long long off = 0, len, size = (unsigned long long)st->st_size;
	int fd, rc = 0;

	if (size == 0)
		return 0;
	if (p->since != 0 && st->st_mtime < p->since && st->st_ctime < p->since)
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME |
	    O_NONBLOCK);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    O_NONBLOCK);
	if (fd < 0)
		return 0;
	while (off < size) {
		len = size - off < PREFETCH_CHUNK ? size - off : PREFETCH_CHUNK;
		if (prefetch_room(p, len) != 0) {
			rc = -1;
			break;
		}
		(void)posix_fadvise(fd, (off_t)off, (off_t)len,
		    POSIX_FADV_WILLNEED);
		off += len;
		p->asked += len;
		pthread_mutex_lock(&p->lock);
		p->st.bytes += len;
		pthread_mutex_unlock(&p->lock);
	}
	if (off > 0) {
		pthread_mutex_lock(&p->lock);
		p->st.advised++;
		pthread_mutex_unlock(&p->lock);
	}
	close(fd);
	return rc;
}

static int
prefetch_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks the directory open as dfd (taken); -1 to stop the walk. */
static int
prefetch_dir(struct prefetch *p, int dfd, int depth)
{
	char **files = NULL, **dirs = NULL;
	size_t nf = 0, nd = 0, cf = 0, cd = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0, sub;

	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	p->st.dirs++;
	pthread_mutex_unlock(&p->lock);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name,
		    "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			if (nd == cd) {
				cd = cd ? cd * 2 : 16;
				dirs = xreallocarray(dirs, cd, sizeof *dirs);
			}
			dirs[nd++] = xstrdup(de->d_name);
		} else if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN) {
			if (nf == cf) {
				cf = cf ? cf * 2 : 64;
				files = xreallocarray(files, cf, sizeof *files);
			}
			files[nf++] = xstrdup(de->d_name);
		} else {
			/* Links and the rest: their inode is what rsync reads. */
			(void)fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW);
		}
		if (p->stop) {
			rc = -1;
			goto out;
		}
	}
	/* rsync's order: a directory's files by name, then its subdirs. */
	if (nf > 1)
		qsort(files, nf, sizeof *files, prefetch_cmp);
	if (nd > 1)
		qsort(dirs, nd, sizeof *dirs, prefetch_cmp);
	for (i = 0; i < nf && rc == 0; i++) {
		if (p->stop || fstatat(dirfd(d), files[i], &st,
		    AT_SYMLINK_NOFOLLOW) != 0) {
			rc = p->stop ? -1 : 0;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {	/* DT_UNKNOWN: walk it too */
			if (nd == cd) {
				cd = cd ? cd * 2 : 16;
				dirs = xreallocarray(dirs, cd, sizeof *dirs);
			}
			dirs[nd++] = files[i];
			files[i] = NULL;
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		pthread_mutex_lock(&p->lock);
		p->st.files++;
		pthread_mutex_unlock(&p->lock);
		if (p->flags & PREFETCH_DATA)
			rc = prefetch_file(p, dirfd(d), files[i], &st);
	}
	for (i = 0; i < nd && rc == 0; i++) {
		if (p->stop) {
			rc = -1;
			break;
		}
		if (depth >= PREFETCH_DEPTH)
			break;
		sub = openat(dirfd(d), dirs[i], O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
		if (sub < 0 && errno == EPERM)
			sub = openat(dirfd(d), dirs[i], O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			rc = prefetch_dir(p, sub, depth + 1);
	}
out:
	for (i = 0; i < nf; i++)
		free(files[i]);
	for (i = 0; i < nd; i++)
		free(dirs[i]);
	free(files);
	free(dirs);
	closedir(d);
	return rc;
}

static void *
prefetch_main(void *arg)
{
	struct prefetch *p = arg;
	int fd;

	fd = open(p->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)prefetch_dir(p, fd, 0);
	pthread_mutex_lock(&p->lock);
	p->done = 1;
	pthread_cond_broadcast(&p->ended);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct prefetch *
prefetch_start(const char *root, pid_t reader, time_t since, int flags)
{
	struct prefetch *p = xcalloc(1, sizeof *p);
	long long r;

	p->root = xstrdup(root);
	p->reader = reader;
	p->since = since;
	p->flags = flags;
	if (reader > 0 && (r = prefetch_rchar(reader)) > 0)
		p->start_rchar = (unsigned long long)r;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->ended, NULL);
	if (pthread_create(&p->thread, NULL, prefetch_main, p) != 0) {
		pthread_cond_destroy(&p->ended);
		pthread_mutex_destroy(&p->lock);
		free(p->root);
		free(p);
		return NULL;
	}
	return p;
}

void
prefetch_get_stats(struct prefetch *p, struct prefetch_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->st;
	pthread_mutex_unlock(&p->lock);
}

void
prefetch_wait(struct prefetch *p)
{
	pthread_mutex_lock(&p->lock);
	while (!p->done)
		pthread_cond_wait(&p->ended, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void
prefetch_stop(struct prefetch *p)
{
	if (p == NULL)
		return;
	p->stop = 1;
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->ended);
	pthread_mutex_destroy(&p->lock);
	free(p->root);
	free(p);
}
