/*
 * http: libmicrohttpd behind a socket we create ourselves, because MHD only
 * binds TCP ports; a Unix socket handed over with MHD_OPTION_LISTEN_SOCKET is
 * served like any other.
 *
 * A thread per connection, because handlers block (an fsync, a backup, a
 * streamed export waiting on its pipe) and must never hold up another
 * request. Connections cost little: a 32 KiB pool each (MHD zeroes the
 * whole pool after every request, and above 32 KiB maps it afresh: a
 * 512 KiB pool cost 2.4 ms of CPU per connection, 32 KiB 0.12 ms). They
 * are bounded: one idle between requests for HTTP_IDLE_TIMEOUT is closed
 * (Docker reconnects), and a new connection that finds fewer than
 * HTTP_SPARE free places closes the one idle the longest, so a flood of
 * idle connections never keeps Docker out. A request under way is never
 * dropped to make room, and no timeout runs while our own code has the
 * connection (a handler, a sink, a pipe being read).
 *
 * MHD hands the access handler the decoded URL as a C string: a NUL in
 * the request target (%00, or a raw NUL byte, which MHD 0.9.75 lets
 * through) would cut it, and "/VolumeDriver.Remove%00junk" would be
 * served as Remove. The raw target is seen first (the URI log callback)
 * and such requests get 404 (a NUL in the path) or 400 (in the query).
 */
#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define HTTP_JSON_TYPE "application/vnd.docker.plugins.v1+json"
#define HTTP_MAX_CONNECTIONS 256	/* MHD refuses beyond this */
#define HTTP_SPARE 32		/* places kept free by closing idle ones */
#define HTTP_IDLE_TIMEOUT 5	/* s, between requests and before one */
#define HTTP_STALL_TIMEOUT 600	/* s, a request or answer not moving */
/* Per connection; streamed bodies come in pieces of at most about half. */
#define HTTP_CONN_MEMORY (32 * 1024)
#define HTTP_STREAM_BLOCK (256 * 1024)
#define HTTP_TARGET_MAX 4096	/* a longer raw target gets 404 */

/* One connection (socket), from accept to close. */
struct http_peer {
	struct MHD_Connection *conn;
	int fd;
	int busy;		/* a request reached the handler */
	int evicted;		/* shut down to make room */
	uint64_t idle_since;	/* srv->clock when it last became idle */
	struct http_peer *prev, *next;
};

struct http_server {
	struct MHD_Daemon *mhd;
	char *socket_path;
	size_t body_max;
	http_handler handler;
	http_upload_open upload_open;
	void *arg;

	pthread_mutex_t lock;	/* the peers */
	struct http_peer *peers;
	unsigned npeers;	/* in the list, evicted ones included */
	unsigned nevicted;
	uint64_t clock;		/* orders the peers' idle_since */
};

struct http_request {
	struct http_peer *peer;	/* NULL if MHD did not say */
	int started;		/* the access handler has seen it */
	int bad_target;		/* 404: a NUL in the path */
	int bad_query;		/* 400: a NUL in the query */
	const char *raw;	/* the raw target in MHD's buffer */
	size_t raw_len;		/* its length up to the first NUL */
	char *body;
	size_t len;
	size_t size;
	int too_big;
	struct http_sink sink;	/* a streamed body */
	int upload;
	int refused;		/* the sink took no more */
	int finished;		/* sink.finish was called */
};

/* A streamed response, perhaps ending with a trailer. */
struct http_piped {
	struct http_stream s;
	struct MHD_Response *resp;
	struct MHD_Connection *conn;
};

/*
 * While our code has the connection, no timeout: MHD checks it after
 * every step, and would drop a connection whose handler took longer.
 * Setting it back restarts the clock (MHD does when it was 0).
 */
static void
http_hold(struct MHD_Connection *conn, int ours)
{
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
	    ours ? 0U : (unsigned)HTTP_STALL_TIMEOUT);
}

/* Shuts down the peer idle the longest, other than except; lock held. */
static int
http_evict_one(struct http_server *srv, const struct http_peer *except)
{
	struct http_peer *p, *oldest = NULL;

	for (p = srv->peers; p != NULL; p = p->next) {
		if (p == except || p->busy || p->evicted)
			continue;
		if (oldest == NULL || p->idle_since < oldest->idle_since)
			oldest = p;
	}
	if (oldest == NULL)
		return -1;
	/*
	 * Its thread sees end of file and closes it (the descriptor stays
	 * open until our CLOSED notification has run, under this lock).
	 */
	oldest->evicted = 1;
	srv->nevicted++;
	(void)shutdown(oldest->fd, SHUT_RDWR);
	return 0;
}

static void
http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct http_peer *p = *socket_context;
	const union MHD_ConnectionInfo *info;
	unsigned evicted = 0;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		p = xcalloc(1, sizeof *p);
		p->conn = conn;
		info = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		p->fd = info != NULL ? info->connect_fd : -1;
		pthread_mutex_lock(&srv->lock);
		p->idle_since = srv->clock++;
		p->next = srv->peers;
		if (srv->peers != NULL)
			srv->peers->prev = p;
		srv->peers = p;
		srv->npeers++;
		while (srv->npeers - srv->nevicted > HTTP_MAX_CONNECTIONS -
		    HTTP_SPARE && http_evict_one(srv, p) == 0)
			evicted++;
		pthread_mutex_unlock(&srv->lock);
		*socket_context = p;
		if (evicted > 0)
			log_debug("http: closed %u idle connection(s) to make "
			    "room", evicted);
		return;
	}
	if (p == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		srv->peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	srv->npeers--;
	if (p->evicted)
		srv->nevicted--;
	pthread_mutex_unlock(&srv->lock);
	free(p);
	*socket_context = NULL;
}

/*
 * The request line is in: keep where its raw target is, and whether it
 * holds a %00 (MHD decodes the target in place after this).
 */
static void *
http_uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_request *req = xcalloc(1, sizeof *req);
	const union MHD_ConnectionInfo *info;
	const char *query;
	size_t path_len;

	(void)cls;
	info = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (info != NULL)
		req->peer = info->socket_context;
	if (uri == NULL) {	/* "GET " and nothing after */
		req->bad_target = 1;
		return req;
	}
	req->raw = uri;
	req->raw_len = strnlen(uri, HTTP_TARGET_MAX + 1);
	query = memchr(uri, '?', req->raw_len);
	path_len = query != NULL ? (size_t)(query - uri) : req->raw_len;
	if (memmem(uri, path_len, "%00", 3) != NULL)
		req->bad_target = 1;
	else if (query != NULL && memmem(query, req->raw_len - path_len,
	    "%00", 3) != NULL)
		req->bad_query = 1;
	return req;
}

/*
 * Marks the request's connection busy (never closed to make room); 0, or
 * -1 if it was already closed for that and the request must not run.
 */
static int
http_busy(struct http_server *srv, struct http_request *req)
{
	int rc = 0;

	if (req->peer == NULL)
		return 0;
	pthread_mutex_lock(&srv->lock);
	if (req->peer->evicted)
		rc = -1;
	else
		req->peer->busy = 1;
	pthread_mutex_unlock(&srv->lock);
	return rc;
}

static enum MHD_Result
http_reply(struct MHD_Connection *conn, int status, char *body,
    const char *ctype)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	resp = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	r = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return r;
}

static ssize_t
http_piped_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_piped *p = cls;
	char *why;
	ssize_t n;

	(void)pos;
	/* The writer may be quiet for long (rsync between files). */
	http_hold(p->conn, 1);
	do
		n = read(p->s.fd, buf, max);
	while (n < 0 && errno == EINTR);
	http_hold(p->conn, 0);
	if (n > 0)
		return n;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (p->s.finish == NULL)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* The trailer goes out after the last chunk, from this thread. */
	why = p->s.finish(p->s.ctx);
	if (why == NULL)
		MHD_add_response_footer(p->resp, "X-Privateer-Result", "ok");
	else {
		char *clean = utf8_clip(why, 1000);
		MHD_add_response_footer(p->resp, "X-Privateer-Error", clean);
		free(clean);
		free(why);
	}
	return MHD_CONTENT_READER_END_OF_STREAM;
}

static void
http_piped_free(void *cls)
{
	struct http_piped *p = cls;

	close(p->s.fd);
	if (p->s.release != NULL)
		p->s.release(p->s.ctx);
	free(p);
}

/* A body read from a pipe as it is written. */
static enum MHD_Result
http_stream(struct MHD_Connection *conn, int status, struct http_stream *st,
    const char *ctype)
{
	struct MHD_Response *resp;
	struct http_piped *p;
	enum MHD_Result r;
	char *colon;

	p = xcalloc(1, sizeof *p);
	p->s = *st;
	p->conn = conn;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	    HTTP_STREAM_BLOCK, http_piped_read, p, http_piped_free);
	p->resp = resp;
	if (resp == NULL) {
		close(st->fd);
		if (st->release != NULL)
			st->release(st->ctx);
		free(p);
		free(st->header);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (st->header != NULL && (colon = strchr(st->header, ':')) != NULL) {
		*colon = '\0';
		MHD_add_response_header(resp, st->header, colon + 1 +
		    strspn(colon + 1, " "));
	}
	free(st->header);
	r = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return r;
}

const char *
http_query(const struct http_conn *conn, const char *key)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)conn,
	    MHD_GET_ARGUMENT_KIND, key);
}

/* A streamed request body: hand it over, answer at its end. */
static enum MHD_Result
http_upload(struct MHD_Connection *conn, struct http_request *req,
    const char *upload_data, size_t *upload_data_size)
{
	char *out = NULL;
	int status;

	if (*upload_data_size > 0) {
		http_hold(conn, 1);	/* the sink may wait on a disk */
		if (!req->refused && req->sink.write(req->sink.ctx,
		    upload_data, *upload_data_size) != 0)
			req->refused = 1;
		http_hold(conn, 0);
		*upload_data_size = 0;
		return MHD_YES;
	}
	req->finished = 1;
	http_hold(conn, 1);
	status = req->sink.finish(req->sink.ctx, 0, &out);
	http_hold(conn, 0);
	if (out == NULL)
		out = xstrdup("{}");
	return http_reply(conn, status, out, HTTP_JSON_TYPE);
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	struct http_stream stream;
	const char *ctype;
	char *out = NULL;
	int status;
	size_t n;

	if (req == NULL) {	/* no URI callback: MHD did not say */
		req = xcalloc(1, sizeof *req);
		*con_cls = req;
	}
	if (!req->started) {
		req->started = 1;
		if (http_busy(srv, req) != 0)
			return MHD_NO;	/* closed to make room: drop it */
		/* A request is under way: it may take its time. */
		http_hold(conn, 0);
		/*
		 * MHD leaves the raw target where it was, decoded in place,
		 * and the version just after it: unless a raw NUL cut the
		 * target short, it ends where the version begins.
		 */
		if (req->raw == url && (req->raw_len > HTTP_TARGET_MAX ||
		    version != req->raw + req->raw_len + 1))
			req->bad_target = 1;
		if (req->bad_target) {
			log_info("%s: a NUL in the request path: unknown "
			    "endpoint", method);
			return http_reply(conn, 404, xstrdup("{\"Err\":"
			    "\"unknown endpoint\"}"), HTTP_JSON_TYPE);
		}
		if (req->bad_query) {
			log_info("%s %.128s: a NUL in the query", method, url);
			return http_reply(conn, 400, xstrdup("{\"Err\":"
			    "\"malformed query: it contains NUL\"}"),
			    HTTP_JSON_TYPE);
		}
		if (srv->upload_open == NULL || strcmp(method, "POST") != 0)
			return MHD_YES;
		status = srv->upload_open(srv->arg, url,
		    (const struct http_conn *)conn, &req->sink, &out);
		if (status == 1)
			req->upload = 1;
		else if (status != 0) {
			/* Refused before its body: MHD closes after this. */
			return http_reply(conn, status, out != NULL ? out :
			    xstrdup("{\"Err\":\"refused\"}"), HTTP_JSON_TYPE);
		}
		return MHD_YES;
	}
	if (req->upload)
		return http_upload(conn, req, upload_data, upload_data_size);
	if (*upload_data_size > 0) {
		n = *upload_data_size;
		*upload_data_size = 0;
		if (req->too_big || req->len + n > srv->body_max) {
			/* Keep reading, keep nothing. */
			req->too_big = 1;
			return MHD_YES;
		}
		if (req->len + n + 1 > req->size) {
			req->size = (req->len + n + 1) * 2;
			if (req->size > srv->body_max + 1)
				req->size = srv->body_max + 1;
			req->body = xreallocarray(req->body, req->size, 1);
		}
		memcpy(req->body + req->len, upload_data, n);
		req->len += n;
		return MHD_YES;
	}
	if (req->too_big) {
		log_info("%s %.128s: request body exceeds %zu bytes", method,
		    url, srv->body_max);
		return http_reply(conn, 413, xasprintf("{\"Err\":\"request "
		    "body exceeds %zu bytes\"}", srv->body_max),
		    HTTP_JSON_TYPE);
	}
	if (req->body == NULL)
		req->body = xcalloc(1, 1);
	req->body[req->len] = '\0';
	ctype = HTTP_JSON_TYPE;
	memset(&stream, 0, sizeof stream);
	stream.fd = -1;
	http_hold(conn, 1);
	status = srv->handler(srv->arg, method, url, req->body, req->len, &out,
	    &ctype, &stream);
	http_hold(conn, 0);
	if (out == NULL && stream.fd >= 0)
		return http_stream(conn, status, &stream, ctype);
	free(stream.header);
	return http_reply(conn, status, out, ctype);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	(void)toe;
	if (req == NULL)
		return;
	/* The client went away in the middle of a streamed body. */
	if (req->upload && !req->finished)
		(void)req->sink.finish(req->sink.ctx, 1, NULL);
	if (req->peer != NULL) {
		pthread_mutex_lock(&srv->lock);
		req->peer->busy = 0;
		req->peer->idle_since = srv->clock++;
		pthread_mutex_unlock(&srv->lock);
	}
	/* Between requests: idle, and soon closed if it stays so. */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
	    (unsigned)HTTP_IDLE_TIMEOUT);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);

	(void)cls;
	log_warn("http: %s", msg);
	free(msg);
}

static int
http_listen(const char *path, char **cause)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		set_cause(cause, "socket path %s is too long", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		set_cause(cause, "socket: %s", strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == 0) {
		/* Replace a socket left by a dead instance, nothing else. */
		if (!S_ISSOCK(st.st_mode)) {
			set_cause(cause, "%s exists and is not a socket", path);
			close(fd);
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
			set_cause(cause, "another process serves %s", path);
			close(fd);
			return -1;
		}
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || unlink(path) != 0) {
			set_cause(cause, "removing stale %s: %s", path,
			    strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		set_cause(cause, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* Only root (Docker, the CLI under sudo) may talk to the plugin. */
	if (chmod(path, 0600) != 0) {
		set_cause(cause, "chmod %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, 64) != 0) {
		set_cause(cause, "listen %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct http_server *
http_start(const char *socket_path, size_t body_max, http_handler handler,
    void *arg, char **cause)
{
	struct http_server *srv;
	int fd;

	fd = http_listen(socket_path, cause);
	if (fd < 0)
		return NULL;
	srv = xcalloc(1, sizeof *srv);
	srv->socket_path = xstrdup(socket_path);
	srv->body_max = body_max;
	srv->handler = handler;
	srv->arg = arg;
	pthread_mutex_init(&srv->lock, NULL);
	/* poll, not select: descriptors above 1024 are served too. */
	srv->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, http_access, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, http_notify, srv,
	    MHD_OPTION_URI_LOG_CALLBACK, http_uri_seen, srv,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    MHD_OPTION_END);
	if (srv->mhd == NULL) {
		set_cause(cause, "cannot start the HTTP server on %s",
		    socket_path);
		close(fd);
		unlink(socket_path);
		pthread_mutex_destroy(&srv->lock);
		free(srv->socket_path);
		free(srv);
		return NULL;
	}
	log_info("listening on %s", socket_path);
	return srv;
}

void
http_set_upload(struct http_server *srv, http_upload_open open)
{
	srv->upload_open = open;
}

void
http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	MHD_stop_daemon(srv->mhd);
	unlink(srv->socket_path);
	pthread_mutex_destroy(&srv->lock);
	free(srv->socket_path);
	free(srv);
}
