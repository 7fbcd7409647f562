/*
 * pack: libarchive's entry reader and pax writer for export (our own walk);
 * its tar reader and disk writer, with our own checks in front, for
 * import. The checks are ours so that every refusal names the entry and
 * the reason; libarchive's SECURE_NODOTDOT and SECURE_NOABSOLUTEPATHS stay
 * on as a second line, and the symlinks are tracked here (pack_links)
 * instead of by SECURE_SYMLINKS, which costs an lstat per parent per entry.
 */
#include "pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "flusher.h"
#include "util.h"

#define PACK_BLOCK (64 * 1024)
#define PACK_COPY_BUF (256 * 1024)
#define PACK_ZSTD_THREADS "2"
#define PACK_PATH_MAX 4000		/* bytes of an entry's name */
#define PACK_NAME_MAX 255		/* bytes of one component */
#define PACK_SHOW_MAX 120		/* bytes of a name in a message */
#define PACK_MUNGED "/rsyncd-munged/"
/* Entries declaring more than this are checked against the free space. */
#define PACK_SIZE_CHECK (1024 * 1024)

int
pack_compress_parse(const char *name, enum pack_compress *out)
{
	if (strcmp(name, "none") == 0)
		*out = PACK_NONE;
	else if (strcmp(name, "gzip") == 0 || strcmp(name, "gz") == 0)
		*out = PACK_GZIP;
	else if (strcmp(name, "zstd") == 0 || strcmp(name, "zst") == 0)
		*out = PACK_ZSTD;
	else
		return -1;
	return 0;
}

const char *
pack_compress_name(enum pack_compress c)
{
	return c == PACK_GZIP ? "gzip" : c == PACK_ZSTD ? "zstd" : "none";
}

const char *
pack_suffix(enum pack_compress c)
{
	return c == PACK_GZIP ? ".tar.gz" : c == PACK_ZSTD ? ".tar.zst" :
	    ".tar";
}

/* An entry name fit for a message: valid UTF-8, no controls, clipped. */
static char *
pack_show(const char *name)
{
	return utf8_clip(name != NULL ? name : "", PACK_SHOW_MAX);
}

static const char *
pack_error(struct archive *a)
{
	const char *e = archive_error_string(a);

	return e != NULL ? e : "unknown error";
}

/* ---- export ---- */

/*
 * Our own depth-first walk, not archive_read_disk_open's: libarchive
 * visits a directory's children only after the rest of its parent, and GNU
 * tar, which restores a directory's mtime when the archive leaves it, then
 * gets the times of such directories wrong. Every entry follows its
 * directory at once here, in name order (reproducible archives).
 */
struct pack_out {
	struct archive *disk;		/* metadata: xattrs, ACLs */
	struct archive *disk_sparse;	/* the same and the sparse map */
	struct archive *w;
	struct archive_entry_linkresolver *links;
	dev_t dev;			/* the tree's file system */
	int flags;
	struct pack_stats *st;
	char *buf;
};

/* The file's data from fd; holes go to the writer as zeros, which the pax
 * writer leaves out again for entries it writes as sparse. */
static int
pack_copy_out(struct pack_out *po, int fd, la_int64_t size, int sparse,
    const char *name, char **cause)
{
	static const char zeros[PACK_BLOCK];
	la_int64_t done = 0, data, hole, want;
	la_ssize_t n;
	ssize_t got;

	while (done < size) {
		data = sparse ? lseek(fd, done, SEEK_DATA) : done;
		if (data < 0 && errno == ENXIO)
			data = size;		/* a hole up to the end */
		else if (data < 0)
			data = done;		/* no SEEK_DATA: read it all */
		if (data > size)
			data = size;
		while (done < data) {
			want = data - done > PACK_BLOCK ? PACK_BLOCK :
			    data - done;
			if (archive_write_data(po->w, zeros, (size_t)want) < 0)
				goto write_failed;
			done += want;
		}
		if (done >= size)
			break;
		hole = sparse ? lseek(fd, done, SEEK_HOLE) : size;
		if (hole < 0 || hole > size)
			hole = size;
		while (done < hole) {
			want = hole - done > PACK_COPY_BUF ? PACK_COPY_BUF :
			    hole - done;
			got = pread(fd, po->buf, (size_t)want, done);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				set_cause(cause, "reading %s: %s", name,
				    strerror(errno));
				return -1;
			}
			if (got == 0)
				return 0;	/* shrank: the writer pads */
			n = archive_write_data(po->w, po->buf, (size_t)got);
			if (n < 0)
				goto write_failed;
			done += got;
			po->st->bytes += (uint64_t)got;
		}
	}
	return 0;
write_failed:
	set_cause(cause, "writing %s: %s", name, pack_error(po->w));
	return -1;
}

/* Which xattrs an export writes and an import sets (pack_filter_xattrs). */
static int
pack_xattr_exported(const char *name)
{
	/* The filesystem's, not the volume's: btrfs's properties (a
	 * server's compression) and XFS's copy of the ACLs. */
	return strncmp(name, "btrfs.", 6) != 0 &&
	    strncmp(name, "trusted.SGI_ACL_", 16) != 0;
}

/*
 * Only user.* xattrs are set: security.* and trusted.* from an archive
 * could grant file capabilities or labels on this machine. ACLs are
 * restored through libarchive's own ACL support, not as xattrs.
 */
static int
pack_xattr_imported(const char *name)
{
	return strncmp(name, "user.", 5) == 0;
}

/* Keeps e's xattrs that wanted() accepts; returns how many it dropped. */
static size_t
pack_filter_xattrs(struct archive_entry *e, int (*wanted)(const char *))
{
	const char *name;
	const void *value;
	size_t size, n = 0, i, drop = 0;
	struct { char *name; void *value; size_t size; } *keep = NULL;

	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	while (archive_entry_xattr_next(e, &name, &value, &size) ==
	    ARCHIVE_OK) {
		if (!wanted(name)) {
			drop++;
			continue;
		}
		keep = xreallocarray(keep, n + 1, sizeof *keep);
		keep[n].name = xstrdup(name);
		keep[n].value = xmalloc(size > 0 ? size : 1);
		memcpy(keep[n].value, value, size);
		keep[n].size = size;
		n++;
	}
	if (drop > 0) {
		archive_entry_xattr_clear(e);
		for (i = 0; i < n; i++)
			archive_entry_xattr_add_entry(e, keep[i].name,
			    keep[i].value, keep[i].size);
	}
	for (i = 0; i < n; i++) {
		free(keep[i].name);
		free(keep[i].value);
	}
	free(keep);
	return drop;
}

static int pack_walk(struct pack_out *, int dirfd, const char *rel,
    char **cause);

/* One entry: name in dirfd, path rel from the top. */
static int
pack_one(struct pack_out *po, int dirfd, const char *name, const char *rel,
    char **cause)
{
	struct archive_entry *e = NULL, *spare;
	struct archive *disk;
	const char *target;
	struct stat st;
	char *show;
	int fd = -1, r, rc = -1;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;	/* deleted meanwhile */
		set_cause(cause, "%s: %s", rel, strerror(errno));
		return -1;
	}
	if (S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode) ||
	    S_ISBLK(st.st_mode)) {
		/* Replication leaves them out as well (no -D). */
		show = pack_show(rel);
		fprintf(stderr, "warning: %s: %s left out\n", show,
		    S_ISSOCK(st.st_mode) ? "socket" : "device node");
		free(show);
		po->st->skipped++;
		return 0;
	}
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0 && errno == ENOENT)
			return 0;
		if (fd < 0) {
			set_cause(cause, "%s: %s", rel, strerror(errno));
			return -1;
		}
	}
	/* Looking for holes costs lseeks: only where blocks are missing. */
	disk = S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (off_t)st.st_blocks * 512 < st.st_size ? po->disk_sparse : po->disk;
	e = archive_entry_new();
	archive_entry_copy_pathname(e, rel);
	r = archive_read_disk_entry_from_file(disk, e, fd, &st);
	if (r < ARCHIVE_WARN) {
		set_cause(cause, "%s: %s", rel, pack_error(disk));
		goto out;
	}
	if (r == ARCHIVE_WARN) {
		show = pack_show(rel);
		fprintf(stderr, "warning: %s: %s\n", show, pack_error(disk));
		free(show);
	}
	(void)pack_filter_xattrs(e, pack_xattr_exported);
	target = S_ISLNK(st.st_mode) ? archive_entry_symlink(e) : NULL;
	if ((po->flags & PACK_UNMUNGE) && target != NULL &&
	    strncmp(target, PACK_MUNGED, strlen(PACK_MUNGED)) == 0) {
		char *orig = xstrdup(target + strlen(PACK_MUNGED));
		archive_entry_set_symlink(e, orig);
		free(orig);
	}
	/* Second and later names of a file become hard-link entries
	 * without data. */
	spare = NULL;
	archive_entry_linkify(po->links, &e, &spare);
	if (archive_write_header(po->w, e) < ARCHIVE_WARN) {
		set_cause(cause, "writing %s: %s", rel, pack_error(po->w));
		goto out;
	}
	po->st->entries++;
	if (S_ISREG(st.st_mode) && archive_entry_size(e) > 0 &&
	    pack_copy_out(po, fd, archive_entry_size(e),
	    archive_entry_sparse_count(e) > 0, rel, cause) != 0)
		goto out;
	/* Other file systems mounted inside are not the volume's. */
	if (S_ISDIR(st.st_mode) && st.st_dev == po->dev &&
	    pack_walk(po, fd, rel, cause) != 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	archive_entry_free(e);
	return rc;
}

static int
pack_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
pack_walk(struct pack_out *po, int dirfd, const char *rel, char **cause)
{
	struct dirent *de;
	char **names = NULL, *path;
	size_t n = 0, i;
	int fd, rc = 0;
	DIR *d;

	fd = dup(dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		set_cause(cause, "%s: %s", rel, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, pack_name_cmp);
	for (i = 0; i < n && rc == 0; i++) {
		path = xasprintf("%s/%s", rel, names[i]);
		rc = pack_one(po, dirfd, names[i], path, cause);
		free(path);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int
pack_writer(struct archive *w, int fd, enum pack_compress c, char **cause)
{
	int r = ARCHIVE_OK;

	/* pax only where ustar cannot say it: long names, xattrs, ACLs. */
	if (archive_write_set_format_pax_restricted(w) != ARCHIVE_OK)
		goto fail;
	/* xattrs as SCHILY.xattr only, which GNU tar and libarchive both
	 * read; the LIBARCHIVE.xattr copy makes GNU tar complain. */
	if (archive_write_set_format_option(w, "pax", "xattrheader",
	    "SCHILY") < ARCHIVE_WARN)
		goto fail;
	if (c == PACK_GZIP)
		r = archive_write_add_filter_gzip(w);
	else if (c == PACK_ZSTD) {
		r = archive_write_add_filter_zstd(w);
		/* libzstd's workers compress while this thread walks and
		 * reads: what tar | zstd gets from two processes. */
		if (r == ARCHIVE_OK)
			(void)archive_write_set_filter_option(w, "zstd",
			    "threads", PACK_ZSTD_THREADS);
	}
	if (r != ARCHIVE_OK)
		goto fail;
	/* A plain tar ends on a 10240-byte record as tar(1) expects; a
	 * compressed stream must end where the compressor ended it. */
	if (archive_write_set_bytes_per_block(w, PACK_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w, c == PACK_NONE ? 10240 :
	    1) != ARCHIVE_OK ||
	    archive_write_open_fd(w, fd) != ARCHIVE_OK)
		goto fail;
	return 0;
fail:
	set_cause(cause, "starting the %s archive: %s", pack_compress_name(c),
	    pack_error(w));
	return -1;
}

int
pack_export(const char *dir, int fd, enum pack_compress c, int flags,
    struct pack_stats *st, char **cause)
{
	struct pack_out po;
	struct stat top;
	int rc = -1, dfd = -1;

	memset(st, 0, sizeof *st);
	memset(&po, 0, sizeof po);
	/* Entries are named ./PATH from here, as `tar -C DIR -c .` does. */
	if (chdir(dir) != 0 || (dfd = open(".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || fstat(dfd, &top) != 0) {
		set_cause(cause, "%s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	po.disk = archive_read_disk_new();
	po.disk_sparse = archive_read_disk_new();
	po.w = archive_write_new();
	po.links = archive_entry_linkresolver_new();
	if (po.disk == NULL || po.disk_sparse == NULL || po.w == NULL ||
	    po.links == NULL)
		fatal("libarchive: out of memory");
	po.dev = top.st_dev;
	po.flags = flags;
	po.st = st;
	po.buf = xmalloc(PACK_COPY_BUF);
	archive_read_disk_set_symlink_physical(po.disk);
	archive_read_disk_set_standard_lookup(po.disk);
	archive_read_disk_set_symlink_physical(po.disk_sparse);
	archive_read_disk_set_standard_lookup(po.disk_sparse);
	/* chattr flags are not volume data; GNU tar leaves them out too. */
	archive_read_disk_set_behavior(po.disk, ARCHIVE_READDISK_NO_FFLAGS |
	    ARCHIVE_READDISK_NO_SPARSE);
	archive_read_disk_set_behavior(po.disk_sparse,
	    ARCHIVE_READDISK_NO_FFLAGS);
	if (pack_writer(po.w, fd, c, cause) != 0)
		goto out;
	archive_entry_linkresolver_set_strategy(po.links,
	    archive_format(po.w));
	if (pack_one(&po, AT_FDCWD, ".", ".", cause) != 0)
		goto out;
	if (archive_write_close(po.w) != ARCHIVE_OK) {
		set_cause(cause, "finishing the archive: %s", pack_error(po.w));
		goto out;
	}
	rc = 0;
out:
	close(dfd);
	free(po.buf);
	archive_entry_linkresolver_free(po.links);
	archive_read_free(po.disk);
	archive_read_free(po.disk_sparse);
	archive_write_free(po.w);
	return rc;
}

/* ---- import ---- */

/* An entry name or hard-link target that stays inside the tree. */
static int
pack_check_name(const char *entry, const char *what, const char *name,
    char **cause)
{
	const char *p, *slash;
	char *show = pack_show(entry);
	size_t len;
	int rc = -1;

	if (name == NULL || *name == '\0') {
		set_cause(cause, "entry \"%s\": empty %s", show, what);
		goto out;
	}
	if (*name == '/') {
		set_cause(cause, "entry \"%s\": %s is an absolute path", show,
		    what);
		goto out;
	}
	if (strlen(name) > PACK_PATH_MAX) {
		set_cause(cause, "entry \"%s...\": %s is %zu bytes long, more "
		    "than %d", show, what, strlen(name), PACK_PATH_MAX);
		goto out;
	}
	for (p = name; *p != '\0'; p = *slash != '\0' ? slash + 1 : slash) {
		slash = strchr(p, '/');
		if (slash == NULL)
			slash = p + strlen(p);
		len = (size_t)(slash - p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			set_cause(cause, "entry \"%s\": %s has a \"..\" "
			    "component", show, what);
			goto out;
		}
		if (len > PACK_NAME_MAX) {
			set_cause(cause, "entry \"%s\": %s has a component of "
			    "%zu bytes, more than %d", show, what, len,
			    PACK_NAME_MAX);
			goto out;
		}
	}
	rc = 0;
out:
	free(show);
	return rc;
}

/*
 * The symlinks this import has made. Nothing else can make one: the
 * directory starts empty, out of every container's view, and only this
 * process writes to it. So knowing them is enough to refuse a write or a
 * hard link through a symlink without an lstat of every parent of every
 * entry (what ARCHIVE_EXTRACT_SECURE_SYMLINKS does, 5 opens per entry).
 * A set of normalized paths: open addressing, FNV-1a.
 */
struct pack_links {
	char **slot;		/* NULL empty, PACK_GONE deleted */
	size_t size, used;
};
static char pack_gone_mark;
#define PACK_GONE (&pack_gone_mark)

static size_t
pack_hash(const char *s, size_t len)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot holding s[0..len), or NULL. */
static char **
pack_links_find(const struct pack_links *l, const char *s, size_t len)
{
	size_t i, n;
	char *k;

	if (l->size == 0)
		return NULL;
	for (i = pack_hash(s, len) & (l->size - 1), n = 0; n < l->size;
	    i = (i + 1) & (l->size - 1), n++) {
		k = l->slot[i];
		if (k == NULL)
			return NULL;
		if (k != PACK_GONE && strlen(k) == len &&
		    memcmp(k, s, len) == 0)
			return &l->slot[i];
	}
	return NULL;
}

static void
pack_links_add(struct pack_links *l, const char *s)
{
	char **old = l->slot;
	size_t oldsize = l->size, i;

	if (pack_links_find(l, s, strlen(s)) != NULL)
		return;
	if ((l->used + 1) * 2 > l->size) {
		l->size = l->size == 0 ? 64 : l->size * 2;
		l->slot = xcalloc(l->size, sizeof *l->slot);
		l->used = 0;
		for (i = 0; i < oldsize; i++) {
			if (old[i] != NULL && old[i] != PACK_GONE) {
				pack_links_add(l, old[i]);
				free(old[i]);
			}
		}
		free(old);
	}
	for (i = pack_hash(s, strlen(s)) & (l->size - 1);
	    l->slot[i] != NULL && l->slot[i] != PACK_GONE;
	    i = (i + 1) & (l->size - 1))
		;
	l->slot[i] = xstrdup(s);
	l->used++;
}

static void
pack_links_del(struct pack_links *l, const char *s)
{
	char **k = pack_links_find(l, s, strlen(s));

	if (k != NULL) {
		free(*k);
		*k = PACK_GONE;	/* used stays: tombstones count */
	}
}

static void
pack_links_free(struct pack_links *l)
{
	size_t i;

	for (i = 0; i < l->size; i++) {
		if (l->slot[i] != PACK_GONE)
			free(l->slot[i]);
	}
	free(l->slot);
	memset(l, 0, sizeof *l);
}

/* name without "./", empty and "." components, or a trailing slash. */
static char *
pack_norm(const char *name)
{
	char *out = xmalloc(strlen(name) + 1), *o = out;
	const char *p = name, *slash;
	size_t len;

	while (*p != '\0') {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (len > 0 && !(len == 1 && *p == '.')) {
			if (o != out)
				*o++ = '/';
			memcpy(o, p, len);
			o += len;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	*o = '\0';
	return out;
}

/* The first parent of path that is one of our symlinks, or NULL. */
static const char *
pack_links_parent(const struct pack_links *l, const char *path)
{
	const char *p;
	char **k;

	for (p = strchr(path, '/'); p != NULL; p = strchr(p + 1, '/')) {
		k = pack_links_find(l, path, (size_t)(p - path));
		if (k != NULL)
			return *k;
	}
	return NULL;
}

static const char *
pack_type_refused(int type)
{
	switch (type) {
	case AE_IFCHR:
		return "a character device node";
	case AE_IFBLK:
		return "a block device node";
	case AE_IFSOCK:
		return "a socket";
	case AE_IFREG:
	case AE_IFDIR:
	case AE_IFLNK:
	case AE_IFIFO:
		return NULL;
	default:
		return "of an unknown type";
	}
}

/* A declared size the file system cannot hold is refused up front. */
static int
pack_check_size(struct archive_entry *e, const char *show, char **cause)
{
	la_int64_t size = archive_entry_size(e), data = 0, off, len;
	struct statvfs vfs;
	uint64_t avail;

	if (size < PACK_SIZE_CHECK)
		return 0;
	if (archive_entry_sparse_reset(e) > 0) {
		while (archive_entry_sparse_next(e, &off, &len) == ARCHIVE_OK)
			data += len;
		size = data;
	}
	if (statvfs(".", &vfs) != 0)
		return 0;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if ((uint64_t)size > avail) {
		set_cause(cause, "entry \"%s\" declares %lld bytes; the volume's "
		    "file system has %llu bytes free", show, (long long)size,
		    (unsigned long long)avail);
		return -1;
	}
	return 0;
}

static int
pack_copy_in(struct archive *in, struct archive *out, const char *show,
    uint64_t *bytes, char **cause)
{
	const void *buf;
	size_t len;
	la_int64_t offset;
	int r;

	for (;;) {
		r = archive_read_data_block(in, &buf, &len, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN) {
			set_cause(cause, "entry \"%s\": %s", show,
			    pack_error(in));
			return -1;
		}
		/* libarchive says ARCHIVE_WARN for a failed write(2)
		 * (a full disk) and for data beyond the declared size. */
		if (archive_write_data_block(out, buf, len, offset) !=
		    ARCHIVE_OK) {
			set_cause(cause, "entry \"%s\": %s%s%s", show,
			    pack_error(out), archive_errno(out) > 0 ? ": " : "",
			    archive_errno(out) > 0 ?
			    strerror(archive_errno(out)) : "");
			return -1;
		}
		*bytes += len;
	}
}

/* Errors that mean the data is not all there, even in a warning. */
static int
pack_errno_fatal(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EIO || e == EFBIG;
}

/* One entry: checks, then libarchive writes it. */
/*
 * Keeps links (the symlinks made so far) true for the entry at path:
 * refuses writes and hard links through them, and takes out a symlink the
 * entry replaces (libarchive would reuse it as a directory, following it).
 */
static int
pack_import_links(struct pack_links *links, struct archive_entry *e,
    const char *path, const char *link, const char *show, char **cause)
{
	const char *via;
	char *target = NULL;
	int rc = -1, type = (int)archive_entry_filetype(e);

	if ((via = pack_links_parent(links, path)) != NULL) {
		set_cause(cause, "entry \"%s\" would be written through the "
		    "symlink \"%s\"", show, via);
		return -1;
	}
	if (link != NULL) {
		target = pack_norm(link);
		if ((via = pack_links_parent(links, target)) != NULL) {
			set_cause(cause, "entry \"%s\": hard link through the "
			    "symlink \"%s\"", show, via);
			goto out;
		}
	}
	if (pack_links_find(links, path, strlen(path)) != NULL &&
	    (link != NULL || type != AE_IFLNK)) {
		if (unlink(path) != 0 && errno != ENOENT) {
			set_cause(cause, "entry \"%s\": replacing a symlink: "
			    "%s", show, strerror(errno));
			goto out;
		}
		pack_links_del(links, path);
	}
	/* A hard link to a symlink is a symlink too. */
	if ((link == NULL && type == AE_IFLNK) || (target != NULL &&
	    pack_links_find(links, target, strlen(target)) != NULL))
		pack_links_add(links, path);
	rc = 0;
out:
	free(target);
	return rc;
}

static int
pack_import_entry(struct archive *in, struct archive *out,
    struct archive_entry *e, struct pack_links *links,
    struct pack_stats *st, char **cause)
{
	const char *name = archive_entry_pathname(e);
	const char *link = archive_entry_hardlink(e), *why;
	char *show = pack_show(name), *path = NULL;
	int r, rc = -1;

	if (pack_check_name(name, "its name", name, cause) != 0)
		goto out;
	if (link != NULL && pack_check_name(name, "its hard-link target",
	    link, cause) != 0)
		goto out;
	why = link == NULL ? pack_type_refused((int)archive_entry_filetype(e)) :
	    NULL;
	if (why != NULL) {
		set_cause(cause, "entry \"%s\" is %s; volumes hold data only",
		    show, why);
		goto out;
	}
	path = pack_norm(name);
	if (*path != '\0' && pack_import_links(links, e, path, link, show,
	    cause) != 0)
		goto out;
	if (pack_check_size(e, show, cause) != 0)
		goto out;
	st->dropped_xattrs += pack_filter_xattrs(e, pack_xattr_imported);
	r = archive_write_header(out, e);
	if (r == ARCHIVE_WARN)
		fprintf(stderr, "warning: %s: %s\n", show, pack_error(out));
	else if (r != ARCHIVE_OK) {
		set_cause(cause, "entry \"%s\": %s", show, pack_error(out));
		goto out;
	}
	if (archive_entry_size(e) > 0 && pack_copy_in(in, out, show,
	    &st->bytes, cause) != 0)
		goto out;
	r = archive_write_finish_entry(out);
	if (r == ARCHIVE_WARN && !pack_errno_fatal(archive_errno(out)))
		fprintf(stderr, "warning: %s: %s\n", show, pack_error(out));
	else if (r != ARCHIVE_OK) {
		set_cause(cause, "entry \"%s\": %s", show, pack_error(out));
		goto out;
	}
	st->entries++;
	rc = 0;
out:
	free(path);
	free(show);
	return rc;
}

int
pack_import(int fd, const char *dir, struct pack_stats *st, char **cause)
{
	struct pack_links links = { NULL, 0, 0 };
	struct archive *in, *out;
	struct archive_entry *e;
	struct flusher flusher;
	int r, rc = -1, dfd;

	memset(st, 0, sizeof *st);
	if (chdir(dir) != 0 || (dfd = open(".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0) {
		set_cause(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	/* Written back while it is extracted (flusher.h). */
	flusher_start(&flusher, dfd);
	in = archive_read_new();
	out = archive_write_disk_new();
	if (in == NULL || out == NULL)
		fatal("libarchive: out of memory");
	/* Tar only (ustar, pax, GNU); the compressions tar files come in. */
	archive_read_support_format_tar(in);
	archive_read_support_filter_gzip(in);
	archive_read_support_filter_zstd(in);
	archive_read_support_filter_xz(in);
	archive_read_support_filter_bzip2(in);
	/* Numeric owners: names in the archive mean nothing in a volume,
	 * whose files belong to the containers' users. No standard lookup. */
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_OWNER |
	    ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_ACL |
	    ARCHIVE_EXTRACT_XATTR |
	    ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	    ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	if (archive_read_open_fd(in, fd, PACK_BLOCK) != ARCHIVE_OK) {
		set_cause(cause, "not a tar archive: %s", pack_error(in));
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(in, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_WARN) {
			char *show = pack_show(archive_entry_pathname(e));
			fprintf(stderr, "warning: %s: %s\n", show,
			    pack_error(in));
			free(show);
		} else if (r != ARCHIVE_OK) {
			set_cause(cause, "%s: %s", st->entries == 0 ?
			    "not a tar archive" : "the archive is damaged",
			    pack_error(in));
			goto out;
		}
		if (pack_import_entry(in, out, e, &links, st, cause) != 0)
			goto out;
	}
	/* Directory modes and times are set last, here. */
	if (archive_write_close(out) != ARCHIVE_OK) {
		set_cause(cause, "finishing: %s", pack_error(out));
		goto out;
	}
	if (st->entries == 0) {
		set_cause(cause, "the archive has no entries");
		goto out;
	}
	flusher_stop(&flusher);
	if (syncfs(dfd) != 0) {
		set_cause(cause, "syncing %s: %s", dir, strerror(errno));
		goto out;
	}
	if (st->dropped_xattrs > 0)
		fprintf(stderr, "warning: %llu extended attribute(s) outside "
		    "the user namespace not restored\n",
		    (unsigned long long)st->dropped_xattrs);
	rc = 0;
out:
	flusher_stop(&flusher);
	close(dfd);
	pack_links_free(&links);
	archive_read_free(in);
	archive_write_free(out);
	return rc;
}

/* ---- the child process ---- */

static int
pack_usage(void)
{
	fprintf(stderr, "usage: privateer pack export DIR [--compress "
	    "none|gzip|zstd] [--unmunge]\n"
	    "       privateer pack import DIR\n");
	return 2;
}

int
pack_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "compress", required_argument, NULL, 'c' },
		{ "unmunge", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	enum pack_compress comp = PACK_NONE;
	struct pack_stats st;
	char *cause = NULL;
	int c, flags = 0, rc;

	if (argc < 3)
		return pack_usage();
	optind = 3;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (pack_compress_parse(optarg, &comp) != 0)
				return pack_usage();
			break;
		case 'u':
			flags |= PACK_UNMUNGE;
			break;
		default:
			return pack_usage();
		}
	}
	if (optind != argc)
		return pack_usage();
	if (strcmp(argv[1], "export") == 0) {
		if (isatty(STDOUT_FILENO)) {
			fprintf(stderr, "privateer pack: not writing an "
			    "archive to a terminal\n");
			return 2;
		}
		rc = pack_export(argv[2], STDOUT_FILENO, comp, flags, &st,
		    &cause);
	} else if (strcmp(argv[1], "import") == 0 && flags == 0 &&
	    comp == PACK_NONE) {
		rc = pack_import(STDIN_FILENO, argv[2], &st, &cause);
		if (rc == 0)
			printf("{\"Entries\":%llu,\"Bytes\":%llu}\n",
			    (unsigned long long)st.entries,
			    (unsigned long long)st.bytes);
	} else
		return pack_usage();
	if (rc != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return 1;
	}
	return 0;
}
