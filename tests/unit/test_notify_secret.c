/*
 * test_notify_secret: a notification target's secrets from the key store
 * (PRODUCT.md §3 and §11). "secret:NAME#FIELD" in a target's url or
 * password: what privateer.json accepts; notify_resolve against the file
 * store (the value, a field by default, a missing secret or field, a file
 * others can read — each a cause that names the reference and never holds
 * a value); then the sender thread, with a fake backend that records what
 * it is given: the value read at each send (a rotated secret needs no
 * reload), a missing secret a failed send that is counted and logged by
 * its reference, not its value. Against the project's Vault double (KV v1,
 * and v2 found through the mount information): the value read from Vault;
 * Vault stopped -> the job's call returns at once, the send fails and is
 * counted, the log names the reference and holds no secret. And a
 * password written in an smtp:// URL insists on STARTTLS as the password
 * field does: against a plain SMTP server that offers AUTH but not
 * STARTTLS, the mail is not sent and no AUTH crosses in the clear.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "keystore.h"
#include "notify.h"
#include "util.h"

#define ROOT_TOKEN	"hvs.notify-test-root-61d0a7"
#define HOOK_URL	"http://hooks.example/T0KEN-1f6b2c"
#define SMTP_PASSWORD	"pw-7c1e55aa-hunter2"

/* ---- the fake backends ---- */

static pthread_mutex_t sent_lock = PTHREAD_MUTEX_INITIALIZER;
static char sent[32][256];
static int nsent;

static int
fake_send(const struct config_notify *t, const struct notify_msg *m,
    char **cause)
{
	(void)cause;
	pthread_mutex_lock(&sent_lock);
	if (nsent < 32)
		snprintf(sent[nsent++], sizeof sent[0], "%s %s %s %s", t->type,
		    config_event_name(m->event), t->url, t->password != NULL ?
		    t->password : "-");
	pthread_mutex_unlock(&sent_lock);
	return 0;
}

static const struct notify_backend fake_webhook = { "webhook", fake_send };
static const struct notify_backend fake_ping = { "ping", fake_send };
static const struct notify_backend fake_email = { "email", fake_send };
static const struct notify_backend *const fakes[] = { &fake_webhook,
	&fake_ping, &fake_email, NULL };

static int
sent_count(void)
{
	int n;

	pthread_mutex_lock(&sent_lock);
	n = nsent;
	pthread_mutex_unlock(&sent_lock);
	return n;
}

static void
assert_sent(int i, const char *what)
{
	if (i >= sent_count())
		fail_msg("notification %d not sent (expected \"%s\")", i, what);
	if (strcmp(sent[i], what) != 0)
		fail_msg("notification %d: \"%s\", expected \"%s\"", i,
		    sent[i], what);
}

/* ---- the fixture: a private directory with a file key store ---- */

struct fixture {
	char *tmp;
	char *keys;		/* <tmp>/keys, 0700 */
	char *state;		/* <tmp>/notify.json */
	char *log;		/* <tmp>/stderr, while captured */
	int saved_stderr;
	pid_t vault;		/* the double, or 0 */
	char *addr;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	char tmpl[] = "/tmp/test_notify_secret.XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		return -1;
	f->tmp = xstrdup(tmpl);
	f->keys = xasprintf("%s/keys", f->tmp);
	f->state = xasprintf("%s/notify.json", f->tmp);
	f->log = xasprintf("%s/stderr", f->tmp);
	f->saved_stderr = -1;
	if (mkdir(f->keys, 0700) != 0)
		return -1;
	nsent = 0;
	unsetenv("VAULT_ADDR");
	unsetenv("VAULT_TOKEN");
	unsetenv("VAULT_ROLE_ID");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd[] = { "/bin/rm", "-rf", f->tmp, NULL };
	pid_t pid;
	int st;

	if (f->vault > 0) {
		kill(f->vault, SIGTERM);
		waitpid(f->vault, &st, 0);
	}
	pid = fork();
	if (pid == 0) {
		execv(cmd[0], cmd);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
	free(f->tmp);
	free(f->keys);
	free(f->state);
	free(f->log);
	free(f->addr);
	free(f);
	return 0;
}

static void
put_secret(struct fixture *f, const char *name, const char *json, int mode)
{
	char *path = xasprintf("%s/%s", f->keys, name), *cause = NULL;

	if (write_file_atomic(path, json, strlen(json), (mode_t)mode,
	    &cause) != 0)
		fail_msg("%s", cause);
	assert_int_equal(chmod(path, (mode_t)mode), 0);
	free(path);
}

/* stderr (the log) into f->log until capture_end, which returns it. */
static void
capture_start(struct fixture *f)
{
	int fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	fflush(stderr);
	f->saved_stderr = dup(2);
	assert_true(f->saved_stderr >= 0);
	assert_true(dup2(fd, 2) == 2);
	close(fd);
}

static char *
capture_end(struct fixture *f)
{
	char *text;

	fflush(stderr);
	assert_true(dup2(f->saved_stderr, 2) == 2);
	close(f->saved_stderr);
	f->saved_stderr = -1;
	text = read_file_capped(f->log, 1024 * 1024, NULL);
	assert_non_null(text);
	return text;
}

static struct config *
cfg_of(const char *text)
{
	char *cause = NULL;
	struct config *cfg;

	cfg = config_parse(text, strlen(text), "/etc/privateer", &cause);
	if (cfg == NULL)
		fail_msg("config: %s", cause);
	return cfg;
}

#define FLEET \
	"\"servers\": [{\"name\": \"alice\", \"hostname\": \"a\", " \
	"\"port\": 10022}], \"clients\": [{\"name\": \"bob\", \"backup\": " \
	"[\"data\"]}], \"volumes\": [{\"name\": \"data\"}]"

#define TARGETS \
	"\"notify\": [{\"type\": \"webhook\", \"url\": \"secret:hook#url\"}, " \
	"{\"type\": \"ping\", \"url\": \"secret:hook\", \"events\": " \
	"[\"failure\"]}, {\"type\": \"email\", \"url\": \"smtp://m:25\", " \
	"\"from\": \"p@e\", \"to\": [\"o@e\"], \"user\": \"u\", " \
	"\"password\": \"secret:team/smtp#password\"}]"

static struct notify *
start_with(struct fixture *f, const char *store)
{
	char *text = xasprintf("{" FLEET ", %s, " TARGETS "}", store);
	struct config *cfg = cfg_of(text);
	struct notify *n;

	n = notify_start(f->state, fakes, 10);
	notify_configure(n, cfg, "bob");
	config_free(cfg);
	free(text);
	return n;
}

/* ---- what privateer.json accepts ---- */

static void
test_reference_syntax(void **state)
{
	char *name, *field;

	(void)state;
	assert_int_equal(config_secret_ref("secret:hook#url", "password",
	    &name, &field), 1);
	assert_string_equal(name, "hook");
	assert_string_equal(field, "url");
	free(name);
	free(field);
	assert_int_equal(config_secret_ref("secret:team/smtp-1.x_y",
	    "password", &name, &field), 1);
	assert_string_equal(name, "team/smtp-1.x_y");
	assert_string_equal(field, "password");
	free(name);
	free(field);
	assert_int_equal(config_secret_ref("https://h/x", "url", &name,
	    &field), 0);
	assert_null(name);
	assert_int_equal(config_secret_ref("$PW", "password", NULL, NULL), 0);
	assert_int_equal(config_secret_ref(NULL, "password", NULL, NULL), 0);
	assert_int_equal(config_secret_ref("secret:", "url", NULL, NULL), -1);
	assert_int_equal(config_secret_ref("secret:#url", "url", NULL, NULL),
	    -1);
	assert_int_equal(config_secret_ref("secret:a#", "url", NULL, NULL),
	    -1);
	assert_int_equal(config_secret_ref("secret:../x#url", "url", NULL,
	    NULL), -1);
	assert_int_equal(config_secret_ref("secret:a/./b#url", "url", NULL,
	    NULL), -1);
	assert_int_equal(config_secret_ref("secret:a//b#url", "url", NULL,
	    NULL), -1);
	assert_int_equal(config_secret_ref("secret:/a#url", "url", NULL,
	    NULL), -1);
	assert_int_equal(config_secret_ref("secret:a/#url", "url", NULL,
	    NULL), -1);
	assert_int_equal(config_secret_ref("secret:a/..", "url", NULL,
	    NULL), -1);
	assert_int_equal(config_secret_ref("secret:a b#url", "url", NULL,
	    NULL), -1);
	assert_int_equal(config_secret_ref("secret:a#b#c", "url", NULL,
	    NULL), -1);
	assert_int_equal(config_secret_ref("secret:a#b/c", "url", NULL,
	    NULL), -1);
}

static void
test_config_accepts_references(void **state)
{
	struct config *cfg;
	char *cause = NULL;
	const char *bad;

	(void)state;
	cfg = cfg_of("{" FLEET ", " TARGETS "}");
	assert_int_equal(cfg->nnotify, 3);
	assert_string_equal(cfg->notify[0].url, "secret:hook#url");
	assert_string_equal(cfg->notify[2].password,
	    "secret:team/smtp#password");
	config_free(cfg);

	bad = "{" FLEET ", \"notify\": [{\"type\": \"webhook\", \"url\": "
	    "\"secret:../etc#x\"}, {\"type\": \"email\", \"url\": "
	    "\"secret:smtp#url\", \"from\": \"a@b\", \"to\": [\"c@d\"], "
	    "\"password\": \"secret:smtp#\"}, {\"type\": \"ping\", "
	    "\"url\": \"secret:\"}]}";
	assert_null(config_parse(bad, strlen(bad), "/etc/privateer", &cause));
	assert_non_null(strstr(cause, "notify[0].url: not a valid key store "
	    "reference"));
	assert_non_null(strstr(cause, "notify[1].password: not a valid key "
	    "store reference"));
	assert_null(strstr(cause, "notify[1].url"));
	assert_non_null(strstr(cause, "notify[2].url: not a valid key store "
	    "reference"));
	free(cause);
}

/* ---- reading them ---- */

static void
test_resolve_file_store(void **state)
{
	struct fixture *f = *state;
	struct keystore *ks;
	char *v, *cause = NULL, *want;

	put_secret(f, "hook", "{\"url\": \"" HOOK_URL "\", \"other\": 3}",
	    0600);
	ks = keystore_file_open(f->keys, &cause);
	assert_non_null(ks);

	assert_int_equal(notify_resolve("url", "secret:hook#url", ks, NULL,
	    &v, NULL), 0);
	assert_string_equal(v, HOOK_URL);
	free(v);
	/* Without #FIELD, the field named like the target's. */
	assert_int_equal(notify_resolve("url", "secret:hook", ks, NULL, &v,
	    NULL), 0);
	assert_string_equal(v, HOOK_URL);
	free(v);

	assert_int_equal(notify_resolve("password", "secret:nope#password",
	    ks, NULL, &v, &cause), -1);
	assert_null(v);
	want = xasprintf("password: secret:nope#password: no secret nope at "
	    "%s/nope", f->keys);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	cause = NULL;

	assert_int_equal(notify_resolve("url", "secret:hook#token", ks, NULL,
	    &v, &cause), -1);
	assert_non_null(strstr(cause, "url: secret:hook#token: "));
	assert_non_null(strstr(cause, "no field \"token\""));
	assert_null(strstr(cause, HOOK_URL));
	free(cause);
	cause = NULL;
	assert_int_equal(notify_resolve("url", "secret:hook#other", ks, NULL,
	    &v, &cause), -1);
	assert_non_null(strstr(cause, "not a non-empty string"));
	free(cause);
	cause = NULL;

	/* Not JSON: the cause does not quote the file. */
	put_secret(f, "broken", "{\"url\": \"" HOOK_URL "\" oops", 0600);
	assert_int_equal(notify_resolve("url", "secret:broken#url", ks, NULL,
	    &v, &cause), -1);
	assert_non_null(strstr(cause, "not JSON"));
	assert_null(strstr(cause, "T0KEN"));
	free(cause);
	cause = NULL;

	/* A secret others can read is refused, as keys are. */
	put_secret(f, "open", "{\"url\": \"" HOOK_URL "\"}", 0644);
	assert_int_equal(notify_resolve("url", "secret:open#url", ks, NULL,
	    &v, &cause), -1);
	assert_non_null(strstr(cause, "readable by others"));
	assert_null(strstr(cause, HOOK_URL));
	free(cause);
	keystore_close(ks);
}

static void
test_sends_with_file_store(void **state)
{
	struct fixture *f = *state;
	struct notify *n;
	char *store, *log, *team;

	put_secret(f, "hook", "{\"url\": \"" HOOK_URL "\"}", 0600);
	team = xasprintf("%s/team", f->keys);
	assert_int_equal(mkdir(team, 0700), 0);
	free(team);
	put_secret(f, "team/smtp", "{\"password\": \"" SMTP_PASSWORD "\", "
	    "\"user\": \"u\"}", 0600);
	store = xasprintf("\"keys\": {\"store\": \"file\", \"path\": \"%s\"}",
	    f->keys);
	n = start_with(f, store);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 3);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_int_equal(sent_count(), 3);
	assert_sent(0, "webhook failure " HOOK_URL " -");
	assert_sent(1, "ping failure " HOOK_URL " -");
	assert_sent(2, "email failure smtp://m:25 " SMTP_PASSWORD);

	/* Rotated in the store: the next send uses it, no reload. */
	put_secret(f, "hook", "{\"url\": \"http://hooks.example/NEW\"}",
	    0600);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 10), 2);
	assert_int_equal(notify_flush(n, 5000), 0);
	assert_sent(3, "webhook recovery http://hooks.example/NEW -");
	assert_sent(4, "email recovery smtp://m:25 " SMTP_PASSWORD);

	/* Gone: the send fails for good, counted, logged by reference. */
	put_secret(f, "team/smtp", "{\"user\": \"u\"}", 0600);
	capture_start(f);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down again", 10), 3);
	assert_int_equal(notify_flush(n, 5000), 0);
	log = capture_end(f);
	assert_int_equal(sent_count(), 7);
	assert_int_equal(notify_failed_total(n), 1);
	assert_int_equal(notify_sent_total(n), 7);
	assert_non_null(strstr(log, "notification failure to notify[2] "
	    "(email) failed: password: secret:team/smtp#password: "));
	assert_non_null(strstr(log, "no field \"password\""));
	assert_null(strstr(log, SMTP_PASSWORD));
	assert_null(strstr(log, "hooks.example"));
	free(log);
	notify_stop(n);
	free(store);
}

/* ---- Vault ---- */

/* <build>/tests/vault-double/vault_double, next to this test binary. */
static char *
double_exe(void)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return NULL;
	*slash = '\0';
	return xasprintf("%s/vault-double/vault_double", self);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The double with a KV v1 mount "secret" and a KV v2 mount "kv". */
static void
double_start(struct fixture *f)
{
	char *exe = double_exe(), *pf, *dlog, *text = NULL;
	int fd, tries;
	pid_t pid;

	if (exe == NULL || access(exe, X_OK) != 0)
		fail_msg("vault_double not found at %s", exe);
	pf = xasprintf("%s/port", f->tmp);
	dlog = xasprintf("%s/double.log", f->tmp);
	fd = open(dlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execl(exe, exe, "--port", "0", "--port-file", pf, "--token",
		    ROOT_TOKEN, "--kv1", "secret", "--kv2", "kv", (char *)NULL);
		_exit(127);
	}
	close(fd);
	assert_true(pid > 0);
	f->vault = pid;
	for (tries = 0; tries < 500 && text == NULL; tries++) {
		text = read_file_capped(pf, 32, NULL);
		if (text == NULL)
			sleep_ms(20);
	}
	if (text == NULL)
		fail_msg("vault_double wrote no port file in 10 s");
	f->addr = xasprintf("http://127.0.0.1:%ld", strtol(text, NULL, 10));
	free(text);
	free(pf);
	free(dlog);
	free(exe);
}

static void
double_stop(struct fixture *f)
{
	int st;

	kill(f->vault, SIGTERM);
	waitpid(f->vault, &st, 0);
	f->vault = 0;
}

static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* Writes body at path (under /v1/) with Vault's own API. */
static void
vault_write(struct fixture *f, const char *path, const char *body)
{
	struct curl_slist *h = NULL;
	long status = 0;
	char *url;
	CURL *c;

	c = curl_easy_init();
	assert_non_null(c);
	url = xasprintf("%s/v1/%s", f->addr, path);
	h = curl_slist_append(h, "X-Vault-Token: " ROOT_TOKEN);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_true(status == 200 || status == 204);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(url);
}

/* kv_version 0: not given, Vault is asked. */
static char *
vault_section(struct fixture *f, const char *mount, int kv_version)
{
	char version[32] = "";

	if (kv_version != 0)
		snprintf(version, sizeof version, ", \"kv_version\": %d",
		    kv_version);
	return xasprintf("\"vault\": {\"url\": \"%s\", \"mount\": \"%s\", "
	    "\"prefix\": \"privateer\", \"token\": \"" ROOT_TOKEN "\"%s}, "
	    "\"keys\": {\"store\": \"vault\"}", f->addr, mount, version);
}

static void
test_sends_with_vault(void **state)
{
	struct fixture *f = *state;
	struct notify *n;
	char *section, *log;
	long long t0;

	double_start(f);
	vault_write(f, "secret/privateer/hook", "{\"url\": \"" HOOK_URL "\"}");
	vault_write(f, "secret/privateer/team/smtp", "{\"password\": \""
	    SMTP_PASSWORD "\"}");
	vault_write(f, "kv/data/privateer/hook", "{\"data\": {\"url\": "
	    "\"http://hooks.example/V2\"}}");
	vault_write(f, "kv/data/privateer/team/smtp", "{\"data\": "
	    "{\"password\": \"v2-" SMTP_PASSWORD "\"}}");

	/* KV v1. */
	section = vault_section(f, "secret", 1);
	n = start_with(f, section);
	free(section);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 3);
	assert_int_equal(notify_flush(n, 10000), 0);
	assert_sent(0, "webhook failure " HOOK_URL " -");
	assert_sent(1, "ping failure " HOOK_URL " -");
	assert_sent(2, "email failure smtp://m:25 " SMTP_PASSWORD);
	notify_stop(n);
	unlink(f->state);

	/* KV v2, its version found through the mount information. */
	section = vault_section(f, "kv", 0);
	n = start_with(f, section);
	free(section);
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 3);
	assert_int_equal(notify_flush(n, 10000), 0);
	assert_sent(3, "webhook failure http://hooks.example/V2 -");
	assert_sent(5, "email failure smtp://m:25 v2-" SMTP_PASSWORD);

	/*
	 * Vault goes away: the job's call does not wait for it, every send
	 * fails (three attempts each) and is counted; nothing crashes.
	 */
	double_stop(f);
	capture_start(f);
	t0 = now_ms();
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 1,
	    NULL, 10), 2);
	assert_true(now_ms() - t0 < 200);
	assert_int_equal(notify_flush(n, 20000), 0);
	log = capture_end(f);
	assert_int_equal(sent_count(), 6);
	assert_int_equal(notify_failed_total(n), 2);
	assert_non_null(strstr(log, "notification recovery to notify[0] "
	    "(webhook) failed: url: secret:hook#url: cannot reach Vault"));
	assert_non_null(strstr(log, "notification recovery to notify[2] "
	    "(email) failed: password: secret:team/smtp#password: cannot "
	    "reach Vault"));
	assert_null(strstr(log, ROOT_TOKEN));
	assert_null(strstr(log, SMTP_PASSWORD));
	assert_null(strstr(log, "hooks.example"));
	free(log);
	notify_stop(n);
}

/* A store that cannot be opened: sends fail with the reason, others go. */
static void
test_store_unavailable(void **state)
{
	struct fixture *f = *state;
	struct notify *n;
	char *log;

	/* vault.token names a variable that is not set: open fails. */
	unsetenv("TEST_NOTIFY_NO_TOKEN");
	capture_start(f);
	n = start_with(f, "\"vault\": {\"url\": \"http://127.0.0.1:1\", "
	    "\"token\": \"$TEST_NOTIFY_NO_TOKEN\"}");
	assert_int_equal(notify_job(n, "backup", "data", "alice", NULL, 0,
	    "down", 0), 3);
	assert_int_equal(notify_flush(n, 10000), 0);
	log = capture_end(f);
	assert_int_equal(sent_count(), 0);
	assert_int_equal(notify_failed_total(n), 3);
	assert_non_null(strstr(log, "the key store for secret: references "
	    "cannot be opened: vault.token names $TEST_NOTIFY_NO_TOKEN"));
	assert_non_null(strstr(log, "notification failure to notify[0] "
	    "(webhook) failed: url: secret:hook#url: key store unavailable: "
	    "vault.token names $TEST_NOTIFY_NO_TOKEN, which is not set"));
	free(log);
	notify_stop(n);
}

/* ---- a password in an smtp:// URL ---- */

struct smtp_fake {
	int listener;
	int port;
	char seen[4096];	/* the commands received, one per line */
	pthread_t thread;
};

static int
smtp_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char c;

	while (n + 1 < len && recv(fd, &c, 1, 0) == 1) {
		if (c == '\n') {
			buf[n] = '\0';
			if (n > 0 && buf[n - 1] == '\r')
				buf[n - 1] = '\0';
			return 0;
		}
		buf[n++] = c;
	}
	return -1;
}

static void
smtp_say(int fd, const char *s)
{
	(void)send(fd, s, strlen(s), MSG_NOSIGNAL);
}

/* One session of a plain SMTP server that offers AUTH and no STARTTLS. */
static void *
smtp_fake_main(void *arg)
{
	struct smtp_fake *sf = arg;
	struct timeval tv = { 5, 0 };
	char line[1024];
	int fd, data = 0;

	fd = accept(sf->listener, NULL, NULL);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	smtp_say(fd, "220 fake ESMTP\r\n");
	while (smtp_line(fd, line, sizeof line) == 0) {
		if (data) {
			if (strcmp(line, ".") == 0) {
				data = 0;
				smtp_say(fd, "250 queued\r\n");
			}
			continue;
		}
		if (strlen(sf->seen) + strlen(line) + 2 < sizeof sf->seen) {
			strcat(sf->seen, line);
			strcat(sf->seen, "\n");
		}
		if (strncmp(line, "EHLO", 4) == 0)
			smtp_say(fd, "250-fake\r\n250 AUTH PLAIN LOGIN\r\n");
		else if (strncmp(line, "AUTH", 4) == 0)
			smtp_say(fd, "235 accepted\r\n");
		else if (strncmp(line, "DATA", 4) == 0) {
			data = 1;
			smtp_say(fd, "354 go on\r\n");
		} else if (strncmp(line, "QUIT", 4) == 0) {
			smtp_say(fd, "221 bye\r\n");
			break;
		} else
			smtp_say(fd, "250 ok\r\n");
	}
	close(fd);
	return NULL;
}

static void
smtp_fake_start(struct smtp_fake *sf)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;

	memset(sf, 0, sizeof *sf);
	sf->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sf->listener >= 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(sf->listener, (struct sockaddr *)&a, sizeof a),
	    0);
	assert_int_equal(listen(sf->listener, 4), 0);
	assert_int_equal(getsockname(sf->listener, (struct sockaddr *)&a,
	    &len), 0);
	sf->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&sf->thread, NULL, smtp_fake_main,
	    sf), 0);
}

static void
smtp_fake_stop(struct smtp_fake *sf)
{
	shutdown(sf->listener, SHUT_RDWR);
	pthread_join(sf->thread, NULL);
	close(sf->listener);
}

static int
email_to_fake(struct smtp_fake *sf, const char *userinfo,
    const char *password, char **cause)
{
	struct notify_msg m = { CONFIG_EV_FAILURE, "bob", "data", "alice",
		"bob", "backup of data to alice failed", 0, 1767229200 };
	char *to[] = { "ops@example.com" };
	struct config_notify t;
	int rc;

	memset(&t, 0, sizeof t);
	t.type = "email";
	t.url = xasprintf("smtp://%s127.0.0.1:%d", userinfo, sf->port);
	t.from = "privateer@example.com";
	t.to = to;
	t.nto = 1;
	t.password = (char *)password;
	if (password != NULL)
		t.user = "privateer";
	rc = notify_email.send(&t, &m, cause);
	free(t.url);
	return rc;
}

static void
test_email_password_needs_tls(void **state)
{
	struct smtp_fake sf;
	char *cause = NULL;

	(void)state;
	/* No password: STARTTLS if offered, else plain. */
	smtp_fake_start(&sf);
	assert_int_equal(email_to_fake(&sf, "", NULL, NULL), 0);
	smtp_fake_stop(&sf);
	assert_non_null(strstr(sf.seen, "RCPT TO:<ops@example.com>"));
	assert_null(strstr(sf.seen, "AUTH"));

	/* The password field: refused without STARTTLS. */
	smtp_fake_start(&sf);
	assert_int_equal(email_to_fake(&sf, "", SMTP_PASSWORD, &cause), -1);
	smtp_fake_stop(&sf);
	assert_null(strstr(sf.seen, "AUTH"));
	assert_null(strstr(sf.seen, "MAIL FROM"));
	assert_null(strstr(cause, SMTP_PASSWORD));
	free(cause);
	cause = NULL;

	/* A password in the URL, the same. */
	smtp_fake_start(&sf);
	assert_int_equal(email_to_fake(&sf, "privateer:" SMTP_PASSWORD "@",
	    NULL, &cause), -1);
	smtp_fake_stop(&sf);
	assert_null(strstr(sf.seen, "AUTH"));
	assert_null(strstr(sf.seen, "MAIL FROM"));
	assert_null(strstr(cause, SMTP_PASSWORD));
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_syntax),
		cmocka_unit_test(test_config_accepts_references),
		cmocka_unit_test_setup_teardown(test_resolve_file_store, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sends_with_file_store,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sends_with_vault, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_unavailable, setup,
		    teardown),
		cmocka_unit_test(test_email_password_needs_tls),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
