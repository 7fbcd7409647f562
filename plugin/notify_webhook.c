/*
 * notify_webhook: a POST of the json or slack body (notify.h) to the
 * target's URL; and the one HTTP request every HTTP target makes
 * (notify_ping.c uses it too): no redirects, http and https only, TLS
 * verified by libcurl's defaults, bounded in time, the answer read and
 * discarded (at most a little of it kept for the error).
 */
#include "notify.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define NOTIFY_HTTP_TIMEOUT_MS 15000
#define NOTIFY_HTTP_CONNECT_MS 10000

static size_t
notify_http_discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

int
notify_http(const char *url, const char *body, char **cause)
{
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int ret = -1;

	curl = curl_easy_init();
	if (curl == NULL)
		fatal("out of memory");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (body != NULL) {
		headers = curl_slist_append(headers,
		    "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(body));
	}
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "privateer/"
	    PRIVATEER_VERSION);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, notify_http_discard);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, NOTIFY_HTTP_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
	    NOTIFY_HTTP_CONNECT_MS);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		set_cause(cause, "%s", *errbuf != '\0' ? errbuf :
		    curl_easy_strerror(rc));
	else {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 299)
			set_cause(cause, "HTTP status %ld", status);
		else
			ret = 0;
	}
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	return ret;
}

static int
notify_webhook_send(const struct config_notify *t, const struct notify_msg *m,
    char **cause)
{
	char *body;
	int rc;

	if (t->format != NULL && strcmp(t->format, "slack") == 0)
		body = notify_slack_body(m);
	else
		body = notify_json_body(m);
	rc = notify_http(t->url, body, cause);
	free(body);
	return rc;
}

const struct notify_backend notify_webhook = { "webhook",
	notify_webhook_send };
