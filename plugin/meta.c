/*
 * meta: encoding and atomic persistence of volume metadata.
 */
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static void
meta_format_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
meta_parse_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = timegm(&tm);
	return 0;
}

json_t *
meta_encode(const struct vol_meta *m)
{
	char created[32];

	meta_format_time(m->created, created, sizeof created);
	json_t *j;

	j = json_pack("{s:i, s:s, s:s, s:o, s:o, s:I, s:o}",
	    "version", META_VERSION,
	    "name", m->name,
	    "created", created,
	    "options", m->options != NULL ? json_incref(m->options) :
	    json_object(),
	    "mounts", refs_to_json(&m->refs),
	    "last_used_ms", (json_int_t)m->last_used,
	    "backups", m->backups != NULL ? json_incref(m->backups) :
	    json_object());
	if (m->restore != NULL)
		json_object_set(j, "restore", m->restore);
	return j;
}

void
meta_free(struct vol_meta *m)
{
	free(m->name);
	json_decref(m->options);
	json_decref(m->backups);
	json_decref(m->restore);
	refs_clear(&m->refs);
	memset(m, 0, sizeof *m);
}

int
meta_decode(const json_t *j, struct vol_meta *m, char **cause)
{
	json_t *name, *created, *options, *mounts, *version, *v;
	const char *key;

	memset(m, 0, sizeof *m);
	if (!json_is_object(j)) {
		set_cause(cause, "metadata is not a JSON object");
		return -1;
	}
	version = json_object_get(j, "version");
	if (!json_is_integer(version) ||
	    json_integer_value(version) != META_VERSION) {
		set_cause(cause, "metadata version is not %d", META_VERSION);
		return -1;
	}
	name = json_object_get(j, "name");
	created = json_object_get(j, "created");
	options = json_object_get(j, "options");
	mounts = json_object_get(j, "mounts");
	if (!json_is_string(name)) {
		set_cause(cause, "metadata field name is missing");
		return -1;
	}
	if (!json_is_string(created) ||
	    meta_parse_time(json_string_value(created), &m->created) != 0) {
		set_cause(cause, "metadata field created is not a UTC time");
		return -1;
	}
	if (!json_is_object(options)) {
		set_cause(cause, "metadata field options is not an object");
		return -1;
	}
	json_object_foreach((json_t *)options, key, v) {
		if (!json_is_string(v)) {
			set_cause(cause, "metadata option %s is not a string",
			    key);
			return -1;
		}
	}
	v = json_object_get(j, "backups");
	if (v != NULL && !json_is_object(v)) {
		set_cause(cause, "metadata field backups is not an object");
		return -1;
	}
	if (mounts != NULL && refs_from_json(&m->refs, mounts, cause) != 0)
		return -1;
	m->name = xstrdup(json_string_value(name));
	m->options = json_deep_copy(options);
	m->backups = v != NULL ? json_deep_copy(v) : json_object();
	v = json_object_get(j, "restore");
	if (json_is_object(v))
		m->restore = json_deep_copy(v);
	v = json_object_get(j, "last_used_ms");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		m->last_used = (long long)json_integer_value(v);
	return 0;
}

void
meta_copy(struct vol_meta *dst, const struct vol_meta *src)
{
	json_t *refs;

	memset(dst, 0, sizeof *dst);
	dst->name = src->name != NULL ? xstrdup(src->name) : NULL;
	dst->created = src->created;
	dst->options = src->options != NULL ? json_deep_copy(src->options) :
	    NULL;
	dst->last_used = src->last_used;
	dst->backups = src->backups != NULL ? json_deep_copy(src->backups) :
	    NULL;
	dst->restore = src->restore != NULL ? json_deep_copy(src->restore) :
	    NULL;
	/* refs.h has no copy: its JSON form says everything. */
	refs = refs_to_json(&src->refs);
	if (refs_from_json(&dst->refs, refs, NULL) != 0)
		fatal("meta_copy: mount references do not survive a copy");
	json_decref(refs);
}

char *
meta_format(const json_t *doc, size_t *len)
{
	char *text;

	text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL)
		return NULL;
	*len = strlen(text);
	text[(*len)++] = '\n';	/* json_dumps' NUL becomes the newline */
	return text;
}

int
meta_write_json(const char *path, const json_t *doc, char **cause)
{
	char *text;
	size_t len;
	int rc;

	text = meta_format(doc, &len);
	if (text == NULL) {
		set_cause(cause, "%s: cannot encode JSON", path);
		return -1;
	}
	rc = write_file_atomic(path, text, len, 0600, cause);
	free(text);
	return rc;
}

int
meta_save(const char *dir, const struct vol_meta *m, char **cause)
{
	json_t *doc = meta_encode(m);
	char *path = xasprintf("%s/" META_FILE, dir);
	int rc;

	rc = meta_write_json(path, doc, cause);
	json_decref(doc);
	free(path);
	return rc;
}

int
meta_load(const char *dir, struct vol_meta *m, char **cause)
{
	char *path = xasprintf("%s/" META_FILE, dir), *text, *why = NULL;
	json_error_t err;
	json_t *doc;
	size_t len;
	int rc = -1;

	memset(m, 0, sizeof *m);
	text = read_file_capped(path, META_MAX_BYTES, &len);
	if (text == NULL) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	doc = json_loadb(text, len, 0, &err);
	if (doc == NULL)
		set_cause(cause, "%s: line %d: %s", path, err.line, err.text);
	else if (meta_decode(doc, m, &why) != 0)
		set_cause(cause, "%s: %s", path, why);
	else
		rc = 0;
	json_decref(doc);
	free(why);
	free(text);
	free(path);
	return rc;
}
