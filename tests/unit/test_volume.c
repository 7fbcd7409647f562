/*
 * test_volume: the volume registry on a real state directory (mkdtemp per
 * test) with the in-memory fake of struct vol_os, so nothing is mounted.
 * Covered: create, list and get; Docker's repeated Create (same options or
 * none succeed, different options fail); bad options and names leave nothing
 * on disk; mount points and bind counts for several IDs and for one ID held
 * twice; unmount of an unknown ID; remove refused while in use and, after
 * unmount, deleting the data in the background; refusing to mount a volume
 * whose data directory is gone; a failed bind, or a failed save of the
 * metadata, taking no reference (and undoing the bind); a failed save at
 * Unmount dropping the reference all the same (the next save catches up);
 * persistence across close and reopen (options, creation time and mount
 * references, which survive only if the mount does); and the clean-up done
 * at open: leftovers in .tmp and .trash are deleted, a volume with corrupt
 * metadata is skipped but never deleted. Concurrency: Get, List and Path
 * answer while a Mount or a Create is held inside its durable write (the
 * fake's write_file waits until let go), and see the state before it;
 * other changes of the same volume wait for it and lose nothing; a
 * second Create of a name being created waits and succeeds, and a failed
 * creation frees the name. Scale: a lookup, and a client's inspect
 * staleness check (stale.c), cost about the same among 8,000 volumes as
 * among 250; the Linux mount-point check (statx).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fleet.h"
#include "log.h"
#include "meta.h"
#include "stale.h"
#include "util.h"
#include "volume.h"

/*
 * tests/CMakeLists.txt builds each test from its one source file, so the
 * fake is compiled into this translation unit rather than linked.
 */
#include "../fakes/fake_os.c"

struct fixture {
	char root[64];
	char *state;		/* <root>/state */
	char *mnt;		/* <root>/mnt, the mount root */
	char *volumes;		/* <state>/volumes */
	char *tmp;		/* <volumes>/.tmp */
	char *trash;		/* <volumes>/.trash */
	struct vol_registry *reg;
};

static void
assert_mentions(const char *cause, const char *needle)
{
	if (cause == NULL)
		fail_msg("no cause set (expected one mentioning \"%s\")",
		    needle);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, needle);
}

static struct vol_registry *
open_registry(struct fixture *f)
{
	struct vol_registry *reg;
	char *cause = NULL;

	reg = vol_open(f->state, f->mnt, &fake_os, &cause);
	if (reg == NULL)
		fail_msg("vol_open: %s", cause != NULL ? cause : "(no cause)");
	assert_null(cause);
	return reg;
}

static void
reopen(struct fixture *f)
{
	vol_close(f->reg);
	f->reg = NULL;
	f->reg = open_registry(f);
	vol_reap_wait(f->reg);
}

static int
setup_in(void **state, const char *parent)
{
	struct fixture *f = xcalloc(1, sizeof *f);

	snprintf(f->root, sizeof f->root, "%s/privateer-test-volume-XXXXXX",
	    parent);
	if (mkdtemp(f->root) == NULL) {
		free(f);
		return -1;
	}
	f->state = xasprintf("%s/state", f->root);
	f->mnt = xasprintf("%s/mnt", f->root);
	f->volumes = xasprintf("%s/volumes", f->state);
	f->tmp = xasprintf("%s/.tmp", f->volumes);
	f->trash = xasprintf("%s/.trash", f->volumes);
	fake_os_reset();
	*state = f;
	f->reg = open_registry(f);
	return 0;
}

static int
setup(void **state)
{
	return setup_in(state, "/tmp");
}

/*
 * The scale tests make thousands of volumes: in memory where the machine
 * has /dev/shm, since they time lookups, not a disk (on this project's
 * journal-less ext4, creating and removing 25,000 inodes took 35 s).
 */
static int
setup_shm(void **state)
{
	struct stat st;

	return setup_in(state, stat("/dev/shm", &st) == 0 &&
	    S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 ?
	    "/dev/shm" : "/tmp");
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	vol_close(f->reg);
	(void)remove_tree(f->root, NULL);
	fake_os_reset();
	free(f->state);
	free(f->mnt);
	free(f->volumes);
	free(f->tmp);
	free(f->trash);
	free(f);
	return 0;
}

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *j;

	if (text == NULL)
		return NULL;
	j = json_loads(text, JSON_DECODE_ANY, &err);
	if (j == NULL)
		fail_msg("test JSON %s: %s", text, err.text);
	return j;
}

static int
create(struct fixture *f, const char *name, const char *opts, char **cause)
{
	json_t *j = load(opts);
	int rc;

	rc = vol_create(f->reg, name, j, cause);
	json_decref(j);
	return rc;
}

static void
create_ok(struct fixture *f, const char *name, const char *opts)
{
	char *cause = NULL;

	if (create(f, name, opts, &cause) != 0)
		fail_msg("creating %s: %s", name,
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
}

/* Mounts and checks the mount point is <mount root>/<name>. */
static void
mount_ok(struct fixture *f, const char *name, const char *id)
{
	char *mp = NULL, *cause = NULL, *want;

	if (vol_mount(f->reg, name, id, &mp, &cause) != 0)
		fail_msg("mounting %s for %s: %s", name, id,
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
	want = xasprintf("%s/%s", f->mnt, name);
	assert_string_equal(mp, want);
	free(want);
	free(mp);
}

static void
unmount_ok(struct fixture *f, const char *name, const char *id)
{
	char *cause = NULL;

	if (vol_unmount(f->reg, name, id, &cause) != 0)
		fail_msg("unmounting %s for %s: %s", name, id,
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
}

/* The volume's Status.mounts from vol_get. */
static json_int_t
mounts_of(struct fixture *f, const char *name)
{
	json_t *v;
	json_int_t n;
	char *cause = NULL;

	v = vol_get(f->reg, name, &cause);
	if (v == NULL)
		fail_msg("vol_get %s: %s", name, cause);
	n = json_integer_value(json_object_get(json_object_get(v, "Status"),
	    "mounts"));
	assert_true(json_is_integer(json_object_get(json_object_get(v,
	    "Status"), "mounts")));
	json_decref(v);
	return n;
}

/* vol_path's answer; caller frees (NULL when not mounted). */
static char *
path_of(struct fixture *f, const char *name)
{
	char *mp = (char *)"junk", *cause = NULL;

	if (vol_path(f->reg, name, &mp, &cause) != 0)
		fail_msg("vol_path %s: %s", name, cause);
	return mp;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *
vpath(struct fixture *f, const char *name, const char *rest)
{
	if (rest == NULL)
		return xasprintf("%s/%s", f->volumes, name);
	return xasprintf("%s/%s/%s", f->volumes, name, rest);
}

static char *
mpath(struct fixture *f, const char *name)
{
	return xasprintf("%s/%s", f->mnt, name);
}

/* Entries in dir other than "." and "..". */
static size_t
count_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
write_text(const char *path, const char *text)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(close(fd), 0);
}

static void
mkdir_ok(const char *path)
{
	if (mkdir(path, 0755) != 0)
		fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* The reference total stored in the volume's meta.json. */
static unsigned
stored_refs(struct fixture *f, const char *name)
{
	struct vol_meta m;
	char *dir = vpath(f, name, NULL), *cause = NULL;
	unsigned n;

	if (meta_load(dir, &m, &cause) != 0)
		fail_msg("meta_load: %s", cause);
	n = refs_total(&m.refs);
	meta_free(&m);
	free(dir);
	return n;
}

/* ---- create, list, get ---- */

static void
test_open_layout(void **state)
{
	struct fixture *f = *state;

	assert_true(is_dir(f->volumes));
	assert_true(is_dir(f->tmp));
	assert_true(is_dir(f->trash));
	assert_true(is_dir(f->mnt));
}

static void
test_create_list_get(void **state)
{
	struct fixture *f = *state;
	json_t *list, *v, *status, *backup;
	char *cause = NULL, *p;
	time_t before, after, t;
	struct tm tm;
	const char *s;

	v = vol_list(f->reg);
	assert_true(json_is_array(v));
	assert_int_equal(json_array_size(v), 0);
	json_decref(v);

	before = time(NULL);
	create_ok(f, "vol1", "{}");
	after = time(NULL);
	create_ok(f, "vol2", "{\"backup\": \"s1,s2\", \"schedule\": "
	    "\"@daily\"}");

	/* On disk: <volumes>/<name>/{meta.json,data/}; .tmp is empty. */
	p = vpath(f, "vol1", "data");
	assert_true(is_dir(p));
	free(p);
	p = vpath(f, "vol1", META_FILE);
	assert_true(exists(p));
	free(p);
	assert_int_equal(count_entries(f->tmp), 0);

	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 2);
	v = json_array_get(list, 0);
	assert_true(json_is_string(json_object_get(v, "Name")));
	assert_null(json_object_get(v, "Mountpoint"));
	s = json_string_value(json_object_get(json_array_get(list, 1),
	    "Name"));
	assert_true(strcmp(s, "vol1") == 0 || strcmp(s, "vol2") == 0);
	assert_string_not_equal(s, json_string_value(json_object_get(v,
	    "Name")));
	json_decref(list);

	v = vol_get(f->reg, "vol1", &cause);
	assert_non_null(v);
	assert_null(cause);
	assert_string_equal(json_string_value(json_object_get(v, "Name")),
	    "vol1");
	assert_null(json_object_get(v, "Mountpoint"));
	s = json_string_value(json_object_get(v, "CreatedAt"));
	assert_non_null(s);
	memset(&tm, 0, sizeof tm);
	p = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	assert_non_null(p);
	assert_int_equal(*p, '\0');
	t = timegm(&tm);
	assert_true(t >= before && t <= after);
	status = json_object_get(v, "Status");
	assert_int_equal(json_array_size(json_object_get(status, "backup")),
	    0);
	assert_true(json_is_false(json_object_get(status, "on-unmount")));
	assert_int_equal(json_integer_value(json_object_get(status, "mounts")),
	    0);
	assert_null(json_object_get(status, "schedule"));
	assert_null(json_object_get(status, "restore"));
	json_decref(v);

	v = vol_get(f->reg, "vol2", NULL);
	status = json_object_get(v, "Status");
	backup = json_object_get(status, "backup");
	assert_int_equal(json_array_size(backup), 2);
	assert_string_equal(json_string_value(json_array_get(backup, 0)), "s1");
	assert_string_equal(json_string_value(json_array_get(backup, 1)), "s2");
	assert_string_equal(json_string_value(json_object_get(status,
	    "schedule")), "@daily");
	/* on-unmount defaults to true when there are backup servers. */
	assert_true(json_is_true(json_object_get(status, "on-unmount")));
	json_decref(v);
}

static void
test_create_restore_status(void **state)
{
	struct fixture *f = *state;
	json_t *v, *restore;

	create_ok(f, "r1", "{\"restore-from\": \"srv\"}");
	create_ok(f, "r2", "{\"restore-from\": \"srv\", \"restore-source\": "
	    "\"cl\", \"restore-volume\": \"other\", \"restore-snapshot\": "
	    "\"20260131T235900Z\", \"backup\": \"b\", \"on-unmount\": "
	    "\"false\"}");

	v = vol_get(f->reg, "r1", NULL);
	restore = json_object_get(json_object_get(v, "Status"), "restore");
	assert_string_equal(json_string_value(json_object_get(restore, "from")),
	    "srv");
	assert_null(json_object_get(restore, "source"));
	/* Defaults: the same volume name, the latest snapshot. */
	assert_string_equal(json_string_value(json_object_get(restore,
	    "volume")), "r1");
	assert_string_equal(json_string_value(json_object_get(restore,
	    "snapshot")), "latest");
	json_decref(v);

	v = vol_get(f->reg, "r2", NULL);
	restore = json_object_get(json_object_get(v, "Status"), "restore");
	assert_string_equal(json_string_value(json_object_get(restore,
	    "source")), "cl");
	assert_string_equal(json_string_value(json_object_get(restore,
	    "volume")), "other");
	assert_string_equal(json_string_value(json_object_get(restore,
	    "snapshot")), "20260131T235900Z");
	assert_true(json_is_false(json_object_get(json_object_get(v, "Status"),
	    "on-unmount")));
	json_decref(v);
}

/*
 * A restore being retried (a full disk, a server away) says so in inspect
 * and at Mount — which attempt failed, why, when the next comes — not only
 * "pending" until it fails for good; once it finishes, that is gone.
 */
static void
test_restore_retry_shown(void **state)
{
	struct fixture *f = *state;
	json_t *v, *restore;
	char *mp = NULL, *cause = NULL;

	create_ok(f, "r1", "{\"restore-from\": \"srv\"}");
	vol_set_restore_wait(f->reg, 0);
	vol_restore_retrying(f->reg, "r1", 2, "rsync: write failed on "
	    "\"/x\": No space left on device (28)", 1767225600);
	v = vol_get(f->reg, "r1", NULL);
	restore = json_object_get(json_object_get(v, "Status"), "restore");
	assert_int_equal(json_integer_value(json_object_get(restore,
	    "failed_attempts")), 2);
	assert_non_null(strstr(json_string_value(json_object_get(restore,
	    "last_error")), "No space left on device"));
	assert_string_equal(json_string_value(json_object_get(restore,
	    "next_attempt")), "2026-01-01T00:00:00Z");
	json_decref(v);
	assert_int_equal(vol_mount(f->reg, "r1", "c1", &mp, &cause), -1);
	assert_non_null(strstr(cause, "still being restored"));
	assert_non_null(strstr(cause, "attempt 2 failed"));
	assert_non_null(strstr(cause, "No space left on device"));
	free(cause);
	cause = NULL;

	assert_int_equal(vol_restore_finish(f->reg, "r1", 0, "gave up",
	    &cause), 0);
	v = vol_get(f->reg, "r1", NULL);
	restore = json_object_get(json_object_get(v, "Status"), "restore");
	assert_null(json_object_get(restore, "last_error"));
	assert_null(json_object_get(restore, "failed_attempts"));
	assert_string_equal(json_string_value(json_object_get(restore,
	    "error")), "gave up");
	json_decref(v);
}

static void
test_get_unknown(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL, *mp = NULL;

	assert_null(vol_get(f->reg, "nope", &cause));
	assert_mentions(cause, "no such volume");
	assert_mentions(cause, "nope");
	free(cause);
	cause = NULL;
	assert_null(vol_get(f->reg, "../etc", &cause));
	assert_mentions(cause, "volume name");
	free(cause);
	cause = NULL;
	assert_int_equal(vol_path(f->reg, "nope", &mp, &cause), -1);
	assert_null(mp);
	assert_mentions(cause, "no such volume");
	free(cause);
	cause = NULL;
	assert_int_equal(vol_mount(f->reg, "nope", "id", &mp, &cause), -1);
	assert_mentions(cause, "no such volume");
	free(cause);
	cause = NULL;
	assert_int_equal(vol_unmount(f->reg, "nope", "id", &cause), -1);
	assert_mentions(cause, "no such volume");
	free(cause);
	cause = NULL;
	assert_int_equal(vol_remove(f->reg, "nope", &cause), -1);
	assert_mentions(cause, "no such volume");
	free(cause);
}

static void
test_create_twice(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;
	json_t *list;

	create_ok(f, "v", "{\"backup\": \"a\"}");
	/* Docker re-sends Create: same options, or none at all. */
	create_ok(f, "v", "{\"backup\": \"a\"}");
	create_ok(f, "v", "{}");
	create_ok(f, "v", NULL);
	create_ok(f, "v", "null");
	assert_int_equal(create(f, "v", "{\"backup\": \"b\"}", &cause), -1);
	assert_mentions(cause, "different options");
	free(cause);
	cause = NULL;
	assert_int_equal(create(f, "v", "{\"backup\": \"a\", \"on-unmount\": "
	    "\"false\"}", &cause), -1);
	assert_mentions(cause, "different options");
	free(cause);

	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	assert_int_equal(count_entries(f->volumes), 3);	/* v .tmp .trash */
	assert_int_equal(count_entries(f->tmp), 0);
}

static void
test_create_twice_no_options(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;

	create_ok(f, "v", NULL);
	create_ok(f, "v", "{}");
	assert_int_equal(create(f, "v", "{\"backup\": \"a\"}", &cause), -1);
	assert_mentions(cause, "different options");
	free(cause);
}

static void
test_create_bad_option(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL, *p;
	json_t *list;

	assert_int_equal(create(f, "v", "{\"bogus\": \"x\"}", &cause), -1);
	assert_mentions(cause, "unknown option");
	free(cause);
	cause = NULL;
	assert_int_equal(create(f, "v", "{\"schedule\": \"99 * * * *\"}",
	    &cause), -1);
	assert_mentions(cause, "schedule");
	free(cause);
	cause = NULL;
	assert_int_equal(create(f, "v", "[\"backup\"]", &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;

	assert_null(vol_get(f->reg, "v", &cause));
	free(cause);
	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	p = vpath(f, "v", NULL);
	assert_false(exists(p));
	free(p);
	assert_int_equal(count_entries(f->volumes), 2);	/* .tmp .trash */
	assert_int_equal(count_entries(f->tmp), 0);

	/* And the name is still free. */
	create_ok(f, "v", "{\"backup\": \"x\"}");
}

static void
test_create_bad_name(void **state)
{
	static const char *const bad[] = { "", "../evil", ".tmp", ".trash",
	    "a/b", "-v", "a b" };
	struct fixture *f = *state;
	char *cause = NULL;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (create(f, bad[i], "{}", &cause) != -1)
			fail_msg("created \"%s\"", bad[i]);
		assert_mentions(cause, "volume name");
		free(cause);
		cause = NULL;
	}
	assert_int_equal(count_entries(f->volumes), 2);
	assert_int_equal(count_entries(f->tmp), 0);
	assert_int_equal(count_entries(f->state), 1);
}

/* ---- mount, unmount, path ---- */

static void
test_mount_two_ids(void **state)
{
	struct fixture *f = *state;
	char *mp, *data, *p;
	json_t *v, *list;

	create_ok(f, "v", "{}");
	mount_ok(f, "v", "c1");
	assert_int_equal(fake_os_state.binds, 1);
	mp = mpath(f, "v");
	data = vpath(f, "v", "data");
	assert_true(fake_os_is_mounted(mp));
	assert_string_equal(fake_os_source(mp), data);
	assert_true(is_dir(mp));

	mount_ok(f, "v", "c2");
	assert_int_equal(fake_os_state.binds, 1);
	assert_int_equal(fake_os_state.unbind_calls, 0);
	assert_int_equal(mounts_of(f, "v"), 2);
	assert_int_equal(stored_refs(f, "v"), 2);

	p = path_of(f, "v");
	assert_non_null(p);
	assert_string_equal(p, mp);
	free(p);
	v = vol_get(f->reg, "v", NULL);
	assert_string_equal(json_string_value(json_object_get(v,
	    "Mountpoint")), mp);
	json_decref(v);
	list = vol_list(f->reg);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "Mountpoint")), mp);
	json_decref(list);

	unmount_ok(f, "v", "c1");
	assert_int_equal(fake_os_state.unbinds, 0);
	assert_true(fake_os_is_mounted(mp));
	assert_int_equal(mounts_of(f, "v"), 1);
	unmount_ok(f, "v", "c2");
	assert_int_equal(fake_os_state.unbinds, 1);
	assert_false(fake_os_is_mounted(mp));
	assert_int_equal(mounts_of(f, "v"), 0);
	assert_int_equal(stored_refs(f, "v"), 0);
	assert_null(path_of(f, "v"));

	/* Mounting again binds again. */
	mount_ok(f, "v", "c3");
	assert_int_equal(fake_os_state.binds, 2);
	free(mp);
	free(data);
}

static void
test_mount_same_id_twice(void **state)
{
	struct fixture *f = *state;
	char *p;

	create_ok(f, "v", "{}");
	mount_ok(f, "v", "cp");
	mount_ok(f, "v", "cp");
	assert_int_equal(fake_os_state.binds, 1);
	assert_int_equal(mounts_of(f, "v"), 2);

	unmount_ok(f, "v", "cp");
	assert_int_equal(fake_os_state.unbinds, 0);
	p = path_of(f, "v");
	assert_non_null(p);
	free(p);

	unmount_ok(f, "v", "cp");
	assert_int_equal(fake_os_state.unbinds, 1);
	assert_null(path_of(f, "v"));

	/* A third unmount is of an ID no longer known: harmless. */
	unmount_ok(f, "v", "cp");
	assert_int_equal(fake_os_state.unbinds, 1);
	assert_int_equal(fake_os_state.unbind_calls, 1);
}

static void
test_unmount_unknown_id(void **state)
{
	struct fixture *f = *state;

	create_ok(f, "v", "{}");
	/* Not mounted at all. */
	unmount_ok(f, "v", "ghost");
	assert_int_equal(fake_os_state.unbind_calls, 0);

	mount_ok(f, "v", "c1");
	unmount_ok(f, "v", "ghost");
	assert_int_equal(fake_os_state.unbind_calls, 0);
	assert_int_equal(mounts_of(f, "v"), 1);
	assert_int_equal(stored_refs(f, "v"), 1);
}

static void
test_path_unmounted(void **state)
{
	struct fixture *f = *state;
	char *mp = (char *)"junk", *cause = NULL;

	create_ok(f, "v", "{}");
	assert_int_equal(vol_path(f->reg, "v", &mp, &cause), 0);
	assert_null(mp);
	assert_null(cause);
}

static void
test_mount_missing_data(void **state)
{
	struct fixture *f = *state;
	char *data, *mp = NULL, *cause = NULL;

	create_ok(f, "v", "{}");
	data = vpath(f, "v", "data");
	assert_int_equal(remove_tree(data, NULL), 0);
	assert_int_equal(vol_mount(f->reg, "v", "c1", &mp, &cause), -1);
	assert_mentions(cause, "missing");
	assert_null(mp);
	assert_int_equal(fake_os_state.binds, 0);
	assert_int_equal(mounts_of(f, "v"), 0);
	assert_int_equal(stored_refs(f, "v"), 0);
	free(cause);
	cause = NULL;

	/* A file in its place is not a data directory either. */
	write_text(data, "not a directory");
	assert_int_equal(vol_mount(f->reg, "v", "c1", &mp, &cause), -1);
	assert_mentions(cause, "missing");
	assert_int_equal(fake_os_state.binds, 0);
	free(cause);
	free(data);
}

static void
test_mount_bind_fails(void **state)
{
	struct fixture *f = *state;
	char *mp = NULL, *cause = NULL;

	create_ok(f, "v", "{}");
	fake_os_state.fail_bind = 1;
	assert_int_equal(vol_mount(f->reg, "v", "c1", &mp, &cause), -1);
	assert_mentions(cause, "fake bind");
	assert_null(mp);
	free(cause);
	assert_int_equal(mounts_of(f, "v"), 0);
	assert_int_equal(stored_refs(f, "v"), 0);
	assert_null(path_of(f, "v"));

	/* The next attempt works and is the only reference. */
	mount_ok(f, "v", "c1");
	assert_int_equal(mounts_of(f, "v"), 1);
	unmount_ok(f, "v", "c1");
	assert_int_equal(fake_os_state.unbinds, 1);
}

static void
test_mount_save_fails(void **state)
{
	struct fixture *f = *state;
	char *meta, *block, *mp = NULL, *cause = NULL, *mpath_v;

	/*
	 * Make meta.json impossible to replace: a non-empty directory in its
	 * place. The mount must fail and undo its bind.
	 */
	create_ok(f, "v", "{}");
	meta = vpath(f, "v", META_FILE);
	block = vpath(f, "v", META_FILE "/block");
	assert_int_equal(unlink(meta), 0);
	mkdir_ok(meta);
	write_text(block, "x");
	mpath_v = mpath(f, "v");

	assert_int_equal(vol_mount(f->reg, "v", "c1", &mp, &cause), -1);
	assert_non_null(cause);
	assert_null(mp);
	free(cause);
	assert_int_equal(fake_os_state.binds, 1);
	assert_int_equal(fake_os_state.unbinds, 1);
	assert_false(fake_os_is_mounted(mpath_v));
	assert_int_equal(mounts_of(f, "v"), 0);
	assert_null(path_of(f, "v"));
	free(meta);
	free(block);
	free(mpath_v);
}

static void
test_unmount_save_fails(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;

	/* The container is gone whatever the disk says: memory follows. */
	create_ok(f, "v", "{}");
	mount_ok(f, "v", "c1");
	fake_os_state.fail_write = 1;
	assert_int_equal(vol_unmount(f->reg, "v", "c1", &cause), -1);
	assert_mentions(cause, "fake write");
	free(cause);
	assert_int_equal(mounts_of(f, "v"), 0);
	assert_null(path_of(f, "v"));
	assert_int_equal(stored_refs(f, "v"), 1);
	/* The next change brings the disk up to date. */
	mount_ok(f, "v", "c2");
	unmount_ok(f, "v", "c2");
	assert_int_equal(stored_refs(f, "v"), 0);
}

static void
test_unmount_unbind_fails(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;

	create_ok(f, "v", "{}");
	mount_ok(f, "v", "c1");
	fake_os_state.fail_unbind = 1;
	assert_int_equal(vol_unmount(f->reg, "v", "c1", &cause), -1);
	assert_mentions(cause, "fake unbind");
	free(cause);
	/* The reference stays, so Docker can retry. */
	assert_int_equal(mounts_of(f, "v"), 1);
	unmount_ok(f, "v", "c1");
	assert_int_equal(mounts_of(f, "v"), 0);
	assert_int_equal(fake_os_state.unbinds, 1);
}

/* ---- remove ---- */

static void
test_remove_in_use(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL, *dir;

	create_ok(f, "v", "{}");
	mount_ok(f, "v", "0123456789abcdef");
	assert_int_equal(vol_remove(f->reg, "v", &cause), -1);
	assert_mentions(cause, "in use");
	free(cause);
	dir = vpath(f, "v", "data");
	assert_true(is_dir(dir));
	free(dir);
	assert_int_equal(mounts_of(f, "v"), 1);
	assert_int_equal(fake_os_state.unbind_calls, 0);
}

static void
test_remove(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL, *dir, *file;
	json_t *list;

	create_ok(f, "v", "{}");
	create_ok(f, "keep", "{}");
	file = vpath(f, "v", "data/file");
	write_text(file, "some data");
	free(file);
	mount_ok(f, "v", "c1");
	unmount_ok(f, "v", "c1");
	assert_int_equal(vol_remove(f->reg, "v", &cause), 0);
	assert_null(cause);
	vol_reap_wait(f->reg);

	dir = vpath(f, "v", NULL);
	assert_false(exists(dir));
	free(dir);
	assert_int_equal(count_entries(f->trash), 0);
	assert_null(vol_get(f->reg, "v", &cause));
	assert_mentions(cause, "no such volume");
	free(cause);
	cause = NULL;
	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "Name")), "keep");
	json_decref(list);

	assert_int_equal(vol_remove(f->reg, "v", &cause), -1);
	assert_mentions(cause, "no such volume");
	free(cause);

	/* The name can be used again, and starts empty. */
	create_ok(f, "v", "{\"backup\": \"other\"}");
	file = vpath(f, "v", "data/file");
	assert_false(exists(file));
	free(file);
}

static void
test_remove_stale_mount(void **state)
{
	struct fixture *f = *state;
	char *mp, *data;

	/* No references, but something is still mounted there. */
	create_ok(f, "v", "{}");
	mp = mpath(f, "v");
	data = vpath(f, "v", "data");
	fake_os_set_mounted(mp, data, 1);
	assert_int_equal(vol_remove(f->reg, "v", NULL), 0);
	assert_false(fake_os_is_mounted(mp));
	assert_int_equal(fake_os_state.unbinds, 1);
	free(mp);
	free(data);
}

/* ---- persistence and recovery at open ---- */

static void
test_reopen_keeps_mounted(void **state)
{
	struct fixture *f = *state;
	char *mp, *p, *cause = NULL;
	json_t *v, *list;
	const char *created;
	char *created_before;

	create_ok(f, "a", "{\"backup\": \"s1,s2\", \"schedule\": "
	    "\"*/5 * * * *\"}");
	create_ok(f, "b", "{}");
	mount_ok(f, "a", "c1");
	mount_ok(f, "a", "c1");
	mount_ok(f, "a", "c2");
	v = vol_get(f->reg, "a", NULL);
	created_before = xstrdup(json_string_value(json_object_get(v,
	    "CreatedAt")));
	json_decref(v);

	/* The fake keeps a's mount: it survived the plugin restart. */
	reopen(f);
	mp = mpath(f, "a");
	assert_true(fake_os_is_mounted(mp));
	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	v = vol_get(f->reg, "a", &cause);
	assert_non_null(v);
	created = json_string_value(json_object_get(v, "CreatedAt"));
	assert_string_equal(created, created_before);
	assert_string_equal(json_string_value(json_object_get(v,
	    "Mountpoint")), mp);
	assert_int_equal(json_array_size(json_object_get(json_object_get(v,
	    "Status"), "backup")), 2);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(v, "Status"), "schedule")), "*/5 * * * *");
	json_decref(v);
	assert_int_equal(mounts_of(f, "a"), 3);
	p = path_of(f, "a");
	assert_string_equal(p, mp);
	free(p);
	assert_int_equal(fake_os_state.unbind_calls, 0);

	/* The same options are still "the same" after reloading. */
	create_ok(f, "a", "{\"backup\": \"s1,s2\", \"schedule\": "
	    "\"*/5 * * * *\"}");

	/* The references still count: c1 twice, c2 once. */
	unmount_ok(f, "a", "c1");
	unmount_ok(f, "a", "c2");
	assert_int_equal(fake_os_state.unbinds, 0);
	unmount_ok(f, "a", "c1");
	assert_int_equal(fake_os_state.unbinds, 1);
	assert_false(fake_os_is_mounted(mp));
	free(mp);
	free(created_before);
}

static void
test_reopen_drops_gone_mounts(void **state)
{
	struct fixture *f = *state;
	char *mp;

	create_ok(f, "a", "{\"backup\": \"s\"}");
	mount_ok(f, "a", "c1");
	mount_ok(f, "a", "c2");
	mp = mpath(f, "a");

	/* The host rebooted: the mount is gone. */
	vol_close(f->reg);
	f->reg = NULL;
	fake_os_set_mounted(mp, NULL, 0);
	f->reg = open_registry(f);

	assert_int_equal(mounts_of(f, "a"), 0);
	assert_null(path_of(f, "a"));
	/* Dropped on disk too, so another restart agrees. */
	assert_int_equal(stored_refs(f, "a"), 0);
	/* Options survive regardless. */
	assert_int_equal(create(f, "a", "{\"backup\": \"other\"}", NULL), -1);

	/* Docker's next Mount binds afresh. */
	mount_ok(f, "a", "c3");
	assert_int_equal(fake_os_state.binds, 2);
	assert_int_equal(mounts_of(f, "a"), 1);
	free(mp);
}

static void
test_reopen_unbinds_unreferenced(void **state)
{
	struct fixture *f = *state;
	char *mp, *data;

	/* No references stored, but the mount is still there: undo it. */
	create_ok(f, "a", "{}");
	mp = mpath(f, "a");
	data = vpath(f, "a", "data");
	fake_os_set_mounted(mp, data, 1);
	reopen(f);
	assert_false(fake_os_is_mounted(mp));
	assert_int_equal(fake_os_state.unbinds, 1);
	assert_int_equal(mounts_of(f, "a"), 0);
	free(mp);
	free(data);
}

static void
test_open_cleans_tmp(void **state)
{
	struct fixture *f = *state;
	char *left, *p;

	/* A creation interrupted by a crash. */
	left = xasprintf("%s/half.0123456789abcdef", f->tmp);
	mkdir_ok(left);
	p = xasprintf("%s/data", left);
	mkdir_ok(p);
	free(p);
	p = xasprintf("%s/data/file", left);
	write_text(p, "x");
	free(p);
	p = xasprintf("%s/" META_FILE, left);
	write_text(p, "{}");
	free(p);
	/* Even a plain file. */
	p = xasprintf("%s/stray", f->tmp);
	write_text(p, "x");
	free(p);

	reopen(f);
	assert_false(exists(left));
	assert_int_equal(count_entries(f->tmp), 0);
	assert_null(vol_get(f->reg, "half", NULL));
	free(left);
}

static void
test_open_cleans_trash(void **state)
{
	struct fixture *f = *state;
	char *p;

	/* The reaper of the open registry must not race the setup below. */
	vol_reap_wait(f->reg);
	/* A removal interrupted by a crash. */
	p = xasprintf("%s/old.0123456789abcdef", f->trash);
	mkdir_ok(p);
	free(p);
	p = xasprintf("%s/old.0123456789abcdef/data", f->trash);
	mkdir_ok(p);
	free(p);
	p = xasprintf("%s/old.0123456789abcdef/data/deep", f->trash);
	mkdir_ok(p);
	free(p);
	p = xasprintf("%s/old.0123456789abcdef/data/deep/file", f->trash);
	write_text(p, "x");
	free(p);
	p = xasprintf("%s/other", f->trash);
	write_text(p, "x");
	free(p);

	reopen(f);
	assert_int_equal(count_entries(f->trash), 0);
}

static void
test_open_skips_corrupt(void **state)
{
	struct fixture *f = *state;
	char *dir, *data, *meta, *text, *cause = NULL;
	json_t *list;

	create_ok(f, "good", "{}");
	dir = vpath(f, "broken", NULL);
	data = vpath(f, "broken", "data");
	meta = vpath(f, "broken", META_FILE);
	mkdir_ok(dir);
	mkdir_ok(data);
	write_text(meta, "{\"version\": 1, \"name\": \"bro");

	reopen(f);
	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "Name")), "good");
	json_decref(list);
	assert_null(vol_get(f->reg, "broken", NULL));

	/* Never deleted: the data may be all someone has. */
	assert_true(is_dir(data));
	text = read_file_capped(meta, 4096, NULL);
	assert_string_equal(text, "{\"version\": 1, \"name\": \"bro");
	free(text);

	/* Nor replaced by a new volume of the same name. */
	assert_int_equal(create(f, "broken", "{}", &cause), -1);
	assert_mentions(cause, "not a loaded volume");
	free(cause);
	assert_true(is_dir(data));
	assert_int_equal(count_entries(f->tmp), 0);

	/* A second restart still leaves it alone. */
	reopen(f);
	assert_true(is_dir(data));
	free(dir);
	free(data);
	free(meta);
}

static void
test_open_skips_misnamed(void **state)
{
	struct fixture *f = *state;
	char *from, *to, *bad;
	json_t *list;

	/* A volume directory whose metadata names another volume. */
	create_ok(f, "orig", "{}");
	from = vpath(f, "orig", NULL);
	to = vpath(f, "copy", NULL);
	assert_int_equal(rename(from, to), 0);
	/* And a directory whose name is not a volume name. */
	bad = vpath(f, "-bad", NULL);
	mkdir_ok(bad);

	reopen(f);
	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_true(is_dir(to));
	assert_true(is_dir(bad));
	free(from);
	free(to);
	free(bad);
}

static void
test_open_bad_stored_options(void **state)
{
	struct fixture *f = *state;
	struct vol_meta m;
	char *dir;
	json_t *v;

	/* Options that no longer parse: the data is still served. */
	create_ok(f, "v", "{\"backup\": \"s\"}");
	dir = vpath(f, "v", NULL);
	assert_int_equal(meta_load(dir, &m, NULL), 0);
	json_object_set_new(m.options, "bogus", json_string("x"));
	assert_int_equal(meta_save(dir, &m, NULL), 0);
	meta_free(&m);

	reopen(f);
	v = vol_get(f->reg, "v", NULL);
	assert_non_null(v);
	assert_int_equal(json_array_size(json_object_get(json_object_get(v,
	    "Status"), "backup")), 0);
	json_decref(v);
	mount_ok(f, "v", "c1");
	free(dir);
}

static void
test_open_fails(void **state)
{
	struct fixture *f = *state;
	char *file, *state_dir, *cause = NULL;

	/* A state directory that cannot be created. */
	file = xasprintf("%s/file", f->root);
	write_text(file, "x");
	state_dir = xasprintf("%s/state", file);
	assert_null(vol_open(state_dir, f->mnt, &fake_os, &cause));
	assert_mentions(cause, file);
	free(cause);
	free(state_dir);
	free(file);
}

/* ---- concurrency ---- */

struct worker {
	struct fixture *f;
	int n;
	int failures;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char id[32], *mp, *cause;
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof id, "w%d-%d", w->n, i);
		mp = NULL;
		cause = NULL;
		if (vol_mount(w->f->reg, "shared", id, &mp, &cause) != 0)
			w->failures++;
		free(mp);
		free(cause);
		cause = NULL;
		if (vol_unmount(w->f->reg, "shared", id, &cause) != 0)
			w->failures++;
		free(cause);
	}
	return NULL;
}

static void
test_parallel_mounts(void **state)
{
	struct fixture *f = *state;
	struct worker w[4];
	pthread_t t[4];
	int i;

	create_ok(f, "shared", "{}");
	mount_ok(f, "shared", "holder");
	for (i = 0; i < 4; i++) {
		w[i].f = f;
		w[i].n = i;
		w[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main,
		    &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	/* "holder" kept it mounted throughout: one bind, no unbind. */
	assert_int_equal(fake_os_state.binds, 1);
	assert_int_equal(fake_os_state.unbind_calls, 0);
	assert_int_equal(mounts_of(f, "shared"), 1);
	assert_int_equal(stored_refs(f, "shared"), 1);
	unmount_ok(f, "shared", "holder");
	assert_int_equal(fake_os_state.unbinds, 1);
}

/* ---- readers never wait for a disk ---- */

/* A call run in its own thread, and whether it has returned. */
struct call {
	struct fixture *f;
	const char *name;
	const char *id;
	int rc;
	json_t *got;		/* vol_get's answer, or NULL */
	json_t *list;		/* vol_list's answer, or NULL */
	char *cause;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	pthread_t t;
};

static void
call_done(struct call *c)
{
	pthread_mutex_lock(&c->lock);
	c->done = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void *
call_mount(void *arg)
{
	struct call *c = arg;
	char *mp = NULL;

	c->rc = vol_mount(c->f->reg, c->name, c->id, &mp, &c->cause);
	free(mp);
	call_done(c);
	return NULL;
}

static void *
call_create(void *arg)
{
	struct call *c = arg;

	c->rc = vol_create(c->f->reg, c->name, NULL, &c->cause);
	call_done(c);
	return NULL;
}

static void *
call_record(void *arg)
{
	struct call *c = arg;
	struct vol_backup_note n;

	memset(&n, 0, sizeof n);
	n.server = c->id;
	n.started_ms = 1;
	n.finished = 2;
	n.result = "ok";
	c->rc = vol_backup_record(c->f->reg, c->name, &n, &c->cause);
	call_done(c);
	return NULL;
}

/* What Docker's readers ask: Get (of name), List, Path. */
static void *
call_read(void *arg)
{
	struct call *c = arg;
	char *mp = NULL, *why = NULL;

	c->got = vol_get(c->f->reg, c->name, &c->cause);
	c->list = vol_list(c->f->reg);
	(void)vol_path(c->f->reg, c->name, &mp, &why);
	free(mp);
	free(why);
	c->rc = 0;
	call_done(c);
	return NULL;
}

static void
call_start(struct call *c, struct fixture *f, void *(*fn)(void *),
    const char *name, const char *id)
{
	memset(c, 0, sizeof *c);
	c->f = f;
	c->name = name;
	c->id = id;
	c->rc = -2;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	assert_int_equal(pthread_create(&c->t, NULL, fn, c), 0);
}

/* 1 if the call returned within ms milliseconds. */
static int
call_wait(struct call *c, int ms)
{
	struct timespec deadline;
	int done;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	while (!c->done && pthread_cond_timedwait(&c->cond, &c->lock,
	    &deadline) != ETIMEDOUT)
		;
	done = c->done;
	pthread_mutex_unlock(&c->lock);
	return done;
}

static void
call_join(struct call *c)
{
	pthread_join(c->t, NULL);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	json_decref(c->got);
	json_decref(c->list);
	free(c->cause);
}

static void
test_read_during_slow_write(void **state)
{
	struct fixture *f = *state;
	struct call mount, read, create;
	int held, read_in_time, create_held, create_read_in_time;
	json_t *vol;

	/*
	 * Writes are let go before anything is asserted, so that a failure
	 * reports rather than leaves threads waiting for ever.
	 */
	create_ok(f, "v", "{}");
	create_ok(f, "other", "{}");
	fake_os_hold_writes(1);
	call_start(&mount, f, call_mount, "v", "c1");
	held = fake_os_wait_held(1, 5000);

	/* Mount is inside its fsync: Get, List and Path still answer. */
	call_start(&read, f, call_read, "v", NULL);
	read_in_time = call_wait(&read, 2000);
	/* And a Create of another volume gets to its own fsync. */
	call_start(&create, f, call_create, "new", NULL);
	create_held = fake_os_wait_held(2, 2000);
	fake_os_hold_writes(0);
	assert_true(call_wait(&mount, 10000));
	assert_true(call_wait(&create, 10000));
	assert_true(call_wait(&read, 10000));
	assert_true(held);
	if (!read_in_time)
		fail_msg("Get/List waited for a Mount's fsync");
	if (!create_held)
		fail_msg("a Create waited for another volume's fsync");
	/* What they saw is what was on disk: not yet mounted. */
	vol = json_object_get(read.got, "Status");
	assert_non_null(vol);
	assert_int_equal(json_integer_value(json_object_get(vol, "mounts")),
	    0);
	assert_null(json_object_get(read.got, "Mountpoint"));
	assert_int_equal(json_array_size(read.list), 2);
	assert_int_equal(mount.rc, 0);
	assert_int_equal(create.rc, 0);
	call_join(&mount);
	call_join(&read);
	call_join(&create);
	assert_int_equal(mounts_of(f, "v"), 1);
	assert_int_equal(stored_refs(f, "v"), 1);

	/* And while a Create is in its fsync, the volume is not there yet. */
	fake_os_hold_writes(1);
	call_start(&create, f, call_create, "late", NULL);
	held = fake_os_wait_held(1, 5000);
	call_start(&read, f, call_read, "late", NULL);
	create_read_in_time = call_wait(&read, 2000);
	fake_os_hold_writes(0);
	assert_true(call_wait(&create, 10000));
	assert_true(call_wait(&read, 10000));
	assert_true(held);
	if (!create_read_in_time)
		fail_msg("Get/List waited for a Create's fsync");
	assert_null(read.got);
	assert_non_null(read.cause);
	assert_non_null(strstr(read.cause, "no such volume"));
	assert_int_equal(json_array_size(read.list), 3);
	assert_int_equal(create.rc, 0);
	call_join(&create);
	call_join(&read);
	assert_int_equal(mounts_of(f, "late"), 0);
}

static void
test_writers_ordered(void **state)
{
	struct fixture *f = *state;
	struct call a, b, rec, again;
	struct vol_meta m;
	char *dir, *cause = NULL;
	int held, held_after, b_waited, rec_waited, again_in_time;

	create_ok(f, "v", "{}");
	fake_os_hold_writes(1);
	call_start(&a, f, call_mount, "v", "a");
	held = fake_os_wait_held(1, 5000);
	call_start(&b, f, call_mount, "v", "b");
	call_start(&rec, f, call_record, "v", "srv");
	/* Docker's Create of a volume that exists. */
	call_start(&again, f, call_create, "v", NULL);
	usleep(200000);
	/*
	 * The other changes of v wait for the first to end rather than
	 * write a copy that lacks its reference.
	 */
	held_after = (int)fake_os_held();
	b_waited = !call_wait(&b, 0);
	rec_waited = !call_wait(&rec, 0);
	/* A Create of an existing volume answers without waiting. */
	again_in_time = call_wait(&again, 2000);
	fake_os_hold_writes(0);
	assert_true(call_wait(&a, 10000));
	assert_true(call_wait(&b, 10000));
	assert_true(call_wait(&rec, 10000));
	assert_true(call_wait(&again, 10000));
	assert_true(held);
	assert_int_equal(held_after, 1);
	assert_true(b_waited);
	assert_true(rec_waited);
	assert_true(again_in_time);
	assert_int_equal(again.rc, 0);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(rec.rc, 0);
	call_join(&a);
	call_join(&b);
	call_join(&rec);
	call_join(&again);

	/* Nothing lost, in memory or on disk. */
	assert_int_equal(mounts_of(f, "v"), 2);
	assert_int_equal(stored_refs(f, "v"), 2);
	dir = vpath(f, "v", NULL);
	if (meta_load(dir, &m, &cause) != 0)
		fail_msg("meta_load: %s", cause);
	assert_non_null(json_object_get(m.backups, "srv"));
	meta_free(&m);
	free(dir);
	/* The mount survived, so do both references. */
	reopen(f);
	assert_int_equal(mounts_of(f, "v"), 2);
}

static void
test_create_race(void **state)
{
	struct fixture *f = *state;
	struct call a, b;
	int held, held_after, b_waited;

	/* Two Creates of one new name: one builds it, the other waits. */
	fake_os_hold_writes(1);
	call_start(&a, f, call_create, "n", NULL);
	held = fake_os_wait_held(1, 5000);
	call_start(&b, f, call_create, "n", NULL);
	usleep(100000);
	held_after = (int)fake_os_held();
	b_waited = !call_wait(&b, 0);
	fake_os_hold_writes(0);
	assert_true(call_wait(&a, 10000));
	assert_true(call_wait(&b, 10000));
	assert_true(held);
	assert_int_equal(held_after, 1);
	assert_true(b_waited);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	call_join(&a);
	call_join(&b);
	assert_int_equal(fake_os_state.writes, 1);
	assert_int_equal(mounts_of(f, "n"), 0);

	/* A failed creation leaves the name free for the one waiting. */
	fake_os_state.fail_write = 1;
	call_start(&a, f, call_create, "m", NULL);
	assert_true(call_wait(&a, 10000));
	assert_int_equal(a.rc, -1);
	call_join(&a);
	create_ok(f, "m", "{}");
	assert_int_equal(count_entries(f->tmp), 0);
}

/* ---- changed since the last backup ---- */

static long long
stored_last_used(struct fixture *f, const char *name)
{
	struct vol_meta m;
	char *dir = vpath(f, name, NULL), *cause = NULL;
	long long t;

	if (meta_load(dir, &m, &cause) != 0)
		fail_msg("meta_load: %s", cause);
	t = m.last_used;
	meta_free(&m);
	free(dir);
	return t;
}

static int
changed_of(struct fixture *f, const char *name)
{
	json_t *v = vol_get(f->reg, name, NULL);
	int c;

	assert_non_null(v);
	c = json_is_true(json_object_get(json_object_get(v, "Status"),
	    "changed-since-backup"));
	json_decref(v);
	return c;
}

static void
record_ok(struct fixture *f, const char *name, long long started_ms)
{
	struct vol_backup_note n;
	char *cause = NULL;

	memset(&n, 0, sizeof n);
	n.server = "s1";
	n.started_ms = started_ms;
	n.finished = time(NULL);
	n.result = "ok";
	if (vol_backup_record(f->reg, name, &n, &cause) != 0)
		fail_msg("vol_backup_record: %s", cause);
}

/*
 * A backup queued by an Unmount can start in the Unmount's millisecond:
 * it saw everything the container wrote, so the volume is unchanged (CI
 * once saw "changed-since-backup": true right after such a backup). A
 * later Mount, or a later Unmount, changes it again.
 */
static void
test_changed_since_backup(void **state)
{
	struct fixture *f = *state;
	long long t;
	int changed;

	create_ok(f, "v", "{\"backup\":\"s1\"}");
	assert_true(changed_of(f, "v"));	/* never backed up */
	mount_ok(f, "v", "c1");
	unmount_ok(f, "v", "c1");
	t = stored_last_used(f, "v");
	assert_true(t > 0);
	record_ok(f, "v", t);
	assert_false(changed_of(f, "v"));
	assert_int_equal(vol_backup_changed(f->reg, "v", "s1", &changed,
	    NULL), 0);
	assert_false(changed);
	record_ok(f, "v", t - 1);		/* began before the Unmount */
	assert_true(changed_of(f, "v"));
	assert_int_equal(vol_backup_changed(f->reg, "v", "s1", &changed,
	    NULL), 0);
	assert_true(changed);
	record_ok(f, "v", t);
	mount_ok(f, "v", "c2");			/* in use: changed */
	assert_true(changed_of(f, "v"));
}

/*
 * Volumes written straight to disk under volumes (as a plugin left them),
 * vN for N in [from, to): quicker than Create for thousands, no fsync.
 */
static void
fill_volumes(const char *volumes, int from, int to)
{
	struct vol_meta m;
	char name[32], *dir, *text, *path;
	json_t *doc;
	size_t len;
	int i, fd;

	for (i = from; i < to; i++) {
		snprintf(name, sizeof name, "v%d", i);
		dir = xasprintf("%s/%s", volumes, name);
		mkdir_ok(dir);
		path = xasprintf("%s/data", dir);
		mkdir_ok(path);
		free(path);
		memset(&m, 0, sizeof m);
		m.name = name;
		m.created = time(NULL);
		doc = meta_encode(&m);
		text = meta_format(doc, &len);
		json_decref(doc);
		path = xasprintf("%s/" META_FILE, dir);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write_all(fd, text, len), 0);
		assert_int_equal(close(fd), 0);
		free(path);
		free(text);
		free(dir);
	}
}

/* Seconds that 20,000 lookups of reg's n volumes take. */
static double
lookups_seconds(struct vol_registry *reg, int n)
{
	struct timespec t0, t1;
	char name[32];
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof name, "v%d", (i * 7919) % n);
		if (!vol_exists(reg, name))
			fail_msg("volume %s not found", name);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/*
 * A call about one volume costs about the same with 8,000 volumes as
 * with 250: a walk of every volume per lookup made each Docker call (and
 * the stale check, the scheduler) 30-50 times dearer at 8,000 — about
 * 40 us a lookup at 10,000 volumes, under the registry's lock. The two
 * registries are timed in turns, best of five each, so that a busy
 * machine slows both alike.
 */
static void
test_lookup_scales(void **state)
{
	struct fixture *f = *state;
	char *state2 = xasprintf("%s/state2", f->root);
	char *mnt2 = xasprintf("%s/mnt2", f->root);
	char *vols2 = xasprintf("%s/volumes", state2);
	struct vol_registry *small;
	double few = 1e9, many = 1e9, t;
	json_t *list;
	char *cause = NULL;
	int round;

	small = vol_open(state2, mnt2, &fake_os, &cause);
	assert_non_null(small);
	fill_volumes(vols2, 0, 250);
	vol_close(small);
	small = vol_open(state2, mnt2, &fake_os, &cause);
	assert_non_null(small);
	fill_volumes(f->volumes, 0, 8000);
	reopen(f);
	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 8000);
	json_decref(list);
	for (round = 0; round < 5; round++) {
		if ((t = lookups_seconds(small, 250)) < few)
			few = t;
		if ((t = lookups_seconds(f->reg, 8000)) < many)
			many = t;
	}
	vol_close(small);
	/* A walk: 30-50x; a hash table: ~1-2x (a bigger table misses cache). */
	if (many > 10 * few)
		fail_msg("20,000 lookups took %.1f ms among 8,000 volumes, "
		    "%.1f ms among 250 (%.1fx)", many * 1e3, few * 1e3,
		    many / few);
	/* Removal keeps the table right: the last one moved into a hole. */
	assert_int_equal(vol_remove(f->reg, "v3", NULL), 0);
	assert_false(vol_exists(f->reg, "v3"));
	assert_true(vol_exists(f->reg, "v7999"));
	assert_true(vol_exists(f->reg, "v0"));
	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), 7999);
	json_decref(list);
	vol_reap_wait(f->reg);
	free(state2);
	free(mnt2);
	free(vols2);
}

/* Seconds that 300 inspect staleness checks of volume v1 take. */
static double
annotate_seconds(struct vol_registry *reg, struct fleet *fl)
{
	struct timespec t0, t1;
	json_t *status;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 300; i++) {
		status = json_object();
		stale_annotate(reg, fl, "v1", status);
		json_decref(status);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/*
 * An inspect of one volume on a client (stale.c, called for every
 * VolumeDriver.Get) reads that volume's records only: it copied every
 * volume's backup records and listed every volume, which made a Get at
 * 10,000 volumes cost milliseconds under the registry's lock (p99 961 ms
 * under load in bench_many_volumes.sh). Timed as test_lookup_scales is.
 */
static void
test_inspect_scales(void **state)
{
	struct fixture *f = *state;
	char *state2 = xasprintf("%s/state2", f->root);
	char *mnt2 = xasprintf("%s/mnt2", f->root);
	char *vols2 = xasprintf("%s/volumes", state2);
	char *conf = xasprintf("%s/privateer.json", f->root);
	char *text, *cause = NULL;
	struct fleet_options fo;
	struct fleet_state *st;
	struct vol_registry *small;
	struct fleet *fl;
	double few = 1e9, many = 1e9, t;
	int round;

	text = xasprintf("{ \"servers\": [ { \"name\": \"alice\", "
	    "\"hostname\": \"127.0.0.1\", \"port\": 1 } ], "
	    "\"clients\": [ { \"name\": \"bob\", \"backup\": "
	    "[\"v0\", \"v1\"] } ], \"volumes\": [ { \"name\": \"v0\" }, "
	    "{ \"name\": \"v1\", \"max_age\": \"1d\" } ], "
	    "\"keys\": { \"store\": \"file\", "
	    "\"path\": \"%s/keys\" } }", f->root);
	write_text(conf, text);
	free(text);
	memset(&fo, 0, sizeof fo);
	fo.config_path = conf;
	fo.identity = "bob";
	fo.state_dir = f->state;
	fo.rsync = "/usr/bin/rsync";
	fl = fleet_start(&fo);
	(void)fleet_reload(fl, &cause);	/* no keys here: config only */
	free(cause);
	st = fleet_acquire_config(fl);
	if (st == NULL || config_role(st->cfg, st->identity) !=
	    CONFIG_ROLE_CLIENT)
		fail_msg("the test's configuration did not load as bob's");
	fleet_release(fl, st);

	small = vol_open(state2, mnt2, &fake_os, &cause);
	assert_non_null(small);
	fill_volumes(vols2, 0, 250);
	vol_close(small);
	small = vol_open(state2, mnt2, &fake_os, &cause);
	assert_non_null(small);
	fill_volumes(f->volumes, 0, 8000);
	reopen(f);
	for (round = 0; round < 3; round++) {
		if ((t = annotate_seconds(small, fl)) < few)
			few = t;
		if ((t = annotate_seconds(f->reg, fl)) < many)
			many = t;
	}
	vol_close(small);
	fleet_stop(fl);
	if (many > 5 * few)
		fail_msg("300 inspects took %.1f ms among 8,000 volumes, "
		    "%.1f ms among 250 (%.1fx)", many * 1e3, few * 1e3,
		    many / few);
	free(conf);
	free(state2);
	free(mnt2);
	free(vols2);
}

/*
 * vol_os_linux.mounted answers from statx (STATX_ATTR_MOUNT_ROOT) where
 * it once read a line of /proc/self/mountinfo per mount for every volume
 * at start-up (9.1 s to open 10,000 volumes, 0.9 s since): a mount's root
 * is mounted, a plain directory or a missing path is not, and a bind
 * mount is seen as soon as it is made and no longer once undone (as
 * root; elsewhere that part is skipped).
 */
static void
test_linux_mounted(void **state)
{
	struct fixture *f = *state;
	char *src = xasprintf("%s/src", f->root);
	char *dst = xasprintf("%s/dst", f->root);
	char *why = NULL;

	mkdir_ok(src);
	assert_int_equal(vol_os_linux.mounted("/"), 1);
	assert_int_equal(vol_os_linux.mounted(src), 0);
	assert_int_equal(vol_os_linux.mounted(dst), 0);	/* missing */
	if (geteuid() == 0 && vol_os_linux.bind(src, dst, &why) == 0) {
		assert_int_equal(vol_os_linux.mounted(dst), 1);
		assert_int_equal(vol_os_linux.mounted(src), 0);
		assert_int_equal(vol_os_linux.unbind(dst, &why), 0);
		assert_int_equal(vol_os_linux.mounted(dst), 0);
	}
	free(why);
	free(src);
	free(dst);
}

/* ---- a crash at any step of any metadata write ---- */

enum crash_op { CR_CREATE, CR_MOUNT, CR_RECORD, CR_UNMOUNT, CR_REMOVE };

struct crash_step {
	enum crash_op op;
	const char *name;
	const char *opts;	/* CR_CREATE */
};

/* Volumes created, used, backed up and removed: every kind of write. */
static const struct crash_step crash_workload[] = {
	{ CR_CREATE, "alpha", "{\"backup\":\"s1\"}" },
	{ CR_CREATE, "beta", NULL },
	{ CR_MOUNT, "alpha", NULL },
	{ CR_RECORD, "alpha", NULL },
	{ CR_UNMOUNT, "alpha", NULL },
	{ CR_CREATE, "gamma", "{\"backup\":\"s1,s2\",\"on-unmount\":\"false\"}" },
	{ CR_REMOVE, "beta", NULL },
	{ CR_MOUNT, "gamma", NULL },
	{ CR_UNMOUNT, "gamma", NULL },
	{ CR_RECORD, "gamma", NULL },
};
#define CRASH_NSTEPS (sizeof crash_workload / sizeof crash_workload[0])

/*
 * Runs the workload until the fake crashes; *crashed_in is the step the
 * crash came in (CRASH_NSTEPS: none). done[i]: step i succeeded.
 */
static void
crash_run(struct fixture *f, int *done, size_t *crashed_in)
{
	const struct crash_step *c;
	struct vol_backup_note n;
	char *cause, *mp, *keep;
	size_t i;
	int rc;

	*crashed_in = CRASH_NSTEPS;
	for (i = 0; i < CRASH_NSTEPS; i++) {
		c = &crash_workload[i];
		cause = mp = NULL;
		switch (c->op) {
		case CR_CREATE:
			rc = create(f, c->name, c->opts, &cause);
			break;
		case CR_MOUNT:
			rc = vol_mount(f->reg, c->name, "c1", &mp, &cause);
			break;
		case CR_UNMOUNT:
			rc = vol_unmount(f->reg, c->name, "c1", &cause);
			break;
		case CR_RECORD:
			memset(&n, 0, sizeof n);
			n.server = "s1";
			n.started_ms = now_ms();
			n.finished = time(NULL);
			n.result = "ok";
			rc = vol_backup_record(f->reg, c->name, &n, &cause);
			break;
		default:
			rc = vol_remove(f->reg, c->name, &cause);
			break;
		}
		free(cause);
		free(mp);
		done[i] = rc == 0 && !fake_os_state.crashed;
		if (done[i] && c->op == CR_CREATE) {
			/* the volume's data, which must survive whatever */
			keep = vpath(f, c->name, "data/keep");
			write_text(keep, c->name);
			free(keep);
		}
		if (fake_os_state.crashed) {
			*crashed_in = i;
			return;
		}
	}
}

/* Whether the workload's first n steps leave name existing. */
static int
crash_exists_after(const char *name, const int *done, size_t n)
{
	int exists = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(crash_workload[i].name, name) != 0 || !done[i])
			continue;
		if (crash_workload[i].op == CR_CREATE)
			exists = 1;
		else if (crash_workload[i].op == CR_REMOVE)
			exists = 0;
	}
	return exists;
}

/* name as it must be if it exists: its options, its data, nothing else. */
static void
crash_check_volume(struct fixture *f, const char *name, size_t at)
{
	const char *opts = NULL;
	struct dirent *de;
	json_t *v, *want, *got;
	char *cause = NULL, *dir, *keep, buf[64];
	size_t i;
	ssize_t len;
	DIR *d;
	int fd;

	for (i = 0; i < CRASH_NSTEPS; i++) {
		if (crash_workload[i].op == CR_CREATE &&
		    strcmp(crash_workload[i].name, name) == 0)
			opts = crash_workload[i].opts;
	}
	v = vol_get(f->reg, name, &cause);
	if (v == NULL)
		fail_msg("crash at step %zu: volume %s lost: %s", at, name,
		    cause);
	json_decref(v);
	want = opts != NULL ? load(opts) : json_object();
	got = vol_options(f->reg, name);
	if (got == NULL || !json_equal(want, got))
		fail_msg("crash at step %zu: volume %s has other options", at,
		    name);
	json_decref(want);
	json_decref(got);
	/* Its data: the file written once it was created, if it was. */
	keep = vpath(f, name, "data/keep");
	fd = open(keep, O_RDONLY);
	if (fd >= 0) {
		len = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[len > 0 ? len : 0] = '\0';
		if (strcmp(buf, name) != 0)
			fail_msg("crash at step %zu: %s's data altered", at,
			    name);
	}
	free(keep);
	/* Nothing half-written left beside its metadata. */
	dir = vpath(f, name, NULL);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "meta.json") == 0 ||
		    strcmp(de->d_name, "data") == 0)
			continue;
		fail_msg("crash at step %zu: %s/%s left behind", at, dir,
		    de->d_name);
	}
	closedir(d);
	free(dir);
}

/*
 * A crash at every step of every metadata write (fsync, rename, a write
 * done by half...), one run each: the registry reopens with every volume
 * that was there intact (options, data), the volume being changed either
 * as it was or as it became, and nothing half-made left behind.
 */
static void
test_crash_at_every_write_step(void **state)
{
	static const char *const names[] = { "alpha", "beta", "gamma" };
	struct fixture *f = *state;
	int done[CRASH_NSTEPS];
	size_t crashed_in, k, total;
	unsigned at;
	int before, after;

	/* A run without a crash counts the steps. */
	fake_os_state.crash_steps = 1;
	crash_run(f, done, &crashed_in);
	assert_int_equal(crashed_in, CRASH_NSTEPS);
	total = fake_os_state.steps;
	assert_true(total >= 6 * 8);
	for (at = 1; at <= total; at++) {
		vol_close(f->reg);
		(void)remove_tree(f->state, NULL);
		fake_os_reset();
		f->reg = open_registry(f);
		fake_os_state.crash_steps = 1;
		fake_os_state.crash_at = at;
		crash_run(f, done, &crashed_in);
		assert_true(fake_os_state.crashed);
		assert_true(crashed_in < CRASH_NSTEPS);
		/* The restart: the disk as the crash left it. */
		fake_os_state.crash_steps = 0;
		fake_os_state.crashed = 0;
		reopen(f);
		assert_int_equal(count_entries(f->tmp), 0);
		for (k = 0; k < sizeof names / sizeof names[0]; k++) {
			before = crash_exists_after(names[k], done,
			    crashed_in);
			after = crash_exists_after(names[k], done,
			    crashed_in + 1);
			if (before || after || vol_exists(f->reg, names[k]))
				crash_check_volume(f, names[k], at);
			if (!before && !after &&
			    crash_workload[crashed_in].op != CR_CREATE)
				assert_false(vol_exists(f->reg, names[k]));
			if (before && (after ||
			    crash_workload[crashed_in].op != CR_REMOVE))
				assert_true(vol_exists(f->reg, names[k]));
		}
	}
}

/* List's encoded answer is vol_list's, through mounts, unmounts and
 * removals (its entries are kept made, and remade when that changes). */
static void
assert_list_text(struct fixture *f, size_t want)
{
	char *text = vol_list_text(f->reg);
	json_t *got, *list, *expect;
	json_error_t err;

	assert_non_null(text);
	got = json_loads(text, 0, &err);
	if (got == NULL)
		fail_msg("List's text does not parse: %s: %s", err.text, text);
	list = vol_list(f->reg);
	assert_int_equal(json_array_size(list), want);
	expect = json_pack("{s:o}", "Volumes", list);
	if (!json_equal(got, expect))
		fail_msg("List's text %s is not vol_list's answer", text);
	json_decref(got);
	json_decref(expect);
	free(text);
}

static void
test_list_text(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL, *text;

	text = vol_list_text(f->reg);
	assert_string_equal(text, "{\"Volumes\":[]}");
	free(text);
	create_ok(f, "a", "{}");
	assert_list_text(f, 1);
	create_ok(f, "b", "{}");
	create_ok(f, "c", "{}");
	mount_ok(f, "b", "id1");
	assert_list_text(f, 3);
	text = vol_list_text(f->reg);
	assert_non_null(strstr(text, "\"Mountpoint\""));
	free(text);
	mount_ok(f, "b", "id2");
	unmount_ok(f, "b", "id1");
	assert_list_text(f, 3);		/* still mounted for id2 */
	unmount_ok(f, "b", "id2");
	assert_list_text(f, 3);
	text = vol_list_text(f->reg);
	assert_null(strstr(text, "\"Mountpoint\""));
	free(text);
	assert_int_equal(vol_remove(f->reg, "a", &cause), 0);
	assert_list_text(f, 2);
	assert_int_equal(vol_remove(f->reg, "c", &cause), 0);
	assert_int_equal(vol_remove(f->reg, "b", &cause), 0);
	text = vol_list_text(f->reg);
	assert_string_equal(text, "{\"Volumes\":[]}");
	free(text);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_layout),
		T(test_create_list_get),
		T(test_list_text),
		T(test_create_restore_status),
		T(test_restore_retry_shown),
		T(test_get_unknown),
		T(test_create_twice),
		T(test_create_twice_no_options),
		T(test_create_bad_option),
		T(test_create_bad_name),
		T(test_mount_two_ids),
		T(test_mount_same_id_twice),
		T(test_unmount_unknown_id),
		T(test_path_unmounted),
		T(test_mount_missing_data),
		T(test_mount_bind_fails),
		T(test_mount_save_fails),
		T(test_unmount_save_fails),
		T(test_unmount_unbind_fails),
		T(test_remove_in_use),
		T(test_remove),
		T(test_remove_stale_mount),
		T(test_reopen_keeps_mounted),
		T(test_reopen_drops_gone_mounts),
		T(test_reopen_unbinds_unreferenced),
		T(test_open_cleans_tmp),
		T(test_open_cleans_trash),
		T(test_open_skips_corrupt),
		T(test_open_skips_misnamed),
		T(test_open_bad_stored_options),
		T(test_open_fails),
		T(test_parallel_mounts),
		T(test_read_during_slow_write),
		T(test_writers_ordered),
		T(test_create_race),
		T(test_changed_since_backup),
		cmocka_unit_test_setup_teardown(test_lookup_scales, setup_shm,
		    teardown),
		T(test_linux_mounted),
		T(test_crash_at_every_write_step),
		cmocka_unit_test_setup_teardown(test_inspect_scales, setup_shm,
		    teardown),
	};
	const char *level = getenv("PRIVATEER_LOG_LEVEL");

	/* Quiet unless asked: the tests provoke many logged errors. */
	log_set_level(level != NULL && *level != '\0' ? level : "error");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
