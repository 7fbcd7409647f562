/*
 * test_api: Docker's volume plugin protocol. api_route maps every URL and
 * nothing else; api_decode accepts an empty body only where Docker sends
 * none, and refuses malformed JSON, non-objects, missing or non-string Name,
 * Name with an embedded NUL, missing or empty ID, bad Opts, duplicate keys
 * and bodies over API_BODY_MAX. api_handle runs against a real registry in
 * a mkdtemp directory with the fake vol_os: Activate, Capabilities, 404 and
 * 405, 400 for bad requests (bad volume names and options included), the
 * Create/Get/List/Mount/Path/Unmount/Remove happy path checked field by
 * field, 409 for a Create that conflicts with an existing volume, 500 with
 * a non-empty Err for other failures, and Privateer.Status/Reload failing
 * cleanly when there is no fleet. With a scheduler: a removed volume's
 * entry leaves schedule.json (a new volume of that name starts afresh),
 * and entries of volumes that are gone are dropped at start.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "meta.h"
#include "name.h"
#include "refs.h"
#include "schedule.h"
#include "util.h"
#include "volume.h"

/*
 * tests/CMakeLists.txt builds each test from its one source file, so the
 * fake is compiled into this translation unit rather than linked.
 */
#include "../fakes/fake_os.c"

struct fixture {
	char root[64];
	char *state;
	char *mnt;
	struct vol_registry *reg;
	struct api_ctx ctx;	/* reg, and no fleet */
};

static const struct {
	const char *url;
	enum api_op op;
	int needs_body;
} routes[] = {
	{ "/Plugin.Activate", API_ACTIVATE, 0 },
	{ "/VolumeDriver.Capabilities", API_CAPABILITIES, 0 },
	{ "/VolumeDriver.Create", API_CREATE, 1 },
	{ "/VolumeDriver.Remove", API_REMOVE, 1 },
	{ "/VolumeDriver.Mount", API_MOUNT, 1 },
	{ "/VolumeDriver.Unmount", API_UNMOUNT, 1 },
	{ "/VolumeDriver.Path", API_PATH, 1 },
	{ "/VolumeDriver.Get", API_GET, 1 },
	{ "/VolumeDriver.List", API_LIST, 0 },
	{ "/Privateer.Status", API_STATUS, 0 },
	{ "/Privateer.Reload", API_RELOAD, 0 },
};
#define NROUTES (sizeof routes / sizeof routes[0])

static void
assert_mentions(const char *cause, const char *needle)
{
	if (cause == NULL)
		fail_msg("no cause set (expected one mentioning \"%s\")",
		    needle);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, needle);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	char *cause = NULL;

	strcpy(f->root, "/tmp/privateer-test-api-XXXXXX");
	if (mkdtemp(f->root) == NULL) {
		free(f);
		return -1;
	}
	f->state = xasprintf("%s/state", f->root);
	f->mnt = xasprintf("%s/mnt", f->root);
	fake_os_reset();
	f->reg = vol_open(f->state, f->mnt, &fake_os, &cause);
	if (f->reg == NULL) {
		fprintf(stderr, "vol_open: %s\n", cause);
		free(cause);
		return -1;
	}
	f->ctx.reg = f->reg;
	f->ctx.fleet = NULL;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	schedule_stop(f->ctx.sched);	/* a test that failed half-way */
	vol_close(f->reg);
	(void)remove_tree(f->root, NULL);
	fake_os_reset();
	free(f->state);
	free(f->mnt);
	free(f);
	return 0;
}

/* ---- api_decode helpers ---- */

static void
decode_ok(enum api_op op, const char *body, struct api_req *req)
{
	char *cause = NULL;

	if (api_decode(op, body, strlen(body), req, &cause) != 0)
		fail_msg("op %d body \"%s\" refused: %s", (int)op, body,
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
	assert_int_equal(req->op, op);
}

static void
decode_refused_len(enum api_op op, const char *body, size_t len,
    const char *needle)
{
	struct api_req req;
	char *cause = NULL;

	memset(&req, 0x5a, sizeof req);
	if (api_decode(op, body, len, &req, &cause) != -1)
		fail_msg("op %d body \"%.200s\" was accepted", (int)op, body);
	assert_mentions(cause, needle);
	/* Nothing is left to free. */
	assert_null(req.name);
	assert_null(req.id);
	assert_null(req.opts);
	api_req_free(&req);
	free(cause);
}

static void
decode_refused(enum api_op op, const char *body, const char *needle)
{
	decode_refused_len(op, body, strlen(body), needle);
}

/* ---- api_handle helpers ---- */

/*
 * Calls api_handle and parses its answer, which must always be a JSON
 * object; *resp (caller decrefs) may be NULL if not wanted.
 */
static int
call(struct fixture *f, const char *method, const char *url,
    const char *body, json_t **resp)
{
	json_error_t err;
	char *out = NULL;
	json_t *j;
	int status;

	status = api_handle(&f->ctx, method, url, body, strlen(body), &out,
	    NULL);
	assert_non_null(out);
	j = json_loads(out, 0, &err);
	if (j == NULL || !json_is_object(j))
		fail_msg("%s %s: response is not a JSON object: %s", method,
		    url, out);
	free(out);
	if (resp != NULL)
		*resp = j;
	else
		json_decref(j);
	return status;
}

/* The call must succeed (200); returns the response (caller decrefs). */
static json_t *
call_ok(struct fixture *f, const char *url, const char *body)
{
	json_t *j;
	int status;

	status = call(f, "POST", url, body, &j);
	if (status != 200 || json_object_get(j, "Err") != NULL)
		fail_msg("%s %s: status %d, Err %s", url, body, status,
		    json_string_value(json_object_get(j, "Err")));
	return j;
}

/* The call must fail with status and an Err mentioning needle. */
static void
call_err(struct fixture *f, const char *method, const char *url,
    const char *body, int want, const char *needle)
{
	const char *err;
	json_t *j;
	int status;

	status = call(f, method, url, body, &j);
	if (status != want)
		fail_msg("%s %s %s: status %d, want %d", method, url, body,
		    status, want);
	err = json_string_value(json_object_get(j, "Err"));
	assert_non_null(err);
	assert_true(*err != '\0');
	assert_mentions(err, needle);
	json_decref(j);
}

/* ---- api_route ---- */

static void
test_route(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NROUTES; i++)
		assert_int_equal(api_route(routes[i].url), (int)routes[i].op);
}

static void
test_route_unknown(void **state)
{
	static const char *const bad[] = {
		"", "/", "/VolumeDriver", "/VolumeDriver.", "/VolumeDriver.Foo",
		"/volumedriver.create", "/VolumeDriver.Create/",
		"VolumeDriver.Create", "/VolumeDriver.Create?x=1",
		"//VolumeDriver.Create", "/Plugin.Activate ",
		"/NetworkDriver.Create", "/VolumeDriver.Capabilities2",
		"/Privateer.", "/Privateer.status",
		"/Privateer.Reload/x",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (api_route(bad[i]) != -1)
			fail_msg("\"%s\" routed to %d", bad[i],
			    api_route(bad[i]));
	}
}

/* ---- api_decode ---- */

static void
test_decode_empty_body(void **state)
{
	struct api_req req;
	char *cause = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < NROUTES; i++) {
		if (!routes[i].needs_body) {
			memset(&req, 0x5a, sizeof req);
			assert_int_equal(api_decode(routes[i].op, "", 0, &req,
			    &cause), 0);
			assert_null(cause);
			assert_int_equal(req.op, routes[i].op);
			assert_null(req.name);
			assert_null(req.id);
			assert_null(req.opts);
			api_req_free(&req);
		} else
			decode_refused(routes[i].op, "", "empty");
	}
}

static void
test_decode_bodyless_ops(void **state)
{
	struct api_req req;

	(void)state;
	/* Docker's encoder ends the body with a newline. */
	decode_ok(API_LIST, "{}\n", &req);
	api_req_free(&req);
	decode_ok(API_LIST, "{}", &req);
	assert_null(req.name);
	api_req_free(&req);
	decode_ok(API_CAPABILITIES, "{\"Name\": 1}", &req);
	assert_null(req.name);
	api_req_free(&req);
	decode_refused(API_LIST, "[]", "JSON object");
	decode_refused(API_ACTIVATE, "{", "malformed JSON");
}

static void
test_decode_null_body(void **state)
{
	struct api_req req;

	(void)state;

	decode_ok(API_ACTIVATE, "null", &req);
	api_req_free(&req);
	decode_ok(API_LIST, "null", &req);
	api_req_free(&req);
	decode_refused(API_CREATE, "42", "must be a JSON object");
}

static void
test_decode_malformed(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NROUTES; i++) {
		decode_refused(routes[i].op, "{", "malformed JSON");
		decode_refused(routes[i].op, "{\"Name\": \"v\"",
		    "malformed JSON");
		decode_refused(routes[i].op, "{\"Name\": 'v'}",
		    "malformed JSON");
		decode_refused(routes[i].op, "{} {}", "malformed JSON");
		decode_refused(routes[i].op, "\xff", "malformed JSON");
	}
	/* Bytes after a NUL are part of the body, not ignored. */
	decode_refused_len(API_GET, "{\"Name\": \"v\"}\0garbage", 21,
	    "malformed JSON");
}

static void
test_decode_not_object(void **state)
{
	(void)state;
	decode_refused(API_CREATE, "[\"v\"]", "must be a JSON object");
	decode_refused(API_MOUNT, "[]", "must be a JSON object");
	/* jansson itself refuses scalars at the top level. */
	decode_refused(API_CREATE, "\"v\"", "JSON");
	decode_refused(API_CREATE, "42", "JSON");
	decode_refused(API_CREATE, "null", "JSON");
	decode_refused(API_GET, "true", "JSON");
}

static void
test_decode_name(void **state)
{
	static const enum api_op ops[] = { API_CREATE, API_REMOVE, API_MOUNT,
	    API_UNMOUNT, API_PATH, API_GET };
	struct api_req req;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		decode_refused(ops[i], "{}", "missing field Name");
		decode_refused(ops[i], "{\"name\": \"v\"}",
		    "missing field Name");
		decode_refused(ops[i], "{\"Name\": null}",
		    "missing field Name");
		decode_refused(ops[i], "{\"Name\": 1}",
		    "Name must be a string");
		decode_refused(ops[i], "{\"Name\": [\"v\"]}",
		    "Name must be a string");
		decode_refused(ops[i], "{\"Name\": {}}",
		    "Name must be a string");
		/* An embedded NUL never reaches a path. */
		decode_refused(ops[i],
		    "{\"Name\": \"a\\u0000b\", \"ID\": \"x\"}", "NUL");
	}
	decode_ok(API_GET, "{\"Name\": \"v1\", \"Extra\": [1]}\n", &req);
	assert_string_equal(req.name, "v1");
	assert_null(req.id);
	assert_null(req.opts);
	api_req_free(&req);
	assert_null(req.name);

	/* Names are checked later (api_handle, the registry), not here. */
	decode_ok(API_REMOVE, "{\"Name\": \"\"}", &req);
	assert_string_equal(req.name, "");
	api_req_free(&req);
}

static void
test_decode_name_long(void **state)
{
	struct api_req req;
	char *name, *body;
	json_t *j;

	(void)state;
	name = xmalloc(NAME_VOLUME_MAX * 4 + 2);
	memset(name, 'n', NAME_VOLUME_MAX * 4 + 1);
	name[NAME_VOLUME_MAX * 4 + 1] = '\0';
	j = json_pack("{s:s}", "Name", name);
	body = json_dumps(j, JSON_COMPACT);
	decode_refused(API_GET, body, "longer than");
	free(body);
	json_decref(j);

	name[NAME_VOLUME_MAX * 4] = '\0';
	j = json_pack("{s:s}", "Name", name);
	body = json_dumps(j, JSON_COMPACT);
	decode_ok(API_GET, body, &req);
	assert_int_equal(strlen(req.name), NAME_VOLUME_MAX * 4);
	api_req_free(&req);
	free(body);
	json_decref(j);
	free(name);
}

static void
test_decode_id(void **state)
{
	static const enum api_op ops[] = { API_MOUNT, API_UNMOUNT };
	struct api_req req;
	char *id, *body;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		decode_refused(ops[i], "{\"Name\": \"v\"}", "missing field ID");
		decode_refused(ops[i], "{\"Name\": \"v\", \"ID\": null}",
		    "missing field ID");
		decode_refused(ops[i], "{\"Name\": \"v\", \"ID\": \"\"}",
		    "ID is empty");
		decode_refused(ops[i], "{\"Name\": \"v\", \"ID\": 7}",
		    "ID must be a string");
		decode_refused(ops[i],
		    "{\"Name\": \"v\", \"ID\": \"a\\u0000\"}", "NUL");

		decode_ok(ops[i], "{\"Name\": \"v\", \"ID\": \"c0ffee\"}",
		    &req);
		assert_string_equal(req.name, "v");
		assert_string_equal(req.id, "c0ffee");
		api_req_free(&req);
	}

	id = xmalloc(REFS_ID_MAX + 2);
	memset(id, 'i', REFS_ID_MAX + 1);
	id[REFS_ID_MAX + 1] = '\0';
	body = xasprintf("{\"Name\": \"v\", \"ID\": \"%s\"}", id);
	decode_refused(API_MOUNT, body, "ID is longer");
	free(body);
	id[REFS_ID_MAX] = '\0';
	body = xasprintf("{\"Name\": \"v\", \"ID\": \"%s\"}", id);
	decode_ok(API_MOUNT, body, &req);
	assert_string_equal(req.id, id);
	api_req_free(&req);
	free(body);
	free(id);

	/* Other operations do not need, or take, an ID. */
	decode_ok(API_PATH, "{\"Name\": \"v\", \"ID\": \"x\"}", &req);
	assert_null(req.id);
	api_req_free(&req);
}

static void
test_decode_opts(void **state)
{
	struct api_req req;

	(void)state;
	decode_ok(API_CREATE, "{\"Name\": \"v\"}", &req);
	assert_null(req.opts);
	api_req_free(&req);
	decode_ok(API_CREATE, "{\"Name\": \"v\", \"Opts\": null}", &req);
	assert_null(req.opts);
	api_req_free(&req);
	decode_ok(API_CREATE, "{\"Name\": \"v\", \"Opts\": {}}", &req);
	assert_true(json_is_object(req.opts));
	assert_int_equal(json_object_size(req.opts), 0);
	api_req_free(&req);
	decode_ok(API_CREATE, "{\"Name\": \"v\", \"Opts\": {\"backup\": "
	    "\"a,b\", \"on-unmount\": \"true\"}}", &req);
	assert_string_equal(json_string_value(json_object_get(req.opts,
	    "backup")), "a,b");
	assert_string_equal(json_string_value(json_object_get(req.opts,
	    "on-unmount")), "true");
	api_req_free(&req);
	assert_null(req.opts);

	decode_refused(API_CREATE, "{\"Name\": \"v\", \"Opts\": \"backup=a\"}",
	    "Opts must be an object");
	decode_refused(API_CREATE, "{\"Name\": \"v\", \"Opts\": [\"a\"]}",
	    "Opts must be an object");
	decode_refused(API_CREATE, "{\"Name\": \"v\", \"Opts\": 1}",
	    "Opts must be an object");
	decode_refused(API_CREATE,
	    "{\"Name\": \"v\", \"Opts\": {\"backup\": 1}}", "Opts.backup");
	decode_refused(API_CREATE, "{\"Name\": \"v\", \"Opts\": {\"a\": \"x\", "
	    "\"b\": true}}", "Opts.b must be a string");
	decode_refused(API_CREATE, "{\"Name\": \"v\", \"Opts\": {\"a\": null}}",
	    "Opts.a");
}

static void
test_decode_duplicates(void **state)
{
	(void)state;
	decode_refused(API_CREATE, "{\"Name\": \"a\", \"Name\": \"b\"}",
	    "duplicate");
	decode_refused(API_MOUNT, "{\"Name\": \"v\", \"ID\": \"1\", "
	    "\"ID\": \"2\"}", "duplicate");
	decode_refused(API_CREATE, "{\"Name\": \"v\", \"Opts\": {\"backup\": "
	    "\"a\", \"backup\": \"b\"}}", "duplicate");
}

static void
test_decode_too_big(void **state)
{
	struct api_req req;
	char *body;

	(void)state;
	/* A valid document padded with spaces past the limit. */
	body = xmalloc(API_BODY_MAX + 2);
	memset(body, ' ', API_BODY_MAX + 1);
	memcpy(body, "{\"Name\": \"v\"}", 13);
	body[API_BODY_MAX + 1] = '\0';
	decode_refused_len(API_GET, body, API_BODY_MAX + 1, "exceeds");
	decode_refused_len(API_LIST, body, API_BODY_MAX + 1, "exceeds");
	/* At the limit it is fine. */
	body[API_BODY_MAX] = '\0';
	decode_ok(API_GET, body, &req);
	assert_string_equal(req.name, "v");
	api_req_free(&req);
	free(body);
}

/* ---- api_handle ---- */

static void
test_handle_activate(void **state)
{
	struct fixture *f = *state;
	json_t *j, *impl;

	j = call_ok(f, "/Plugin.Activate", "");
	impl = json_object_get(j, "Implements");
	assert_true(json_is_array(impl));
	assert_int_equal(json_array_size(impl), 1);
	assert_string_equal(json_string_value(json_array_get(impl, 0)),
	    "VolumeDriver");
	json_decref(j);
	/* With a body too. */
	j = call_ok(f, "/Plugin.Activate", "{}");
	assert_non_null(json_object_get(j, "Implements"));
	json_decref(j);
}

static void
test_handle_capabilities(void **state)
{
	struct fixture *f = *state;
	json_t *j;

	j = call_ok(f, "/VolumeDriver.Capabilities", "");
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(j, "Capabilities"), "Scope")), "local");
	json_decref(j);
}

static void
test_handle_unknown_url(void **state)
{
	struct fixture *f = *state;

	call_err(f, "POST", "/VolumeDriver.Snapshot", "{}", 404, "unknown");
	call_err(f, "POST", "/", "", 404, "unknown");
	call_err(f, "GET", "/nope", "", 404, "unknown");
}

static void
test_handle_method(void **state)
{
	static const char *const methods[] = { "GET", "PUT", "DELETE", "HEAD",
	    "post" };
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		call_err(f, methods[i], "/VolumeDriver.List", "", 405, "POST");
		call_err(f, methods[i], "/VolumeDriver.Create",
		    "{\"Name\": \"v\"}", 405, "POST");
	}
	/* Nothing was created by the refused requests. */
	call_err(f, "POST", "/VolumeDriver.Get", "{\"Name\": \"v\"}", 500,
	    "no such volume");
}

static void
test_handle_bad_request(void **state)
{
	struct fixture *f = *state;

	call_err(f, "POST", "/VolumeDriver.Create", "{", 400, "malformed");
	call_err(f, "POST", "/VolumeDriver.Create", "", 400, "empty");
	call_err(f, "POST", "/VolumeDriver.Create", "[]", 400, "JSON object");
	call_err(f, "POST", "/VolumeDriver.Mount", "{\"Name\": \"v\"}", 400,
	    "ID");
	call_err(f, "POST", "/VolumeDriver.Create", "{\"Name\": \"v\", "
	    "\"Opts\": {\"backup\": 1}}", 400, "Opts.backup");
	/* Error text with quotes and newlines still makes valid JSON. */
	call_err(f, "POST", "/VolumeDriver.Create", "{\"Name\": \"\\\"\n", 400,
	    "malformed");
}

static void
test_handle_happy_path(void **state)
{
	struct fixture *f = *state;
	json_t *j, *vol, *vols, *status;
	char *mp;

	mp = xasprintf("%s/v1", f->mnt);

	j = call_ok(f, "/VolumeDriver.Create", "{\"Name\": \"v1\", \"Opts\": "
	    "{\"backup\": \"s1\", \"schedule\": \"@hourly\"}}");
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);

	j = call_ok(f, "/VolumeDriver.Get", "{\"Name\": \"v1\"}");
	vol = json_object_get(j, "Volume");
	assert_true(json_is_object(vol));
	assert_string_equal(json_string_value(json_object_get(vol, "Name")),
	    "v1");
	assert_null(json_object_get(vol, "Mountpoint"));
	assert_true(json_is_string(json_object_get(vol, "CreatedAt")));
	status = json_object_get(vol, "Status");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(status, "backup"), 0)), "s1");
	assert_string_equal(json_string_value(json_object_get(status,
	    "schedule")), "@hourly");
	assert_int_equal(json_integer_value(json_object_get(status, "mounts")),
	    0);
	json_decref(j);

	j = call_ok(f, "/VolumeDriver.List", "");
	vols = json_object_get(j, "Volumes");
	assert_true(json_is_array(vols));
	assert_int_equal(json_array_size(vols), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(vols, 0), "Name")), "v1");
	assert_null(json_object_get(json_array_get(vols, 0), "Mountpoint"));
	json_decref(j);

	j = call_ok(f, "/VolumeDriver.Path", "{\"Name\": \"v1\"}");
	assert_string_equal(json_string_value(json_object_get(j,
	    "Mountpoint")), "");
	json_decref(j);

	j = call_ok(f, "/VolumeDriver.Mount", "{\"Name\": \"v1\", "
	    "\"ID\": \"c0ffee\"}");
	assert_string_equal(json_string_value(json_object_get(j,
	    "Mountpoint")), mp);
	json_decref(j);
	assert_int_equal(fake_os_state.binds, 1);
	assert_true(fake_os_is_mounted(mp));

	j = call_ok(f, "/VolumeDriver.Path", "{\"Name\": \"v1\"}");
	assert_string_equal(json_string_value(json_object_get(j,
	    "Mountpoint")), mp);
	json_decref(j);

	j = call_ok(f, "/VolumeDriver.Get", "{\"Name\": \"v1\"}");
	vol = json_object_get(j, "Volume");
	assert_string_equal(json_string_value(json_object_get(vol,
	    "Mountpoint")), mp);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    vol, "Status"), "mounts")), 1);
	json_decref(j);

	j = call_ok(f, "/VolumeDriver.List", "{}");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(j, "Volumes"), 0), "Mountpoint")), mp);
	json_decref(j);

	call_err(f, "POST", "/VolumeDriver.Remove", "{\"Name\": \"v1\"}", 500,
	    "in use");

	j = call_ok(f, "/VolumeDriver.Unmount", "{\"Name\": \"v1\", "
	    "\"ID\": \"c0ffee\"}");
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
	assert_false(fake_os_is_mounted(mp));

	j = call_ok(f, "/VolumeDriver.Path", "{\"Name\": \"v1\"}");
	assert_string_equal(json_string_value(json_object_get(j,
	    "Mountpoint")), "");
	json_decref(j);

	j = call_ok(f, "/VolumeDriver.Remove", "{\"Name\": \"v1\"}");
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
	vol_reap_wait(f->reg);

	j = call_ok(f, "/VolumeDriver.List", "");
	assert_int_equal(json_array_size(json_object_get(j, "Volumes")), 0);
	json_decref(j);
	free(mp);
}

static void
test_handle_errors(void **state)
{
	struct fixture *f = *state;
	json_t *j;

	call_err(f, "POST", "/VolumeDriver.Get", "{\"Name\": \"nope\"}", 500,
	    "no such volume");
	call_err(f, "POST", "/VolumeDriver.Path", "{\"Name\": \"nope\"}", 500,
	    "no such volume");
	call_err(f, "POST", "/VolumeDriver.Mount", "{\"Name\": \"nope\", "
	    "\"ID\": \"x\"}", 500, "no such volume");
	call_err(f, "POST", "/VolumeDriver.Unmount", "{\"Name\": \"nope\", "
	    "\"ID\": \"x\"}", 500, "no such volume");
	call_err(f, "POST", "/VolumeDriver.Remove", "{\"Name\": \"nope\"}",
	    500, "no such volume");
	/* Bad input is the client's fault: 400, whatever the operation. */
	call_err(f, "POST", "/VolumeDriver.Create", "{\"Name\": \"../x\"}",
	    400, "volume name");
	call_err(f, "POST", "/VolumeDriver.Create", "{\"Name\": \"\"}", 400,
	    "empty");
	call_err(f, "POST", "/VolumeDriver.Create", "{\"Name\": \".hidden\"}",
	    400, "letter or digit");
	call_err(f, "POST", "/VolumeDriver.Remove", "{\"Name\": \"a/b\"}",
	    400, "'/'");
	call_err(f, "POST", "/VolumeDriver.Get", "{\"Name\": \"a..b\"}", 400,
	    "..");
	call_err(f, "POST", "/VolumeDriver.Mount", "{\"Name\": \"a\\u0001\", "
	    "\"ID\": \"x\"}", 400, "control character");
	call_err(f, "POST", "/VolumeDriver.Create", "{\"Name\": \"v\", "
	    "\"Opts\": {\"size\": \"1G\"}}", 400, "backup=SERVER");
	call_err(f, "POST", "/VolumeDriver.Create", "{\"Name\": \"v\", "
	    "\"Opts\": {\"schedule\": \"every day\"}}", 400, "schedule");

	j = call_ok(f, "/VolumeDriver.Create", "{\"Name\": \"v\", \"Opts\": "
	    "{\"backup\": \"a\"}}");
	json_decref(j);
	/* The name is taken: a conflict, not a failure of ours. */
	call_err(f, "POST", "/VolumeDriver.Create", "{\"Name\": \"v\", "
	    "\"Opts\": {\"backup\": \"b\"}}", 409, "different options");

	fake_os_state.fail_bind = 1;
	call_err(f, "POST", "/VolumeDriver.Mount", "{\"Name\": \"v\", "
	    "\"ID\": \"x\"}", 500, "fake bind");
}

static void
test_handle_no_fleet(void **state)
{
	struct fixture *f = *state;

	/* Without a configuration loader, Privateer.* fail cleanly. */
	call_err(f, "POST", "/Privateer.Status", "", 500,
	    "configuration loader");
	call_err(f, "POST", "/Privateer.Reload", "{}", 500,
	    "configuration loader");
	call_err(f, "GET", "/Privateer.Status", "", 405, "POST");
	call_err(f, "POST", "/Privateer.Status", "[", 400, "malformed");
}

/* In a child: the error response for url and body; exits 0 if it is one. */
static void
non_ascii_child(struct fixture *f, const char *url, const char *body)
{
	json_error_t err;
	char *out = NULL;
	json_t *j;
	int status;

	status = api_handle(&f->ctx, "POST", url, body, strlen(body), &out,
	    NULL);
	j = json_loads(out, 0, &err);
	_exit(status >= 400 && j != NULL &&
	    json_string_value(json_object_get(j, "Err")) != NULL ? 0 : 2);
}

static void
test_handle_non_ascii(void **state)
{
	static const struct {
		const char *url;
		const char *body;
	} calls[] = {
		{ "/VolumeDriver.Create", "{\"Name\": \"caf\xc3\xa9\"}" },
		{ "/VolumeDriver.Create", "{\"Name\": \"caf\\u00e9\"}" },
		{ "/VolumeDriver.Create", "{\"Name\": \"v\", \"Opts\": "
		    "{\"backup\": \"\xc3\xa9\"}}" },
		{ "/VolumeDriver.Create", "{\"Name\": \"v\", \"Opts\": "
		    "{\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		    "kkkkkkkkk\xc3\xa9\": \"x\"}}" },
		{ "/VolumeDriver.Create", "{\"Name\": \"v\", \"Opts\": "
		    "{\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		    "kkkkkkkkk\xc3\xa9\": 1}}" },
		/* Mounted below by ID "a" + "é" x 6; "%.12s" splits the last. */
		{ "/VolumeDriver.Remove", "{\"Name\": \"inuse\"}" },
	};
	struct fixture *f = *state;
	json_t *j;
	size_t i;
	pid_t pid;
	int ws;


	j = call_ok(f, "/VolumeDriver.Create", "{\"Name\": \"inuse\"}");
	json_decref(j);
	j = call_ok(f, "/VolumeDriver.Mount", "{\"Name\": \"inuse\", \"ID\": "
	    "\"a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
	json_decref(j);
	for (i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			non_ascii_child(f, calls[i].url, calls[i].body);
		assert_int_equal(waitpid(pid, &ws, 0), pid);
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
			fail_msg("%s %s: the handler died (status 0x%x)",
			    calls[i].url, calls[i].body, (unsigned)ws);
	}
}

/* ---- the scheduler's state follows the volumes ---- */

/* schedule.json as JSON (caller decrefs), or NULL. */
static json_t *
sched_state(const char *path)
{
	char *text;
	size_t len;
	json_t *j;

	text = read_file_capped(path, 1024 * 1024, &len);
	if (text == NULL)
		return NULL;
	j = json_loadb(text, len, 0, NULL);
	free(text);
	return j;
}

/*
 * Waits (at most 5 s) until key is in schedule.json (present 1) or not
 * (present 0); its value then, 0 if absent, or -1 if it never happened.
 */
static json_int_t
sched_wait(const char *path, const char *key, int present)
{
	json_int_t v = -1;
	json_t *j, *e;
	int i;

	for (i = 0; i < 500; i++) {
		j = sched_state(path);
		e = json_object_get(j, key);
		if (j != NULL && (e != NULL) == present) {
			v = present ? json_integer_value(e) : 0;
			json_decref(j);
			break;
		}
		json_decref(j);
		usleep(10000);
	}
	return v;
}

static void
test_schedule_follows_volumes(void **state)
{
	struct fixture *f = *state;
	json_int_t first, again;
	char *path;
	json_t *j;

	/* Left by a volume removed before this fix, or while down. */
	path = xasprintf("%s/schedule.json", f->root);
	j = json_pack("{s:i, s:i}", "volume/ghost", 1000, "job/x/srv", 1000);
	assert_int_equal(meta_write_json(path, j, NULL), 0);
	json_decref(j);
	f->ctx.sched = schedule_start(f->reg, NULL, NULL, path);

	j = call_ok(f, "/VolumeDriver.Create", "{\"Name\": \"v\", \"Opts\": "
	    "{\"schedule\": \"@hourly\"}}");
	json_decref(j);
	first = sched_wait(path, "volume/v", 1);
	assert_true(first > 0);
	assert_int_equal(sched_wait(path, "volume/ghost", 0), 0);
	/* Jobs come from privateer.json, not from volumes: kept. */
	j = sched_state(path);
	assert_non_null(json_object_get(j, "job/x/srv"));
	json_decref(j);

	/* Removed: its entry goes; a new volume of the name starts afresh. */
	j = call_ok(f, "/VolumeDriver.Remove", "{\"Name\": \"v\"}");
	json_decref(j);
	assert_int_equal(sched_wait(path, "volume/v", 0), 0);
	sleep(1);
	j = call_ok(f, "/VolumeDriver.Create", "{\"Name\": \"v\", \"Opts\": "
	    "{\"schedule\": \"@hourly\"}}");
	json_decref(j);
	again = sched_wait(path, "volume/v", 1);
	assert_true(again > first);

	schedule_stop(f->ctx.sched);
	f->ctx.sched = NULL;
	free(path);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_route_unknown),
		cmocka_unit_test(test_decode_empty_body),
		cmocka_unit_test(test_decode_bodyless_ops),
		cmocka_unit_test(test_decode_null_body),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_not_object),
		cmocka_unit_test(test_decode_name),
		cmocka_unit_test(test_decode_name_long),
		cmocka_unit_test(test_decode_id),
		cmocka_unit_test(test_decode_opts),
		cmocka_unit_test(test_decode_duplicates),
		cmocka_unit_test(test_decode_too_big),
		T(test_handle_activate),
		T(test_handle_capabilities),
		T(test_handle_unknown_url),
		T(test_handle_method),
		T(test_handle_bad_request),
		T(test_handle_happy_path),
		T(test_handle_errors),
		T(test_handle_no_fleet),
		T(test_handle_non_ascii),
		T(test_schedule_follows_volumes),
	};
	const char *level = getenv("PRIVATEER_LOG_LEVEL");

	/* Quiet unless asked: the tests provoke many logged errors. */
	log_set_level(level != NULL && *level != '\0' ? level : "error");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
