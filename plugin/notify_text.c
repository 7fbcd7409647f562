/*
 * notify_text: what a notification says — PRODUCT.md §11's json body,
 * Slack's {"text"}, the one-line summary and RFC 3339 times (the mail is
 * notify_email.c's). Messages come from outside (errors of rsync, ssh,
 * Vault): control characters are cleaned, JSON escaping is jansson's.
 */
#include "notify.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

void
notify_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *
notify_event_text(unsigned event)
{
	return event == NOTIFY_START ? "start" : config_event_name(event);
}

char *
notify_json_body(const struct notify_msg *m)
{
	json_t *o = json_object();
	char when[32], *s, *clean;

	json_object_set_new(o, "event",
	    json_string(notify_event_text(m->event)));
	if (m->host != NULL)
		json_object_set_new(o, "host", json_string(m->host));
	if (m->volume != NULL)
		json_object_set_new(o, "volume", json_string(m->volume));
	if (m->server != NULL)
		json_object_set_new(o, "server", json_string(m->server));
	if (m->client != NULL)
		json_object_set_new(o, "client", json_string(m->client));
	if (m->message != NULL) {
		clean = utf8_clean(m->message);
		json_object_set_new(o, "message", json_string(clean));
		free(clean);
	}
	if (m->last_success > 0) {
		notify_time(m->last_success, when, sizeof when);
		json_object_set_new(o, "last_success", json_string(when));
	}
	notify_time(m->time, when, sizeof when);
	json_object_set_new(o, "time", json_string(when));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		fatal("out of memory");
	return s;
}

char *
notify_summary(const struct notify_msg *m)
{
	char *s, *clean, *host;

	/* One line, whatever a damaged state file held. */
	clean = utf8_clean(m->message != NULL ? m->message : "");
	host = utf8_clean(m->host != NULL ? m->host : "?");
	s = xasprintf("privateer %s on %s: %s", notify_event_text(m->event),
	    host, clean);
	free(host);
	free(clean);
	return s;
}

char *
notify_slack_body(const struct notify_msg *m)
{
	char when[32], *line, *text, *s;
	json_t *o;

	line = notify_summary(m);
	if (m->last_success > 0) {
		notify_time(m->last_success, when, sizeof when);
		text = xasprintf("%s (last success %s)", line, when);
	} else
		text = xstrdup(line);
	o = json_pack("{s:s}", "text", text);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(text);
	free(line);
	if (s == NULL)
		fatal("out of memory");
	return s;
}
