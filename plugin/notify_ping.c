/*
 * notify_ping: the Healthchecks convention — GET URL/start when a job
 * starts, URL when it succeeded (or recovered), URL/fail when something
 * failed, went stale or was found damaged. Self-hosted Healthchecks,
 * healthchecks.io and its look-alikes all take it.
 */
#include "notify.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int
notify_ping_send(const struct config_notify *t, const struct notify_msg *m,
    char **cause)
{
	const char *suffix;
	char *url;
	size_t len;
	int rc;

	switch (m->event) {
	case NOTIFY_START:
		suffix = "/start";
		break;
	case CONFIG_EV_SUCCESS:
	case CONFIG_EV_RECOVERY:
		suffix = "";
		break;
	default:
		suffix = "/fail";
		break;
	}
	/* The URL may hold a token: the copy is wiped. */
	len = strlen(t->url);
	while (len > 0 && t->url[len - 1] == '/')
		len--;
	url = xasprintf("%.*s%s", (int)len, t->url, suffix);
	rc = notify_http(url, NULL, cause);
	explicit_bzero(url, strlen(url));
	free(url);
	return rc;
}

const struct notify_backend notify_ping = { "ping", notify_ping_send };
