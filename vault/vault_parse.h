/*
 * vault_parse: Vault's JSON answers, decoded without I/O so unit tests can
 * feed recorded bodies. HTTP status decides success or failure elsewhere;
 * these functions only pull fields out.
 */
#ifndef PRIVATEER_VAULT_PARSE_H
#define PRIVATEER_VAULT_PARSE_H

#include <jansson.h>
#include <stddef.h>

/* The "errors" array joined with "; " (caller frees); "" when absent. */
char *vault_parse_errors(const char *body, size_t len);
/*
 * A read of a KV secret. v1: {"data": {...}}; v2: {"data": {"data": {...},
 * "metadata": {"version": N, ...}}}. *data is a new reference (NULL for a
 * v2 version that is deleted or destroyed); *version is the v2 version (0
 * for v1). 0, or -1 with *cause.
 */
int vault_parse_secret(int kv_version, const char *body, size_t len,
    json_t **data, long *version, char **cause);
/* sys/internal/ui/mounts/<path>: the KV version of the mount (1 or 2). */
int vault_parse_mount_version(const char *body, size_t len, int *version,
    char **cause);
/* auth/approle/login: auth.client_token (caller wipes and frees). */
int vault_parse_login(const char *body, size_t len, char **token,
    char **cause);

#endif
