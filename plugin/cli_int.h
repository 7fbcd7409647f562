/*
 * cli_int: what the CLI's files share — the global options, failing with
 * one line, sizes for people, and the two Unix sockets (the plugin's and
 * the Docker daemon's). Not used outside the CLI.
 */
#ifndef PRIVATEER_CLI_INT_H
#define PRIVATEER_CLI_INT_H

#include <jansson.h>
#include <stddef.h>

#include "util.h"

struct cli {
	const char *config_path;
	const char *as_name;
	const char *socket;
};

/* A response body, kept whole up to a cap (16 MiB). */
struct cli_buf {
	char *data;		/* NUL-terminated; caller frees */
	size_t len;
};
/* A libcurl write function filling the struct cli_buf at arg. */
size_t cli_buf_write(char *data, size_t size, size_t n, void *arg);

/* "privateer: <message>" on stderr; returns 1 (the failure status). */
int cli_fail(const char *fmt, ...) PRINTFLIKE(1, 2);
/* 12345678 -> "11.8 MiB" */
void cli_bytes(double, char *buf, size_t len);
/*
 * method url on a Unix socket with an optional JSON body; *status and *out
 * (parsed JSON or NULL, caller owns). -1 with *cause if nothing answered.
 */
int cli_http(const char *socket, const char *method, const char *url,
    const json_t *body, long *status, json_t **out, char **cause);
/* The plugin's socket: --socket, PRIVATEER_SOCKET, or Docker's (frees). */
char *cli_socket(const struct cli *, char **cause);
/* The Docker daemon's API socket (DOCKER_HOST or the default). */
const char *cli_docker_api(char **cause);
/*
 * The enabled privateer plugin's name in Docker (caller frees), and its
 * socket in *socket if not NULL (caller frees). NULL with *cause.
 */
char *cli_docker_plugin(char **socket, char **cause);

/* POSTs to /Privateer.<op>; *out is the answer (caller owns). */
int cli_plugin_call(const struct cli *, const char *op, const json_t *body,
    json_t **out, char **cause);

/* The command in cli_verify.c. */
int cli_verify(struct cli *, int argc, char **argv);
/* The commands in cli_pack.c. */
int cli_export(struct cli *, int argc, char **argv);
int cli_import(struct cli *, int argc, char **argv);

#endif
