/*
 * vault: the Vault key store, speaking only Vault's published HTTP API
 * over libcurl: KV v1 (GET/POST <mount>/<path>) and v2 (GET/POST
 * <mount>/data/<path> with check-and-set), the version found through
 * sys/internal/ui/mounts/<path> unless configured, tokens given or obtained
 * by AppRole login (auth/approle/login, retried once when a token from it
 * stops working). Success and failure are decided by the HTTP status, never
 * by error text. Requests are serialised per store and bounded in time and
 * size; tokens and key material are wiped after use.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keystore.h"
#include "util.h"
#include "vault_parse.h"

#define VAULT_BODY_MAX (1024 * 1024)
#define VAULT_DEFAULT_TIMEOUT_MS 10000L

struct vault_store {
	pthread_mutex_t lock;
	char *addr;
	char *mount;
	char *prefix;
	int kv_version;
	char *token;
	int token_from_login;
	char *role_id;
	char *secret_id;
	char *cacert;
	char *name_space;
	long timeout_ms;
};

struct vault_http {
	long status;
	char *body;
	size_t len;
	int overflow;
};

static void
vault_wipe_str(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static void
vault_http_free(struct vault_http *r)
{
	if (r->body != NULL) {
		explicit_bzero(r->body, r->len);
		free(r->body);
	}
	memset(r, 0, sizeof *r);
}

static size_t
vault_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct vault_http *r = arg;
	size_t len = size * n;
	char *grown;

	if (r->len + len > VAULT_BODY_MAX) {
		r->overflow = 1;
		return 0;
	}
	/* Grow by copying so that no stale copy of a secret is left. */
	grown = xmalloc(r->len + len + 1);
	if (r->body != NULL) {
		memcpy(grown, r->body, r->len);
		explicit_bzero(r->body, r->len);
		free(r->body);
	}
	memcpy(grown + r->len, data, len);
	r->len += len;
	grown[r->len] = '\0';
	r->body = grown;
	return len;
}

/* first (taken) followed by the segments of rest, each URL-escaped. */
static char *
vault_path(CURL *curl, char *first, const char *rest)
{
	char *copy, *seg, *save = NULL, *esc, *out, *tmp;

	out = first;
	copy = xstrdup(rest);
	for (seg = strtok_r(copy, "/", &save); seg != NULL;
	    seg = strtok_r(NULL, "/", &save)) {
		esc = curl_easy_escape(curl, seg, 0);
		if (esc == NULL)
			fatal("out of memory");
		tmp = out;
		out = xasprintf("%s/%s", tmp, esc);
		free(tmp);
		curl_free(esc);
	}
	free(copy);
	return out;
}

/*
 * One request to /v1/<path>. Transport failures are -1 with *cause; any
 * HTTP answer is 0 with r->status set for the caller to judge.
 */
static int
vault_request(struct vault_store *vs, const char *method, const char *path,
    const char *body, int with_token, struct vault_http *r, char **cause)
{
	struct curl_slist *headers = NULL, *h;
	char errbuf[CURL_ERROR_SIZE] = "", *url, *hdr;
	CURLcode code;
	CURL *curl;
	int rc = -1;

	memset(r, 0, sizeof *r);
	curl = curl_easy_init();
	if (curl == NULL)
		fatal("curl_easy_init failed");
	url = xasprintf("%s/v1/%s", vs->addr, path);
	if (with_token && vs->token != NULL) {
		hdr = xasprintf("X-Vault-Token: %s", vs->token);
		headers = curl_slist_append(headers, hdr);
		vault_wipe_str(&hdr);
	}
	if (vs->name_space != NULL) {
		hdr = xasprintf("X-Vault-Namespace: %s", vs->name_space);
		headers = curl_slist_append(headers, hdr);
		free(hdr);
	}
	if (body != NULL)
		headers = curl_slist_append(headers,
		    "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, vault_write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, vs->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
	    vs->timeout_ms < 5000 ? vs->timeout_ms : 5000L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	if (vs->cacert != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, vs->cacert);
	code = curl_easy_perform(curl);
	if (code != CURLE_OK) {
		if (r->overflow)
			set_cause(cause, "Vault's answer to %s %s is larger "
			    "than %d bytes", method, path, VAULT_BODY_MAX);
		else
			set_cause(cause, "cannot reach Vault at %s: %s",
			    vs->addr, *errbuf != '\0' ? errbuf :
			    curl_easy_strerror(code));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body == NULL)
		r->body = xcalloc(1, 1);
	rc = 0;
out:
	for (h = headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(url);
	if (rc != 0)
		vault_http_free(r);
	return rc;
}

/* A cause for an answer that is not what the caller wanted. */
static void
vault_status_cause(const struct vault_http *r, const char *doing,
    char **cause)
{
	char *errors = vault_parse_errors(r->body, r->len);

	switch (r->status) {
	case 403:
		set_cause(cause, "permission denied %s (403)", doing);
		break;
	case 503:
		if (strstr(errors, "sealed") != NULL || *errors == '\0')
			set_cause(cause, "vault is sealed (503)");
		else
			set_cause(cause, "vault is unavailable (503): %s",
			    errors);
		break;
	default:
		set_cause(cause, "Vault answered %ld %s%s%s", r->status, doing,
		    *errors != '\0' ? ": " : "", errors);
		break;
	}
	free(errors);
}

static int
vault_login(struct vault_store *vs, char **cause)
{
	struct vault_http r;
	json_t *req;
	char *body, *token = NULL;
	int rc = -1;

	req = json_pack("{s:s, s:s}", "role_id", vs->role_id, "secret_id",
	    vs->secret_id);
	body = json_dumps(req, JSON_COMPACT);
	keypair_json_wipe(req);
	json_decref(req);
	if (vault_request(vs, "POST", "auth/approle/login", body, 0, &r,
	    cause) != 0)
		goto out;
	if (r.status != 200) {
		vault_status_cause(&r, "to the AppRole login", cause);
		goto out;
	}
	if (vault_parse_login(r.body, r.len, &token, cause) != 0)
		goto out;
	vault_wipe_str(&vs->token);
	vs->token = token;
	vs->token_from_login = 1;
	rc = 0;
out:
	vault_http_free(&r);
	vault_wipe_str(&body);
	return rc;
}

static int
vault_detect_version(struct vault_store *vs, CURL *curl, char **cause)
{
	struct vault_http r;
	char *path, *what, *why = NULL;
	int rc = -1;

	path = vault_path(curl, xstrdup("sys/internal/ui/mounts"),
	    vs->mount);
	if (*vs->prefix != '\0')
		path = vault_path(curl, path, vs->prefix);
	what = xasprintf("reading the mount information of %s", vs->mount);
	if (vault_request(vs, "GET", path, NULL, 1, &r, cause) != 0)
		goto out;
	if (r.status != 200) {
		vault_status_cause(&r, what, &why);
		if (r.status == 403 || r.status == 404 || r.status == 400)
			set_cause(cause, "%s; set vault.kv_version in "
			    "privateer.json to skip this check", why);
		else
			set_cause(cause, "%s", why);
		goto out;
	}
	if (vault_parse_mount_version(r.body, r.len, &vs->kv_version,
	    cause) != 0)
		goto out;
	rc = 0;
out:
	vault_http_free(&r);
	free(why);
	free(what);
	free(path);
	return rc;
}

/* Logs in and finds the KV version if not done yet. */
static int
vault_ready(struct vault_store *vs, CURL *curl, char **cause)
{
	if (vs->token == NULL) {
		if (vs->role_id == NULL || vs->secret_id == NULL) {
			set_cause(cause, "no Vault token: set vault.token, "
			    "VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID");
			return -1;
		}
		if (vault_login(vs, cause) != 0)
			return -1;
	}
	if (vs->kv_version == 0 && vault_detect_version(vs, curl, cause) != 0)
		return -1;
	return 0;
}

/*
 * A request that logs in again once if a token from AppRole was refused
 * (it may have expired).
 */
static int
vault_call(struct vault_store *vs, const char *method, const char *path,
    const char *body, struct vault_http *r, char **cause)
{
	if (vault_request(vs, method, path, body, 1, r, cause) != 0)
		return -1;
	if (r->status == 403 && vs->token_from_login) {
		vault_http_free(r);
		if (vault_login(vs, cause) != 0)
			return -1;
		return vault_request(vs, method, path, body, 1, r, cause);
	}
	return 0;
}

/*
 * Reads the secret of name: 1 found (*data set), 0 absent (*version is the
 * v2 version a write must name for check-and-set), -1 error.
 */
static int
vault_read(struct vault_store *vs, CURL *curl, const char *name,
    json_t **data, long *version, char **cause)
{
	struct vault_http r;
	char *rel, *path, *what;
	int rc = -1;

	*data = NULL;
	*version = 0;
	rel = *vs->prefix != '\0' ? xasprintf("%s/%s", vs->prefix, name) :
	    xstrdup(name);
	path = vault_path(curl, vs->kv_version == 2 ?
	    xasprintf("%s/data", vs->mount) : xstrdup(vs->mount), rel);
	what = xasprintf("reading %s/%s", vs->mount, rel);
	if (vault_call(vs, "GET", path, NULL, &r, cause) != 0)
		goto out;
	if (r.status == 404) {
		/* A v2 soft-deleted version answers 404 with its metadata. */
		if (vs->kv_version == 2 && r.len > 0)
			(void)vault_parse_secret(2, r.body, r.len, data,
			    version, NULL);
		json_decref(*data);
		*data = NULL;
		rc = 0;
		goto out;
	}
	if (r.status != 200) {
		vault_status_cause(&r, what, cause);
		goto out;
	}
	if (vault_parse_secret(vs->kv_version, r.body, r.len, data, version,
	    cause) != 0)
		goto out;
	rc = *data != NULL ? 1 : 0;
out:
	vault_http_free(&r);
	free(what);
	free(path);
	free(rel);
	return rc;
}

/*
 * The secret name as a JSON object (*data, to be wiped and freed): 1, 0
 * if Vault has none (404), -1 with *cause. *what names its place.
 */
static int
vault_fetch(struct vault_store *vs, const char *name, json_t **data,
    char **what, char **cause)
{
	long version;
	CURL *curl;
	int found = -1;

	*data = NULL;
	curl = curl_easy_init();
	if (curl == NULL)
		fatal("curl_easy_init failed");
	*what = xasprintf("%s/%s%s%s", vs->mount, vs->prefix,
	    *vs->prefix != '\0' ? "/" : "", name);
	pthread_mutex_lock(&vs->lock);
	if (vault_ready(vs, curl, cause) == 0)
		found = vault_read(vs, curl, name, data, &version, cause);
	pthread_mutex_unlock(&vs->lock);
	curl_easy_cleanup(curl);
	return found;
}

static void
vault_data_free(json_t *data)
{
	if (data != NULL) {
		keypair_json_wipe(data);
		json_decref(data);
	}
}

static int
vault_get(struct keystore *ks, const char *name, int need_private,
    struct keypair *out, char **cause)
{
	json_t *data;
	char *what;
	int rc = -1, found;

	memset(out, 0, sizeof *out);
	found = vault_fetch(ks->impl, name, &data, &what, cause);
	if (found == 0)
		set_cause(cause, "no key for %s at %s (404) — run privateer "
		    "keygen %s", name, what, name);
	else if (found > 0)
		rc = keypair_from_json(data, what, need_private, out, cause);
	vault_data_free(data);
	free(what);
	return rc;
}

static int
vault_field(struct keystore *ks, const char *name, const char *field,
    char **value, char **cause)
{
	json_t *data;
	char *what, *secret;
	int rc = -1, found;

	*value = NULL;
	found = vault_fetch(ks->impl, name, &data, &what, cause);
	secret = xasprintf("secret %s", what);
	if (found == 0)
		set_cause(cause, "no %s in Vault (404)", secret);
	else if (found > 0)
		rc = keystore_data_field(data, secret, field, value, cause);
	vault_data_free(data);
	free(secret);
	free(what);
	return rc;
}

static int
vault_put(struct keystore *ks, const char *name, const struct keypair *kp,
    int *replaced, char **cause)
{
	struct vault_store *vs = ks->impl;
	struct vault_http r;
	json_t *data = NULL, *req;
	char *rel = NULL, *path = NULL, *body = NULL, *what = NULL;
	long version;
	CURL *curl;
	int rc = -1, found;

	memset(&r, 0, sizeof r);
	curl = curl_easy_init();
	if (curl == NULL)
		fatal("curl_easy_init failed");
	pthread_mutex_lock(&vs->lock);
	if (vault_ready(vs, curl, cause) != 0)
		goto out;
	found = vault_read(vs, curl, name, &data, &version, cause);
	if (found < 0)
		goto out;
	*replaced = found;
	rel = *vs->prefix != '\0' ? xasprintf("%s/%s", vs->prefix, name) :
	    xstrdup(name);
	what = xasprintf("writing %s/%s", vs->mount, rel);
	if (vs->kv_version == 2) {
		path = vault_path(curl, xasprintf("%s/data", vs->mount), rel);
		req = json_pack("{s:o, s:{s:I}}", "data", keypair_to_json(kp),
		    "options", "cas", (json_int_t)version);
	} else {
		path = vault_path(curl, xstrdup(vs->mount), rel);
		req = keypair_to_json(kp);
	}
	body = json_dumps(req, JSON_COMPACT);
	keypair_json_wipe(req);
	json_decref(req);
	if (vault_call(vs, "POST", path, body, &r, cause) != 0)
		goto out;
	if (r.status == 400 && vs->kv_version == 2) {
		char *errors = vault_parse_errors(r.body, r.len);
		set_cause(cause, "%s was refused (400): %s — if another "
		    "keygen ran at the same time, run this one again", what,
		    errors);
		free(errors);
		goto out;
	}
	/* v1 answers a write with 204; v2 with 200 and the new version. A
	 * 204 from a "v2" mount means it is really v1: say so, do not pretend. */
	if (r.status != 200 && !(r.status == 204 && vs->kv_version == 1)) {
		if (r.status == 204)
			set_cause(cause, "%s: the mount answered like KV version "
			    "1 (204), not 2; check vault.kv_version", what);
		else
			vault_status_cause(&r, what, cause);
		goto out;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&vs->lock);
	if (data != NULL) {
		keypair_json_wipe(data);
		json_decref(data);
	}
	vault_http_free(&r);
	vault_wipe_str(&body);
	curl_easy_cleanup(curl);
	free(path);
	free(rel);
	free(what);
	return rc;
}

static void
vault_close(struct keystore *ks)
{
	struct vault_store *vs = ks->impl;

	vault_wipe_str(&vs->token);
	vault_wipe_str(&vs->secret_id);
	free(vs->role_id);
	free(vs->addr);
	free(vs->mount);
	free(vs->prefix);
	free(vs->cacert);
	free(vs->name_space);
	pthread_mutex_destroy(&vs->lock);
	free(vs);
}

static const struct keystore_ops vault_ops = {
	vault_get,
	vault_put,
	vault_field,
	vault_close,
};

static char *
vault_optdup(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

struct keystore *
keystore_vault_open(const struct vault_settings *set, char **cause)
{
	struct vault_store *vs;
	struct keystore *ks;
	size_t len;

	if (set->addr == NULL || *set->addr == '\0') {
		set_cause(cause, "no Vault address: set vault.url in "
		    "privateer.json or VAULT_ADDR");
		return NULL;
	}
	if (strncasecmp(set->addr, "http://", 7) != 0 &&
	    strncasecmp(set->addr, "https://", 8) != 0) {
		set_cause(cause, "Vault address \"%s\" is not an http:// or "
		    "https:// URL", set->addr);
		return NULL;
	}
	vs = xcalloc(1, sizeof *vs);
	pthread_mutex_init(&vs->lock, NULL);
	vs->addr = xstrdup(set->addr);
	len = strlen(vs->addr);
	while (len > 0 && vs->addr[len - 1] == '/')
		vs->addr[--len] = '\0';
	vs->mount = xstrdup(set->mount != NULL ? set->mount : "secret");
	vs->prefix = xstrdup(set->prefix != NULL ? set->prefix : "");
	vs->kv_version = set->kv_version;
	vs->token = vault_optdup(set->token);
	vs->role_id = vault_optdup(set->role_id);
	vs->secret_id = vault_optdup(set->secret_id);
	vs->cacert = vault_optdup(set->cacert);
	vs->name_space = vault_optdup(set->name_space);
	vs->timeout_ms = set->timeout_ms > 0 ? set->timeout_ms :
	    VAULT_DEFAULT_TIMEOUT_MS;
	ks = xcalloc(1, sizeof *ks);
	ks->ops = &vault_ops;
	ks->impl = vs;
	ks->where = xasprintf("Vault %s (mount %s, prefix %s)", vs->addr,
	    vs->mount, *vs->prefix != '\0' ? vs->prefix : "/");
	return ks;
}
