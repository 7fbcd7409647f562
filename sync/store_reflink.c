/*
 * store_reflink: snapshots that share blocks by FICLONE (XFS with
 * reflink=1, the mkfs.xfs default; btrfs; others that have it). A push's
 * private copy is latest cloned file by file: directories and symlinks
 * made anew, each regular file a new inode whose extents are latest's
 * until rsync rewrites some in place. Hard-linked names are cloned one by
 * one, so no two paths of the copy share an inode; rsync -H links again
 * what the client still has linked. Also the tree walks btrfs needs
 * (store_unshare) and the metadata copy both use.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util.h"

#define STORE_XATTR_LIST_MAX (64 * 1024)
#define STORE_XATTR_VALUE_MAX (64 * 1024)
#define STORE_UNSHARE_TMP ".privateer-unshare.tmp"

/* btrfs keeps its properties (compression) as btrfs.* xattrs: ours. */
static int
store_xattr_ours(const char *name)
{
	return strncmp(name, "btrfs.", 6) == 0;
}

/*
 * Copies or strips the xattrs (ACLs included) of an inode: through fds
 * when both are given, else through the paths (symlinks). to == NULL
 * (with tofd < 0): removes from's own xattrs instead.
 */
static int
store_xattrs(int fromfd, const char *from, int tofd, const char *to,
    char **cause)
{
	char *list = xmalloc(STORE_XATTR_LIST_MAX);
	char *val = xmalloc(STORE_XATTR_VALUE_MAX), *name;
	ssize_t len, vlen;
	int rc = -1, strip = tofd < 0 && to == NULL;

	len = fromfd >= 0 ? flistxattr(fromfd, list, STORE_XATTR_LIST_MAX) :
	    llistxattr(from, list, STORE_XATTR_LIST_MAX);
	if (len < 0) {
		if (errno == ENOTSUP) {
			rc = 0;
			goto out;
		}
		set_cause(cause, "listing the xattrs of %s: %s", from,
		    strerror(errno));
		goto out;
	}
	for (name = list; name < list + len; name += strlen(name) + 1) {
		if (store_xattr_ours(name))
			continue;
		if (strip) {
			if ((fromfd >= 0 ? fremovexattr(fromfd, name) :
			    lremovexattr(from, name)) != 0 && errno != ENODATA) {
				set_cause(cause, "removing xattr %s of %s: %s",
				    name, from, strerror(errno));
				goto out;
			}
			continue;
		}
		vlen = fromfd >= 0 ? fgetxattr(fromfd, name, val,
		    STORE_XATTR_VALUE_MAX) : lgetxattr(from, name, val,
		    STORE_XATTR_VALUE_MAX);
		if (vlen < 0) {
			if (errno == ENODATA)
				continue;
			set_cause(cause, "reading xattr %s of %s: %s", name,
			    from, strerror(errno));
			goto out;
		}
		if ((tofd >= 0 ? fsetxattr(tofd, name, val, (size_t)vlen, 0) :
		    lsetxattr(to, name, val, (size_t)vlen, 0)) != 0) {
			set_cause(cause, "setting xattr %s on %s: %s", name,
			    to, strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	free(list);
	free(val);
	return rc;
}

/* Owner, mode, xattrs (unless stripped) and times of st onto dfd. */
static int
store_meta_fd(int sfd, int dfd, const struct stat *st, const char *what,
    int flags, char **cause)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	/* Owner first: chown clears set-id bits that chmod then restores. */
	if (fchown(dfd, st->st_uid, st->st_gid) != 0 ||
	    fchmod(dfd, st->st_mode & 07777) != 0) {
		set_cause(cause, "setting owner and mode of %s: %s", what,
		    strerror(errno));
		return -1;
	}
	if (!(flags & (STORE_COPY_STRIP_XATTRS | STORE_COPY_NO_XATTRS)) &&
	    store_xattrs(sfd, what, dfd, what, cause) != 0)
		return -1;
	if (futimens(dfd, ts) != 0) {
		set_cause(cause, "setting times of %s: %s", what,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* dfd's data becomes sfd's: shared extents, or a copy where it cannot. */
static int
store_clone_data(int sfd, int dfd, off_t size)
{
	off_t done = 0;
	ssize_t n;

	if (size == 0 || ioctl(dfd, FICLONE, sfd) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EXDEV && errno != EINVAL &&
	    errno != ENOTTY)
		return -1;
	/* copy_file_range still shares extents where the kernel can. */
	while (done < size) {
		n = copy_file_range(sfd, NULL, dfd, NULL, (size_t)(size - done),
		    0);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += n;
	}
	return 0;
}

/*
 * Makes name in ddir a clone of name in sdir (a regular file whose stat
 * is st), created as tmp (or name itself when tmp is NULL).
 */
static int
store_clone_file(int sdir, int ddir, const char *name, const char *tmp,
    const struct stat *st, const char *path, int flags, char **cause)
{
	int sfd, dfd, rc = -1;

	sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		set_cause(cause, "opening %s: %s", path, strerror(errno));
		return -1;
	}
	dfd = openat(ddir, tmp != NULL ? tmp : name, O_WRONLY | O_CREAT |
	    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dfd < 0) {
		set_cause(cause, "creating a copy of %s: %s", path,
		    strerror(errno));
		close(sfd);
		return -1;
	}
	if (store_clone_data(sfd, dfd, st->st_size) != 0) {
		set_cause(cause, "cloning %s: %s", path, strerror(errno));
		goto out;
	}
	if (store_meta_fd(sfd, dfd, st, path, flags, cause) != 0)
		goto out;
	rc = 0;
out:
	close(sfd);
	close(dfd);
	return rc;
}

/* A symlink or special file name of sdir made again in ddir. */
static int
store_clone_other(int sdir, int ddir, const char *name,
    const struct stat *st, const char *path, int flags, char **cause)
{
	char target[4096], *from, *to;
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	ssize_t n;
	int rc = -1;

	if (S_ISLNK(st->st_mode)) {
		n = readlinkat(sdir, name, target, sizeof target - 1);
		if (n < 0) {
			set_cause(cause, "reading %s: %s", path,
			    strerror(errno));
			return -1;
		}
		target[n] = '\0';
		if (symlinkat(target, ddir, name) != 0) {
			set_cause(cause, "copying %s: %s", path,
			    strerror(errno));
			return -1;
		}
	} else if (mknodat(ddir, name, st->st_mode & (S_IFMT | 07777),
	    st->st_rdev) != 0) {
		set_cause(cause, "copying %s: %s", path, strerror(errno));
		return -1;
	}
	if (fchownat(ddir, name, st->st_uid, st->st_gid,
	    AT_SYMLINK_NOFOLLOW) != 0 || (!S_ISLNK(st->st_mode) &&
	    fchmodat(ddir, name, st->st_mode & 07777, 0) != 0)) {
		set_cause(cause, "setting owner of %s: %s", path,
		    strerror(errno));
		return -1;
	}
	from = xasprintf("/proc/self/fd/%d/%s", sdir, name);
	to = xasprintf("/proc/self/fd/%d/%s", ddir, name);
	if (!(flags & (STORE_COPY_STRIP_XATTRS | STORE_COPY_NO_XATTRS)) &&
	    store_xattrs(-1, from, -1, to, cause) != 0)
		goto out;
	if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) != 0) {
		set_cause(cause, "setting times of %s: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(from);
	free(to);
	return rc;
}

/* The contents of sdir cloned into ddir (both open; closes neither). */
static int
store_clone_dir(int sdir, int ddir, const char *path, int flags,
    char **cause)
{
	struct dirent *de;
	struct stat st;
	char *sub;
	int fd, s2, d2, rc = 0;
	DIR *d;

	fd = dup(sdir);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		set_cause(cause, "reading %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		if (fstatat(sdir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			set_cause(cause, "%s: %s", sub, strerror(errno));
			rc = -1;
		} else if (S_ISREG(st.st_mode)) {
			rc = store_clone_file(sdir, ddir, de->d_name, NULL, &st,
			    sub, flags, cause);
		} else if (S_ISDIR(st.st_mode)) {
			rc = -1;
			s2 = openat(sdir, de->d_name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			d2 = -1;
			if (s2 < 0 || mkdirat(ddir, de->d_name, 0700) != 0 ||
			    (d2 = openat(ddir, de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
				set_cause(cause, "copying %s: %s", sub,
				    strerror(errno));
			else if (store_clone_dir(s2, d2, sub, flags,
			    cause) == 0)
				rc = store_meta_fd(s2, d2, &st, sub, flags,
				    cause);
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
		} else {
			rc = store_clone_other(sdir, ddir, de->d_name, &st, sub,
			    flags, cause);
		}
		free(sub);
	}
	closedir(d);
	return rc;
}

int
store_clone_into(const char *src, const char *dst, int flags, char **cause)
{
	struct stat st;
	int s, d = -1, rc = -1;

	s = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0 || fstat(s, &st) != 0) {
		set_cause(cause, "opening %s: %s", src, strerror(errno));
		goto out;
	}
	d = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0) {
		set_cause(cause, "opening %s: %s", dst, strerror(errno));
		goto out;
	}
	if (store_clone_dir(s, d, src, flags, cause) != 0 ||
	    store_meta_fd(s, d, &st, src, flags, cause) != 0)
		goto out;
	rc = 0;
out:
	if (s >= 0)
		close(s);
	if (d >= 0)
		close(d);
	return rc;
}

/* A new directory dst holding a clone of the tree src. */
static int
store_reflink_copy(const char *src, const char *dst, int flags,
    int compress, char **cause)
{
	if (store_mkdir_empty(dst, compress, cause) != 0)
		return -1;
	return store_clone_into(src, dst, flags, cause);
}

/* store_unshare's walk of one open directory (closes it). */
static int
store_unshare_dir(int dfd, const char *path, int flags, char **cause)
{
	struct dirent *de;
	struct stat st;
	char *sub, *link;
	int fd, rc = 0;
	DIR *d;

	d = fdopendir(dfd);
	if (d == NULL) {
		set_cause(cause, "reading %s: %s", path, strerror(errno));
		close(dfd);
		return -1;
	}
	(void)unlinkat(dfd, STORE_UNSHARE_TMP, 0);
	if ((flags & STORE_COPY_STRIP_XATTRS) &&
	    store_xattrs(dfd, path, -1, NULL, cause) != 0)
		rc = -1;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_UNKNOWN && de->d_type != DT_REG &&
		    de->d_type != DT_DIR && !(flags & STORE_COPY_STRIP_XATTRS))
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			set_cause(cause, "%s: %s", sub, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				set_cause(cause, "opening %s: %s", sub,
				    strerror(errno));
				rc = -1;
			} else
				rc = store_unshare_dir(fd, sub, flags, cause);
		} else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
			/* A clone beside it, renamed over this name: the
			 * other names keep the old inode. */
			rc = store_clone_file(dfd, dfd, de->d_name,
			    STORE_UNSHARE_TMP, &st, sub, flags, cause);
			if (rc == 0 && renameat(dfd, STORE_UNSHARE_TMP, dfd,
			    de->d_name) != 0) {
				set_cause(cause, "replacing %s: %s", sub,
				    strerror(errno));
				rc = -1;
			}
			if (rc != 0)
				(void)unlinkat(dfd, STORE_UNSHARE_TMP, 0);
		} else if (flags & STORE_COPY_STRIP_XATTRS) {
			if (S_ISREG(st.st_mode)) {
				fd = openat(dfd, de->d_name, O_RDONLY |
				    O_NOFOLLOW | O_CLOEXEC);
				rc = fd < 0 ? -1 : store_xattrs(fd, sub, -1,
				    NULL, cause);
				if (fd < 0)
					set_cause(cause, "opening %s: %s", sub,
					    strerror(errno));
				else
					close(fd);
			} else {
				link = xasprintf("/proc/self/fd/%d/%s", dfd,
				    de->d_name);
				rc = store_xattrs(-1, link, -1, NULL, cause);
				free(link);
			}
		}
		free(sub);
	}
	closedir(d);
	return rc;
}

int
store_unshare(const char *dir, int flags, char **cause)
{
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		set_cause(cause, "opening %s: %s", dir, strerror(errno));
		return -1;
	}
	return store_unshare_dir(fd, dir, flags, cause);
}

static int
store_reflink_probe(const char *root)
{
	char *a = xasprintf("%s/.store-probe-a", root);
	char *b = xasprintf("%s/.store-probe-b", root);
	char block[4096];
	int fa = -1, fb = -1, ok = 0;

	memset(block, 'p', sizeof block);
	unlink(a);
	unlink(b);
	fa = open(a, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	fb = open(b, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fa >= 0 && fb >= 0 && write_all(fa, block, sizeof block) == 0 &&
	    fsync(fa) == 0)
		ok = ioctl(fb, FICLONE, fa) == 0;
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	unlink(a);
	unlink(b);
	free(a);
	free(b);
	return ok;
}

const struct store_ops store_reflink = {
	"reflink", 1, 1, store_reflink_probe, store_mkdir_empty,
	store_reflink_copy, store_seal_nothing,
};
