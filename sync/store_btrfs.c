/*
 * store_btrfs: every snapshot a read-only btrfs subvolume, made, sealed
 * and deleted through libbtrfsutil. A push's private copy is a writable
 * snapshot of latest: O(1), every inode private to it, only extents
 * shared. Hard links inside it are still links to each other, so
 * store_unshare separates them before rsync writes in place. A latest
 * that is not a subvolume (a hard-link snapshot from before) is cloned
 * into a new subvolume file by file instead: the first backup on btrfs
 * starts a new chain of subvolumes.
 *
 * Compression is the btrfs.compression property of the new subvolume's
 * top directory: files and directories created below inherit it.
 */
#include "store.h"

#include <btrfsutil.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util.h"

#define STORE_BTRFS_COMPRESSION "btrfs.compression"

static void
store_btrfs_cause(char **cause, const char *what, const char *path,
    enum btrfs_util_error e)
{
	set_cause(cause, "%s %s: %s (%s)", what, path, btrfs_util_strerror(e),
	    strerror(errno));
}

/* zstd on, or whatever was inherited off. */
static int
store_btrfs_compress(const char *dir, int compress, char **cause)
{
	int rc;

	if (compress)
		rc = lsetxattr(dir, STORE_BTRFS_COMPRESSION, "zstd", 4, 0);
	else {
		rc = lremovexattr(dir, STORE_BTRFS_COMPRESSION);
		if (rc != 0 && errno == ENODATA)
			rc = 0;
	}
	if (rc != 0)
		set_cause(cause, "setting compression on %s: %s", dir,
		    strerror(errno));
	return rc;
}

static int
store_btrfs_probe(const char *root)
{
	char *p = xasprintf("%s/.store-probe", root);
	enum btrfs_util_error e;
	struct statfs sf;
	int ok = 0;

	if (statfs(root, &sf) != 0 || sf.f_type != BTRFS_SUPER_MAGIC)
		goto out;
	if (btrfs_util_is_subvolume(p) == BTRFS_UTIL_OK)
		(void)btrfs_util_delete_subvolume(p, 0);
	else
		(void)rmdir(p);
	/* Every call a push makes, tried once: creating, sealing and
	 * deleting need CAP_SYS_ADMIN, which a plugin may lack. */
	e = btrfs_util_create_subvolume(p, 0, NULL, NULL);
	if (e != BTRFS_UTIL_OK)
		goto out;
	ok = btrfs_util_set_subvolume_read_only(p, true) == BTRFS_UTIL_OK;
	if (btrfs_util_delete_subvolume(p, 0) != BTRFS_UTIL_OK)
		ok = 0;
out:
	free(p);
	return ok;
}

static int
store_btrfs_make_empty(const char *dir, int compress, char **cause)
{
	enum btrfs_util_error e;

	e = btrfs_util_create_subvolume(dir, 0, NULL, NULL);
	if (e != BTRFS_UTIL_OK) {
		store_btrfs_cause(cause, "creating subvolume", dir, e);
		return -1;
	}
	if (chmod(dir, 0700) != 0) {
		set_cause(cause, "chmod %s: %s", dir, strerror(errno));
		return -1;
	}
	return store_btrfs_compress(dir, compress, cause);
}

static int
store_btrfs_copy(const char *src, const char *dst, int flags, int compress,
    char **cause)
{
	enum btrfs_util_error e;

	if (btrfs_util_is_subvolume(src) != BTRFS_UTIL_OK) {
		/* A snapshot from before the store was btrfs: its files go
		 * by clone into a new subvolume (a new chain). */
		if (store_btrfs_make_empty(dst, compress, cause) != 0)
			return -1;
		return store_clone_into(src, dst, flags, cause);
	}
	e = btrfs_util_create_snapshot(src, dst, 0, NULL, NULL);
	if (e != BTRFS_UTIL_OK) {
		store_btrfs_cause(cause, "snapshotting", src, e);
		return -1;
	}
	if (store_btrfs_compress(dst, compress, cause) != 0)
		return -1;
	/* A walk of every file: only when there may be links to separate
	 * or attributes to strip. */
	if ((flags & STORE_COPY_NO_LINKS) && !(flags & STORE_COPY_STRIP_XATTRS))
		return 0;
	return store_unshare(dst, flags & ~STORE_COPY_NO_LINKS, cause);
}

static int
store_btrfs_seal(const char *dir, char **cause)
{
	enum btrfs_util_error e;

	e = btrfs_util_set_subvolume_read_only(dir, true);
	if (e != BTRFS_UTIL_OK) {
		store_btrfs_cause(cause, "making read-only", dir, e);
		return -1;
	}
	return 0;
}

const struct store_ops store_btrfs = {
	"btrfs", 1, 0, store_btrfs_probe, store_btrfs_make_empty,
	store_btrfs_copy, store_btrfs_seal,
};
