/*
 * attrs: one listxattr per entry of a tree, stopping at the first that
 * lists anything. Directories are walked by descriptor; on kernels with
 * listxattrat (6.13+) entries are asked about relative to their
 * directory, else by full path (llistxattr).
 *
 * Cold, each entry's inode is a disk read the walk waits for, one at a
 * time: ATTRS_THREADS threads share the directories (a queue of paths), so
 * the disk has several reads to do at once. 30000 small files, page cache
 * dropped: btrfs 0.44 -> 0.28 s, ext4 0.25 -> 0.18 s (2026-12-05). A
 * directory whose path is longer than PATH_MAX is walked below by
 * descriptor, by the thread that found it.
 */
#include "attrs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#if !defined(SYS_listxattrat) && (defined(__x86_64__) || defined(__aarch64__))
#define SYS_listxattrat 465	/* the same number on both (Linux 6.13) */
#endif

/* How deep a tree is walked before giving up (and assuming attributes). */
#define ATTRS_MAX_DEPTH 256

static int attrs_paths_only;

void
attrs_by_path(int on)
{
	attrs_paths_only = on;
}

#define ATTRS_THREADS 8

struct attrs_job {
	char *path;
	int depth;
	struct attrs_job *next;
};

/* The directories still to walk, and the answer so far. */
struct attrs_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct attrs_job *jobs;
	unsigned busy;		/* threads walking a directory */
	int result;		/* 0 so far; 1 found; -1 error (err) */
	int err;
};

struct attrs_walk {
	char path[PATH_MAX];	/* for llistxattr when listxattrat is missing */
	size_t len;
	int at;			/* listxattrat works */
	struct attrs_pool *pool;	/* subdirectories go there */
};

/* Queues the subdirectory w->path/name; 0, or -1 (no memory). */
static int
attrs_queue(struct attrs_walk *w, const char *name, int depth)
{
	struct attrs_job *j = malloc(sizeof *j);

	if (j == NULL || (j->path = malloc(w->len + 1 + strlen(name) + 1)) ==
	    NULL) {
		free(j);
		errno = ENOMEM;
		return -1;
	}
	memcpy(j->path, w->path, w->len);
	j->path[w->len] = '/';
	strcpy(j->path + w->len + 1, name);
	j->depth = depth;
	pthread_mutex_lock(&w->pool->lock);
	j->next = w->pool->jobs;
	w->pool->jobs = j;
	pthread_cond_signal(&w->pool->cond);
	pthread_mutex_unlock(&w->pool->lock);
	return 0;
}

/* Whether another thread has the answer already. */
static int
attrs_decided(struct attrs_pool *pool)
{
	int r;

	pthread_mutex_lock(&pool->lock);
	r = pool->result;
	pthread_mutex_unlock(&pool->lock);
	return r != 0;
}

/* >0 if name (in dfd, at w->path) lists attributes, 0 if not, -1 error. */
static int
attrs_entry(struct attrs_walk *w, int dfd, const char *name)
{
	ssize_t n = -1;

#ifdef SYS_listxattrat
	if (w->at) {
		n = syscall(SYS_listxattrat, dfd, name, AT_SYMLINK_NOFOLLOW,
		    NULL, (size_t)0);
		if (n < 0 && (errno == ENOSYS || errno == EPERM))
			w->at = 0;	/* EPERM: a seccomp filter's answer */
	}
#else
	w->at = 0;
#endif
	if (!w->at) {
		size_t l = strlen(name);

		if (w->len + 1 + l + 1 > sizeof w->path) {
			errno = ENAMETOOLONG;
			return -1;
		}
		w->path[w->len] = '/';
		memcpy(w->path + w->len + 1, name, l + 1);
		n = llistxattr(w->path, NULL, 0);
		w->path[w->len] = '\0';
	}
	if (n >= 0)
		return n > 0;
	/* Gone since readdir, or a filesystem without attributes. */
	if (errno == ENOENT || errno == ENOTSUP)
		return 0;
	return -1;
}

static int
attrs_dir(struct attrs_walk *w, int dfd, int depth)
{
	struct dirent *de;
	struct stat st;
	size_t saved;
	DIR *d;
	int fd, r = 0, isdir, e;

	if (depth > ATTRS_MAX_DEPTH) {
		close(dfd);
		errno = ELOOP;
		return -1;
	}
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return -1;
	}
	while (r == 0) {
		if (w->pool != NULL && attrs_decided(w->pool))
			break;
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				r = -1;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		r = attrs_entry(w, dirfd(d), de->d_name);
		if (r != 0)
			break;
		isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) != 0) {
				if (errno == ENOENT)
					continue;
				r = -1;
				break;
			}
			isdir = S_ISDIR(st.st_mode);
		}
		if (!isdir)
			continue;
		/* Another thread's, when its path can be written down. */
		if (w->pool != NULL && w->len + 1 + strlen(de->d_name) <
		    sizeof w->path) {
			if (depth + 1 > ATTRS_MAX_DEPTH) {
				errno = ELOOP;
				r = -1;
			} else
				r = attrs_queue(w, de->d_name, depth + 1);
			continue;
		}
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			r = -1;
			break;
		}
		saved = w->len;
		if (w->len + 1 + strlen(de->d_name) < sizeof w->path) {
			w->path[w->len] = '/';
			strcpy(w->path + w->len + 1, de->d_name);
			w->len += 1 + strlen(de->d_name);
		} else	/* too long: only listxattrat can go on */
			w->len = sizeof w->path;
		r = attrs_dir(w, fd, depth + 1);
		w->len = saved;
		if (saved < sizeof w->path)
			w->path[saved] = '\0';
	}
	e = errno;
	closedir(d);
	errno = e;	/* the reason for -1, not closedir's */
	return r;
}

/* One directory of the queue: its entries; its subdirectories queued. */
static int
attrs_job_walk(struct attrs_pool *pool, const struct attrs_job *j)
{
	struct attrs_walk *w = malloc(sizeof *w);
	int fd, r;

	if (w == NULL) {
		errno = ENOMEM;
		return -1;
	}
	w->len = strlen(j->path);
	memcpy(w->path, j->path, w->len + 1);
	w->at = !attrs_paths_only;
	w->pool = pool;
	/* The top is followed, as it was given; below, never a link. */
	fd = open(j->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    (j->depth > 0 ? O_NOFOLLOW : 0));
	if (fd < 0)	/* below the top: gone since readdir */
		r = errno == ENOENT && j->depth > 0 ? 0 : -1;
	else
		r = attrs_dir(w, fd, j->depth);
	free(w);
	return r;
}

static void *
attrs_worker(void *arg)
{
	struct attrs_pool *pool = arg;
	struct attrs_job *j;
	int r, e;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->jobs == NULL && pool->busy > 0 &&
		    pool->result == 0)
			pthread_cond_wait(&pool->cond, &pool->lock);
		if (pool->result != 0 || pool->jobs == NULL)
			break;		/* decided, or nothing left anywhere */
		j = pool->jobs;
		pool->jobs = j->next;
		pool->busy++;
		pthread_mutex_unlock(&pool->lock);
		r = attrs_job_walk(pool, j);
		e = errno;
		free(j->path);
		free(j);
		pthread_mutex_lock(&pool->lock);
		pool->busy--;
		if (r != 0 && pool->result == 0) {
			pool->result = r;
			pool->err = e;
		}
		pthread_cond_broadcast(&pool->cond);
	}
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

int
attrs_present(const char *dir)
{
	struct attrs_pool pool;
	struct attrs_job *j;
	pthread_t t[ATTRS_THREADS - 1];
	int i, started = 0;
	ssize_t n;

	if (strlen(dir) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* The top directory's own attributes travel too. */
	n = llistxattr(dir, NULL, 0);
	if (n > 0)
		return 1;
	if (n < 0 && errno != ENOTSUP)
		return -1;
	j = calloc(1, sizeof *j);
	if (j == NULL || (j->path = strdup(dir)) == NULL) {
		free(j);
		errno = ENOMEM;
		return -1;
	}
	memset(&pool, 0, sizeof pool);
	pthread_mutex_init(&pool.lock, NULL);
	pthread_cond_init(&pool.cond, NULL);
	pool.jobs = j;
	for (i = 0; i < ATTRS_THREADS - 1; i++) {
		if (pthread_create(&t[started], NULL, attrs_worker, &pool) ==
		    0)
			started++;
	}
	attrs_worker(&pool);	/* this thread walks too */
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	while ((j = pool.jobs) != NULL) {	/* left when decided early */
		pool.jobs = j->next;
		free(j->path);
		free(j);
	}
	pthread_cond_destroy(&pool.cond);
	pthread_mutex_destroy(&pool.lock);
	if (pool.result < 0)
		errno = pool.err;
	return pool.result;
}
