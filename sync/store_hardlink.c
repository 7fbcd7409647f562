/*
 * store_hardlink: the method every filesystem has. A push fills an empty
 * directory; rsync hard-links each unchanged file to latest's
 * (--link-dest), so a snapshot costs its changed files whole. Nothing is
 * ever written in place: the inodes are shared with earlier snapshots.
 */
#include "store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static int
store_hardlink_probe(const char *root)
{
	(void)root;
	return 1;
}

static int
store_hardlink_make_empty(const char *dir, int compress, char **cause)
{
	(void)compress;
	if (mkdir(dir, 0700) != 0) {
		set_cause(cause, "creating %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int
store_hardlink_seal(const char *dir, char **cause)
{
	(void)dir;
	(void)cause;
	return 0;
}

const struct store_ops store_hardlink = {
	"hardlink", 0, store_hardlink_probe, store_hardlink_make_empty,
	NULL, store_hardlink_seal,
};
