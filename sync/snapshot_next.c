/*
 * snapshot_next: the private copy of latest that an in-place push into a
 * reflink store rewrites, made before the push rather than during it.
 * Cloning a tree costs a new inode per file (30000 small files: 2-3 s on
 * XFS), and a push that clones latest itself makes its client wait for
 * that. After a push the server clones the new latest at leisure into
 * .next-tmp-<ID>, syncs it and renames it .next-<ID>; the next push finds
 * it under the volume's lock and renames it to its partial. The copy
 * shares every block with latest, so it costs inodes, not data, and it is
 * private to the one push that takes it, as store.h requires of a copy.
 */
#include "snapshot_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "util.h"

int
snap_next_take(const char *dir, const char *id, const char *partial)
{
	char *next = xasprintf("%s/%s%s", dir, SNAP_NEXT, id);
	int rc;

	rc = rename(next, partial) == 0;
	if (!rc && errno != ENOENT)
		log_warn("taking %s: %s; cloning instead", next,
		    strerror(errno));
	free(next);
	return rc;
}

/* Clones latest id of dir into .next-<id>; under the lock. */
static int
snap_next_make(const struct snap_method *m, const char *dir, const char *id,
    char **cause)
{
	char *src = xasprintf("%s/%s", dir, id);
	char *tmp = xasprintf("%s/%s%s", dir, SNAP_NEXT_TMP, id);
	char *next = xasprintf("%s/%s%s", dir, SNAP_NEXT, id), *mark;
	struct stat st;
	int flags = 0, fd, rc = -1;

	/* As a push that carries what latest holds would copy it. */
	mark = snap_plain_mark(dir, id);
	if (lstat(mark, &st) == 0)
		flags |= STORE_COPY_NO_XATTRS;
	free(mark);
	mark = snap_mark_path(dir, SNAP_NOLINKS, id);
	if (lstat(mark, &st) == 0)
		flags |= STORE_COPY_NO_LINKS;
	free(mark);
	if (store_remove(tmp, cause) != 0 ||
	    m->store->copy(src, tmp, flags, m->compress, cause) != 0)
		goto out;
	/* On disk before it can be taken: a push trusts what it finds. */
	fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) != 0) {
		set_cause(cause, "syncing %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	if (rename(tmp, next) != 0) {
		set_cause(cause, "renaming %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		(void)store_remove(tmp, NULL);
	free(src);
	free(tmp);
	free(next);
	return rc;
}

int
snap_prepare_next(const struct snap_method *m, const char *root,
    const char *client, const char *volume, char **cause)
{
	char latest[SNAP_ID_LEN + 1], *dir, *lock, *next, *keep;
	struct stat st;
	int fd, rc = 0;

	if (m->store == NULL || !m->store->cow || !m->store->prepare ||
	    !m->in_place)
		return 0;
	dir = xasprintf("%s/%s/%s", root, client, volume);
	lock = xasprintf("%s/.lock", dir);
	fd = open(lock, O_RDWR | O_CLOEXEC);
	free(lock);
	/* No lock file: no push ever; a push holds it: it makes the next. */
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)
		goto out;
	snap_latest_id(dir, latest);
	/* One made for an older latest, or unfinished: gone. */
	keep = xasprintf("%s%s", SNAP_NEXT, latest);
	snap_remove_prefixed(dir, SNAP_NEXT, keep);
	next = xasprintf("%s/%s", dir, keep);
	if (*latest != '\0' && lstat(next, &st) != 0)
		rc = snap_next_make(m, dir, latest, cause);
	free(keep);
	free(next);
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}
