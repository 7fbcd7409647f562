/*
 * http: the plugin's HTTP server on a Unix socket, on libmicrohttpd with a
 * thread per connection (Docker keeps connections open and calls in
 * parallel). Request bodies are capped; the handler sees a whole body.
 * Connections idle for a few seconds are closed, and the longest idle one
 * makes room for a new one when few places are left; a request whose
 * target holds a NUL never reaches the handler (404, or 400 in the query).
 */
#ifndef PRIVATEER_HTTP_H
#define PRIVATEER_HTTP_H

#include <stddef.h>

/*
 * A streamed response body: what is written to a pipe, read from fd (the
 * server closes it) until end of file. With finish set, the body is sent
 * chunked and ends with a trailer saying whether it is complete:
 * finish(ctx) returns NULL for "X-Privateer-Result: ok", or a reason
 * (the server frees it) for "X-Privateer-Error: <reason>"; a client that
 * sees neither knows the body was cut. release(ctx), if set, is called
 * once when the response is over, sent or abandoned by the client.
 */
struct http_stream {
	int fd;
	char *(*finish)(void *ctx);
	void (*release)(void *ctx);
	void *ctx;
	char *header;		/* "Name: value" to add, or NULL; freed */
};

/*
 * Serves one request: returns the HTTP status and sets *out to a response
 * body the server frees, and *ctype to its content type (static string).
 * Or, for a streamed answer, leaves *out NULL and sets stream->fd (it
 * comes as -1) and the rest of *stream. body is NUL-terminated.
 */
typedef int (*http_handler)(void *arg, const char *method, const char *url,
    const char *body, size_t len, char **out, const char **ctype,
    struct http_stream *stream);

/*
 * A request body too big to hold, handed over in pieces as it arrives.
 * write returns -1 to refuse the rest (which is then read and dropped);
 * finish gives the answer once the body is over, or, with aborted set,
 * learns that the client went away (out is then NULL).
 */
struct http_sink {
	int (*write)(void *ctx, const char *data, size_t len);
	int (*finish)(void *ctx, int aborted, char **out);
	void *ctx;
};

/*
 * Asked at the start of every POST: 0 if url's body is to be buffered as
 * usual; 1 with *sink set to stream it; or an HTTP status >= 400 with *out
 * (freed by the server) to refuse the request before its body is read.
 * http_query(conn, key) gives the URL's query parameters.
 */
struct http_conn;
typedef int (*http_upload_open)(void *arg, const char *url,
    const struct http_conn *conn, struct http_sink *sink, char **out);
/* A query parameter of the request, or NULL. */
const char *http_query(const struct http_conn *, const char *key);

struct http_server;

/*
 * Listens on socket_path (replacing a stale socket file); NULL with *cause
 * on failure. Bodies over body_max get 413 without reaching the handler.
 */
struct http_server *http_start(const char *socket_path, size_t body_max,
    http_handler, void *arg, char **cause);
/* Streams bodies of the POSTs open() takes (call before requests come). */
void http_set_upload(struct http_server *, http_upload_open open);
void http_stop(struct http_server *);

#endif
