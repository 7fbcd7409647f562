/*
 * notify_email: a plain-text mail through libcurl's SMTP client: smtps://
 * is TLS from the start; smtp:// upgrades with STARTTLS when the server
 * offers it, and insists on it when a password would otherwise cross in
 * the clear — the password field's or one written in the URL
 * (smtp://user:password@host). The password (read by notify.c from the
 * environment or the key store) never appears in a message or a log line.
 */
#include "notify.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define NOTIFY_SMTP_TIMEOUT_MS 30000
#define NOTIFY_SMTP_CONNECT_MS 10000

struct notify_upload {
	const char *data;
	size_t len, off;
};

static size_t
notify_email_read(char *buf, size_t size, size_t n, void *arg)
{
	struct notify_upload *u = arg;
	size_t k = size * n;

	if (k > u->len - u->off)
		k = u->len - u->off;
	memcpy(buf, u->data + u->off, k);
	u->off += k;
	return k;
}

static void
notify_email_line(char **s, const char *name, const char *value)
{
	char *clean, *next;

	if (value == NULL)
		return;
	clean = utf8_clean(value);
	next = xasprintf("%s%s: %s\r\n", *s, name, clean);
	free(clean);
	free(*s);
	*s = next;
}

char *
notify_email_message(const struct notify_msg *m, const char *from,
    char *const *to, size_t nto)
{
	char date[64], when[32], *s, *subject, *summary, *tolist, *next;
	const char *event;
	struct tm tm;
	size_t i;

	event = m->event == NOTIFY_START ? "start" :
	    config_event_name(m->event);
	tolist = xstrdup("");
	for (i = 0; i < nto; i++) {
		next = xasprintf("%s%s<%s>", tolist, i > 0 ? ", " : "", to[i]);
		free(tolist);
		tolist = next;
	}
	gmtime_r(&m->time, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	subject = xasprintf("[privateer] %s on %s%s%s", event,
	    m->host != NULL ? m->host : "?", m->volume != NULL ? ": " : "",
	    m->volume != NULL ? m->volume : "");
	next = utf8_clean(subject);
	free(subject);
	subject = next;
	s = xasprintf("Date: %s\r\nFrom: <%s>\r\nTo: %s\r\nSubject: %s\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n", date, from, tolist,
	    subject);
	summary = notify_summary(m);
	next = xasprintf("%s%s\r\n\r\n", s, summary);
	free(s);
	s = next;
	notify_email_line(&s, "event", event);
	notify_email_line(&s, "host", m->host);
	notify_email_line(&s, "volume", m->volume);
	notify_email_line(&s, "server", m->server);
	notify_email_line(&s, "client", m->client);
	notify_email_line(&s, "message", m->message);
	if (m->last_success > 0) {
		notify_time(m->last_success, when, sizeof when);
		notify_email_line(&s, "last_success", when);
	}
	notify_time(m->time, when, sizeof when);
	notify_email_line(&s, "time", when);
	free(summary);
	free(subject);
	free(tolist);
	return s;
}

/* Whether url carries a password (smtp://user:password@host). */
static int
notify_email_url_password(const char *url)
{
	char *pw = NULL;
	CURLU *u;
	int has;

	if ((u = curl_url()) == NULL)
		fatal("out of memory");
	has = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK &&
	    pw != NULL && *pw != '\0';
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		curl_free(pw);
	}
	curl_url_cleanup(u);
	return has;
}

static int
notify_email_send(const struct config_notify *t, const struct notify_msg *m,
    char **cause)
{
	struct curl_slist *rcpt = NULL;
	struct notify_upload up;
	char errbuf[CURL_ERROR_SIZE] = "", *from, *msg;
	const char *url = t->url, *password = t->password;
	CURLcode rc;
	CURL *curl;
	size_t i;
	int ret = -1;

	msg = notify_email_message(m, t->from, t->to, t->nto);
	up.data = msg;
	up.len = strlen(msg);
	up.off = 0;
	curl = curl_easy_init();
	if (curl == NULL)
		fatal("out of memory");
	from = xasprintf("<%s>", t->from);
	for (i = 0; i < t->nto; i++)
		rcpt = curl_slist_append(rcpt, t->to[i]);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	if (strncmp(url, "smtp://", 7) == 0)
		curl_easy_setopt(curl, CURLOPT_USE_SSL, password != NULL ||
		    notify_email_url_password(url) ? (long)CURLUSESSL_ALL :
		    (long)CURLUSESSL_TRY);
	if (t->user != NULL)
		curl_easy_setopt(curl, CURLOPT_USERNAME, t->user);
	if (password != NULL)
		curl_easy_setopt(curl, CURLOPT_PASSWORD, password);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, notify_email_read);
	curl_easy_setopt(curl, CURLOPT_READDATA, &up);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, NOTIFY_SMTP_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
	    NOTIFY_SMTP_CONNECT_MS);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		set_cause(cause, "%s", *errbuf != '\0' ? errbuf :
		    curl_easy_strerror(rc));
	else
		ret = 0;
	curl_easy_cleanup(curl);
	curl_slist_free_all(rcpt);
	free(from);
	free(msg);
	return ret;
}

const struct notify_backend notify_email = { "email", notify_email_send };
