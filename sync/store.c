/*
 * store: picking the method (store.h) and deleting what any method made.
 */
#include "store.h"

#include <btrfsutil.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static const struct store_ops *const store_methods[] = {
	&store_btrfs, &store_reflink, &store_hardlink, NULL,
};

const struct store_ops *
store_pick(const char *root, int can_delete, char **why)
{
	size_t i;

	*why = NULL;
	if (mkdir(root, 0700) != 0 && errno != EEXIST)
		return &store_hardlink;
	for (i = 0; store_methods[i] != NULL; i++) {
		if (!store_methods[i]->probe(root))
			continue;
		if (store_methods[i]->cow && !can_delete) {
			if (*why == NULL)
				*why = xasprintf("the filesystem has %s, but "
				    "this rsync has no --confine-root, which "
				    "pushes into a copy need",
				    store_methods[i]->name);
			continue;
		}
		return store_methods[i];
	}
	return &store_hardlink;
}

int
store_mkdir_empty(const char *dir, int compress, char **cause)
{
	(void)compress;
	if (mkdir(dir, 0700) != 0) {
		set_cause(cause, "creating %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
store_seal_nothing(const char *dir, char **cause)
{
	(void)dir;
	(void)cause;
	return 0;
}

const struct store_ops *
store_by_name(const char *name)
{
	size_t i;

	for (i = 0; store_methods[i] != NULL; i++) {
		if (strcmp(store_methods[i]->name, name) == 0)
			return store_methods[i];
	}
	return NULL;
}

int
store_remove(const char *path, char **cause)
{
	enum btrfs_util_error e;
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : remove_tree(path, cause);
	if (S_ISDIR(st.st_mode) &&
	    btrfs_util_is_subvolume(path) == BTRFS_UTIL_OK) {
		e = btrfs_util_delete_subvolume(path, 0);
		if (e != BTRFS_UTIL_OK) {
			set_cause(cause, "deleting subvolume %s: %s (%s)", path,
			    btrfs_util_strerror(e), strerror(errno));
			return -1;
		}
		return 0;
	}
	return remove_tree(path, cause);
}
