/*
 * config: parsing walks the JSON once, appending every problem to a list
 * instead of stopping at the first, so a user fixing a file sees them all.
 * Field paths are spelled as in the document: clients[0].backup[1].
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "name.h"
#include "vopts.h"
#include "util.h"

#define CONFIG_HOSTNAME_MAX 253

#define CONFIG_RETENTION_MAX 100000

void
config_err(struct config_errs *e, const char *fmt, ...)
{
	va_list ap;
	char *raw;

	e->v = xreallocarray(e->v, e->n + 1, sizeof *e->v);
	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	/* Values from the file may hold control characters: one error is
	 * one line, whatever the value. */
	e->v[e->n++] = utf8_clean(raw);
	free(raw);
}

static void
config_warn(struct config *cfg, const char *path, const char *key)
{
	cfg->warnings = xreallocarray(cfg->warnings, cfg->nwarnings + 1,
	    sizeof *cfg->warnings);
	cfg->warnings[cfg->nwarnings++] = xasprintf("%s%s%s: unknown field, "
	    "ignored", path, *path != '\0' ? "." : "", key);
}

/*
 * Warns about keys of obj not in known (NULL-terminated) and not in
 * ignored (privateer2's helper-container fields, silently accepted).
 */
void
config_fields(struct config *cfg, const json_t *obj, const char *path,
    const char *const *known, const char *const *ignored)
{
	const char *key;
	json_t *v;
	size_t i;
	int found;

	json_object_foreach((json_t *)obj, key, v) {
		found = 0;
		for (i = 0; known[i] != NULL && !found; i++)
			found = strcmp(key, known[i]) == 0;
		for (i = 0; ignored != NULL && ignored[i] != NULL && !found;
		    i++)
			found = strcmp(key, ignored[i]) == 0;
		if (!found)
			config_warn(cfg, path, key);
	}
}

/* A string field; NULL (with an error if required) when absent or bad. */
char *
config_str(struct config_errs *e, const json_t *obj, const char *path,
    const char *key, int required, size_t max)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		if (required)
			config_err(e, "%s.%s: missing", path, key);
		return NULL;
	}
	if (!json_is_string(v)) {
		config_err(e, "%s.%s: must be a string", path, key);
		return NULL;
	}
	if (json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		config_err(e, "%s.%s: longer than %zu bytes", path, key, max);
		return NULL;
	}
	return xstrdup(json_string_value(v));
}

/* A name field: a string that is a safe path component. */
static char *
config_name(struct config_errs *e, const json_t *obj, const char *path,
    const char *key, const char *what)
{
	char *s, *why = NULL;

	s = config_str(e, obj, path, key, 1, 1024);
	if (s != NULL && name_safe_check(what, s, &why) != 0) {
		config_err(e, "%s.%s: %s", path, key, why);
		free(why);
		free(s);
		return NULL;
	}
	return s;
}

static int
config_int(struct config_errs *e, const json_t *obj, const char *path,
    const char *key, int required, long lo, long hi, int dflt)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (v == NULL || json_is_null(v)) {
		if (required)
			config_err(e, "%s.%s: missing", path, key);
		return dflt;
	}
	if (!json_is_integer(v)) {
		config_err(e, "%s.%s: must be an integer", path, key);
		return dflt;
	}
	i = json_integer_value(v);
	if (i < lo || i > hi) {
		config_err(e, "%s.%s: %lld is outside %ld-%ld", path, key,
		    (long long)i, lo, hi);
		return dflt;
	}
	return (int)i;
}

const json_t *
config_array(struct config_errs *e, const json_t *obj, const char *path,
    const char *key, int required)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		if (required)
			config_err(e, "%s%s%s: missing", path,
			    *path != '\0' ? "." : "", key);
		return NULL;
	}
	if (!json_is_array(v)) {
		config_err(e, "%s%s%s: must be an array", path,
		    *path != '\0' ? "." : "", key);
		return NULL;
	}
	return v;
}

static const char *const config_server_fields[] = { "name", "hostname",
	"port", NULL };
static const char *const config_server_ignored[] = { "key_volume",
	"data_volume", "container", NULL };
static const char *const config_client_fields[] = { "name", "backup",
	"schedule", NULL };
static const char *const config_client_ignored[] = { "key_volume",
	"restore", NULL };
static const char *const config_schedule_fields[] = { "jobs", NULL };
static const char *const config_schedule_ignored[] = { "port", "container",
	NULL };
static const char *const config_job_fields[] = { "server", "volume",
	"schedule", NULL };
static const char *const config_volume_fields[] = { "name", "local",
	"max_age", NULL };
static const char *const config_vault_fields[] = { "url", "prefix", "token",
	"mount", "kv_version", NULL };
static const char *const config_keys_fields[] = { "store", "path", NULL };
static const char *const config_retention_fields[] = { "last", "hourly",
	"daily", "weekly", "monthly", NULL };
static const char *const config_store_fields[] = { "compression", NULL };
static const char *const config_top_fields[] = { "servers", "clients",
	"volumes", "vault", "keys", "retention", "store", "notify", "verify",
	NULL };
static const char *const config_top_ignored[] = { "tag", NULL };

static void
config_servers(struct config *cfg, struct config_errs *e, const json_t *doc)
{
	const json_t *arr = config_array(e, doc, "", "servers", 1), *item;
	struct config_server *s;
	char path[64];
	size_t i;

	if (arr == NULL)
		return;
	cfg->servers = xcalloc(json_array_size(arr), sizeof *cfg->servers);
	json_array_foreach(arr, i, item) {
		snprintf(path, sizeof path, "servers[%zu]", i);
		if (!json_is_object(item)) {
			config_err(e, "%s: must be an object", path);
			continue;
		}
		config_fields(cfg, item, path, config_server_fields,
		    config_server_ignored);
		s = &cfg->servers[cfg->nservers++];
		s->name = config_name(e, item, path, "name", "server name");
		s->hostname = config_str(e, item, path, "hostname", 1,
		    CONFIG_HOSTNAME_MAX);
		if (s->hostname != NULL && (*s->hostname == '\0' ||
		    strpbrk(s->hostname, " /\t\n@") != NULL))
			config_err(e, "%s.hostname: \"%s\" is not a host name",
			    path, s->hostname);
		s->port = config_int(e, item, path, "port", 1, 1, 65535, 0);
	}
}

static void
config_jobs(struct config_client *c, struct config_errs *e,
    const json_t *sched, const char *cpath, struct config *cfg)
{
	const json_t *arr, *item;
	struct config_job *j;
	char path[160], spath[128], *why = NULL;
	size_t i;

	snprintf(spath, sizeof spath, "%s.schedule", cpath);
	if (!json_is_object(sched)) {
		config_err(e, "%s: must be an object", spath);
		return;
	}
	config_fields(cfg, sched, spath, config_schedule_fields,
	    config_schedule_ignored);
	arr = config_array(e, sched, spath, "jobs", 1);
	if (arr == NULL)
		return;
	c->jobs = xcalloc(json_array_size(arr), sizeof *c->jobs);
	json_array_foreach(arr, i, item) {
		snprintf(path, sizeof path, "%s.jobs[%zu]", spath, i);
		if (!json_is_object(item)) {
			config_err(e, "%s: must be an object", path);
			continue;
		}
		config_fields(cfg, item, path, config_job_fields, NULL);
		j = &c->jobs[c->njobs++];
		j->server = config_name(e, item, path, "server", "server name");
		j->volume = config_name(e, item, path, "volume", "volume name");
		j->schedule = config_str(e, item, path, "schedule", 1, 256);
		if (j->schedule != NULL &&
		    cron_parse(j->schedule, &j->cron, &why) != 0) {
			config_err(e, "%s.schedule: %s", path, why);
			free(why);
			why = NULL;
		}
	}
}

static void
config_clients(struct config *cfg, struct config_errs *e, const json_t *doc)
{
	const json_t *arr = config_array(e, doc, "", "clients", 1), *item;
	const json_t *backup, *v, *sched;
	struct config_client *c;
	char path[64];
	size_t i, k;

	if (arr == NULL)
		return;
	cfg->clients = xcalloc(json_array_size(arr), sizeof *cfg->clients);
	json_array_foreach(arr, i, item) {
		snprintf(path, sizeof path, "clients[%zu]", i);
		if (!json_is_object(item)) {
			config_err(e, "%s: must be an object", path);
			continue;
		}
		config_fields(cfg, item, path, config_client_fields,
		    config_client_ignored);
		c = &cfg->clients[cfg->nclients++];
		c->name = config_name(e, item, path, "name", "client name");
		backup = config_array(e, item, path, "backup", 0);
		if (backup != NULL) {
			c->backup = xcalloc(json_array_size(backup),
			    sizeof *c->backup);
			json_array_foreach(backup, k, v) {
				if (!json_is_string(v)) {
					config_err(e, "%s.backup[%zu]: must be "
					    "a string", path, k);
					continue;
				}
				c->backup[c->nbackup++] =
				    xstrdup(json_string_value(v));
			}
		}
		sched = json_object_get(item, "schedule");
		if (sched != NULL && !json_is_null(sched))
			config_jobs(c, e, sched, path, cfg);
	}
}

static void
config_volumes(struct config *cfg, struct config_errs *e, const json_t *doc)
{
	const json_t *arr = config_array(e, doc, "", "volumes", 1), *item, *l;
	struct config_volume *v;
	char path[64], *age, *why = NULL;
	size_t i;

	if (arr == NULL)
		return;
	cfg->volumes = xcalloc(json_array_size(arr), sizeof *cfg->volumes);
	json_array_foreach(arr, i, item) {
		snprintf(path, sizeof path, "volumes[%zu]", i);
		if (!json_is_object(item)) {
			config_err(e, "%s: must be an object", path);
			continue;
		}
		config_fields(cfg, item, path, config_volume_fields, NULL);
		v = &cfg->volumes[cfg->nvolumes++];
		v->name = config_name(e, item, path, "name", "volume name");
		l = json_object_get(item, "local");
		if (l != NULL && !json_is_null(l)) {
			if (!json_is_boolean(l))
				config_err(e, "%s.local: must be true or false",
				    path);
			else
				v->local = json_is_true(l);
		}
		age = config_str(e, item, path, "max_age", 0, 64);
		if (age != NULL && vopts_duration_parse(age, &v->max_age,
		    &why) != 0) {
			config_err(e, "%s.max_age: %s", path, why);
			free(why);
			why = NULL;
		}
		free(age);
	}
}

/* privateer2 wrote "/secret/<path>" and read it from the mount "secret". */
static char *
config_vault_prefix(const char *prefix)
{
	const char *p = prefix;
	size_t len;

	if (strncmp(p, "/secret", 7) == 0 && (p[7] == '/' || p[7] == '\0'))
		p += 7;
	while (*p == '/')
		p++;
	len = strlen(p);
	while (len > 0 && p[len - 1] == '/')
		len--;
	return xstrndup(p, len);
}

static void
config_vault(struct config *cfg, struct config_errs *e, const json_t *doc)
{
	const json_t *v = json_object_get(doc, "vault");
	char *prefix;

	cfg->vault.kv_version = 0;
	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_object(v)) {
		config_err(e, "vault: must be an object");
		return;
	}
	config_fields(cfg, v, "vault", config_vault_fields, NULL);
	cfg->has_vault = 1;
	cfg->vault.url = config_str(e, v, "vault", "url", 0, CONFIG_URL_MAX);
	if (cfg->vault.url != NULL && strncmp(cfg->vault.url, "http://", 7) &&
	    strncmp(cfg->vault.url, "https://", 8))
		config_err(e, "vault.url: \"%s\" is not an http:// or https:// "
		    "URL", cfg->vault.url);
	prefix = config_str(e, v, "vault", "prefix", 0, 1024);
	cfg->vault.prefix = config_vault_prefix(prefix != NULL ? prefix :
	    "privateer");
	if (strstr(cfg->vault.prefix, "..") != NULL ||
	    strpbrk(cfg->vault.prefix, "?#% ") != NULL)
		config_err(e, "vault.prefix: \"%s\" is not a plain path",
		    prefix);
	free(prefix);
	cfg->vault.mount = config_str(e, v, "vault", "mount", 0, 256);
	if (cfg->vault.mount == NULL)
		cfg->vault.mount = xstrdup("secret");
	else if (*cfg->vault.mount == '\0' ||
	    strpbrk(cfg->vault.mount, "/?#% ") != NULL)
		config_err(e, "vault.mount: \"%s\" is not a mount name",
		    cfg->vault.mount);
	cfg->vault.token = config_str(e, v, "vault", "token", 0, 4096);
	cfg->vault.kv_version = config_int(e, v, "vault", "kv_version", 0, 1,
	    2, 0);
}

static void
config_keys(struct config *cfg, struct config_errs *e, const json_t *doc)
{
	const json_t *k = json_object_get(doc, "keys");
	char *store = NULL, *path = NULL;

	/* The embedded default: Vault if configured, else files beside us. */
	cfg->store = cfg->has_vault ? CONFIG_STORE_VAULT : CONFIG_STORE_FILE;
	if (k != NULL && !json_is_null(k)) {
		if (!json_is_object(k)) {
			config_err(e, "keys: must be an object");
			return;
		}
		config_fields(cfg, k, "keys", config_keys_fields, NULL);
		store = config_str(e, k, "keys", "store", 1, 64);
		path = config_str(e, k, "keys", "path", 0, 4096);
		if (store != NULL && strcmp(store, "vault") == 0)
			cfg->store = CONFIG_STORE_VAULT;
		else if (store != NULL && strcmp(store, "file") == 0)
			cfg->store = CONFIG_STORE_FILE;
		else if (store != NULL)
			config_err(e, "keys.store: \"%s\" is not vault or file",
			    store);
	}
	if (cfg->store == CONFIG_STORE_VAULT && !cfg->has_vault)
		config_err(e, "keys.store: vault needs a \"vault\" section");
	if (cfg->store == CONFIG_STORE_VAULT && path != NULL)
		config_err(e, "keys.path: only for the file store");
	if (cfg->store == CONFIG_STORE_FILE) {
		if (path == NULL)
			path = xstrdup("keys");
		if (*path == '\0')
			config_err(e, "keys.path: empty");
		cfg->store_path = path[0] == '/' ? xstrdup(path) :
		    xasprintf("%s/%s", cfg->dir, path);
	}
	free(store);
	free(path);
}

static void
config_retention(struct config *cfg, struct config_errs *e,
    const json_t *doc)
{
	const json_t *r = json_object_get(doc, "retention");
	struct config_retention *rt = &cfg->retention;
	const char *key;
	json_t *v;
	size_t i;

	if (r == NULL || json_is_null(r))
		return;
	if (!json_is_object(r)) {
		config_err(e, "retention: must be an object");
		return;
	}
	/*
	 * Not a warning, as elsewhere: with every known count 0, a typo
	 * ("hourley") would keep only the latest snapshot and delete the
	 * rest of the history.
	 */
	json_object_foreach((json_t *)r, key, v) {
		for (i = 0; config_retention_fields[i] != NULL &&
		    strcmp(key, config_retention_fields[i]) != 0; i++)
			;
		if (config_retention_fields[i] == NULL)
			config_err(e, "retention.%s: unknown (known: last, "
			    "hourly, daily, weekly, monthly)", key);
	}
	rt->set = 1;
	rt->last = config_int(e, r, "retention", "last", 0, 0,
	    CONFIG_RETENTION_MAX, 0);
	rt->hourly = config_int(e, r, "retention", "hourly", 0, 0,
	    CONFIG_RETENTION_MAX, 0);
	rt->daily = config_int(e, r, "retention", "daily", 0, 0,
	    CONFIG_RETENTION_MAX, 0);
	rt->weekly = config_int(e, r, "retention", "weekly", 0, 0,
	    CONFIG_RETENTION_MAX, 0);
	rt->monthly = config_int(e, r, "retention", "monthly", 0, 0,
	    CONFIG_RETENTION_MAX, 0);
}

/* "store": how a server keeps snapshots (PRODUCT.md §10). */
static void
config_snapstore(struct config *cfg, struct config_errs *e,
    const json_t *doc)
{
	const json_t *st = json_object_get(doc, "store");
	char *c;

	cfg->snapstore.compress = 1;
	if (st == NULL || json_is_null(st))
		return;
	if (!json_is_object(st)) {
		config_err(e, "store: must be an object");
		return;
	}
	config_fields(cfg, st, "store", config_store_fields, NULL);
	c = config_str(e, st, "store", "compression", 0, 16);
	if (c == NULL)
		return;
	if (strcmp(c, "zstd") == 0)
		cfg->snapstore.compress = 1;
	else if (strcmp(c, "none") == 0)
		cfg->snapstore.compress = 0;
	else
		config_err(e, "store.compression: \"%s\" is not zstd or none",
		    c);
	free(c);
}

/* The cross-field rules of PRODUCT.md §2. */
static void
config_cross_check(const struct config *cfg, struct config_errs *e)
{
	const struct config_client *c;
	const struct config_volume *vol;
	const struct config_job *j;
	size_t i, k, m;

	for (i = 0; i < cfg->nservers; i++) {
		for (k = 0; k < i && cfg->servers[i].name != NULL; k++) {
			if (cfg->servers[k].name != NULL &&
			    strcmp(cfg->servers[k].name,
			    cfg->servers[i].name) == 0)
				config_err(e, "servers[%zu].name: \"%s\" is "
				    "also servers[%zu]", i,
				    cfg->servers[i].name, k);
		}
	}
	for (i = 0; i < cfg->nclients; i++) {
		c = &cfg->clients[i];
		if (c->name == NULL)
			continue;
		for (k = 0; k < i; k++) {
			if (cfg->clients[k].name != NULL &&
			    strcmp(cfg->clients[k].name, c->name) == 0)
				config_err(e, "clients[%zu].name: \"%s\" is "
				    "also clients[%zu]", i, c->name, k);
		}
		for (k = 0; k < cfg->nservers; k++) {
			if (cfg->servers[k].name != NULL &&
			    strcmp(cfg->servers[k].name, c->name) == 0)
				config_err(e, "clients[%zu].name: \"%s\" is "
				    "also a server (servers[%zu]); a machine "
				    "is either a client or a server", i,
				    c->name, k);
		}
	}
	for (i = 0; i < cfg->nvolumes; i++) {
		for (k = 0; k < i && cfg->volumes[i].name != NULL; k++) {
			if (cfg->volumes[k].name != NULL &&
			    strcmp(cfg->volumes[k].name,
			    cfg->volumes[i].name) == 0)
				config_err(e, "volumes[%zu].name: \"%s\" is "
				    "also volumes[%zu]", i,
				    cfg->volumes[i].name, k);
		}
	}
	for (i = 0; i < cfg->nclients; i++) {
		c = &cfg->clients[i];
		for (k = 0; k < c->nbackup; k++) {
			vol = config_volume(cfg, c->backup[k]);
			if (vol == NULL)
				config_err(e, "clients[%zu].backup[%zu]: volume "
				    "\"%s\" is not in volumes", i, k,
				    c->backup[k]);
			else if (vol->local)
				config_err(e, "clients[%zu].backup[%zu]: volume "
				    "\"%s\" is local (volumes with \"local\": "
				    "true are never backed up)", i, k,
				    c->backup[k]);
			for (m = 0; m < k; m++) {
				if (strcmp(c->backup[m], c->backup[k]) == 0)
					config_err(e, "clients[%zu].backup[%zu]:"
					    " volume \"%s\" is listed twice", i,
					    k, c->backup[k]);
			}
		}
		for (k = 0; k < c->njobs; k++) {
			j = &c->jobs[k];
			if (j->server != NULL &&
			    config_server(cfg, j->server) == NULL)
				config_err(e, "clients[%zu].schedule.jobs[%zu]."
				    "server: \"%s\" is not in servers", i, k,
				    j->server);
			if (j->volume == NULL)
				continue;
			for (m = 0; m < c->nbackup; m++) {
				if (strcmp(c->backup[m], j->volume) == 0)
					break;
			}
			if (m == c->nbackup)
				config_err(e, "clients[%zu].schedule.jobs[%zu]."
				    "volume: \"%s\" is not in this client's "
				    "backup list", i, k, j->volume);
		}
	}
}

static char *
config_join_errors(const struct config_errs *e)
{
	size_t i, len = 0;
	char *s, *p;

	for (i = 0; i < e->n; i++)
		len += strlen(e->v[i]) + 1;
	s = p = xmalloc(len + 1);
	for (i = 0; i < e->n; i++) {
		p = stpcpy(p, e->v[i]);
		if (i + 1 < e->n)
			*p++ = '\n';
	}
	*p = '\0';
	return s;
}

struct config *
config_parse(const char *text, size_t len, const char *dir, char **cause)
{
	struct config_errs e = { NULL, 0 };
	struct config *cfg;
	json_error_t jerr;
	json_t *doc;
	size_t i;

	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		set_cause(cause, "line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		return NULL;
	}
	cfg = xcalloc(1, sizeof *cfg);
	cfg->dir = xstrdup(dir);
	if (!json_is_object(doc)) {
		config_err(&e, "the document must be a JSON object");
		goto out;
	}
	config_fields(cfg, doc, "", config_top_fields, config_top_ignored);
	config_servers(cfg, &e, doc);
	config_clients(cfg, &e, doc);
	config_volumes(cfg, &e, doc);
	config_vault(cfg, &e, doc);
	config_keys(cfg, &e, doc);
	config_retention(cfg, &e, doc);
	config_snapstore(cfg, &e, doc);
	config_notify_parse(cfg, &e, doc);
	config_verify_parse(cfg, &e, doc);
	config_cross_check(cfg, &e);
out:
	json_decref(doc);
	if (e.n > 0) {
		if (cause != NULL)
			*cause = config_join_errors(&e);
		for (i = 0; i < e.n; i++)
			free(e.v[i]);
		free(e.v);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
config_load(const char *path, char **cause)
{
	struct config *cfg;
	char *text, *copy, *dir, *why = NULL;
	size_t len;

	text = read_file_capped(path, CONFIG_MAX_BYTES, &len);
	if (text == NULL) {
		set_cause(cause, "%s: %s", path, errno == EFBIG ?
		    "larger than 1 MiB" : strerror(errno));
		return NULL;
	}
	copy = xstrdup(path);
	/* Relative paths in the file are relative to its own directory. */
	dir = realpath(dirname(copy), NULL);
	cfg = config_parse(text, len, dir != NULL ? dir : ".", &why);
	free(dir);
	free(copy);
	free(text);
	if (cfg == NULL) {
		set_cause(cause, "%s: %s", path, why);
		free(why);
		return NULL;
	}
	cfg->path = xstrdup(path);
	return cfg;
}

void
config_free(struct config *cfg)
{
	size_t i, k;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nservers; i++) {
		free(cfg->servers[i].name);
		free(cfg->servers[i].hostname);
	}
	free(cfg->servers);
	for (i = 0; i < cfg->nclients; i++) {
		for (k = 0; k < cfg->clients[i].nbackup; k++)
			free(cfg->clients[i].backup[k]);
		free(cfg->clients[i].backup);
		for (k = 0; k < cfg->clients[i].njobs; k++) {
			free(cfg->clients[i].jobs[k].server);
			free(cfg->clients[i].jobs[k].volume);
			free(cfg->clients[i].jobs[k].schedule);
		}
		free(cfg->clients[i].jobs);
		free(cfg->clients[i].name);
	}
	free(cfg->clients);
	for (i = 0; i < cfg->nvolumes; i++)
		free(cfg->volumes[i].name);
	free(cfg->volumes);
	free(cfg->vault.url);
	free(cfg->vault.mount);
	free(cfg->vault.prefix);
	free(cfg->vault.token);
	free(cfg->store_path);
	config_notify_free(cfg);
	for (i = 0; i < cfg->nwarnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

const struct config_server *
config_server(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nservers; i++) {
		if (cfg->servers[i].name != NULL &&
		    strcmp(cfg->servers[i].name, name) == 0)
			return &cfg->servers[i];
	}
	return NULL;
}

const struct config_client *
config_client(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nclients; i++) {
		if (cfg->clients[i].name != NULL &&
		    strcmp(cfg->clients[i].name, name) == 0)
			return &cfg->clients[i];
	}
	return NULL;
}

const struct config_volume *
config_volume(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nvolumes; i++) {
		if (cfg->volumes[i].name != NULL &&
		    strcmp(cfg->volumes[i].name, name) == 0)
			return &cfg->volumes[i];
	}
	return NULL;
}

enum config_role
config_role(const struct config *cfg, const char *name)
{
	if (config_server(cfg, name) != NULL)
		return CONFIG_ROLE_SERVER;
	if (config_client(cfg, name) != NULL)
		return CONFIG_ROLE_CLIENT;
	return CONFIG_ROLE_NONE;
}

char *
config_identity(const char *dir, const char *as_name, char **cause)
{
	char *path, *text, *nl, *why = NULL;

	if (as_name != NULL && *as_name != '\0') {
		if (name_safe_check("machine name", as_name, cause) != 0)
			return NULL;
		return xstrdup(as_name);
	}
	path = xasprintf("%s/" CONFIG_IDENTITY_FILE, dir);
	text = read_file_capped(path, 4096, NULL);
	if (text == NULL) {
		set_cause(cause, "no identity: give --as NAME or write the "
		    "machine's name to %s (%s)", path, strerror(errno));
		free(path);
		return NULL;
	}
	nl = strpbrk(text, "\r\n");
	if (nl != NULL)
		*nl = '\0';
	if (name_safe_check("machine name", text, &why) != 0) {
		set_cause(cause, "%s: %s", path, why);
		free(why);
		free(text);
		free(path);
		return NULL;
	}
	free(path);
	return text;
}

int
config_check_identity(const struct config *cfg, const char *name,
    char **cause)
{
	char *list = xstrdup(""), *tmp;
	size_t i;

	if (config_role(cfg, name) != CONFIG_ROLE_NONE) {
		free(list);
		return 0;
	}
	for (i = 0; i < cfg->nservers + cfg->nclients; i++) {
		tmp = list;
		list = xasprintf("%s%s%s", tmp, i > 0 ? ", " : "",
		    i < cfg->nservers ? cfg->servers[i].name :
		    cfg->clients[i - cfg->nservers].name);
		free(tmp);
	}
	set_cause(cause, "\"%s\" is neither a server nor a client in %s "
	    "(machines: %s)", name, cfg->path != NULL ? cfg->path :
	    "privateer.json", list);
	free(list);
	return -1;
}
