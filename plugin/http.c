/*
 * http: libmicrohttpd behind a socket we create ourselves, because MHD only
 * binds TCP ports; a Unix socket handed over with MHD_OPTION_LISTEN_SOCKET is
 * served like any other.
 */
#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define HTTP_MAX_CONNECTIONS 128
#define HTTP_JSON_TYPE "application/vnd.docker.plugins.v1+json"
#define HTTP_IDLE_TIMEOUT 600	/* seconds; Docker reconnects when closed */
/* Per connection: streamed bodies come in pieces of about this size
 * (MHD's default, 32 KiB, makes an import cost a syscall per 32 KiB). */
#define HTTP_CONN_MEMORY (512 * 1024)
#define HTTP_STREAM_BLOCK (256 * 1024)

struct http_server {
	struct MHD_Daemon *mhd;
	char *socket_path;
	size_t body_max;
	http_handler handler;
	http_upload_open upload_open;
	void *arg;
};

struct http_request {
	char *body;
	size_t len;
	size_t size;
	int too_big;
	struct http_sink sink;	/* a streamed body */
	int upload;
	int refused;		/* the sink took no more */
	int finished;		/* sink.finish was called */
};

/* A streamed response that ends with a trailer. */
struct http_piped {
	struct http_stream s;
	struct MHD_Response *resp;
};

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
	do
		n = read(p->s.fd, buf, max);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
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
	struct http_piped *p = NULL;
	enum MHD_Result r;
	char *colon;

	if (st->finish == NULL)
		resp = MHD_create_response_from_pipe(st->fd);
	else {
		p = xcalloc(1, sizeof *p);
		p->s = *st;
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
		    HTTP_STREAM_BLOCK, http_piped_read, p, http_piped_free);
		p->resp = resp;
	}
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
		if (!req->refused && req->sink.write(req->sink.ctx,
		    upload_data, *upload_data_size) != 0)
			req->refused = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	req->finished = 1;
	status = req->sink.finish(req->sink.ctx, 0, &out);
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

	(void)version;
	if (req == NULL) {
		req = xcalloc(1, sizeof *req);
		*con_cls = req;
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
	status = srv->handler(srv->arg, method, url, req->body, req->len, &out,
	    &ctype, &stream);
	if (out == NULL && stream.fd >= 0)
		return http_stream(conn, status, &stream, ctype);
	free(stream.header);
	return http_reply(conn, status, out, ctype);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_request *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req != NULL) {
		/* The client went away in the middle of a streamed body. */
		if (req->upload && !req->finished)
			(void)req->sink.finish(req->sink.ctx, 1, NULL);
		free(req->body);
		free(req);
		*con_cls = NULL;
	}
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
	srv->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, http_access, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    MHD_OPTION_END);
	if (srv->mhd == NULL) {
		set_cause(cause, "cannot start the HTTP server on %s",
		    socket_path);
		close(fd);
		unlink(socket_path);
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
	free(srv->socket_path);
	free(srv);
}
