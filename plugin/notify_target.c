/*
 * notify_target: a notification target as privateer.json gives it —
 * copied for the queue, wiped when freed (a URL may hold a token) — and
 * its secrets read for one attempt: "$NAME" from the environment,
 * "secret:NAME#FIELD" from the key store (config_secret_ref), anything
 * else as written. A cause names the field and the reference, never a
 * value.
 */
#include "notify.h"

#include <stdlib.h>
#include <string.h>

#include "keystore.h"
#include "util.h"

static char *
notify_target_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
notify_target_copy(struct config_notify *dst, const struct config_notify *src)
{
	size_t i;

	memset(dst, 0, sizeof *dst);
	dst->type = notify_target_dup(src->type);
	dst->url = notify_target_dup(src->url);
	dst->format = notify_target_dup(src->format);
	dst->from = notify_target_dup(src->from);
	dst->user = notify_target_dup(src->user);
	dst->password = notify_target_dup(src->password);
	dst->events = src->events;
	if (src->nto > 0)
		dst->to = xcalloc(src->nto, sizeof *dst->to);
	for (i = 0; i < src->nto; i++)
		dst->to[dst->nto++] = xstrdup(src->to[i]);
}

void
notify_target_free(struct config_notify *t)
{
	size_t i;

	free(t->type);
	if (t->url != NULL)	/* it may hold a token */
		explicit_bzero(t->url, strlen(t->url));
	free(t->url);
	free(t->format);
	free(t->from);
	free(t->user);
	if (t->password != NULL)
		explicit_bzero(t->password, strlen(t->password));
	free(t->password);
	for (i = 0; i < t->nto; i++)
		free(t->to[i]);
	free(t->to);
	memset(t, 0, sizeof *t);
}

int
notify_resolve(const char *key, const char *value, struct keystore *ks,
    const char *ks_error, char **out, char **cause)
{
	char *name, *field, *why = NULL;
	const char *v;
	int r;

	*out = NULL;
	if (value == NULL)
		return 0;
	if (value[0] == '$') {
		v = getenv(value + 1);
		if (v == NULL || *v == '\0') {
			set_cause(cause, "%s: %s is not set", key, value);
			return -1;
		}
		*out = xstrdup(v);
		return 0;
	}
	r = config_secret_ref(value, key, &name, &field);
	if (r == 0) {
		*out = xstrdup(value);
		return 0;
	}
	if (r < 0) {
		set_cause(cause, "%s: not a valid key store reference", key);
		return -1;
	}
	if (ks == NULL)
		set_cause(cause, "%s: %s: key store unavailable: %s", key,
		    value, ks_error != NULL ? ks_error : "not opened");
	else if (keystore_field(ks, name, field, out, &why) != 0) {
		set_cause(cause, "%s: %s: %s", key, value, why);
		free(why);
	}
	free(name);
	free(field);
	return *out != NULL ? 0 : -1;
}

int
notify_target_values(const struct config_notify *t, struct keystore *ks,
    const char *ks_error, struct config_notify *resolved, char **cause)
{
	char *url = NULL, *password = NULL;

	if (notify_resolve("url", t->url, ks, ks_error, &url, cause) != 0)
		return -1;
	if (notify_resolve("password", t->password, ks, ks_error, &password,
	    cause) != 0) {
		if (url != NULL)
			explicit_bzero(url, strlen(url));
		free(url);
		return -1;
	}
	notify_target_copy(resolved, t);
	if (resolved->url != NULL)
		explicit_bzero(resolved->url, strlen(resolved->url));
	free(resolved->url);
	resolved->url = url;
	if (resolved->password != NULL)
		explicit_bzero(resolved->password, strlen(resolved->password));
	free(resolved->password);
	resolved->password = password;
	return 0;
}

int
notify_target_names_secret(const struct config *cfg)
{
	size_t i;

	for (i = 0; cfg != NULL && i < cfg->nnotify; i++) {
		if (config_secret_ref(cfg->notify[i].url, "url", NULL,
		    NULL) != 0 || config_secret_ref(cfg->notify[i].password,
		    "password", NULL, NULL) != 0)
			return 1;
	}
	return 0;
}
