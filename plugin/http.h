/*
 * http: the plugin's HTTP server on a Unix socket, on libmicrohttpd with a
 * thread per connection (Docker keeps connections open and calls in
 * parallel). Request bodies are capped; the handler sees a whole body.
 */
#ifndef PRIVATEER_HTTP_H
#define PRIVATEER_HTTP_H

#include <stddef.h>

/*
 * Serves one request: returns the HTTP status and sets *out to a response
 * body the server frees, and *ctype to its content type (static string).
 * Or, for a streamed answer, leaves *out NULL and sets *stream to the read
 * end of a pipe whose contents become the body (the server closes it).
 * body is NUL-terminated.
 */
typedef int (*http_handler)(void *arg, const char *method, const char *url,
    const char *body, size_t len, char **out, const char **ctype,
    int *stream);

struct http_server;

/*
 * Listens on socket_path (replacing a stale socket file); NULL with *cause
 * on failure. Bodies over body_max get 413 without reaching the handler.
 */
struct http_server *http_start(const char *socket_path, size_t body_max,
    http_handler, void *arg, char **cause);
void http_stop(struct http_server *);

#endif
