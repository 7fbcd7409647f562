/*
 * vault_parse: field extraction from Vault responses (KV v1/v2 reads,
 * mount info, AppRole login, error bodies).
 */
#include "vault_parse.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static json_t *
vault_parse_doc(const char *body, size_t len, char **cause)
{
	json_error_t jerr;
	json_t *doc;

	doc = json_loadb(body, len, 0, &jerr);
	if (doc == NULL) {
		set_cause(cause, "Vault answered with malformed JSON (%s)",
		    jerr.text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		set_cause(cause, "Vault answered with a JSON %s, not an object",
		    json_is_array(doc) ? "array" : "value");
		json_decref(doc);
		return NULL;
	}
	return doc;
}

char *
vault_parse_errors(const char *body, size_t len)
{
	json_t *doc, *errors, *e;
	char *out = xstrdup(""), *tmp;
	size_t i;

	doc = len > 0 ? vault_parse_doc(body, len, NULL) : NULL;
	if (doc == NULL)
		return out;
	errors = json_object_get(doc, "errors");
	json_array_foreach(errors, i, e) {
		if (!json_is_string(e))
			continue;
		tmp = out;
		out = xasprintf("%s%s%.200s", tmp, *tmp != '\0' ? "; " : "",
		    json_string_value(e));
		free(tmp);
		if (strlen(out) > 1000)
			break;
	}
	json_decref(doc);
	return out;
}

int
vault_parse_secret(int kv_version, const char *body, size_t len,
    json_t **data, long *version, char **cause)
{
	json_t *doc, *d, *inner, *meta, *v;
	int rc = -1;

	*data = NULL;
	*version = 0;
	doc = vault_parse_doc(body, len, cause);
	if (doc == NULL)
		return -1;
	d = json_object_get(doc, "data");
	if (!json_is_object(d)) {
		set_cause(cause, "Vault's answer has no \"data\" object");
		goto out;
	}
	if (kv_version == 1) {
		*data = json_incref(d);
		rc = 0;
		goto out;
	}
	inner = json_object_get(d, "data");
	meta = json_object_get(d, "metadata");
	if (!json_is_object(meta)) {
		set_cause(cause, "Vault's KV v2 answer has no data.metadata "
		    "object (is the mount really KV version 2?)");
		goto out;
	}
	v = json_object_get(meta, "version");
	if (json_is_integer(v))
		*version = (long)json_integer_value(v);
	if (json_is_object(inner))
		*data = json_incref(inner);
	else if (inner != NULL && !json_is_null(inner)) {
		set_cause(cause, "Vault's KV v2 answer has a data.data that is "
		    "not an object");
		goto out;
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int
vault_parse_mount_version(const char *body, size_t len, int *version,
    char **cause)
{
	json_t *doc, *d, *type, *opts, *v;
	const char *s;
	int rc = -1;

	doc = vault_parse_doc(body, len, cause);
	if (doc == NULL)
		return -1;
	d = json_object_get(doc, "data");
	type = json_object_get(d, "type");
	if (!json_is_string(type)) {
		set_cause(cause, "Vault's mount information has no data.type");
		goto out;
	}
	if (strcmp(json_string_value(type), "kv") != 0 &&
	    strcmp(json_string_value(type), "generic") != 0) {
		set_cause(cause, "the mount is a \"%.32s\" engine, not kv",
		    json_string_value(type));
		goto out;
	}
	opts = json_object_get(d, "options");
	v = json_object_get(opts, "version");
	s = json_is_string(v) ? json_string_value(v) : "1";
	if (strcmp(s, "1") == 0 || *s == '\0')
		*version = 1;
	else if (strcmp(s, "2") == 0)
		*version = 2;
	else {
		set_cause(cause, "unknown KV version \"%.16s\"", s);
		goto out;
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int
vault_parse_login(const char *body, size_t len, char **token, char **cause)
{
	json_t *doc, *t;

	*token = NULL;
	doc = vault_parse_doc(body, len, cause);
	if (doc == NULL)
		return -1;
	t = json_object_get(json_object_get(doc, "auth"), "client_token");
	if (!json_is_string(t) || json_string_length(t) == 0 ||
	    json_string_length(t) > 4096) {
		set_cause(cause, "Vault's login answer has no auth.client_token");
		json_decref(doc);
		return -1;
	}
	*token = xstrdup(json_string_value(t));
	explicit_bzero((char *)json_string_value(t), json_string_length(t));
	json_decref(doc);
	return 0;
}
