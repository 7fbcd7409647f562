/*
 * test_meta: a volume's metadata. meta_encode and meta_decode round-trip
 * name, creation time (to the second), options and mount references, and
 * meta_decode refuses documents with a wrong version, a missing name, a bad
 * creation time or a non-string option; meta_copy is deep (a change to the
 * copy leaves the original alone). On disk (a mkdtemp directory per
 * test): meta_format is what meta_write_json writes, keys sorted, with a
 * final newline; meta_save then meta_load; meta_write_json replaces an
 * existing file and leaves no temporary file behind; meta_load refuses
 * truncated, corrupt, missing, symlinked and over-size (META_MAX_BYTES + 1)
 * files with a cause naming the path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta.h"
#include "util.h"

/* 2026-01-31T23:59:00Z */
#define T_CREATED ((time_t)1769903940)

struct fixture {
	char dir[64];
	char *path;		/* dir/meta.json */
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);

	strcpy(f->dir, "/tmp/privateer-test-meta-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	f->path = xasprintf("%s/" META_FILE, f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	(void)remove_tree(f->dir, NULL);
	free(f->path);
	free(f);
	return 0;
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

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);

	if (j == NULL)
		fail_msg("test JSON %s: %s", text, err.text);
	return j;
}

/* A filled-in vol_meta; free with meta_free. */
static void
sample(struct vol_meta *m)
{
	memset(m, 0, sizeof *m);
	m->name = xstrdup("vol-1");
	m->created = T_CREATED;
	m->options = load("{\"backup\": \"s1,s2\", \"schedule\": \"@daily\"}");
	refs_add(&m->refs, "c1");
	refs_add(&m->refs, "c2");
	refs_add(&m->refs, "c2");
}

static void
assert_meta_equal(const struct vol_meta *a, const struct vol_meta *b)
{
	size_t i;

	assert_string_equal(a->name, b->name);
	assert_int_equal(a->created, b->created);
	assert_non_null(a->options);
	assert_non_null(b->options);
	assert_true(json_equal(a->options, b->options));
	assert_int_equal(a->refs.n, b->refs.n);
	for (i = 0; i < a->refs.n; i++) {
		assert_string_equal(a->refs.v[i].id, b->refs.v[i].id);
		assert_int_equal(a->refs.v[i].count, b->refs.v[i].count);
	}
}

static void
write_text(const char *path, const char *text, size_t len)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, len), 0);
	assert_int_equal(close(fd), 0);
}

/* The names in dir other than "." and ".."; caller frees. */
static size_t
list_dir(const char *dir, char ***names)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	*names = NULL;
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		*names = xreallocarray(*names, n + 1, sizeof **names);
		(*names)[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	return n;
}

static void
free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* dir holds exactly meta.json, or nothing when want_meta is 0. */
static void
assert_only_meta(const char *dir, int want_meta)
{
	char **names;
	size_t n, i;

	n = list_dir(dir, &names);
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], META_FILE) != 0)
			fail_msg("%s: unexpected entry %s", dir, names[i]);
	}
	assert_int_equal(n, want_meta ? 1 : 0);
	free_names(names, n);
}

/* meta_decode of text must fail with a cause mentioning needle. */
static void
decode_refused(const char *text, const char *needle)
{
	struct vol_meta m;
	json_t *j = load(text);
	char *cause = NULL;

	memset(&m, 0x5a, sizeof m);
	if (meta_decode(j, &m, &cause) != -1)
		fail_msg("%s was accepted", text);
	assert_mentions(cause, needle);
	/* Nothing is left to free. */
	assert_null(m.name);
	assert_null(m.options);
	assert_null(m.refs.v);
	assert_int_equal(m.refs.n, 0);
	meta_free(&m);
	free(cause);
	json_decref(j);
}

/* ---- encode/decode ---- */

static void
test_encode(void **state)
{
	struct vol_meta m;
	json_t *j;

	(void)state;
	sample(&m);
	j = meta_encode(&m);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "version")),
	    META_VERSION);
	assert_string_equal(json_string_value(json_object_get(j, "name")),
	    "vol-1");
	assert_string_equal(json_string_value(json_object_get(j, "created")),
	    "2026-01-31T23:59:00Z");
	assert_true(json_equal(json_object_get(j, "options"), m.options));
	assert_int_equal(json_integer_value(json_object_get(
	    json_object_get(j, "mounts"), "c2")), 2);
	json_decref(j);
	meta_free(&m);
	assert_null(m.name);
	assert_null(m.options);
}

static void
test_encode_no_options(void **state)
{
	struct vol_meta m;
	json_t *j, *options;

	(void)state;
	memset(&m, 0, sizeof m);
	m.name = xstrdup("v");
	m.created = 0;
	j = meta_encode(&m);
	options = json_object_get(j, "options");
	assert_true(json_is_object(options));
	assert_int_equal(json_object_size(options), 0);
	assert_string_equal(json_string_value(json_object_get(j, "created")),
	    "1970-01-01T00:00:00Z");
	assert_int_equal(json_object_size(json_object_get(j, "mounts")), 0);
	json_decref(j);
	meta_free(&m);
}

static void
test_round_trip(void **state)
{
	static const time_t times[] = { 0, 1, T_CREATED, 951782400,
	    4102444799 };
	struct vol_meta m, back;
	char *cause = NULL;
	json_t *j;
	size_t i;

	(void)state;
	sample(&m);
	for (i = 0; i < sizeof times / sizeof times[0]; i++) {
		m.created = times[i];
		j = meta_encode(&m);
		memset(&back, 0x5a, sizeof back);
		assert_int_equal(meta_decode(j, &back, &cause), 0);
		assert_null(cause);
		assert_meta_equal(&m, &back);
		/* Decoded options are a copy, not the document's. */
		assert_true(back.options != json_object_get(j, "options"));
		meta_free(&back);
		json_decref(j);
	}
	meta_free(&m);
}

static void
test_decode_minimal(void **state)
{
	struct vol_meta m;
	json_t *j;

	(void)state;
	/* "mounts" may be absent. */
	j = load("{\"version\": 1, \"name\": \"v\", \"created\": "
	    "\"2000-02-29T12:00:00Z\", \"options\": {}}");
	assert_int_equal(meta_decode(j, &m, NULL), 0);
	assert_string_equal(m.name, "v");
	assert_int_equal(m.created, 951825600);
	assert_int_equal(json_object_size(m.options), 0);
	assert_int_equal(m.refs.n, 0);
	meta_free(&m);
	json_decref(j);
}

static void
test_decode_version(void **state)
{
	(void)state;
	decode_refused("[]", "not a JSON object");
	decode_refused("\"v\"", "not a JSON object");
	decode_refused("{\"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}}", "version");
	decode_refused("{\"version\": 2, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}}", "version");
	decode_refused("{\"version\": 0, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}}", "version");
	decode_refused("{\"version\": \"1\", \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}}", "version");
	decode_refused("{\"version\": 1.0, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}}", "version");
}

static void
test_decode_name(void **state)
{
	(void)state;
	decode_refused("{\"version\": 1, \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}}", "name");
	decode_refused("{\"version\": 1, \"name\": null, \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}}", "name");
	decode_refused("{\"version\": 1, \"name\": 7, \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}}", "name");
}

static void
test_decode_created(void **state)
{
	static const char *const bad[] = {
		"\"yesterday\"", "\"\"", "\"2026-01-31\"",
		"\"2026-01-31 23:59:00Z\"", "\"2026-01-31T23:59:00\"",
		"\"2026-01-31T23:59:00Z trailing\"",
		"\"2026-01-31T23:59:00+01:00\"",
		"\"2026-13-01T00:00:00Z\"", "\"2026-01-32T00:00:00Z\"",
		"\"2026-01-31T25:00:00Z\"", "1769903940", "null",
	};
	char *text;
	size_t i;

	(void)state;
	decode_refused("{\"version\": 1, \"name\": \"v\", \"options\": {}}",
	    "created");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		text = xasprintf("{\"version\": 1, \"name\": \"v\", "
		    "\"created\": %s, \"options\": {}}", bad[i]);
		decode_refused(text, "created");
		free(text);
	}
}

static void
test_decode_options(void **state)
{
	(void)state;
	decode_refused("{\"version\": 1, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\"}", "options");
	decode_refused("{\"version\": 1, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": [\"backup=a\"]}",
	    "options");
	decode_refused("{\"version\": 1, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {\"backup\": 1}}",
	    "option backup");
	decode_refused("{\"version\": 1, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {\"a\": \"x\", "
	    "\"on-unmount\": true}}", "option on-unmount");
}

static void
test_decode_mounts(void **state)
{
	(void)state;
	decode_refused("{\"version\": 1, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}, \"mounts\": []}",
	    "mounts");
	decode_refused("{\"version\": 1, \"name\": \"v\", \"created\": "
	    "\"2026-01-31T23:59:00Z\", \"options\": {}, \"mounts\": "
	    "{\"c1\": 0}}", "c1");
}

static void
test_copy(void **state)
{
	struct vol_meta m, c;
	json_t *a, *b;

	(void)state;
	sample(&m);
	m.last_used = 1234;
	m.backups = load("{\"s1\": {\"result\": \"ok\"}}");
	m.restore = load("{\"state\": \"pending\"}");
	meta_copy(&c, &m);
	assert_meta_equal(&m, &c);
	a = meta_encode(&m);
	b = meta_encode(&c);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	/* A deep copy: changing it leaves the original as it was. */
	refs_add(&c.refs, "c3");
	json_object_set_new(c.options, "on-unmount", json_string("false"));
	json_object_set_new(json_object_get(c.backups, "s1"), "result",
	    json_string("failed"));
	assert_int_equal(refs_total(&m.refs), 3);
	assert_null(json_object_get(m.options, "on-unmount"));
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(m.backups, "s1"), "result")), "ok");
	meta_free(&c);
	meta_free(&m);

	/* Nothing to copy is copied as nothing. */
	memset(&m, 0, sizeof m);
	meta_copy(&c, &m);
	assert_null(c.name);
	assert_null(c.options);
	assert_null(c.backups);
	assert_null(c.restore);
	assert_int_equal(c.refs.n, 0);
	meta_free(&c);
}

/* ---- files ---- */

static void
test_format(void **state)
{
	struct fixture *f = *state;
	char *text, *file;
	json_t *doc;
	size_t len, flen;

	/* What meta_write_json writes: the same bytes, a final newline. */
	doc = load("{\"b\": 1, \"a\": [true]}");
	text = meta_format(doc, &len);
	assert_non_null(text);
	assert_true(len > 0 && text[len - 1] == '\n');
	assert_int_equal(meta_write_json(f->path, doc, NULL), 0);
	file = read_file_capped(f->path, 4096, &flen);
	assert_non_null(file);
	assert_int_equal(flen, len);
	assert_memory_equal(file, text, len);
	assert_true(strstr(text, "\"a\"") < strstr(text, "\"b\""));
	free(file);
	free(text);
	json_decref(doc);
}

static void
test_save_load(void **state)
{
	struct fixture *f = *state;
	struct vol_meta m, back;
	char *cause = NULL;
	struct stat st;

	sample(&m);
	assert_int_equal(meta_save(f->dir, &m, &cause), 0);
	assert_null(cause);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	memset(&back, 0x5a, sizeof back);
	assert_int_equal(meta_load(f->dir, &back, &cause), 0);
	assert_null(cause);
	assert_meta_equal(&m, &back);
	meta_free(&back);
	meta_free(&m);
	assert_only_meta(f->dir, 1);
}

static void
test_write_replaces(void **state)
{
	struct fixture *f = *state;
	struct vol_meta m, back;
	json_t *doc;
	char *cause = NULL;
	int i;

	doc = load("{\"first\": true}");
	assert_int_equal(meta_write_json(f->path, doc, &cause), 0);
	json_decref(doc);
	assert_only_meta(f->dir, 1);

	/* Replace it several times; each time only meta.json remains. */
	sample(&m);
	for (i = 0; i < 5; i++) {
		m.created = T_CREATED + i;
		assert_int_equal(meta_save(f->dir, &m, &cause), 0);
		assert_null(cause);
		assert_only_meta(f->dir, 1);
	}
	assert_int_equal(meta_load(f->dir, &back, &cause), 0);
	assert_int_equal(back.created, T_CREATED + 4);
	meta_free(&back);
	meta_free(&m);
}

/* write_file_new (a new volume's meta.json, out of view): in place, no
 * temporary; never over an existing file, which it leaves alone. */
static void
test_write_new(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL, *text;
	struct stat st;
	size_t len;

	assert_int_equal(write_file_new(f->path, "{\"a\":1}", 7, 0600,
	    &cause), 0);
	assert_null(cause);
	assert_only_meta(f->dir, 1);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = read_file_capped(f->path, 100, &len);
	assert_non_null(text);
	assert_int_equal(len, 7);
	assert_memory_equal(text, "{\"a\":1}", 7);
	free(text);
	assert_int_equal(write_file_new(f->path, "{}", 2, 0600, &cause), -1);
	assert_non_null(strstr(cause, f->path));
	free(cause);
	text = read_file_capped(f->path, 100, &len);
	assert_int_equal(len, 7);	/* untouched */
	free(text);
	assert_only_meta(f->dir, 1);
}

static void
test_write_exact(void **state)
{
	struct fixture *f = *state;
	json_t *doc, *back;
	json_error_t err;

	doc = load("{\"b\": [1, 2], \"a\": \"x\\u00e9\"}");
	assert_int_equal(meta_write_json(f->path, doc, NULL), 0);
	back = json_load_file(f->path, 0, &err);
	assert_non_null(back);
	assert_true(json_equal(doc, back));
	json_decref(back);
	json_decref(doc);
}

static void
test_write_fails(void **state)
{
	struct fixture *f = *state;
	char *path, *cause = NULL;
	json_t *doc = json_object();

	/* A directory that does not exist: an error naming it, no file. */
	path = xasprintf("%s/missing/" META_FILE, f->dir);
	assert_int_equal(meta_write_json(path, doc, &cause), -1);
	assert_mentions(cause, f->dir);
	free(cause);
	free(path);
	cause = NULL;

	/* A directory where the file should go: rename fails, tmp removed. */
	assert_int_equal(mkdir(f->path, 0755), 0);
	path = xasprintf("%s/x", f->path);
	write_text(path, "x", 1);
	assert_int_equal(meta_write_json(f->path, doc, &cause), -1);
	assert_mentions(cause, f->path);
	assert_only_meta(f->dir, 1);
	free(cause);
	free(path);
	json_decref(doc);
}

static void
load_refused(struct fixture *f, const char *needle)
{
	struct vol_meta m;
	char *cause = NULL;

	memset(&m, 0x5a, sizeof m);
	assert_int_equal(meta_load(f->dir, &m, &cause), -1);
	assert_mentions(cause, f->path);
	if (needle != NULL)
		assert_mentions(cause, needle);
	assert_null(m.name);
	assert_null(m.options);
	assert_int_equal(m.refs.n, 0);
	free(cause);
}

static void
test_load_truncated(void **state)
{
	struct fixture *f = *state;
	struct vol_meta m;
	char *text;
	size_t len;

	sample(&m);
	assert_int_equal(meta_save(f->dir, &m, NULL), 0);
	meta_free(&m);
	text = read_file_capped(f->path, META_MAX_BYTES, &len);
	assert_non_null(text);
	assert_true(len > 20);
	write_text(f->path, text, len / 2);
	load_refused(f, "line");
	write_text(f->path, text, len - 3);
	load_refused(f, NULL);
	free(text);
}

static void
test_load_corrupt(void **state)
{
	struct fixture *f = *state;

	write_text(f->path, "", 0);
	load_refused(f, NULL);
	write_text(f->path, "garbage", 7);
	load_refused(f, NULL);
	write_text(f->path, "\0\0\0\0", 4);
	load_refused(f, NULL);
	write_text(f->path, "[]", 2);
	load_refused(f, "not a JSON object");
	write_text(f->path, "{\"version\": 1}", 14);
	load_refused(f, "name");
	/* Two documents in one file are not one document. */
	write_text(f->path, "{} {}", 5);
	load_refused(f, NULL);
}

static void
test_load_missing(void **state)
{
	struct fixture *f = *state;

	load_refused(f, strerror(ENOENT));
}

static void
test_load_symlink(void **state)
{
	struct fixture *f = *state;
	struct vol_meta m;
	char *real;

	/* A valid document, but reached through a symlink: refused. */
	real = xasprintf("%s/real.json", f->dir);
	sample(&m);
	assert_int_equal(meta_save(f->dir, &m, NULL), 0);
	meta_free(&m);
	assert_int_equal(rename(f->path, real), 0);
	assert_int_equal(symlink(real, f->path), 0);
	load_refused(f, NULL);
	free(real);
}

/* Writes a valid document padded with spaces to exactly size bytes. */
static void
write_padded(struct fixture *f, size_t size)
{
	struct vol_meta m;
	json_t *j;
	char *doc, *buf;
	size_t len;

	sample(&m);
	j = meta_encode(&m);
	doc = json_dumps(j, JSON_COMPACT);
	len = strlen(doc);
	assert_true(len < size);
	buf = xmalloc(size);
	memcpy(buf, doc, len);
	memset(buf + len, ' ', size - len);
	write_text(f->path, buf, size);
	free(buf);
	free(doc);
	json_decref(j);
	meta_free(&m);
}

static void
test_load_size_cap(void **state)
{
	struct fixture *f = *state;
	struct vol_meta m;
	char *cause = NULL;

	write_padded(f, META_MAX_BYTES);
	assert_int_equal(meta_load(f->dir, &m, &cause), 0);
	assert_string_equal(m.name, "vol-1");
	meta_free(&m);

	write_padded(f, META_MAX_BYTES + 1);
	load_refused(f, strerror(EFBIG));

	write_padded(f, 3 * META_MAX_BYTES);
	load_refused(f, strerror(EFBIG));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_encode_no_options),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_decode_minimal),
		cmocka_unit_test(test_decode_version),
		cmocka_unit_test(test_decode_name),
		cmocka_unit_test(test_decode_created),
		cmocka_unit_test(test_decode_options),
		cmocka_unit_test(test_decode_mounts),
		cmocka_unit_test(test_copy),
		cmocka_unit_test_setup_teardown(test_format, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_replaces, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_new, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_exact, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_truncated, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_corrupt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_symlink, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_size_cap, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
