/*
 * store: how the server's snapshots share data with each other (PRODUCT.md
 * §10). Three methods, each behind the same small table, picked once at
 * start from the filesystem under the server root:
 *
 *   btrfs     every snapshot is a read-only subvolume; a push writes into
 *             a writable snapshot of latest (store_btrfs.c)
 *   reflink   a push writes into a clone of latest made file by file with
 *             FICLONE (XFS, and any filesystem that has it; store_reflink.c)
 *   hardlink  a push fills an empty directory and rsync hard-links the
 *             unchanged files to latest (--link-dest; store_hardlink.c)
 *
 * The first two are copy-on-write: the private copy shares every block
 * with latest until rsync rewrites some of them in place (--inplace with
 * its delta algorithm), so a changed file costs the blocks that changed.
 * Whichever method made a snapshot, store_remove deletes it, so a store
 * that moved to another method keeps serving and pruning the old ones.
 */
#ifndef PRIVATEER_STORE_H
#define PRIVATEER_STORE_H

/* What store_copy may need to change on the way. */
#define STORE_COPY_STRIP_XATTRS	0x1	/* drop ACLs and xattrs */
#define STORE_COPY_NO_LINKS	0x2	/* src is known to hold no hard links */
#define STORE_COPY_NO_XATTRS	0x4	/* src holds none: do not look */

struct store_ops {
	const char *name;	/* "btrfs", "reflink" or "hardlink" */
	int cow;		/* a push may write in place into a copy */
	/*
	 * copy costs a new inode per file: the server makes the next push's
	 * copy ahead of time, after a push (snap_prepare_next).
	 */
	int prepare;
	/* 1 if the method works under root (tried there, not guessed). */
	int (*probe)(const char *root);
	/* Makes dir, empty, where a push can write; 0 or -1 with *cause. */
	int (*make_empty)(const char *dir, int compress, char **cause);
	/*
	 * Makes dst a private writable copy of the complete snapshot src,
	 * in which no two paths share an inode and no inode is shared with
	 * src or any other snapshot (only data blocks are shared); cow
	 * methods only. 0 or -1 with *cause (dst may be left: store_remove).
	 */
	int (*copy)(const char *src, const char *dst, int flags, int compress,
	    char **cause);
	/* Makes the complete snapshot dir read-only where the method can. */
	int (*seal)(const char *dir, char **cause);
};

extern const struct store_ops store_btrfs;
extern const struct store_ops store_reflink;
extern const struct store_ops store_hardlink;

/*
 * The best method that works under root (created if missing): btrfs,
 * then reflink, then hardlink. can_delete: the server's rsync can take
 * --delete safely (--confine-root), which the copy-on-write methods need;
 * without it they are passed over, and *why says so (caller frees; NULL
 * if nothing was passed over).
 */
const struct store_ops *store_pick(const char *root, int can_delete,
    char **why);
/* make_empty and seal of the methods with plain directories. */
int store_mkdir_empty(const char *dir, int compress, char **cause);
int store_seal_nothing(const char *dir, char **cause);

/* The method called name, or NULL. */
const struct store_ops *store_by_name(const char *name);

/*
 * Deletes a snapshot or a partial one, whatever made it: a btrfs
 * subvolume (read-only or not) through libbtrfsutil, else the tree.
 */
int store_remove(const char *path, char **cause);

/*
 * Makes every regular file under dir that has more than one link its own
 * inode (a clone of the shared one, same metadata); with
 * STORE_COPY_STRIP_XATTRS also drops every ACL and xattr. For a btrfs
 * snapshot, whose files are already private but keep the hard links of
 * the snapshot it was taken of. 0 or -1 with *cause.
 */
int store_unshare(const char *dir, int flags, char **cause);
/*
 * Clones the tree src into the existing directory dst (its contents, and
 * the top's owner, mode, xattrs and times): the reflink method's copy.
 */
int store_clone_into(const char *src, const char *dst, int flags,
    char **cause);

#endif
