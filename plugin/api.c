/*
 * api: Docker's volume plugin protocol. Docker posts JSON to
 * /VolumeDriver.<Op>; errors are reported as {"Err": "..."} with a non-200
 * status, which Docker shows to the user after "VolumeDriver.<Op>: " (its
 * client treats every non-200 answer with an Err as that error). The status
 * says whose fault it is: 400 for a request that could never work (bad
 * JSON, a bad volume name or option), 404 for an unknown endpoint, 409 for
 * a name taken meanwhile, 500 for everything else.
 */
#include "api.h"

#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "schedule.h"
#include "stale.h"
#include "name.h"
#include "tarball.h"
#include "ops.h"
#include "refs.h"
#include "util.h"
#include "verify.h"
#include "volume.h"
#include "vopts.h"

static const struct {
	const char *url;
	enum api_op op;
	int needs_body;
} api_routes[] = {
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
	{ "/Privateer.Backup", API_BACKUP, 1 },
	{ "/Privateer.Restore", API_RESTORE, 1 },
	{ "/Privateer.Snapshots", API_SNAPSHOTS, 1 },
	{ "/Privateer.Check", API_CHECK, 0 },
	{ "/Privateer.Export", API_EXPORT, 1 },
	{ "/Privateer.Verify", API_VERIFY, 1 },
};
#define API_NROUTES (sizeof api_routes / sizeof api_routes[0])

int
api_route(const char *url)
{
	size_t i;

	for (i = 0; i < API_NROUTES; i++) {
		if (strcmp(url, api_routes[i].url) == 0)
			return (int)i;
	}
	return -1;
}

void
api_req_free(struct api_req *req)
{
	free(req->name);
	free(req->id);
	json_decref(req->opts);
	free(req->volume);
	free(req->server);
	free(req->source);
	free(req->snapshot);
	free(req->to_volume);
	free(req->compress);
	memset(req, 0, sizeof *req);
}

/* A required string member of at most max bytes, without NUL bytes. */
static int
api_string(const json_t *doc, const char *field, size_t max, char **out,
    char **cause)
{
	json_t *v = json_object_get(doc, field);

	if (v == NULL || json_is_null(v)) {
		set_cause(cause, "missing field %s", field);
		return -1;
	}
	if (!json_is_string(v)) {
		set_cause(cause, "field %s must be a string", field);
		return -1;
	}
	if (json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		set_cause(cause, "field %s is longer than %zu bytes or "
		    "contains NUL", field, max);
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* An optional name field: absent, or a safe name (checked here). */
static int
api_opt_name(const json_t *doc, const char *field, char **out, char **cause)
{
	json_t *v = json_object_get(doc, field);
	char *why = NULL;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (api_string(doc, field, NAME_VOLUME_MAX, out, cause) != 0)
		return -1;
	if (name_safe_check(field, *out, &why) != 0) {
		set_cause(cause, "field %s: %s", field, why);
		free(why);
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* An optional boolean field. */
static int
api_flag(const json_t *doc, const char *field, int *out, char **cause)
{
	json_t *v = json_object_get(doc, field);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		set_cause(cause, "field %s must be true or false", field);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static int
api_decode_privateer(const json_t *doc, struct api_req *req, char **cause)
{
	json_t *dry = json_object_get(doc, "DryRun");

	if (req->op != API_CHECK) {
		if (api_string(doc, "Volume", NAME_VOLUME_MAX, &req->volume,
		    cause) != 0 || name_volume_check(req->volume, cause) != 0)
			return -1;
	}
	if (api_opt_name(doc, "Server", &req->server, cause) != 0 ||
	    api_opt_name(doc, "Source", &req->source, cause) != 0 ||
	    api_opt_name(doc, "Snapshot", &req->snapshot, cause) != 0 ||
	    api_opt_name(doc, "ToVolume", &req->to_volume, cause) != 0)
		return -1;
	if (req->to_volume != NULL &&
	    name_volume_check(req->to_volume, cause) != 0)
		return -1;
	if (api_opt_name(doc, "Compress", &req->compress, cause) != 0)
		return -1;
	if (req->compress != NULL && strcmp(req->compress, "none") != 0 &&
	    strcmp(req->compress, "gzip") != 0 &&
	    strcmp(req->compress, "zstd") != 0) {
		set_cause(cause, "field Compress must be none, gzip or zstd");
		return -1;
	}
	if (dry != NULL && !json_is_null(dry)) {
		if (!json_is_boolean(dry)) {
			set_cause(cause, "field DryRun must be true or false");
			return -1;
		}
		req->dry_run = json_is_true(dry);
	}
	dry = json_object_get(doc, "Stream");
	if (dry != NULL && !json_is_null(dry)) {
		if (!json_is_boolean(dry)) {
			set_cause(cause, "field Stream must be true or false");
			return -1;
		}
		req->stream = json_is_true(dry);
	}
	if (api_flag(doc, "All", &req->all, cause) != 0 ||
	    api_flag(doc, "AgainstVolume", &req->against_volume, cause) != 0)
		return -1;
	return 0;
}

int
api_decode(enum api_op op, const char *body, size_t len, struct api_req *req,
    char **cause)
{
	json_error_t err;
	json_t *doc = NULL, *opts;
	const char *key;
	json_t *value;
	int rc = -1;

	memset(req, 0, sizeof *req);
	req->op = op;
	if (len == 0) {
		if (api_routes[op].needs_body) {
			set_cause(cause, "request body is empty; expected a "
			    "JSON object");
			return -1;
		}
		return 0;
	}
	if (len > API_BODY_MAX) {
		set_cause(cause, "request body exceeds %d bytes", API_BODY_MAX);
		return -1;
	}
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &err);
	if (doc == NULL) {
		set_cause(cause, "malformed JSON at line %d column %d: %s",
		    err.line, err.column, err.text);
		return -1;
	}
	if (json_is_null(doc) && !api_routes[op].needs_body) {
		rc = 0;
		goto out;
	}
	if (!json_is_object(doc)) {
		set_cause(cause, "request body must be a JSON object");
		goto out;
	}
	if (op >= API_BACKUP) {
		rc = api_decode_privateer(doc, req, cause);
		goto out;
	}
	if (!api_routes[op].needs_body) {
		rc = 0;
		goto out;
	}
	if (api_string(doc, "Name", NAME_VOLUME_MAX * 4, &req->name,
	    cause) != 0)
		goto out;
	if (op == API_MOUNT || op == API_UNMOUNT) {
		if (api_string(doc, "ID", REFS_ID_MAX, &req->id, cause) != 0)
			goto out;
		if (*req->id == '\0') {
			set_cause(cause, "field ID is empty");
			goto out;
		}
	}
	if (op == API_CREATE) {
		opts = json_object_get(doc, "Opts");
		if (opts != NULL && !json_is_null(opts)) {
			if (!json_is_object(opts)) {
				set_cause(cause, "field Opts must be an object "
				    "of strings");
				goto out;
			}
			json_object_foreach(opts, key, value) {
				if (!json_is_string(value)) {
					char *k = utf8_clip(key, 64);
					set_cause(cause, "field Opts.%s must be "
					    "a string", k);
					free(k);
					goto out;
				}
			}
			req->opts = json_incref(opts);
		}
	}
	rc = 0;
out:
	json_decref(doc);
	if (rc != 0)
		api_req_free(req);
	return rc;
}

static char *
api_dump(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	/* Never take the plugin down over a response it cannot encode. */
	if (s == NULL)
		s = xstrdup("{\"Err\":\"the response could not be encoded\"}");
	return s;
}

/* Causes may quote input from outside: make them valid UTF-8 first. */
static char *
api_error(const char *cause)
{
	char *clean = utf8_clean(cause), *s;

	s = api_dump(json_pack("{s:s}", "Err", clean));
	free(clean);
	return s;
}

/* Docker's inspect Status: add jobs and the next scheduled run. */
static void
api_volume_status(const struct api_ctx *ctx, const char *name, json_t *vol)
{
	json_t *status = json_object_get(vol, "Status"), *sched;

	if (ctx->jobs != NULL)
		json_object_set_new(status, "jobs", jobs_status(ctx->jobs,
		    name));
	/* Staleness per server (stale.h), in last-backup.<server>. */
	if (ctx->fleet != NULL)
		stale_annotate(ctx->reg, ctx->fleet, name, status);
	if (ctx->sched != NULL) {
		sched = schedule_status(ctx->sched, name);
		if (json_object_get(sched, "next") != NULL)
			json_object_set(status, "next-run",
			    json_object_get(sched, "next"));
		json_object_set(status, "timezone",
		    json_object_get(sched, "timezone"));
		json_decref(sched);
	}
}

/* privateer status: every volume's status and the jobs in flight. */
static void
api_status(const struct api_ctx *ctx, json_t *out)
{
	json_t *list = vol_list(ctx->reg), *vols = json_array(), *item, *v;
	const char *role;
	size_t i;

	json_array_foreach(list, i, item) {
		const char *name = json_string_value(json_object_get(item,
		    "Name"));
		v = name != NULL ? vol_get(ctx->reg, name, NULL) : NULL;
		if (v == NULL)
			continue;
		api_volume_status(ctx, name, v);
		json_array_append_new(vols, v);
	}
	json_decref(list);
	json_object_set_new(out, "Volumes", vols);
	/* A server: what each client's backups cost it. */
	role = json_string_value(json_object_get(json_object_get(out,
	    "Fleet"), "role"));
	if (ctx->fleet != NULL && role != NULL && strcmp(role, "server") == 0)
		fleet_server_status(ctx->fleet, out);
	if (ctx->jobs != NULL)
		json_object_set_new(out, "InFlight",
		    json_integer(jobs_in_flight(ctx->jobs)));
}

/* The operation req asks for (strings borrowed from req). */
static void
api_ops_request(const struct api_req *req, struct ops_request *o)
{
	memset(o, 0, sizeof *o);
	o->volume = req->volume;
	o->server = req->server;
	o->source = req->source;
	o->snapshot = req->snapshot;
	o->to_volume = req->to_volume;
	o->compress = req->compress;
	o->dry_run = req->dry_run;
}

static json_t *
api_ops(const struct api_ctx *ctx, const struct api_req *req, char **cause)
{
	struct ops_request o;

	api_ops_request(req, &o);
	switch (req->op) {
	case API_BACKUP:
		return ops_backup(ctx->fleet, ctx->reg, &o, cause);
	case API_RESTORE:
		return ops_restore(ctx->fleet, ctx->reg, &o, cause);
	case API_SNAPSHOTS:
		return ops_snapshots(ctx->fleet, &o, cause);
	case API_VERIFY: {
		struct verify_request v;

		memset(&v, 0, sizeof v);
		v.volume = req->volume;
		v.server = req->server;
		v.source = req->source;
		v.snapshot = req->snapshot;
		v.all = req->all;
		v.against_volume = req->against_volume;
		return verify_run(ctx->fleet, ctx->reg, &v, cause);
	}
	default:
		return ops_check(ctx->fleet, &o, cause);
	}
}

/* Why a Create failed: the name is taken, the options are wrong, or else. */
static int
api_create_status(const struct api_ctx *ctx, const struct api_req *req)
{
	struct vopts o;
	int bad;

	if (vol_exists(ctx->reg, req->name))
		return 409;
	bad = vopts_parse(req->opts, &o, NULL) != 0;
	vopts_free(&o);
	return bad ? 400 : 500;
}

/*
 * Runs req: its answer, or NULL with *cause and *status (500 unless the
 * failure has a better one).
 */
static json_t *
api_run(const struct api_ctx *ctx, const struct api_req *req, char **cause,
    int *status)
{
	struct vol_registry *reg = ctx->reg;
	char *mountpoint = NULL;
	json_t *j = NULL, *vol;
	int restoring;

	switch (req->op) {
	case API_ACTIVATE:
		return json_pack("{s:[s]}", "Implements", "VolumeDriver");
	case API_CAPABILITIES:
		return json_pack("{s:{s:s}}", "Capabilities", "Scope", "local");
	case API_CREATE:
		/* restore-from: check the plan now, fill in the background;
		 * Docker re-sends Create for volumes that exist: not again. */
		restoring = ctx->fleet != NULL && req->opts != NULL &&
		    json_object_get(req->opts, "restore-from") != NULL &&
		    !vol_exists(reg, req->name);
		if (restoring && ops_restore_check(ctx->fleet, req->name,
		    req->opts, cause) != 0)
			break;
		if (vol_create(reg, req->name, req->opts, cause) == 0) {
			j = json_object();
			if (ctx->sched != NULL)
				schedule_kick(ctx->sched);
			if (restoring)
				ops_restore_spawn(ctx->fleet, reg, req->name);
		} else
			*status = api_create_status(ctx, req);
		break;
	case API_REMOVE:
		if (vol_remove(reg, req->name, cause) == 0) {
			j = json_object();
			/* A later volume of this name starts afresh. */
			if (ctx->sched != NULL)
				schedule_forget(ctx->sched, req->name);
		}
		break;
	case API_MOUNT:
		if (vol_mount(reg, req->name, req->id, &mountpoint,
		    cause) == 0)
			j = json_pack("{s:s}", "Mountpoint", mountpoint);
		break;
	case API_UNMOUNT:
		if (vol_unmount(reg, req->name, req->id, cause) != 0)
			break;
		j = json_object();
		/* The last user stopped: queue replication, never wait. */
		if (ctx->jobs != NULL && vol_path(reg, req->name, &mountpoint,
		    NULL) == 0 && mountpoint == NULL)
			(void)jobs_trigger(ctx->jobs, req->name, NULL,
			    "unmount");
		break;
	case API_PATH:
		if (vol_path(reg, req->name, &mountpoint, cause) == 0)
			j = json_pack("{s:s}", "Mountpoint",
			    mountpoint != NULL ? mountpoint : "");
		break;
	case API_GET:
		vol = vol_get(reg, req->name, cause);
		if (vol != NULL) {
			api_volume_status(ctx, req->name, vol);
			j = json_pack("{s:o}", "Volume", vol);
		}
		break;
	case API_LIST:	/* vol_list_text, unless out of memory */
		return json_pack("{s:o}", "Volumes", vol_list(reg));
	case API_STATUS:
	case API_RELOAD:
		if (ctx->fleet == NULL) {
			set_cause(cause, "this plugin has no configuration "
			    "loader");
			break;
		}
		if (req->op == API_RELOAD &&
		    fleet_reload(ctx->fleet, cause) != 0)
			break;
		j = json_pack("{s:o}", "Fleet", fleet_status(ctx->fleet));
		if (req->op == API_STATUS)
			api_status(ctx, j);
		break;
	case API_EXPORT:	/* streamed: api_export */
		set_cause(cause, "Export answers with a stream");
		break;
	case API_BACKUP:
	case API_RESTORE:
	case API_SNAPSHOTS:
	case API_CHECK:
	case API_VERIFY:
		if (ctx->fleet == NULL) {
			set_cause(cause, "this plugin has no configuration "
			    "loader");
			break;
		}
		j = api_ops(ctx, req, cause);
		break;
	}
	free(mountpoint);
	return j;
}

/* ---- streamed Privateer.Backup / .Restore ---- */

struct api_stream {
	struct api_ctx ctx;
	struct api_req req;	/* owned */
	int fd;			/* write end */
};

static void
api_stream_line(int fd, json_t *j)
{
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL)
		return;
	/* The reader may have gone: EPIPE is fine, SIGPIPE is ignored. */
	(void)write_all(fd, text, strlen(text));
	(void)write_all(fd, "\n", 1);
	free(text);
}

static void
api_stream_progress(void *arg, const char *server, int percent,
    uint64_t bytes, uint64_t files)
{
	struct api_stream *st = arg;

	api_stream_line(st->fd, json_pack("{s:{s:s, s:i, s:I, s:I}}",
	    "Progress", "Server", server, "Percent", percent, "Bytes",
	    (json_int_t)bytes, "Files", (json_int_t)files));
}

static void *
api_stream_main(void *arg)
{
	struct api_stream *st = arg;
	struct ops_request o;
	char *cause = NULL, *clean;
	json_t *j;

	api_ops_request(&st->req, &o);
	o.progress = api_stream_progress;
	o.progress_arg = st;
	j = st->req.op == API_BACKUP ? ops_backup(st->ctx.fleet, st->ctx.reg,
	    &o, &cause) : ops_restore(st->ctx.fleet, st->ctx.reg, &o, &cause);
	if (j == NULL) {
		clean = utf8_clean(cause != NULL ? cause : "failed");
		j = json_pack("{s:s}", "Err", clean);
		free(clean);
	}
	api_stream_line(st->fd, j);
	free(cause);
	close(st->fd);
	api_req_free(&st->req);
	free(st);
	return NULL;
}

/* Starts the operation in its own thread; 0 and *stream, or -1. */
static int
api_stream_start(const struct api_ctx *ctx, struct api_req *req,
    struct http_stream *stream)
{
	struct api_stream *st;
	pthread_attr_t attr;
	pthread_t t;
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	st = xcalloc(1, sizeof *st);
	st->ctx = *ctx;
	st->req = *req;		/* takes the request's strings */
	memset(req, 0, sizeof *req);
	st->fd = p[1];
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, api_stream_main, st) != 0) {
		pthread_attr_destroy(&attr);
		*req = st->req;
		free(st);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	pthread_attr_destroy(&attr);
	stream->fd = p[0];
	return 0;
}

/* The tar file as the body; errors before it starts as usual. */
static int
api_export(const struct api_ctx *ctx, struct api_req *req, char **out,
    const char **ctype, struct http_stream *stream)
{
	struct ops_request o;
	char *cause = NULL;
	int status = 200;

	api_ops_request(req, &o);
	if (stream == NULL)
		cause = xstrdup("Export needs a streaming connection");
	else if (tarball_export(ctx->fleet, ctx->reg, &o, stream,
	    &cause) == 0) {
		if (ctype != NULL)
			*ctype = "application/x-tar";
		goto out;
	}
	log_info("Privateer.Export %s: %s", req->volume, cause);
	*out = api_error(cause);
	status = vol_exists(ctx->reg, req->volume) || req->source != NULL ?
	    500 : 404;
out:
	free(cause);
	api_req_free(req);
	return status;
}

int
api_upload_open(void *arg, const char *url, const struct http_conn *conn,
    struct http_sink *sink, char **out)
{
	const struct api_ctx *ctx = arg;
	const char *volume;
	char *cause = NULL;

	if (strcmp(url, "/Privateer.Import") != 0)
		return 0;
	volume = http_query(conn, "Volume");
	if (volume == NULL) {
		*out = api_error("missing query parameter Volume");
		return 400;
	}
	if (name_volume_check(volume, &cause) != 0) {
		*out = api_error(cause);
		free(cause);
		return 400;
	}
	if (tarball_import_open(ctx->reg, volume, sink, &cause) != 0) {
		log_info("Privateer.Import %s: %s", volume, cause);
		*out = api_error(cause);
		free(cause);
		return vol_exists(ctx->reg, volume) ? 409 : 500;
	}
	return 1;
}

int
api_handle(const struct api_ctx *ctx, const char *method, const char *url,
    const char *body, size_t len, char **out, const char **ctype)
{
	return api_handle_stream(ctx, method, url, body, len, out, ctype,
	    NULL);
}

int
api_handle_stream(const struct api_ctx *ctx, const char *method,
    const char *url, const char *body, size_t len, char **out,
    const char **ctype, struct http_stream *stream)
{
	struct api_req req;
	char *cause = NULL;
	json_t *j;
	int route, status;

	if (ctype != NULL)
		*ctype = API_CONTENT_TYPE;
	if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
		*out = metrics_render(ctx->reg, ctx->jobs);
		if (ctype != NULL)
			*ctype = METRICS_CONTENT_TYPE;
		return 200;
	}
	route = api_route(url);
	if (route < 0) {
		log_info("%s %.128s: unknown endpoint", method, url);
		*out = xasprintf("{\"Err\":\"unknown endpoint\"}");
		return 404;
	}
	if (strcmp(method, "POST") != 0) {
		*out = api_error("method not allowed; use POST");
		return 405;
	}
	if (api_decode(api_routes[route].op, body, len, &req, &cause) != 0 ||
	    (req.name != NULL && name_volume_check(req.name, &cause) != 0)) {
		log_info("%s: bad request: %s", url + 1, cause);
		*out = api_error(cause);
		free(cause);
		api_req_free(&req);
		return 400;
	}
	log_debug("%s %s%s%s", url + 1, req.name != NULL ? req.name : "",
	    req.id != NULL ? " id=" : "", req.id != NULL ? req.id : "");
	*out = NULL;
	if (req.op == API_LIST && (*out = vol_list_text(ctx->reg)) != NULL) {
		api_req_free(&req);
		return 200;
	}
	if (req.op == API_EXPORT)
		return api_export(ctx, &req, out, ctype, stream);
	if (stream != NULL && req.stream && !req.dry_run && ctx->fleet !=
	    NULL && (req.op == API_BACKUP || req.op == API_RESTORE) &&
	    api_stream_start(ctx, &req, stream) == 0) {
		api_req_free(&req);
		return 200;
	}
	status = 500;
	j = api_run(ctx, &req, &cause, &status);
	if (j != NULL) {
		*out = api_dump(j);
		status = 200;
	} else {
		log_info("%s %s: %s", url + 1, req.name != NULL ? req.name :
		    "", cause != NULL ? cause : "failed");
		*out = api_error(cause != NULL ? cause : "failed");
	}
	free(cause);
	api_req_free(&req);
	return status;
}
