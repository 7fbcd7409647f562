/*
 * fuzz_notify: what a notification says, from what the plugin keeps and
 * hears. The input is a notify.json state file (the episodes, and the
 * notifications owed across a restart, whose messages are the errors of
 * rsync, ssh and Vault as they came). Each input is written to a scratch
 * file; notify_start reads it, notify_configure (one webhook, one email
 * target, every event) queues what it owes, and the sender thread hands
 * them to stand-in backends that render every body — PRODUCT.md's json,
 * Slack's, the one-line summary, the mail — and check them instead of
 * sending: the JSON bodies parse back with the event and no control
 * character in "message" or "text"; the summary is one line; the mail has
 * exactly its seven header lines, every line ends in CRLF and no bare CR
 * or LF can start a header of its own. After notify_stop, what the plugin
 * wrote back to the state file is a JSON object.
 */
#include <jansson.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "fuzz.h"
#include "notify.h"
#include "util.h"

static struct config *fuzz_cfg;
static char *fuzz_state;

static void
fuzz_no_controls(const char *what, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "%s has control character 0x%02x: %s\n",
			    what, *p, s);
			abort();
		}
	}
}

static void
fuzz_json(const char *what, const char *body, const char *field,
    const char *event)
{
	json_error_t err;
	json_t *o = json_loads(body, 0, &err);
	const char *v;

	if (!json_is_object(o)) {
		fprintf(stderr, "%s body is not a JSON object (%s): %s\n",
		    what, err.text, body);
		abort();
	}
	v = json_string_value(json_object_get(o, field));
	if (v != NULL)
		fuzz_no_controls(what, v);
	if (event != NULL && (json_string_value(json_object_get(o,
	    "event")) == NULL || strcmp(json_string_value(json_object_get(o,
	    "event")), event) != 0)) {
		fprintf(stderr, "%s body lost its event %s: %s\n", what,
		    event, body);
		abort();
	}
	json_decref(o);
}

static void
fuzz_mail(const char *mail)
{
	static const char *const headers[] = { "Date: ", "From: ", "To: ",
	    "Subject: ", "MIME-Version: ", "Content-Type: ",
	    "Content-Transfer-Encoding: " };
	const char *p = mail, *eol;
	size_t i, n;

	for (i = 0; ; i++) {
		eol = strstr(p, "\r\n");
		if (eol == NULL)
			goto bad;
		if (eol == p)
			break;		/* the end of the headers */
		if (i >= sizeof headers / sizeof headers[0] ||
		    strncmp(p, headers[i], strlen(headers[i])) != 0)
			goto bad;
		p = eol + 2;
	}
	if (i != sizeof headers / sizeof headers[0])
		goto bad;
	/* Every line of the whole message ends in CRLF, none in a bare CR
	 * or LF. */
	for (p = mail, n = strlen(mail), i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			goto bad;
		if (p[i] == '\r' && p[i + 1] != '\n')
			goto bad;
	}
	if (n < 2 || strcmp(mail + n - 2, "\r\n") != 0)
		goto bad;
	return;
bad:
	fprintf(stderr, "a malformed mail:\n%s\n", mail);
	abort();
}

static const char *
fuzz_event(unsigned event)
{
	return event == NOTIFY_START ? "start" : config_event_name(event);
}

static int
fuzz_webhook_send(const struct config_notify *t, const struct notify_msg *m,
    char **cause)
{
	char *s;

	(void)t;
	(void)cause;
	s = notify_json_body(m);
	fuzz_json("json", s, "message", fuzz_event(m->event));
	free(s);
	s = notify_slack_body(m);
	fuzz_json("slack", s, "text", NULL);
	free(s);
	s = notify_summary(m);
	fuzz_no_controls("summary", s);
	free(s);
	return 0;
}

static int
fuzz_email_send(const struct config_notify *t, const struct notify_msg *m,
    char **cause)
{
	char *s;

	(void)cause;
	s = notify_email_message(m, t->from, t->to, t->nto);
	fuzz_mail(s);
	free(s);
	return 0;
}

static const struct notify_backend fuzz_webhook = { "webhook",
    fuzz_webhook_send };
static const struct notify_backend fuzz_email = { "email", fuzz_email_send };
static const struct notify_backend *const fuzz_backends[] = {
	&fuzz_webhook, &fuzz_email, NULL
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char cfg[] = "{\"servers\": [], \"clients\": [], "
	    "\"volumes\": [], \"notify\": ["
	    "{\"type\": \"webhook\", \"url\": \"https://hooks.example/x\", "
	    "\"events\": [\"failure\", \"recovery\", \"stale\", \"verify\", "
	    "\"success\"]}, "
	    "{\"type\": \"email\", \"url\": \"smtp://mail.example:25\", "
	    "\"from\": \"privateer@example.com\", \"to\": "
	    "[\"ops@example.com\", \"dba@example.com\"], "
	    "\"events\": [\"failure\", \"recovery\", \"stale\", \"verify\"]}"
	    "]}";
	char *dir, *cause = NULL;

	(void)argc;
	(void)argv;
	log_set_level("error");
	fuzz_cfg = config_parse(cfg, strlen(cfg), "/etc/privateer", &cause);
	if (fuzz_cfg == NULL) {
		fprintf(stderr, "fuzz_notify: %s\n", cause);
		abort();
	}
	dir = fuzz_tempdir("fuzz_notify");
	if (asprintf(&fuzz_state, "%s/notify.json", dir) < 0)
		abort();
	free(dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notify *n;
	json_error_t err;
	json_t *saved;
	char *text;
	size_t len;
	FILE *f;

	if (size > 64 * 1024)
		return 0;
	f = fopen(fuzz_state, "w");
	if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size) ||
	    fclose(f) != 0)
		abort();
	n = notify_start(fuzz_state, fuzz_backends, 1);
	notify_configure(n, fuzz_cfg, "bob");
	if (notify_flush(n, 5000) != 0) {
		fprintf(stderr, "fuzz_notify: the queue did not empty in 5 s\n");
		abort();
	}
	notify_stop(n);
	/* Written back only when something changed: then an object. */
	text = read_file_capped(fuzz_state, 1 << 20, &len);
	saved = text != NULL && (len != size || memcmp(text, data, len) != 0) ?
	    json_loadb(text, len, 0, &err) : NULL;
	if (text != NULL && saved == NULL && (len != size ||
	    memcmp(text, data, len) != 0)) {
		fprintf(stderr, "fuzz_notify: the state written back is not "
		    "JSON: %s\n", err.text);
		abort();
	}
	if (saved != NULL && !json_is_object(saved)) {
		fprintf(stderr, "fuzz_notify: the state written back is not "
		    "an object\n");
		abort();
	}
	json_decref(saved);
	free(text);
	(void)unlink(fuzz_state);
	return 0;
}
