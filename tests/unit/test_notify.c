/*
 * test_notify: what a notification says and when it is sent. The json
 * body has PRODUCT.md §11's fields (RFC 3339 UTC times, absent fields
 * omitted), the slack body is {"text"}, the mail has a subject naming
 * event, host and volume. The state machine, with a fake backend that
 * records what it is asked to send: a failure is told once however many
 * retries fail, a success after it is one recovery, success is opt-in,
 * a restart (a new notify on the same state file) does not tell an
 * episode again, staleness and damage once per episode, the end of a
 * stale episode a recovery (once, with a failure's, and not undone by the
 * watcher's older view, across a restart too); what is owed when the
 * plugin stops is sent after its restart, once; a removed volume's
 * episodes end (notify_sweep); a target that
 * keeps failing is retried a few times and then counted; a ping gets
 * start only when it wants success. Also the "notify" section of
 * privateer.json, durations and max_age.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "notify.h"
#include "stale.h"
#include "util.h"
#include "vopts.h"

#define BASE_DIR "/etc/privateer"

/* ---- the fake backend ---- */

static pthread_mutex_t sent_lock = PTHREAD_MUTEX_INITIALIZER;
static char sent[64][256];
static int nsent;
static int fail_sends;		/* every send fails */

static int
fake_send(const struct config_notify *t, const struct notify_msg *m,
    char **cause)
{
	pthread_mutex_lock(&sent_lock);
	if (nsent < 64)
		snprintf(sent[nsent++], sizeof sent[0], "%s %s %s %s %s",
		    t->url, m->event == NOTIFY_START ? "start" :
		    config_event_name(m->event), m->volume != NULL ? m->volume :
		    "-", m->server != NULL ? m->server : "-", m->client != NULL ?
		    m->client : "-");
	pthread_mutex_unlock(&sent_lock);
	if (fail_sends) {
		set_cause(cause, "refused");
		return -1;
	}
	return 0;
}

static const struct notify_backend fake_webhook = { "webhook", fake_send };
static const struct notify_backend fake_ping = { "ping", fake_send };
static const struct notify_backend *const fakes[] = { &fake_webhook,
	&fake_ping, NULL };

static struct config *
cfg_of(const char *text)
{
	char *cause = NULL;
	struct config *cfg;

	cfg = config_parse(text, strlen(text), BASE_DIR, &cause);
	if (cfg == NULL)
		fail_msg("config: %s", cause);
	return cfg;
}

#define FLEET \
	"\"servers\": [{\"name\": \"alice\", \"hostname\": \"a\", " \
	"\"port\": 10022}], \"clients\": [{\"name\": \"bob\", \"backup\": " \
	"[\"data\"], \"schedule\": {\"jobs\": [{\"server\": \"alice\", " \
	"\"volume\": \"data\", \"schedule\": \"0 * * * *\"}]}}], " \
	"\"volumes\": [{\"name\": \"data\"}, {\"name\": \"db\", \"max_age\": " \
	"\"26h\"}]"

static char state_file[64];

static struct notify *
start_retry(const char *targets, int retry_ms)
{
	char *text = xasprintf("{" FLEET ", \"notify\": %s}", targets);
	struct config *cfg = cfg_of(text);
	struct notify *n;

	n = notify_start(state_file, fakes, retry_ms);
	notify_configure(n, cfg, "bob");
	config_free(cfg);
	free(text);
	return n;
}

static struct notify *
start(const char *targets)
{
	return start_retry(targets, 10);
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(state_file, sizeof state_file, "/tmp/test_notify.XXXXXX");
	fd = mkstemp(state_file);
	assert_true(fd >= 0);
	close(fd);
	unlink(state_file);
	nsent = 0;
	fail_sends = 0;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(state_file);
	return 0;
}

/* Waits (5 s at most) until the fakes were asked to send count times. */
static void
wait_sent(int count)
{
	int i, now;

	for (i = 0; i < 500; i++) {
		pthread_mutex_lock(&sent_lock);
		now = nsent;
		pthread_mutex_unlock(&sent_lock);
		if (now >= count)
			return;
		usleep(10000);
	}
	fail_msg("%d sends asked for, %d expected", now, count);
}

static void
assert_sent(int i, const char *what)
{
	if (i >= nsent)
		fail_msg("notification %d not sent (expected \"%s\")", i, what);
	if (strcmp(sent[i], what) != 0)
		fail_msg("notification %d: \"%s\", expected \"%s\"", i,
		    sent[i], what);
}

/* ---- bodies ---- */

static void
test_json_body(void **state)
{
	struct notify_msg m = { CONFIG_EV_FAILURE, "bob", "data", "alice",
		"bob", "backup of data to alice failed: refused\n\"x\"",
		1767225600, 1767229200 };
	json_error_t err;
	json_t *j;
	char *s;

	(void)state;
	s = notify_json_body(&m);
	j = json_loads(s, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
	    "failure");
	assert_string_equal(json_string_value(json_object_get(j, "host")),
	    "bob");
	assert_string_equal(json_string_value(json_object_get(j, "volume")),
	    "data");
	assert_string_equal(json_string_value(json_object_get(j, "server")),
	    "alice");
	assert_string_equal(json_string_value(json_object_get(j, "client")),
	    "bob");
	/* Control characters cleaned; quotes escaped by JSON. */
	assert_string_equal(json_string_value(json_object_get(j, "message")),
	    "backup of data to alice failed: refused?\"x\"");
	assert_string_equal(json_string_value(json_object_get(j,
	    "last_success")), "2026-01-01T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(j, "time")),
	    "2026-01-01T01:00:00Z");
	assert_int_equal(json_object_size(j), 8);
	json_decref(j);
	free(s);

	/* Absent fields are omitted, not null. */
	m.volume = m.server = m.client = NULL;
	m.last_success = 0;
	m.event = CONFIG_EV_STALE;
	s = notify_json_body(&m);
	j = json_loads(s, 0, &err);
	assert_int_equal(json_object_size(j), 4);
	assert_null(json_object_get(j, "last_success"));
	assert_null(json_object_get(j, "volume"));
	assert_string_equal(json_string_value(json_object_get(j, "event")),
	    "stale");
	json_decref(j);
	free(s);
}

static void
test_slack_and_email(void **state)
{
	struct notify_msg m = { CONFIG_EV_RECOVERY, "bob", "data", "alice",
		"bob", "backup of data to alice succeeded again", 1767225600,
		1767229200 };
	char *to[] = { "ops@example.com", "oncall@example.com" };
	json_error_t err;
	json_t *j;
	char *s;

	(void)state;
	s = notify_slack_body(&m);
	j = json_loads(s, 0, &err);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 1);
	assert_string_equal(json_string_value(json_object_get(j, "text")),
	    "privateer recovery on bob: backup of data to alice succeeded "
	    "again (last success 2026-01-01T00:00:00Z)");
	json_decref(j);
	free(s);

	s = notify_email_message(&m, "privateer@example.com", to, 2);
	assert_non_null(strstr(s, "Subject: [privateer] recovery on bob: "
	    "data\r\n"));
	assert_non_null(strstr(s, "From: <privateer@example.com>\r\n"));
	assert_non_null(strstr(s, "To: <ops@example.com>, "
	    "<oncall@example.com>\r\n"));
	assert_non_null(strstr(s, "Date: Thu, 01 Jan 2026 01:00:00 +0000"));
	assert_non_null(strstr(s, "\r\n\r\nprivateer recovery on bob"));
	assert_non_null(strstr(s, "server: alice\r\n"));
	assert_non_null(strstr(s, "last_success: 2026-01-01T00:00:00Z\r\n"));
	free(s);
}

static void
test_secret(void **state)
{
	char *s, *cause = NULL;

	(void)state;
	setenv("TEST_NOTIFY_SECRET", "hunter2", 1);
	assert_int_equal(notify_resolve("password", "$TEST_NOTIFY_SECRET",
	    NULL, NULL, &s, NULL), 0);
	assert_string_equal(s, "hunter2");
	free(s);
	assert_int_equal(notify_resolve("url", "literal", NULL, NULL, &s,
	    NULL), 0);
	assert_string_equal(s, "literal");
	free(s);
	assert_int_equal(notify_resolve("password", NULL, NULL, NULL, &s,
	    NULL), 0);
	assert_null(s);
	unsetenv("TEST_NOTIFY_SECRET");
	assert_int_equal(notify_resolve("password", "$TEST_NOTIFY_SECRET",
	    NULL, NULL, &s, &cause), -1);
	assert_null(s);
	assert_string_equal(cause, "password: $TEST_NOTIFY_SECRET is not set");
	free(cause);
	cause = NULL;
	/* A reference without a store: the reason, not a crash. */
	assert_int_equal(notify_resolve("url", "secret:hook#url", NULL,
	    "no Vault token", &s, &cause), -1);
	assert_null(s);
	assert_string_equal(cause, "url: secret:hook#url: key store "
	    "unavailable: no Vault token");
	free(cause);
}

/* ---- the state machine ---- */

static void
test_failure_once_then_recovery(void **state)
{
	struct notify *n;
	int i;

	(void)state;
	n = start("[{\"type\": \"webhook\", \"url\": \"http://w/\"}]");
	/* A failing episode: the first retry tells, the others do not. */
	for (i = 0; i < 5; i++)
		assert_int_equal(notify_job(n, "backup", "data", "alice", NULL,
		    0, "connection refused", 0), i == 0 ? 1 : 0);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_int_equal(nsent, 1);
	assert_sent(0, "http://w/ failure data alice bob");
	/* Recovered: once; success is not told by default. */
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 100), 1);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 200), 0);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_int_equal(nsent, 2);
	assert_sent(1, "http://w/ recovery data alice bob");
	/* Another server's episode is its own. */
	assert_int_equal(notify_job(n, "backup", "data", "carol", NULL, 0,
	    "x", 0), 1);
	assert_int_equal(notify_job(n, "restore", "data", "alice", NULL, 0,
	    "x", 0), 1);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_int_equal(nsent, 4);
	assert_int_equal(notify_sent_total(n), 4);
	assert_int_equal(notify_failed_total(n), 0);
	notify_stop(n);
}

static void
test_restart_does_not_repeat(void **state)
{
	struct notify *n;

	(void)state;
	n = start("[{\"type\": \"webhook\", \"url\": \"http://w/\"}]");
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 1);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 7200, 0),
	    1);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	assert_int_equal(nsent, 2);

	/* The plugin restarts in the middle of both episodes. */
	n = start("[{\"type\": \"webhook\", \"url\": \"http://w/\"}]");
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 0);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 7200, 0),
	    0);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 10), 1);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 0, 7200, 10),
	    0);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	assert_int_equal(nsent, 3);
	assert_sent(1, "http://w/ stale data alice bob");
	assert_sent(2, "http://w/ recovery data alice bob");

	/* After the episodes ended, a new one is told again. */
	n = start("[{\"type\": \"webhook\", \"url\": \"http://w/\"}]");
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 7200, 10),
	    1);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	assert_int_equal(nsent, 4);
}

/*
 * The end of a stale episode is a recovery, told to the targets that were
 * told it was stale. On a client, a backup that succeeds ends both its
 * failure and its staleness in one recovery; the watcher's view from
 * before that success (older last_success) is not a new episode, across a
 * restart too; staleness seen after it is.
 */
static void
test_stale_recovery(void **state)
{
	struct notify *n;
	const char *targets = "[{\"type\": \"webhook\", \"url\": "
	    "\"http://all/\"}, {\"type\": \"webhook\", \"url\": "
	    "\"http://fr/\", \"events\": [\"failure\", \"recovery\"]}]";

	(void)state;
	n = start(targets);
	/* A server watching carol. */
	assert_int_equal(notify_stale(n, "data", "alice", "carol", 1, 60, 5),
	    1);
	assert_int_equal(notify_stale(n, "data", "alice", "carol", 1, 60, 5),
	    0);
	assert_int_equal(notify_stale(n, "data", "alice", "carol", 0, 60,
	    100), 1);
	assert_int_equal(notify_stale(n, "data", "alice", "carol", 0, 60,
	    100), 0);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_int_equal(nsent, 2);
	assert_sent(0, "http://all/ stale data alice carol");
	assert_sent(1, "http://all/ recovery data alice carol");

	/* bob, failing and stale, then a backup succeeds at 200. */
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 5), 2);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 60, 5), 1);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 200), 2);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 60, 5), 0);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	assert_int_equal(nsent, 7);
	assert_sent(5, "http://all/ recovery data alice bob");
	assert_sent(6, "http://fr/ recovery data alice bob");

	n = start(targets);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 60, 5), 0);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 0, 60, 200),
	    0);
	/* Stale again after that success: a new episode. */
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 60, 200),
	    1);
	/*
	 * Only stale, then a success: one recovery, to the target that was
	 * told it was stale. The success after it moves the mark: the
	 * watcher's view from between the two is not a new episode.
	 */
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 300), 1);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 400), 0);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 60, 300),
	    0);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 0, 60, 400),
	    0);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	assert_int_equal(nsent, 9);
	assert_sent(7, "http://all/ stale data alice bob");
	assert_sent(8, "http://all/ recovery data alice bob");
}

/*
 * A notification not sent yet when the plugin stops (its target was down,
 * the next attempt far off) is sent after the restart, once; one for a
 * target that is gone by then is dropped. Success is not kept.
 */
static void
test_restart_sends_what_is_owed(void **state)
{
	const char *targets = "[{\"type\": \"webhook\", \"url\": "
	    "\"http://w/\", \"events\": [\"failure\", \"recovery\", "
	    "\"success\"]}]";
	struct notify *n;

	(void)state;
	fail_sends = 1;
	n = start_retry(targets, 60000);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 5), 1);
	assert_int_equal(notify_job(n, "backup", "db", "alice", NULL, 1,
	    NULL, 5), 1);
	/* First attempts made (and failed); the next ones a minute away. */
	wait_sent(2);
	notify_stop(n);
	assert_int_equal(nsent, 2);

	fail_sends = 0;
	n = start(targets);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_int_equal(nsent, 3);
	assert_sent(2, "http://w/ failure data alice bob");
	/* Still one episode: its retries tell nothing. */
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 5), 0);
	assert_int_equal(notify_sent_total(n), 1);
	notify_stop(n);

	/* Sent: not again after the next restart. */
	n = start(targets);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	assert_int_equal(nsent, 3);

	/* Owed to a target that is gone: dropped, for good. */
	fail_sends = 1;
	n = start_retry(targets, 60000);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 9), 2);
	wait_sent(5);
	notify_stop(n);
	fail_sends = 0;
	n = start("[{\"type\": \"webhook\", \"url\": \"http://other/\"}]");
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	n = start(targets);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	assert_int_equal(nsent, 5);
}

/*
 * Records and episodes that make no sense (a damaged notify.json) are
 * dropped, not sent, and not a crash.
 */
static void
test_unsent_damaged(void **state)
{
	static const char text[] = "{\"backup/data/alice\": \"failing\", "
	    "\"backup/db/alice\": 5, "
	    "\"unsent\": {\"1\": {\"event\": 7}, \"x\": {\"event\": "
	    "\"failure\"}, \"2\": [], \"3\": {\"event\": \"success\", "
	    "\"target\": 5}, \"4\": {\"event\": \"nonsense\"}}}";
	struct notify *n;

	(void)state;
	assert_int_equal(write_file_atomic(state_file, text, strlen(text),
	    0600, NULL), 0);
	n = start("[{\"type\": \"webhook\", \"url\": \"http://w/\"}]");
	assert_int_equal(notify_flush(n, 5000), 0);
	/* The episode read beside them still holds; a damaged one not. */
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 0);
	assert_int_equal(notify_job(n, "backup", "db", "alice", NULL, 0,
	    "down", 0), 1);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	assert_int_equal(nsent, 1);
}

/*
 * A volume removed takes its episodes along — after two sweeps that miss
 * it, not one — so a new volume of the same name is told its own failure
 * and staleness; other volumes' episodes and a server's clients' stay.
 */
static void
test_sweep_removed_volume(void **state)
{
	json_t *names = json_pack("{s:b, s:b}", "db", 1, "data", 1);
	json_t *without = json_pack("{s:b}", "db", 1);
	struct notify *n;

	(void)state;
	n = start("[{\"type\": \"webhook\", \"url\": \"http://w/\"}]");
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 1);
	assert_int_equal(notify_job(n, "backup", "db", "alice", NULL, 0,
	    "down", 0), 1);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 60, 0), 1);
	assert_int_equal(notify_stale(n, "data", "alice", "carol", 1, 60, 0),
	    1);
	notify_sweep(n, names);
	/* data missed once: nothing ends yet (it may be brand new). */
	notify_sweep(n, without);
	notify_sweep(n, names);
	notify_sweep(n, without);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 0);
	/* Missed twice in a row: removed. */
	notify_sweep(n, without);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 1);
	assert_int_equal(notify_stale(n, "data", "alice", NULL, 1, 60, 0), 1);
	assert_int_equal(notify_job(n, "backup", "db", "alice", NULL, 0,
	    "down", 0), 0);
	assert_int_equal(notify_stale(n, "data", "alice", "carol", 1, 60, 0),
	    0);
	assert_int_equal(notify_flush(n, 5000), 0);
	notify_stop(n);
	/* The end was persisted: a restart does not bring it back. */
	n = start("[{\"type\": \"webhook\", \"url\": \"http://w/\"}]");
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 0);
	notify_stop(n);
	assert_int_equal(nsent, 6);
	json_decref(names);
	json_decref(without);
}

static void
test_events_filter(void **state)
{
	struct notify *n;

	(void)state;
	n = start("[{\"type\": \"webhook\", \"url\": \"http://all/\", "
	    "\"events\": [\"failure\", \"recovery\", \"stale\", \"verify\", "
	    "\"success\"]}, {\"type\": \"ping\", \"url\": \"http://p/\", "
	    "\"events\": [\"success\", \"failure\"]}, {\"type\": \"webhook\", "
	    "\"url\": \"http://stale/\", \"events\": [\"stale\"]}]");
	notify_job_start(n, "data", "alice");
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 1), 2);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_int_equal(nsent, 3);
	assert_sent(0, "http://p/ start data alice bob");
	assert_sent(1, "http://all/ success data alice bob");
	assert_sent(2, "http://p/ success data alice bob");
	/* A server's stale notification names the client. */
	assert_int_equal(notify_stale(n, "data", "alice", "carol", 1, 60, 0),
	    2);
	assert_int_equal(notify_verify(n, "data", "alice", "carol", 1,
	    "1 damaged entry: a/b"), 1);
	assert_int_equal(notify_verify(n, "data", "alice", "carol", 1,
	    "1 damaged entry: a/b"), 0);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_sent(3, "http://all/ stale data alice carol");
	assert_sent(4, "http://stale/ stale data alice carol");
	assert_sent(5, "http://all/ verify data alice carol");
	assert_int_equal(nsent, 6);
	notify_stop(n);
}

static void
test_failing_target_counted(void **state)
{
	struct notify *n;

	(void)state;
	fail_sends = 1;
	n = start("[{\"type\": \"webhook\", \"url\": \"http://w/\"}, "
	    "{\"type\": \"email\", \"url\": \"smtp://127.0.0.1:1\", "
	    "\"from\": \"a@b\", \"to\": [\"c@d\"]}]");
	/* The job's call returns at once, whatever the targets do. */
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "x", 0), 2);
	assert_int_equal(notify_flush(n, 10000), 0);
	/* Three attempts at the webhook; email has no backend here. */
	assert_int_equal(nsent, 3);
	assert_int_equal(notify_failed_total(n), 2);
	assert_int_equal(notify_sent_total(n), 0);
	/* Still told once: the episode is not re-opened by failed sends. */
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "x", 0), 0);
	notify_stop(n);
}

/* ---- the configuration ---- */

static void
test_config_notify(void **state)
{
	struct config *cfg;
	char *cause = NULL;
	const char *bad;

	(void)state;
	cfg = cfg_of("{" FLEET ", \"notify\": [{\"type\": \"webhook\", "
	    "\"url\": \"https://h/x\", \"format\": \"slack\"}, {\"type\": "
	    "\"email\", \"url\": \"smtps://smtp:465\", \"from\": \"p@e\", "
	    "\"to\": [\"o@e\"], \"user\": \"u\", \"password\": \"$PW\"}, "
	    "{\"type\": \"ping\", \"url\": \"https://hc/1\", \"events\": "
	    "[\"success\", \"failure\"]}], \"verify\": {\"schedule\": "
	    "\"@weekly\"}}");
	assert_int_equal(cfg->nnotify, 3);
	assert_string_equal(cfg->notify[0].format, "slack");
	assert_int_equal(cfg->notify[0].events, CONFIG_EV_DEFAULT);
	assert_string_equal(cfg->notify[1].password, "$PW");
	assert_int_equal(cfg->notify[1].nto, 1);
	assert_int_equal(cfg->notify[2].events, CONFIG_EV_SUCCESS |
	    CONFIG_EV_FAILURE);
	assert_string_equal(cfg->verify_schedule, "@weekly");
	assert_int_equal(config_volume(cfg, "db")->max_age, 26 * 3600);
	assert_int_equal(config_volume(cfg, "data")->max_age, 0);
	config_free(cfg);

	bad = "{" FLEET ", \"notify\": [{\"type\": \"pager\", \"url\": "
	    "\"x\"}, {\"type\": \"webhook\", \"url\": \"ftp://x\", "
	    "\"events\": [\"boom\"]}, {\"type\": \"email\", \"url\": "
	    "\"smtp://x\"}], \"verify\": {\"schedule\": \"61 * * * *\"}}";
	assert_null(config_parse(bad, strlen(bad), BASE_DIR, &cause));
	assert_non_null(strstr(cause, "notify[0].type"));
	assert_non_null(strstr(cause, "notify[1].url"));
	assert_non_null(strstr(cause, "notify[1].events[0]"));
	assert_non_null(strstr(cause, "notify[2].from: missing"));
	assert_non_null(strstr(cause, "notify[2].to: missing"));
	assert_non_null(strstr(cause, "verify.schedule"));
	free(cause);
	cause = NULL;
	bad = "{\"servers\": [], \"clients\": [], \"volumes\": [{\"name\": "
	    "\"v\", \"max_age\": \"soon\"}]}";
	assert_null(config_parse(bad, strlen(bad), BASE_DIR, &cause));
	assert_non_null(strstr(cause, "volumes[0].max_age"));
	free(cause);
}

static void
test_durations_and_max_age(void **state)
{
	struct config *cfg;
	struct vopts o;
	long long s;
	char *cause = NULL;
	json_t *opts;
	struct tm tm;
	time_t now;

	(void)state;
	assert_int_equal(vopts_duration_parse("90m", &s, NULL), 0);
	assert_int_equal(s, 5400);
	assert_int_equal(vopts_duration_parse("26h", &s, NULL), 0);
	assert_int_equal(s, 93600);
	assert_int_equal(vopts_duration_parse("8d", &s, NULL), 0);
	assert_int_equal(s, 8 * 86400);
	assert_int_equal(vopts_duration_parse("30s", &s, NULL), 0);
	assert_int_equal(s, 30);
	assert_int_equal(vopts_duration_parse("0h", &s, NULL), -1);
	assert_int_equal(vopts_duration_parse("h", &s, NULL), -1);
	assert_int_equal(vopts_duration_parse("5", &s, NULL), -1);
	assert_int_equal(vopts_duration_parse("5hh", &s, NULL), -1);
	assert_int_equal(vopts_duration_parse("99999999d", &s, &cause), -1);
	assert_non_null(strstr(cause, "duration"));
	free(cause);
	cause = NULL;

	opts = json_pack("{s:s}", "max-age", "90x");
	assert_int_equal(vopts_parse(opts, &o, &cause), -1);
	assert_non_null(strstr(cause, "max-age=90x"));
	free(cause);
	json_decref(opts);

	memset(&tm, 0, sizeof tm);
	tm.tm_year = 126;
	tm.tm_mday = 10;
	tm.tm_hour = 12;
	now = mktime(&tm);
	cfg = cfg_of("{" FLEET "}");
	/* The client's job runs hourly: twice that. */
	assert_int_equal(stale_max_age(cfg, "bob", "data", "alice", NULL,
	    now), 7200);
	/* Another server has no job: none. */
	assert_int_equal(stale_max_age(cfg, "bob", "data", "carol", NULL,
	    now), 0);
	/* The volume's max_age beats the schedule. */
	assert_int_equal(stale_max_age(cfg, "bob", "db", "alice", NULL, now),
	    26 * 3600);
	/* -o max-age beats everything; -o schedule counts too. */
	opts = json_pack("{s:s}", "max-age", "90m");
	assert_int_equal(vopts_parse(opts, &o, NULL), 0);
	assert_int_equal(stale_max_age(cfg, "bob", "db", "alice", &o, now),
	    5400);
	vopts_free(&o);
	json_decref(opts);
	opts = json_pack("{s:s}", "schedule", "@daily");
	assert_int_equal(vopts_parse(opts, &o, NULL), 0);
	assert_int_equal(stale_max_age(cfg, "bob", "data", "carol", &o, now),
	    2 * 86400);
	/* The shorter of the two schedules. */
	assert_int_equal(stale_max_age(cfg, "bob", "data", "alice", &o, now),
	    7200);
	vopts_free(&o);
	json_decref(opts);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_body),
		cmocka_unit_test(test_slack_and_email),
		cmocka_unit_test(test_secret),
		cmocka_unit_test_setup_teardown(test_failure_once_then_recovery,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_does_not_repeat,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_recovery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_restart_sends_what_is_owed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsent_damaged, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sweep_removed_volume,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_filter, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failing_target_counted,
		    setup, teardown),
		cmocka_unit_test(test_config_notify),
		cmocka_unit_test(test_durations_and_max_age),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
