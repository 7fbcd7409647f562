/*
 * test_vault_parse: the pure decoding of Vault's HTTP answers, fed with
 * bodies recorded in tests/data/vault/ in the shapes Vault's API documents:
 * KV v1 and v2 reads (live, deleted and destroyed versions), a v2 answer
 * parsed as v1 and the reverse, the mount information that tells KV v1
 * from v2 (and refuses other engines), the AppRole login answer, and the
 * "errors" array joined with "; " (empty for an empty array, a malformed or
 * an empty body). Malformed JSON and non-object documents are refused with
 * a cause that says so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"
#include "vault_parse.h"

/* The tests' data directory: CMake may say; else beside tests/unit/. */
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR test_data_dir()
static const char *
test_data_dir(void)
{
	static char dir[4096];
	const char *file = __FILE__, *p, *unit = NULL;

	if (dir[0] != '\0')
		return dir;
	for (p = strstr(file, "unit/"); p != NULL; p = strstr(p + 1, "unit/"))
		unit = p;
	if (unit == NULL)
		snprintf(dir, sizeof dir, "../data");
	else
		snprintf(dir, sizeof dir, "%.*sdata", (int)(unit - file), file);
	return dir;
}
#endif

struct body {
	char *text;
	size_t len;
};

/* A recorded body from tests/data/vault/; the test fails if it is absent. */
static struct body
body_load(const char *name)
{
	struct body b;
	char *path;

	path = xasprintf("%s/vault/%s", TEST_DATA_DIR, name);
	b.text = read_file_capped(path, 1024 * 1024, &b.len);
	if (b.text == NULL)
		fail_msg("cannot read %s", path);
	free(path);
	return b;
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

/* The string field of obj, or a failed test. */
static const char *
field(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("no string field \"%s\"", key);
	return json_string_value(v);
}

static const char *const test_private =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
static const char *const test_public = "ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAIKv1Pz6YQ0qkZBgq9T0V5b1nX3n8J4oYk1pYdJ8lM2cG";

static void
test_secret_v1(void **state)
{
	struct body b = body_load("kv1_read.json");
	json_t *data = (json_t *)0x1;
	long version = -1;
	char *cause = NULL;

	(void)state;
	assert_int_equal(vault_parse_secret(1, b.text, b.len, &data, &version,
	    &cause), 0);
	assert_null(cause);
	assert_non_null(data);
	assert_int_equal(version, 0);
	assert_string_equal(field(data, "private"), test_private);
	assert_string_equal(field(data, "public"), test_public);
	assert_int_equal(json_object_size(data), 2);
	/* A new reference: the document it came from is gone. */
	assert_int_equal(data->refcount, 1);
	json_decref(data);
	free(b.text);
}

static void
test_secret_v2(void **state)
{
	struct body b = body_load("kv2_read.json");
	json_t *data = NULL;
	long version = 0;
	char *cause = NULL;

	(void)state;
	assert_int_equal(vault_parse_secret(2, b.text, b.len, &data, &version,
	    &cause), 0);
	assert_null(cause);
	assert_non_null(data);
	assert_int_equal(version, 3);
	assert_string_equal(field(data, "private"), test_private);
	assert_string_equal(field(data, "public"), test_public);
	/* The secret itself, not the data/metadata envelope. */
	assert_null(json_object_get(data, "metadata"));
	assert_null(json_object_get(data, "data"));
	assert_int_equal(data->refcount, 1);
	json_decref(data);
	free(b.text);
}

/* Vault answers 404 with the metadata for a deleted or destroyed version. */
static void
test_secret_v2_deleted(void **state)
{
	static const char *const files[] = { "kv2_deleted_404.json",
	    "kv2_destroyed_404.json" };
	static const long versions[] = { 2, 1 };
	struct body b;
	json_t *data;
	long version;
	char *cause = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		b = body_load(files[i]);
		data = (json_t *)0x1;
		version = -1;
		if (vault_parse_secret(2, b.text, b.len, &data, &version,
		    &cause) != 0)
			fail_msg("%s refused: %s", files[i], cause);
		assert_null(data);
		assert_int_equal(version, versions[i]);
		assert_null(cause);
		free(b.text);
	}
}

/*
 * A v2 answer read as v1 yields the envelope (no "public" at its top, so
 * the keypair decoder will refuse it); a v1 answer read as v2 is refused
 * with a hint about the KV version.
 */
static void
test_secret_wrong_version(void **state)
{
	struct body b2 = body_load("kv2_read.json");
	struct body b1 = body_load("kv1_read.json");
	json_t *data = NULL;
	long version = -1;
	char *cause = NULL;

	(void)state;
	assert_int_equal(vault_parse_secret(1, b2.text, b2.len, &data,
	    &version, &cause), 0);
	assert_non_null(data);
	assert_int_equal(version, 0);
	assert_true(json_is_object(json_object_get(data, "metadata")));
	assert_true(json_is_object(json_object_get(data, "data")));
	assert_null(json_object_get(data, "public"));
	json_decref(data);

	data = (json_t *)0x1;
	version = -1;
	assert_int_equal(vault_parse_secret(2, b1.text, b1.len, &data,
	    &version, &cause), -1);
	assert_null(data);
	assert_mentions(cause, "data.metadata");
	assert_mentions(cause, "KV version 2");
	free(cause);
	free(b1.text);
	free(b2.text);
}

static void
secret_refused(int kv, const char *body, const char *needle)
{
	json_t *data = (json_t *)0x1;
	long version = -1;
	char *cause = NULL;

	if (vault_parse_secret(kv, body, strlen(body), &data, &version,
	    &cause) != -1)
		fail_msg("kv%d: %s was accepted", kv, body);
	/* Nothing handed out on failure (*version is not promised). */
	assert_null(data);
	assert_mentions(cause, needle);
	free(cause);
}

static void
test_secret_missing_data(void **state)
{
	int kv;

	(void)state;
	for (kv = 1; kv <= 2; kv++) {
		secret_refused(kv, "{}", "no \"data\" object");
		secret_refused(kv, "{\"data\": null}", "no \"data\" object");
		secret_refused(kv, "{\"data\": \"x\"}", "no \"data\" object");
		secret_refused(kv, "{\"data\": [1]}", "no \"data\" object");
		secret_refused(kv, "{\"errors\": [\"permission denied\"]}",
		    "no \"data\" object");
	}
	secret_refused(2, "{\"data\": {\"data\": {\"a\": \"b\"}}}",
	    "data.metadata");
	secret_refused(2, "{\"data\": {\"data\": {\"a\": \"b\"}, "
	    "\"metadata\": 7}}", "data.metadata");
	secret_refused(2, "{\"data\": {\"data\": \"x\", \"metadata\": "
	    "{\"version\": 1}}}", "data.data that is not an object");
	secret_refused(2, "{\"data\": {\"data\": [], \"metadata\": "
	    "{\"version\": 1}}}", "data.data that is not an object");
}

/* An absent data.data (as opposed to null) is a version without data. */
static void
test_secret_v2_absent_inner(void **state)
{
	static const char body[] = "{\"data\": {\"metadata\": "
	    "{\"version\": 9, \"destroyed\": true}}}";
	json_t *data = (json_t *)0x1;
	long version = 0;
	char *cause = NULL;

	(void)state;
	assert_int_equal(vault_parse_secret(2, body, strlen(body), &data,
	    &version, &cause), 0);
	assert_null(data);
	assert_int_equal(version, 9);
}

static void
test_secret_malformed(void **state)
{
	struct body b = body_load("malformed.json");
	int kv;

	(void)state;
	for (kv = 1; kv <= 2; kv++) {
		secret_refused(kv, b.text, "malformed JSON");
		secret_refused(kv, "", "malformed JSON");
		secret_refused(kv, "<html>502 Bad Gateway</html>",
		    "malformed JSON");
		secret_refused(kv, "[{\"data\": {}}]", "JSON array");
	}
	free(b.text);
}

/* The body is bounded by len, not by a NUL. */
static void
test_secret_len_bounds(void **state)
{
	static const char body[] = "{\"data\": {\"public\": \"x\"}}GARBAGE";
	json_t *data = NULL;
	long version;
	char *cause = NULL;

	(void)state;
	assert_int_equal(vault_parse_secret(1, body, strlen(body) - 7, &data,
	    &version, &cause), 0);
	assert_string_equal(field(data, "public"), "x");
	json_decref(data);
	assert_int_equal(vault_parse_secret(1, body, strlen(body), &data,
	    &version, &cause), -1);
	assert_mentions(cause, "malformed JSON");
	free(cause);
}

static void
mount_is(const char *file, int expect)
{
	struct body b = body_load(file);
	char *cause = NULL;
	int version = -1;

	if (vault_parse_mount_version(b.text, b.len, &version, &cause) != 0)
		fail_msg("%s refused: %s", file, cause);
	assert_int_equal(version, expect);
	assert_null(cause);
	free(b.text);
}

static void
mount_refused(const char *body, const char *needle)
{
	char *cause = NULL;
	int version = -1;

	if (vault_parse_mount_version(body, strlen(body), &version,
	    &cause) != -1)
		fail_msg("%s was accepted as KV version %d", body, version);
	assert_mentions(cause, needle);
	free(cause);
}

static void
test_mount_versions(void **state)
{
	(void)state;
	mount_is("mounts_kv2.json", 2);
	mount_is("mounts_kv1.json", 1);
	mount_is("mounts_kv1_version.json", 1);
}

static void
test_mount_inline(void **state)
{
	static const char *const ok1[] = {
		"{\"data\": {\"type\": \"kv\"}}",
		"{\"data\": {\"type\": \"kv\", \"options\": {}}}",
		"{\"data\": {\"type\": \"kv\", \"options\": "
		    "{\"version\": \"\"}}}",
		/* Vault's name for KV before 0.8. */
		"{\"data\": {\"type\": \"generic\", \"options\": null}}",
	};
	char *cause = NULL;
	int version;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof ok1 / sizeof *ok1; i++) {
		version = -1;
		if (vault_parse_mount_version(ok1[i], strlen(ok1[i]), &version,
		    &cause) != 0)
			fail_msg("%s refused: %s", ok1[i], cause);
		assert_int_equal(version, 1);
	}
	mount_refused("{\"data\": {\"type\": \"kv\", \"options\": "
	    "{\"version\": \"3\"}}}", "unknown KV version \"3\"");
	mount_refused("{\"data\": {}}", "no data.type");
	mount_refused("{}", "no data.type");
	mount_refused("{\"data\": {\"type\": 2}}", "no data.type");
	mount_refused("{\"errors\": [\"permission denied\"]}", "no data.type");
	mount_refused("{\"data\": ", "malformed JSON");
	mount_refused("\"kv\"", "malformed JSON");
}

static void
test_mount_not_kv(void **state)
{
	struct body b = body_load("mounts_not_kv.json");
	char *cause = NULL;
	int version = 0;

	(void)state;
	assert_int_equal(vault_parse_mount_version(b.text, b.len, &version,
	    &cause), -1);
	assert_mentions(cause, "\"pki\" engine, not kv");
	free(cause);
	free(b.text);
	mount_refused("{\"data\": {\"type\": \"cubbyhole\", \"options\": "
	    "{\"version\": \"2\"}}}", "\"cubbyhole\"");
}

static void
test_login(void **state)
{
	struct body b = body_load("approle_login.json");
	char *token = NULL, *cause = NULL;

	(void)state;
	assert_int_equal(vault_parse_login(b.text, b.len, &token, &cause), 0);
	assert_null(cause);
	assert_string_equal(token, "hvs.CAESIJlU3Yq0Zb9kFz1x2W7p8N4mL6rT5vQ3"
	    "aS9dG0hJ1kLeGh4KHGh2cy5mOGhQWW9BU3Ez");
	free(token);
	free(b.text);
}

static void
login_refused(const char *body, const char *needle)
{
	char *token = (char *)0x1, *cause = NULL;

	if (vault_parse_login(body, strlen(body), &token, &cause) != -1)
		fail_msg("login answer %s was accepted", body);
	assert_null(token);
	assert_mentions(cause, needle);
	free(cause);
}

static void
test_login_missing_auth(void **state)
{
	struct body b = body_load("errors_invalid_secret_id.json");
	struct body m = body_load("malformed.json");
	char *big;

	(void)state;
	login_refused(b.text, "no auth.client_token");
	login_refused("{\"auth\": null}", "no auth.client_token");
	login_refused("{\"auth\": {}}", "no auth.client_token");
	login_refused("{\"auth\": {\"client_token\": \"\"}}",
	    "no auth.client_token");
	login_refused("{\"auth\": {\"client_token\": 5}}",
	    "no auth.client_token");
	login_refused("{\"data\": {\"client_token\": \"t\"}}",
	    "no auth.client_token");
	login_refused(m.text, "malformed JSON");
	/* A token over 4 KiB is not a token. */
	big = xmalloc(5000 + 64);
	memcpy(big, "{\"auth\": {\"client_token\": \"", 27);
	memset(big + 27, 'a', 4097);
	memcpy(big + 27 + 4097, "\"}}", 4);
	login_refused(big, "no auth.client_token");
	free(big);
	free(m.text);
	free(b.text);
}

static void
errors_are(const char *file, const char *expect)
{
	struct body b = body_load(file);
	char *s;

	s = vault_parse_errors(b.text, b.len);
	assert_non_null(s);
	assert_string_equal(s, expect);
	free(s);
	free(b.text);
}

static void
test_errors_recorded(void **state)
{
	(void)state;
	errors_are("errors_permission_denied.json",
	    "1 error occurred:\n\t* permission denied\n\n");
	errors_are("errors_sealed.json", "Vault is sealed");
	errors_are("errors_invalid_secret_id.json",
	    "invalid role or secret ID");
	errors_are("errors_multiple.json", "no handler for route "
	    "\"kv/data/privateer/alice\". route entry not found.; "
	    "permission denied");
	errors_are("errors_empty_404.json", "");
	errors_are("malformed.json", "");
	/* A successful answer has no errors. */
	errors_are("kv2_read.json", "");
}

static void
errors_inline(const char *body, const char *expect)
{
	size_t len = body != NULL ? strlen(body) : 0;
	char *s = vault_parse_errors(body, len);

	assert_non_null(s);
	if (strcmp(s, expect) != 0)
		fail_msg("errors of %.*s: \"%s\", expected \"%s\"", (int)len,
		    body != NULL ? body : "", s, expect);
	free(s);
}

static void
test_errors_inline(void **state)
{
	static const char *const three =
	    "{\"errors\": [\"one\", 2, null, \"two\", {}, \"three\"]}";
	char *body, *s, *p;
	size_t i;

	(void)state;
	errors_inline(NULL, "");
	errors_inline("", "");
	errors_inline("{\"errors\": [\"x\"]}", "x");
	/* len, not the NUL, bounds the body: nothing to read here. */
	s = vault_parse_errors("{\"errors\": [\"x\"]}", 0);
	assert_string_equal(s, "");
	free(s);
	errors_inline("{}", "");
	errors_inline("[\"x\"]", "");
	errors_inline("{\"errors\": \"permission denied\"}", "");
	errors_inline("{\"errors\": null}", "");
	errors_inline(three, "one; two; three");
	errors_inline("<html>503</html>", "");

	/* Each error is cut at 200 bytes and the whole near 1000. */
	body = xmalloc(40 * 320 + 64);
	p = stpcpy(body, "{\"errors\": [");
	for (i = 0; i < 40; i++) {
		*p++ = i > 0 ? ',' : ' ';
		*p++ = '"';
		memset(p, 'a' + (int)(i % 26), 300);
		p += 300;
		*p++ = '"';
	}
	strcpy(p, "]}");
	s = vault_parse_errors(body, strlen(body));
	assert_non_null(s);
	assert_true(strlen(s) > 200);
	assert_true(strlen(s) <= 1000 + 2 + 200);
	assert_int_equal(strspn(s, "a"), 200);
	assert_memory_equal(s + 200, "; bbb", 5);
	free(s);
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_v1),
		cmocka_unit_test(test_secret_v2),
		cmocka_unit_test(test_secret_v2_deleted),
		cmocka_unit_test(test_secret_wrong_version),
		cmocka_unit_test(test_secret_missing_data),
		cmocka_unit_test(test_secret_v2_absent_inner),
		cmocka_unit_test(test_secret_malformed),
		cmocka_unit_test(test_secret_len_bounds),
		cmocka_unit_test(test_mount_versions),
		cmocka_unit_test(test_mount_inline),
		cmocka_unit_test(test_mount_not_kv),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_login_missing_auth),
		cmocka_unit_test(test_errors_recorded),
		cmocka_unit_test(test_errors_inline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
