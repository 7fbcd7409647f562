/*
 * attrs: one listxattr per entry of a tree, stopping at the first that
 * lists anything. Directories are walked by descriptor; on kernels with
 * listxattrat (6.13+) entries are asked about relative to their
 * directory, else by full path (llistxattr).
 */
#include "attrs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

struct attrs_walk {
	char path[PATH_MAX];	/* for llistxattr when listxattrat is missing */
	size_t len;
	int at;			/* listxattrat works */
};

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

int
attrs_present(const char *dir)
{
	struct attrs_walk w;
	ssize_t n;
	int fd;

	if (strlen(dir) >= sizeof w.path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(w.path, dir);
	w.len = strlen(dir);
	w.at = !attrs_paths_only;
	/* The top directory's own attributes travel too. */
	n = llistxattr(dir, NULL, 0);
	if (n > 0)
		return 1;
	if (n < 0 && errno != ENOTSUP)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return attrs_dir(&w, fd, 0);
}
