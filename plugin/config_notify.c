/*
 * config_notify: the "notify" targets and the "verify" schedule of
 * privateer.json (PRODUCT.md §11). Secrets (an SMTP password, a webhook
 * URL holding a token) are kept as written — "$ENVVAR" or a key store
 * reference "secret:NAME#FIELD" — and read only when a notification is
 * sent (notify.c), so the file never holds them and a rotated secret needs
 * no reload.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_NOTIFY_MAX 32
#define CONFIG_NOTIFY_TO_MAX 32
#define CONFIG_SECRET_NAME_MAX 200
#define CONFIG_SECRET_FIELD_MAX 64

static const char *const config_event_names[] = { "failure", "recovery",
	"stale", "verify", "success", NULL };

static const char *const config_notify_fields[] = { "type", "url", "format",
	"from", "to", "user", "password", "events", NULL };
static const char *const config_verify_fields[] = { "schedule", NULL };

unsigned
config_event_bit(const char *name)
{
	size_t i;

	for (i = 0; config_event_names[i] != NULL; i++) {
		if (strcmp(name, config_event_names[i]) == 0)
			return 1U << i;
	}
	return 0;
}

const char *
config_event_name(unsigned bit)
{
	size_t i;

	for (i = 0; config_event_names[i] != NULL; i++) {
		if (bit == 1U << i)
			return config_event_names[i];
	}
	return "unknown";
}

/* Whether s[0..len) is one name segment: [A-Za-z0-9._-]+, not . or .. */
static int
config_secret_segment(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	}
	return 1;
}

int
config_secret_ref(const char *s, const char *dflt, char **name,
    char **field)
{
	const char *ref, *hash, *seg, *end, *f;
	size_t nlen;

	if (name != NULL)
		*name = NULL;
	if (field != NULL)
		*field = NULL;
	if (s == NULL || strncmp(s, CONFIG_SECRET_PREFIX,
	    strlen(CONFIG_SECRET_PREFIX)) != 0)
		return 0;
	ref = s + strlen(CONFIG_SECRET_PREFIX);
	hash = strchr(ref, '#');
	nlen = hash != NULL ? (size_t)(hash - ref) : strlen(ref);
	f = hash != NULL ? hash + 1 : dflt;
	if (nlen == 0 || nlen > CONFIG_SECRET_NAME_MAX || f == NULL ||
	    strlen(f) > CONFIG_SECRET_FIELD_MAX ||
	    !config_secret_segment(f, strlen(f)))
		return -1;
	for (seg = ref;; seg = end + 1) {
		end = memchr(seg, '/', (size_t)(ref + nlen - seg));
		if (end == NULL)
			end = ref + nlen;
		if (!config_secret_segment(seg, (size_t)(end - seg)))
			return -1;
		if (end == ref + nlen)
			break;
	}
	if (name != NULL)
		*name = xstrndup(ref, nlen);
	if (field != NULL)
		*field = xstrdup(f);
	return 1;
}

/*
 * Checks a field that may name a secret: a malformed reference is an
 * error, and *ref says whether it is one (or "$NAME").
 */
static void
config_notify_secret(struct config_errs *e, const char *path,
    const char *key, const char *value, int *ref)
{
	int r = config_secret_ref(value, key, NULL, NULL);

	*ref = r != 0 || (value != NULL && value[0] == '$');
	if (r < 0)
		config_err(e, "%s.%s: not a valid key store reference "
		    "(\"secret:NAME#FIELD\", NAME in [A-Za-z0-9._-] "
		    "segments joined by \"/\", FIELD in [A-Za-z0-9._-])",
		    path, key);
}

static void
config_notify_events(struct config_notify *n, struct config_errs *e,
    const json_t *item, const char *path)
{
	const json_t *arr = config_array(e, item, path, "events", 0), *v;
	unsigned bit;
	size_t i;

	n->events = CONFIG_EV_DEFAULT;
	if (arr == NULL)
		return;
	n->events = 0;
	json_array_foreach(arr, i, v) {
		bit = json_is_string(v) ?
		    config_event_bit(json_string_value(v)) : 0;
		if (bit == 0)
			config_err(e, "%s.events[%zu]: not one of failure, "
			    "recovery, stale, verify, success", path, i);
		n->events |= bit;
	}
}

static void
config_notify_email(struct config_notify *n, struct config_errs *e,
    const json_t *item, const char *path)
{
	const json_t *to, *v;
	size_t i;
	int ref;

	config_notify_secret(e, path, "url", n->url, &ref);
	if (n->url != NULL && !ref && strncmp(n->url, "smtp://", 7) != 0 &&
	    strncmp(n->url, "smtps://", 8) != 0)
		config_err(e, "%s.url: not an smtp:// or smtps:// URL (nor "
		    "\"$NAME\" or \"secret:NAME#FIELD\")", path);
		/* (not repeated: it may hold a password) */
	n->from = config_str(e, item, path, "from", 1, 320);
	to = config_array(e, item, path, "to", 1);
	if (to != NULL && (json_array_size(to) == 0 ||
	    json_array_size(to) > CONFIG_NOTIFY_TO_MAX))
		config_err(e, "%s.to: 1 to %d addresses", path,
		    CONFIG_NOTIFY_TO_MAX);
	else if (to != NULL) {
		n->to = xcalloc(json_array_size(to), sizeof *n->to);
		json_array_foreach(to, i, v) {
			if (!json_is_string(v) || json_string_length(v) > 320 ||
			    json_string_length(v) == 0 ||
			    strpbrk(json_string_value(v), "\r\n<>") != NULL) {
				config_err(e, "%s.to[%zu]: not an address",
				    path, i);
				continue;
			}
			n->to[n->nto++] = xstrdup(json_string_value(v));
		}
	}
	if (n->from != NULL && strpbrk(n->from, "\r\n<>") != NULL)
		config_err(e, "%s.from: not an address", path);
	n->user = config_str(e, item, path, "user", 0, 256);
	n->password = config_str(e, item, path, "password", 0, 1024);
	config_notify_secret(e, path, "password", n->password, &ref);
}

void
config_notify_parse(struct config *cfg, struct config_errs *e,
    const json_t *doc)
{
	const json_t *arr = config_array(e, doc, "", "notify", 0), *item;
	struct config_notify *n;
	char path[64];
	size_t i;
	int ref;

	if (arr == NULL)
		return;
	if (json_array_size(arr) > CONFIG_NOTIFY_MAX) {
		config_err(e, "notify: more than %d targets",
		    CONFIG_NOTIFY_MAX);
		return;
	}
	cfg->notify = xcalloc(json_array_size(arr) + 1, sizeof *cfg->notify);
	json_array_foreach(arr, i, item) {
		snprintf(path, sizeof path, "notify[%zu]", i);
		if (!json_is_object(item)) {
			config_err(e, "%s: must be an object", path);
			continue;
		}
		config_fields(cfg, item, path, config_notify_fields, NULL);
		n = &cfg->notify[cfg->nnotify++];
		n->type = config_str(e, item, path, "type", 1, 16);
		n->url = config_str(e, item, path, "url", 1, CONFIG_URL_MAX);
		config_notify_events(n, e, item, path);
		if (n->type == NULL)
			continue;
		if (strcmp(n->type, "email") == 0) {
			config_notify_email(n, e, item, path);
			continue;
		}
		if (strcmp(n->type, "webhook") != 0 &&
		    strcmp(n->type, "ping") != 0) {
			config_err(e, "%s.type: \"%s\" is not webhook, email or "
			    "ping", path, n->type);
			continue;
		}
		config_notify_secret(e, path, "url", n->url, &ref);
		if (n->url != NULL && !ref &&
		    strncmp(n->url, "http://", 7) != 0 &&
		    strncmp(n->url, "https://", 8) != 0)
			config_err(e, "%s.url: not an http:// or https:// URL "
			    "(nor \"$NAME\" or \"secret:NAME#FIELD\")", path);
		if (strcmp(n->type, "webhook") == 0) {
			n->format = config_str(e, item, path, "format", 0, 16);
			if (n->format == NULL)
				n->format = xstrdup("json");
			else if (strcmp(n->format, "json") != 0 &&
			    strcmp(n->format, "slack") != 0)
				config_err(e, "%s.format: \"%s\" is not json or "
				    "slack", path, n->format);
		}
	}
}

void
config_verify_parse(struct config *cfg, struct config_errs *e,
    const json_t *doc)
{
	const json_t *v = json_object_get(doc, "verify");
	char *why = NULL;

	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_object(v)) {
		config_err(e, "verify: must be an object");
		return;
	}
	config_fields(cfg, v, "verify", config_verify_fields, NULL);
	cfg->verify_schedule = config_str(e, v, "verify", "schedule", 1, 256);
	if (cfg->verify_schedule != NULL && cron_parse(cfg->verify_schedule,
	    &cfg->verify_cron, &why) != 0) {
		config_err(e, "verify.schedule: %s", why);
		free(why);
		free(cfg->verify_schedule);
		cfg->verify_schedule = NULL;
	}
}

void
config_notify_free(struct config *cfg)
{
	struct config_notify *n;
	size_t i, k;

	for (i = 0; i < cfg->nnotify; i++) {
		n = &cfg->notify[i];
		free(n->type);
		free(n->url);
		free(n->format);
		free(n->from);
		for (k = 0; k < n->nto; k++)
			free(n->to[k]);
		free(n->to);
		free(n->user);
		if (n->password != NULL)
			explicit_bzero(n->password, strlen(n->password));
		free(n->password);
	}
	free(cfg->notify);
	free(cfg->verify_schedule);
}
