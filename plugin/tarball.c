/*
 * tarball: each export or import owns its child process and a thread that
 * collects the child's stderr (warnings, then the reason it failed), so the
 * child never blocks on a full stderr pipe while we wait on its data.
 */
#include "tarball.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "ops.h"
#include "pack.h"
#include "snapshot.h"
#include "util.h"
#include "volume.h"

#define TARBALL_ERR_MAX 8192
#define TARBALL_PIPE_SIZE (1024 * 1024)

/* ---- a child's stderr, kept (the tail) while it runs ---- */

struct tarball_err {
	int fd;
	pthread_t thread;
	int running;
	char buf[TARBALL_ERR_MAX + 1];
	size_t len;
};

static void *
tarball_err_main(void *arg)
{
	struct tarball_err *e = arg;
	char tmp[4096];
	ssize_t n;
	size_t keep;

	for (;;) {
		n = read(e->fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (e->len + (size_t)n > TARBALL_ERR_MAX) {
			/* The reason comes last: keep the tail. */
			keep = TARBALL_ERR_MAX / 2;
			if (e->len > keep) {
				memmove(e->buf, e->buf + e->len - keep, keep);
				e->len = keep;
			}
			if ((size_t)n > TARBALL_ERR_MAX - e->len)
				n = (ssize_t)(TARBALL_ERR_MAX - e->len);
		}
		memcpy(e->buf + e->len, tmp, (size_t)n);
		e->len += (size_t)n;
	}
	e->buf[e->len] = '\0';
	return NULL;
}

/* Takes fd. */
static void
tarball_err_start(struct tarball_err *e, int fd)
{
	e->fd = fd;
	e->len = 0;
	e->running = pthread_create(&e->thread, NULL, tarball_err_main,
	    e) == 0;
	if (!e->running) {
		close(fd);
		e->fd = -1;
	}
}

static void
tarball_err_join(struct tarball_err *e)
{
	if (e->running) {
		pthread_join(e->thread, NULL);
		e->running = 0;
	}
	if (e->fd >= 0) {
		close(e->fd);
		e->fd = -1;
	}
}

/* The last non-empty line, which is the child's reason (caller frees). */
static char *
tarball_err_reason(struct tarball_err *e, int status)
{
	char *end = e->buf + e->len, *start;

	while (end > e->buf && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > e->buf && start[-1] != '\n')
		start--;
	if (start == end)
		return xasprintf("exit status %d", status);
	return xstrndup(start, (size_t)(end - start));
}

/* ---- export ---- */

struct tarball_export {
	struct ops_export ex;
	struct tarball_err err;
	char *what;		/* for the log */
	int finished;
};

static char *
tarball_export_finish(void *ctx)
{
	struct tarball_export *t = ctx;
	char *why = NULL;
	int status;

	tarball_err_join(&t->err);
	status = child_wait(&t->ex.child);
	t->finished = 1;
	if (status != 0) {
		why = tarball_err_reason(&t->err, status);
		log_error("export of %s failed: %s", t->what, why);
	} else
		log_info("export of %s complete", t->what);
	return why;
}

static void
tarball_export_release(void *ctx)
{
	struct tarball_export *t = ctx;

	if (!t->finished) {
		log_info("export of %s abandoned: the client went away",
		    t->what);
		if (t->ex.child.pid > 0)
			kill(t->ex.child.pid, SIGTERM);
		tarball_err_join(&t->err);
	}
	ops_export_free(&t->ex);
	free(t->what);
	free(t);
}

int
tarball_export(struct fleet *f, struct vol_registry *reg,
    const struct ops_request *req, struct http_stream *out, char **cause)
{
	struct tarball_export *t = xcalloc(1, sizeof *t);
	enum pack_compress comp = PACK_ZSTD;
	char stamp[SNAP_ID_LEN + 1];

	if (req->compress != NULL && pack_compress_parse(req->compress,
	    &comp) != 0) {
		set_cause(cause, "compression \"%s\" is not none, gzip or zstd",
		    req->compress);
		free(t);
		return -1;
	}
	if (ops_export_start(f, reg, req, &t->ex, cause) != 0) {
		ops_export_free(&t->ex);
		free(t);
		return -1;
	}
	if (t->ex.snapshot != NULL)
		snprintf(stamp, sizeof stamp, "%s", t->ex.snapshot);
	else
		snap_id_format(time(NULL), stamp);
	t->what = xasprintf("%s (%s%s%s)", req->volume, t->ex.source,
	    t->ex.server != NULL ? " on " : "", t->ex.server != NULL ?
	    t->ex.server : "");
	tarball_err_start(&t->err, t->ex.child.err);
	t->ex.child.err = -1;
	/* Fewer, larger reads between the child and the socket. */
	(void)fcntl(t->ex.child.out, F_SETPIPE_SZ, TARBALL_PIPE_SIZE);
	out->fd = t->ex.child.out;
	t->ex.child.out = -1;
	out->finish = tarball_export_finish;
	out->release = tarball_export_release;
	out->ctx = t;
	out->header = xasprintf("X-Privateer-Filename: %s-%s-%s%s",
	    req->volume, t->ex.source, stamp, pack_suffix(comp));
	log_info("export of %s starting", t->what);
	return 0;
}

/* ---- import ---- */

struct tarball_import {
	struct vol_registry *reg;
	struct vol_import *imp;
	char *volume;
	struct child child;
	struct tarball_err err;
	uint64_t received;
};

static int
tarball_import_write(void *ctx, const char *data, size_t len)
{
	struct tarball_import *t = ctx;

	t->received += len;
	/* EPIPE: the child stopped (refused an entry); it says why. */
	return write_all(t->child.in, data, len);
}

static char *
tarball_json_error(const char *fmt, ...) PRINTFLIKE(1, 2);

static char *
tarball_json_error(const char *fmt, ...)
{
	va_list ap;
	char *msg, *clean, *s;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	clean = utf8_clean(msg);
	s = json_dumps(json_pack("{s:s}", "Err", clean), JSON_COMPACT);
	free(clean);
	free(msg);
	return s;
}

static int
tarball_import_finish(void *ctx, int aborted, char **out)
{
	struct tarball_import *t = ctx;
	json_t *stats = NULL;
	char *stdout_text, *why = NULL;
	int status, code = 200;

	close(t->child.in);
	t->child.in = -1;
	if (aborted && t->child.pid > 0)
		kill(t->child.pid, SIGTERM);
	stdout_text = child_read_all(t->child.out, 4096);
	tarball_err_join(&t->err);
	status = child_wait(&t->child);
	if (aborted) {
		log_info("import into %s abandoned: the client went away",
		    t->volume);
		vol_import_abort(t->reg, t->imp);
	} else if (status != 0) {
		why = tarball_err_reason(&t->err, status);
		log_info("import into %s refused: %s", t->volume, why);
		vol_import_abort(t->reg, t->imp);
		*out = tarball_json_error("import into %s: %s", t->volume, why);
		code = 400;
	} else if (vol_import_commit(t->reg, t->imp, &why) != 0) {
		/* Created meanwhile: the client's conflict, not our fault. */
		if (vol_exists(t->reg, t->volume)) {
			log_info("import into %s: %s", t->volume, why);
			code = 409;
		} else {
			log_error("import into %s: %s", t->volume, why);
			code = 500;
		}
		*out = tarball_json_error("import into %s: %s", t->volume, why);
	} else {
		stats = json_loads(stdout_text, 0, NULL);
		if (!json_is_object(stats)) {
			json_decref(stats);
			stats = json_object();
		}
		json_object_set_new(stats, "Volume", json_string(t->volume));
		log_info("import into %s complete (%llu bytes of archive)",
		    t->volume, (unsigned long long)t->received);
		if (out != NULL)
			*out = json_dumps(stats, JSON_COMPACT);
		json_decref(stats);
	}
	free(why);
	free(stdout_text);
	child_close(&t->child);
	free(t->volume);
	free(t);
	return code;
}

int
tarball_import_open(struct vol_registry *reg, const char *volume,
    struct http_sink *sink, char **cause)
{
	struct tarball_import *t;
	char exe[PATH_MAX], *data = NULL, *argv[5];

	if (child_self_exe(exe, sizeof exe, cause) != 0)
		return -1;
	t = xcalloc(1, sizeof *t);
	t->reg = reg;
	t->volume = xstrdup(volume);
	if (vol_import_begin(reg, volume, &t->imp, &data, cause) != 0)
		goto fail;
	argv[0] = exe;
	argv[1] = "pack";
	argv[2] = "import";
	argv[3] = data;
	argv[4] = NULL;
	if (child_start(exe, argv, child_clean_env, "/", -1, -1, &t->child,
	    cause) != 0) {
		vol_import_abort(reg, t->imp);
		goto fail;
	}
	free(data);
	(void)fcntl(t->child.in, F_SETPIPE_SZ, TARBALL_PIPE_SIZE);
	tarball_err_start(&t->err, t->child.err);
	t->child.err = -1;
	sink->write = tarball_import_write;
	sink->finish = tarball_import_finish;
	sink->ctx = t;
	log_info("import into %s starting", volume);
	return 0;
fail:
	free(data);
	free(t->volume);
	free(t);
	return -1;
}
