/*
 * test_file_store: the file key store, on a fresh mkdtemp directory (mode
 * 0700) per test. put must create the key directory 0700 and key files
 * 0600, say whether it replaced a key, and leave no temporary files; get
 * must return what put wrote (without the private half when not asked).
 * Refused, each with a cause that says why: a missing key (pointing at
 * `privateer keygen NAME`), a key file or directory that others can read,
 * a symlink in place of the key file, a directory or an over-sized file
 * there, a file that is not JSON or lacks "private"; and a relative store
 * path at open. A keypair without its private half must not crash put.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keypair.h"
#include "keystore.h"
#include "util.h"

struct fixture {
	char *tmp;		/* the mkdtemp directory */
	char *dir;		/* <tmp>/keys: the store, not yet created */
	struct keystore *ks;
	struct keypair kp;	/* a generated keypair */
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	char *cause = NULL;

	f->tmp = xstrdup("/tmp/test_file_store.XXXXXX");
	if (mkdtemp(f->tmp) == NULL || chmod(f->tmp, 0700) != 0)
		return -1;
	f->dir = xasprintf("%s/keys", f->tmp);
	f->ks = keystore_file_open(f->dir, &cause);
	if (f->ks == NULL) {
		print_error("keystore_file_open: %s\n", cause);
		return -1;
	}
	if (keypair_generate(&f->kp, &cause) != 0) {
		print_error("keypair_generate: %s\n", cause);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;
	int rc;

	keystore_close(f->ks);
	keypair_wipe(&f->kp);
	rc = remove_tree(f->tmp, &cause);
	if (rc != 0) {
		print_error("%s\n", cause);
		free(cause);
	}
	free(f->dir);
	free(f->tmp);
	free(f);
	return rc;
}

static void
assert_mentions(const char *cause, const char *needle)
{
	if (cause == NULL)
		fail_msg("no cause set (expected one mentioning \"%s\")",
		    needle);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, needle);
}

static void
put_ok(struct fixture *f, const char *name, int expect_replaced)
{
	char *cause = NULL;
	int replaced = -1;

	if (keystore_put(f->ks, name, &f->kp, &replaced, &cause) != 0)
		fail_msg("put %s: %s", name, cause);
	assert_int_equal(replaced, expect_replaced);
}

/* get of name must fail with a cause containing both needles. */
static void
get_refused(struct fixture *f, const char *name, const char *needle,
    const char *needle2)
{
	struct keypair kp;
	char *cause = NULL;

	if (keystore_get(f->ks, name, 1, &kp, &cause) != -1)
		fail_msg("get %s succeeded", name);
	assert_null(kp.private_key);
	assert_null(kp.public_key);
	assert_mentions(cause, needle);
	if (needle2 != NULL)
		assert_mentions(cause, needle2);
	free(cause);
}

static char *
key_path(const struct fixture *f, const char *name)
{
	return xasprintf("%s/%s", f->dir, name);
}

/* Writes text as the key file of name (mode 0600, directory 0700). */
static void
write_key_file(struct fixture *f, const char *name, const char *text)
{
	char *path = key_path(f, name), *cause = NULL;

	if (mkdir(f->dir, 0700) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", f->dir, strerror(errno));
	if (write_file_atomic(path, text, strlen(text), 0600, &cause) != 0)
		fail_msg("%s", cause);
	assert_int_equal(chmod(path, 0600), 0);
	free(path);
}

static void
test_put_modes(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	struct dirent *de;
	char *path;
	DIR *d;
	int n = 0;
	mode_t old;

	/* A permissive umask must not leak into the modes. */
	old = umask(0);
	put_ok(f, "alice", 0);
	umask(old);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	path = key_path(f, "alice");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	put_ok(f, "alice", 1);
	put_ok(f, "bob", 0);
	put_ok(f, "bob", 1);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Only the two key files: no temporaries left behind. */
	d = opendir(f->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (strcmp(de->d_name, "alice") != 0 &&
		    strcmp(de->d_name, "bob") != 0)
			fail_msg("unexpected file %s in the store", de->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 2);
	free(path);
}

static void
test_where(void **state)
{
	struct fixture *f = *state;
	char *expect = xasprintf("file store %s", f->dir);

	assert_string_equal(f->ks->where, expect);
	free(expect);
}

static void
test_get_round_trip(void **state)
{
	struct fixture *f = *state;
	struct keypair got;
	char *cause = NULL, *path, *text;
	json_t *doc;

	put_ok(f, "alice", 0);
	assert_int_equal(keystore_get(f->ks, "alice", 1, &got, &cause), 0);
	assert_null(cause);
	assert_string_equal(got.private_key, f->kp.private_key);
	assert_string_equal(got.public_key, f->kp.public_key);
	assert_int_equal(keypair_check(&got, "alice", &cause), 0);
	keypair_wipe(&got);

	assert_int_equal(keystore_get(f->ks, "alice", 0, &got, &cause), 0);
	assert_null(got.private_key);
	assert_string_equal(got.public_key, f->kp.public_key);
	keypair_wipe(&got);

	/* On disk: privateer2's secret layout, as JSON. */
	path = key_path(f, "alice");
	text = read_file_capped(path, 65536, NULL);
	assert_non_null(text);
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc,
	    "private")), f->kp.private_key);
	assert_string_equal(json_string_value(json_object_get(doc, "public")),
	    f->kp.public_key);
	json_decref(doc);
	free(text);
	free(path);
}

/* A second put replaces the key: get then returns the new one. */
static void
test_put_replaces(void **state)
{
	struct fixture *f = *state;
	struct keypair second, got;
	char *cause = NULL;
	int replaced = -1;

	put_ok(f, "alice", 0);
	assert_int_equal(keypair_generate(&second, &cause), 0);
	assert_int_equal(keystore_put(f->ks, "alice", &second, &replaced,
	    &cause), 0);
	assert_int_equal(replaced, 1);
	assert_int_equal(keystore_get(f->ks, "alice", 1, &got, &cause), 0);
	assert_string_equal(got.public_key, second.public_key);
	assert_string_equal(got.private_key, second.private_key);
	keypair_wipe(&got);
	keypair_wipe(&second);
}

static void
test_get_missing(void **state)
{
	struct fixture *f = *state;

	/* Before the directory exists... */
	get_refused(f, "carol", "no key for carol", "keygen carol");
	/* ... and after. */
	put_ok(f, "alice", 0);
	get_refused(f, "carol", "no key for carol", "keygen carol");
}

static void
test_get_file_readable_by_others(void **state)
{
	struct fixture *f = *state;
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0606,
	    0620, 0602, 0610 };
	struct keypair got;
	char *path = key_path(f, "alice"), *cause = NULL;
	size_t i;

	put_ok(f, "alice", 0);
	for (i = 0; i < sizeof modes / sizeof *modes; i++) {
		assert_int_equal(chmod(path, modes[i]), 0);
		get_refused(f, "alice", "readable by others", path);
	}
	/* Stricter than 0600 is fine. */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(keystore_get(f->ks, "alice", 1, &got, &cause), 0);
	keypair_wipe(&got);
	/* Refused even when only the public half is asked for. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(keystore_get(f->ks, "alice", 0, &got, &cause), -1);
	assert_mentions(cause, "chmod 600");
	free(cause);
	free(path);
}

static void
test_get_dir_accessible_by_others(void **state)
{
	struct fixture *f = *state;
	struct keypair got;
	struct stat st;
	char *cause = NULL;

	put_ok(f, "alice", 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	get_refused(f, "alice", "accessible by others", "chmod 700");
	assert_int_equal(chmod(f->dir, 0710), 0);
	get_refused(f, "alice", "accessible by others", f->dir);
	/* put repairs the directory's mode. */
	assert_int_equal(chmod(f->dir, 0755), 0);
	put_ok(f, "bob", 0);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(keystore_get(f->ks, "alice", 1, &got, &cause), 0);
	keypair_wipe(&got);
}

/* A symlink to a perfectly good key file elsewhere is still refused. */
static void
test_get_symlink(void **state)
{
	struct fixture *f = *state;
	char *target, *path = key_path(f, "mallory"), *text;
	json_t *doc;

	put_ok(f, "alice", 0);
	doc = keypair_to_json(&f->kp);
	text = json_dumps(doc, 0);
	target = xasprintf("%s/elsewhere", f->tmp);
	assert_int_equal(write_file_atomic(target, text, strlen(text), 0600,
	    NULL), 0);
	assert_int_equal(symlink(target, path), 0);
	get_refused(f, "mallory", path, NULL);
	/* And a symlink to the store's own key. */
	assert_int_equal(unlink(path), 0);
	free(target);
	target = key_path(f, "alice");
	assert_int_equal(symlink(target, path), 0);
	get_refused(f, "mallory", path, NULL);
	free(target);
	free(text);
	json_decref(doc);
	free(path);
}

static void
test_get_not_regular(void **state)
{
	struct fixture *f = *state;
	char *path = key_path(f, "alice");

	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	get_refused(f, "alice", "not a regular file", path);
	free(path);
}

static void
test_get_too_large(void **state)
{
	struct fixture *f = *state;
	char *big = xmalloc(70 * 1024 + 1);

	memset(big, ' ', 70 * 1024);
	big[0] = '{';
	big[70 * 1024 - 1] = '}';
	big[70 * 1024] = '\0';
	write_key_file(f, "alice", big);
	get_refused(f, "alice", "larger than", NULL);
	free(big);
}

static void
test_get_not_json(void **state)
{
	struct fixture *f = *state;

	write_key_file(f, "alice", f->kp.private_key);
	get_refused(f, "alice", "not JSON", "alice");
	write_key_file(f, "bob", "");
	get_refused(f, "bob", "not JSON", "bob");
	write_key_file(f, "carol", "{\"private\": \"x\", \"public\": ");
	get_refused(f, "carol", "not JSON", "carol");
}

static void
test_get_missing_field(void **state)
{
	struct fixture *f = *state;
	struct keypair got;
	char *text, *cause = NULL;

	text = xasprintf("{\"public\": \"%s\"}", f->kp.public_key);
	write_key_file(f, "alice", text);
	get_refused(f, "alice", "\"private\"", "alice");
	/* Without need_private it is enough. */
	assert_int_equal(keystore_get(f->ks, "alice", 0, &got, &cause), 0);
	assert_string_equal(got.public_key, f->kp.public_key);
	assert_null(got.private_key);
	keypair_wipe(&got);
	free(text);

	write_key_file(f, "bob", "{\"private\": \"x\"}");
	get_refused(f, "bob", "\"public\"", "bob");
	write_key_file(f, "carol", "[\"x\", \"y\"]");
	get_refused(f, "carol", "not an object", "carol");
	write_key_file(f, "dan", "{\"private\": 1, \"public\": \"y\"}");
	get_refused(f, "dan", "\"private\"", "dan");
}

static void
test_open_relative(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_null(keystore_file_open("keys", &cause));
	assert_mentions(cause, "absolute");
	free(cause);
	cause = NULL;
	assert_null(keystore_file_open("./keys", &cause));
	assert_mentions(cause, "absolute");
	free(cause);
	cause = NULL;
	assert_null(keystore_file_open("", &cause));
	assert_mentions(cause, "absolute");
	free(cause);
	cause = NULL;
	assert_null(keystore_file_open(NULL, &cause));
	assert_mentions(cause, "absolute");
	free(cause);
}

/* put into a path that is a file, not a directory, fails cleanly. */
static void
test_put_dir_is_file(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;
	int replaced;

	assert_int_equal(write_file_atomic(f->dir, "x", 1, 0600, NULL), 0);
	assert_int_equal(keystore_put(f->ks, "alice", &f->kp, &replaced,
	    &cause), -1);
	assert_mentions(cause, f->dir);
	free(cause);
}

/*
 * keypair.h allows a keypair whose private half is unknown; putting one
 * must not crash: store the public half, or refuse with a cause.
 */
static void
test_put_public_only(void **state)
{
	struct fixture *f = *state;
	struct keypair pub, got;
	char *cause = NULL;
	int replaced = -1, rc;

	pub.private_key = NULL;
	pub.public_key = f->kp.public_key;
	rc = keystore_put(f->ks, "alice", &pub, &replaced, &cause);
	if (rc == 0) {
		assert_int_equal(replaced, 0);
		assert_int_equal(keystore_get(f->ks, "alice", 0, &got, &cause),
		    0);
		assert_string_equal(got.public_key, f->kp.public_key);
		assert_null(got.private_key);
		keypair_wipe(&got);
	} else {
		assert_int_equal(rc, -1);
		assert_non_null(cause);
		free(cause);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_modes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_where, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_put_replaces, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_get_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_get_file_readable_by_others, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_get_dir_accessible_by_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_symlink, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_get_not_regular, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_get_too_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_get_not_json, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_get_missing_field, setup,
		    teardown),
		cmocka_unit_test(test_open_relative),
		cmocka_unit_test_setup_teardown(test_put_dir_is_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_put_public_only, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
