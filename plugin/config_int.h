/*
 * config_int: what config.c shares with the files that parse the rest of
 * privateer.json (config_notify.c): the error list and the field readers.
 * Not for other modules.
 */
#ifndef PRIVATEER_CONFIG_INT_H
#define PRIVATEER_CONFIG_INT_H

#include <jansson.h>

#include "config.h"
#include "util.h"

#define CONFIG_URL_MAX 2048

struct config_errs {
	char **v;
	size_t n;
};

/* Appends one error (one line, cleaned of control characters). */
void config_err(struct config_errs *, const char *fmt, ...)
    PRINTFLIKE(2, 3);
/* Warns about keys of obj in neither known nor ignored (NULL-terminated). */
void config_fields(struct config *, const json_t *obj, const char *path,
    const char *const *known, const char *const *ignored);
/* A string field (caller frees); NULL, with an error if required. */
char *config_str(struct config_errs *, const json_t *obj, const char *path,
    const char *key, int required, size_t max);
/* An array field; NULL, with an error if required or not an array. */
const json_t *config_array(struct config_errs *, const json_t *obj,
    const char *path, const char *key, int required);

/* "notify" and "verify" (config_notify.c). */
void config_notify_parse(struct config *, struct config_errs *,
    const json_t *doc);
void config_verify_parse(struct config *, struct config_errs *,
    const json_t *doc);
void config_notify_free(struct config *);

#endif
