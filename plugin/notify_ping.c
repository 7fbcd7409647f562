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
	/* notify_http reads "$NAME" itself; the suffix goes on its value. */
	url = notify_secret(t->url);
	if (url == NULL) {
		set_cause(cause, "url: %s is not set", t->url);
		return -1;
	}
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	{
		char *full = xasprintf("%s%s", url, suffix);

		explicit_bzero(url, len);
		free(url);
		rc = notify_http(full, NULL, cause);
		explicit_bzero(full, strlen(full));
		free(full);
	}
	return rc;
}

const struct notify_backend notify_ping = { "ping", notify_ping_send };
