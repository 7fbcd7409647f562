/*
 * vopts: volume option parsing. Unknown keys and bad values are errors that
 * list every accepted option, because the user sees only this one line in
 * `docker volume create`'s output.
 */
#include "vopts.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "name.h"
#include "util.h"

void
vopts_free(struct vopts *o)
{
	size_t i;

	for (i = 0; i < o->nbackup; i++)
		free(o->backup[i]);
	free(o->backup);
	free(o->schedule);
	free(o->restore_from);
	free(o->restore_source);
	free(o->restore_volume);
	free(o->restore_snapshot);
	memset(o, 0, sizeof *o);
	o->on_unmount = -1;
}

int
vopts_duration_parse(const char *s, long long *secs, char **cause)
{
	static const struct { char unit; long long mult; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
		{ 'w', 7 * 86400 },
	};
	long long n = 0;
	const char *p = s;
	size_t i;

	while (isdigit((unsigned char)*p) && n < 1000000000LL)
		n = n * 10 + (*p++ - '0');
	for (i = 0; p != s && n > 0 && i < sizeof units / sizeof units[0];
	    i++) {
		if (p[0] == units[i].unit && p[1] == '\0' &&
		    n * units[i].mult <= 10LL * 366 * 86400) {
			*secs = n * units[i].mult;
			return 0;
		}
	}
	set_cause(cause, "\"%.64s\" is not a duration like 90m, 26h or 8d "
	    "(s, m, h, d or w; at most ten years)", s);
	return -1;
}

int
vopts_snapshot_id_valid(const char *s)
{
	struct tm tm;
	const char *end;
	size_t i;

	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return 0;
	for (i = 0; i < 15; i++) {
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return 0;
	}
	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
	return end != NULL && *end == '\0' && tm.tm_mon >= 0 &&
	    tm.tm_mday >= 1;
}

static int
vopts_backup(struct vopts *o, const char *value, char **cause)
{
	char *copy, *tok, *save = NULL, *why = NULL;
	size_t i;
	int rc = -1;

	copy = xstrdup(value);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (name_safe_check("server name", tok, &why) != 0) {
			set_cause(cause, "option backup=%s: %s", value, why);
			goto out;
		}
		for (i = 0; i < o->nbackup; i++) {
			if (strcmp(o->backup[i], tok) == 0) {
				set_cause(cause, "option backup=%s: server "
				    "\"%s\" is listed twice", value, tok);
				goto out;
			}
		}
		if (o->nbackup == VOPTS_BACKUP_MAX) {
			set_cause(cause, "option backup=%s: more than %d "
			    "servers", value, VOPTS_BACKUP_MAX);
			goto out;
		}
		o->backup = xreallocarray(o->backup, o->nbackup + 1,
		    sizeof *o->backup);
		o->backup[o->nbackup++] = xstrdup(tok);
	}
	if (o->nbackup == 0) {
		set_cause(cause, "option backup=%s: expected "
		    "SERVER[,SERVER...]", value);
		goto out;
	}
	rc = 0;
out:
	free(why);
	free(copy);
	return rc;
}

static int
vopts_one(struct vopts *o, const char *key, const char *value, char **cause)
{
	char *why = NULL;
	int rc = -1;

	if (strcmp(key, "backup") == 0)
		return vopts_backup(o, value, cause);
	if (strcmp(key, "schedule") == 0) {
		if (cron_parse(value, &o->sched, &why) != 0) {
			set_cause(cause, "option schedule=%s: %s", value, why);
			goto out;
		}
		o->schedule = xstrdup(value);
	} else if (strcmp(key, "max-age") == 0) {
		if (vopts_duration_parse(value, &o->max_age, &why) != 0) {
			set_cause(cause, "option max-age=%s: %s", value, why);
			goto out;
		}
	} else if (strcmp(key, "on-unmount") == 0) {
		if (strcmp(value, "true") == 0)
			o->on_unmount = 1;
		else if (strcmp(value, "false") == 0)
			o->on_unmount = 0;
		else {
			set_cause(cause, "option on-unmount=%s: expected true "
			    "or false", value);
			goto out;
		}
	} else if (strcmp(key, "restore-from") == 0 ||
	    strcmp(key, "restore-source") == 0) {
		if (name_safe_check(key[8] == 'f' ? "server name" :
		    "client name", value, &why) != 0) {
			set_cause(cause, "option %s=%s: %s", key, value, why);
			goto out;
		}
		if (key[8] == 'f')
			o->restore_from = xstrdup(value);
		else
			o->restore_source = xstrdup(value);
	} else if (strcmp(key, "restore-volume") == 0) {
		if (name_safe_check("volume name", value, &why) != 0) {
			set_cause(cause, "option %s=%s: %s", key, value, why);
			goto out;
		}
		o->restore_volume = xstrdup(value);
	} else if (strcmp(key, "restore-snapshot") == 0) {
		if (strcmp(value, "latest") != 0 &&
		    !vopts_snapshot_id_valid(value)) {
			set_cause(cause, "option restore-snapshot=%s: expected "
			    "latest or a snapshot ID like 20260131T235900Z",
			    value);
			goto out;
		}
		o->restore_snapshot = xstrdup(value);
	} else {
		char *k = utf8_clip(key, 64);
		set_cause(cause, "unknown option \"%s\"; accepted options: "
		    VOPTS_ACCEPTED, k);
		free(k);
		goto out;
	}
	rc = 0;
out:
	free(why);
	return rc;
}

int
vopts_parse(const json_t *opts, struct vopts *out, char **cause)
{
	const char *key;
	json_t *value;

	memset(out, 0, sizeof *out);
	out->on_unmount = -1;
	if (opts == NULL || json_is_null(opts))
		return 0;
	if (!json_is_object(opts)) {
		set_cause(cause, "options must be an object of strings");
		return -1;
	}
	json_object_foreach((json_t *)opts, key, value) {
		if (!json_is_string(value)) {
			set_cause(cause, "option %s: value must be a string",
			    key);
			goto fail;
		}
		if (json_string_length(value) > VOPTS_VALUE_MAX ||
		    strlen(json_string_value(value)) !=
		    json_string_length(value)) {
			set_cause(cause, "option %s: value is longer than %d "
			    "bytes or contains NUL", key, VOPTS_VALUE_MAX);
			goto fail;
		}
		if (vopts_one(out, key, json_string_value(value), cause) != 0)
			goto fail;
	}
	if (out->restore_from == NULL && (out->restore_source != NULL ||
	    out->restore_volume != NULL || out->restore_snapshot != NULL)) {
		set_cause(cause, "options restore-source, restore-volume and "
		    "restore-snapshot need restore-from=SERVER");
		goto fail;
	}
	return 0;
fail:
	vopts_free(out);
	return -1;
}
