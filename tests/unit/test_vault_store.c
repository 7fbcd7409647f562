/*
 * test_vault_store: the Vault key store (vault/vault.c) against the
 * project's Vault test double, a fresh vault_double process per test
 * (started with fork/execv on a free port, stopped by PID). Checked: put and
 * get round trips on KV v1 ("secret") and v2 ("kv") with keypairs from
 * keypair_generate, the replaced flag, public-only reads, privateer2's
 * secret layout as Vault stores it, and the exact requests made (from the
 * double's request log); KV v2 check-and-set (writes pass with cas_required
 * on, a direct write in between, soft-deleted and destroyed versions, and a
 * real conflict between two stores writing at once, widened with the
 * double's delay); KV version detection through sys/internal/ui/mounts;
 * wrong and missing tokens, missing secrets, a sealed Vault; AppRole login,
 * a refused secret_id and a new login when the AppRole token expires; an
 * Enterprise namespace; per-request timeouts, an unreachable address; HTTPS
 * with a throwaway CA made by /usr/bin/openssl (tests skipped without it),
 * without or with the wrong CA, and plain HTTP to the TLS port; refusals
 * at open; defaults; and that no token or secret_id reaches a URL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keypair.h"
#include "keystore.h"
#include "util.h"

#define ROOT_TOKEN	"hvs.privateer-test-root-5e0c71d2"
#define WRONG_TOKEN	"hvs.privateer-test-wrong-90b3aa17"
#define ROLE_ID		"privateer-role-7a1c"
#define SECRET_ID	"privateer-secret-3f9b2c44"
#define NAME		"web-1"
#define OPENSSL		"/usr/bin/openssl"
#define MAX_STORES	4
#define ARGV_MAX	40

struct fixture {
	char *tmp;		/* mkdtemp directory */
	char *dlog;		/* the double's stdout and stderr */
	pid_t pid;		/* the double, or 0 */
	char *addr;		/* http(s)://127.0.0.1:PORT */
	char *ca;		/* CA that signed the double's certificate */
	int no_openssl;
	struct keystore *ks[MAX_STORES];
	size_t nks;
	struct keypair kp[3];	/* generated keypairs */
};

/* One expected line of the double's request log; "WRITE" is POST or PUT. */
struct want {
	const char *method;
	const char *path;
	int status;
};

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
print_file(const char *path)
{
	char *text = read_file_capped(path, 64 * 1024, NULL);

	if (text != NULL) {
		print_error("--- %s ---\n%s\n---\n", path, text);
		free(text);
	}
}

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

/*
 * Runs argv[0] in dir with output to log; 0 if it exited 0. Everything the
 * child needs is prepared before fork.
 */
static int
run_in(const char *dir, const char *const argv[], const char *log_path)
{
	pid_t pid;
	int fd, nul, st;

	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || nul < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (chdir(dir) != 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 ||
		    dup2(fd, 2) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd);
	close(nul);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* openssl with the NULL-terminated arguments, in f->tmp. */
static int
openssl_run(struct fixture *f, ...)
{
	const char *argv[24], *a;
	char *log_path;
	size_t n = 0;
	va_list ap;
	int rc;

	argv[n++] = OPENSSL;
	va_start(ap, f);
	while ((a = va_arg(ap, const char *)) != NULL && n < 23)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	log_path = xasprintf("%s/openssl.log", f->tmp);
	rc = run_in(f->tmp, argv, log_path);
	if (rc != 0) {
		print_error("%s %s failed\n", OPENSSL, argv[1]);
		print_file(log_path);
	}
	free(log_path);
	return rc;
}

/* A self-signed CA: <stem>.pem and <stem>.key in f->tmp. */
static int
make_ca(struct fixture *f, const char *stem)
{
	char *key = xasprintf("%s.key", stem), *pem = xasprintf("%s.pem", stem);
	char *subj = xasprintf("/CN=privateer-test-%s", stem);
	int rc;

	rc = openssl_run(f, "req", "-x509", "-newkey", "ec", "-pkeyopt",
	    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
	    pem, "-days", "1", "-subj", subj, (const char *)NULL);
	free(key);
	free(pem);
	free(subj);
	return rc;
}

/* server.pem / server.key for IP 127.0.0.1, signed by ca.pem. */
static int
make_server_cert(struct fixture *f)
{
	static const char ext[] = "subjectAltName=IP:127.0.0.1\n"
	    "basicConstraints=CA:FALSE\n"
	    "keyUsage=digitalSignature\n"
	    "extendedKeyUsage=serverAuth\n";
	char *cause = NULL, *path;
	int rc;

	path = xasprintf("%s/server.ext", f->tmp);
	rc = write_file_atomic(path, ext, sizeof ext - 1, 0600, &cause);
	free(path);
	if (rc != 0) {
		print_error("%s\n", cause);
		free(cause);
		return -1;
	}
	if (openssl_run(f, "req", "-new", "-newkey", "ec", "-pkeyopt",
	    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
	    "-out", "server.csr", "-subj", "/CN=127.0.0.1",
	    (const char *)NULL) != 0)
		return -1;
	return openssl_run(f, "x509", "-req", "-in", "server.csr", "-CA",
	    "ca.pem", "-CAkey", "ca.key", "-set_serial", "1", "-out",
	    "server.pem", "-days", "1", "-extfile", "server.ext",
	    (const char *)NULL);
}

/*
 * Starts the double with a root token and extra (NULL-terminated) and
 * waits for its port file; sets f->pid and f->addr.
 */
static int
double_start(struct fixture *f, const char *const *extra, int tls)
{
	const char *argv[ARGV_MAX];
	char *exe, *pf, *text = NULL, *end;
	size_t n = 0, i;
	long port;
	pid_t pid;
	int fd, nul, st, tries;

	exe = double_exe();
	if (exe == NULL || access(exe, X_OK) != 0) {
		print_error("vault_double not found at %s\n",
		    exe != NULL ? exe : "(unknown)");
		free(exe);
		return -1;
	}
	pf = xasprintf("%s/port", f->tmp);
	argv[n++] = exe;
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--port-file";
	argv[n++] = pf;
	argv[n++] = "--token";
	argv[n++] = ROOT_TOKEN;
	for (i = 0; extra != NULL && extra[i] != NULL && n < ARGV_MAX - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	fd = open(f->dlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || nul < 0) {
		print_error("%s: %s\n", f->dlog, strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid == 0) {
		/* Never outlive a test binary that crashed. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(fd);
	close(nul);
	fd = nul = -1;
	if (pid < 0) {
		print_error("fork: %s\n", strerror(errno));
		goto fail;
	}
	f->pid = pid;
	for (tries = 0; tries < 500; tries++) {
		if ((text = read_file_capped(pf, 32, NULL)) != NULL)
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			f->pid = 0;
			print_error("vault_double exited (status 0x%x) before "
			    "listening\n", (unsigned)st);
			print_file(f->dlog);
			goto fail;
		}
		sleep_ms(20);
	}
	if (text == NULL) {
		print_error("vault_double wrote no port file in 10 s\n");
		print_file(f->dlog);
		goto fail;
	}
	errno = 0;
	port = strtol(text, &end, 10);
	if (errno != 0 || end == text || port < 1 || port > 65535) {
		print_error("bad port file \"%s\"\n", text);
		goto fail;
	}
	f->addr = xasprintf("%s://127.0.0.1:%ld", tls ? "https" : "http",
	    port);
	free(text);
	free(pf);
	free(exe);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (nul >= 0)
		close(nul);
	free(text);
	free(pf);
	free(exe);
	return -1;
}

/* SIGTERM and wait; the double must exit 0 (and clean under ASan). */
static int
double_stop(struct fixture *f)
{
	int st;

	if (f->pid <= 0)
		return 0;
	kill(f->pid, SIGTERM);
	while (waitpid(f->pid, &st, 0) < 0) {
		if (errno != EINTR) {
			f->pid = 0;
			return -1;
		}
	}
	f->pid = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("vault_double ended with status 0x%x\n",
		    (unsigned)st);
		print_file(f->dlog);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;
	size_t i;
	int rc = 0;

	if (f == NULL)
		return 0;
	for (i = 0; i < f->nks; i++)
		keystore_close(f->ks[i]);
	if (double_stop(f) != 0)
		rc = -1;
	for (i = 0; i < 3; i++)
		keypair_wipe(&f->kp[i]);
	if (f->tmp != NULL && remove_tree(f->tmp, &cause) != 0) {
		print_error("%s\n", cause);
		free(cause);
		rc = -1;
	}
	free(f->tmp);
	free(f->dlog);
	free(f->addr);
	free(f->ca);
	free(f);
	*state = NULL;
	return rc;
}

/* A temporary directory and three keypairs; no double. */
static int
setup_nodouble(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	char *cause = NULL;
	size_t i;

	*state = f;
	f->tmp = xstrdup("/tmp/test_vault_store.XXXXXX");
	if (mkdtemp(f->tmp) == NULL) {
		print_error("mkdtemp: %s\n", strerror(errno));
		free(f->tmp);
		f->tmp = NULL;
		goto fail;
	}
	f->dlog = xasprintf("%s/double.log", f->tmp);
	for (i = 0; i < 3; i++) {
		if (keypair_generate(&f->kp[i], &cause) != 0) {
			print_error("keypair_generate: %s\n", cause);
			free(cause);
			goto fail;
		}
	}
	return 0;
fail:
	teardown(state);
	return -1;
}

static int
setup_with(void **state, const char *const *extra, int tls)
{
	if (setup_nodouble(state) != 0)
		return -1;
	if (double_start(*state, extra, tls) != 0) {
		teardown(state);
		return -1;
	}
	return 0;
}

/* KV v1 at secret, KV v2 at kv, one AppRole pair. */
static int
setup(void **state)
{
	static const char *const extra[] = { "--kv1", "secret", "--kv2", "kv",
	    "--approle", ROLE_ID ":" SECRET_ID, NULL };

	return setup_with(state, extra, 0);
}

/* As setup, but AppRole tokens live one second. */
static int
setup_ttl(void **state)
{
	static const char *const extra[] = { "--kv1", "secret", "--kv2", "kv",
	    "--approle", ROLE_ID ":" SECRET_ID, "--token-ttl", "1", NULL };

	return setup_with(state, extra, 0);
}

/* As setup, inside the Enterprise namespace ns1. */
static int
setup_ns(void **state)
{
	static const char *const extra[] = { "--kv1", "secret", "--kv2", "kv",
	    "--approle", ROLE_ID ":" SECRET_ID, "--namespace", "ns1", NULL };

	return setup_with(state, extra, 0);
}

/* HTTPS with a fresh CA; without openssl, no double and f->no_openssl. */
static int
setup_tls(void **state)
{
	struct fixture *f;
	const char *extra[] = { "--kv1", "secret", "--kv2", "kv",
	    "--tls-cert", NULL, "--tls-key", NULL, NULL };
	char *cert, *key;
	int rc;

	if (setup_nodouble(state) != 0)
		return -1;
	f = *state;
	if (access(OPENSSL, X_OK) != 0) {
		f->no_openssl = 1;
		return 0;
	}
	if (make_ca(f, "ca") != 0 || make_server_cert(f) != 0) {
		teardown(state);
		return -1;
	}
	f->ca = xasprintf("%s/ca.pem", f->tmp);
	cert = xasprintf("%s/server.pem", f->tmp);
	key = xasprintf("%s/server.key", f->tmp);
	extra[5] = cert;
	extra[7] = key;
	rc = double_start(f, extra, 1);
	free(cert);
	free(key);
	if (rc != 0) {
		teardown(state);
		return -1;
	}
	return 0;
}

static void
skip_without_openssl(const struct fixture *f)
{
	if (f->no_openssl) {
		print_message("%s not found: skipping this TLS test\n",
		    OPENSSL);
		skip();
	}
}

struct body {
	char *p;
	size_t len;
};

static size_t
body_cb(char *data, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	b->p = xreallocarray(b->p, b->len + len + 1, 1);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

/* The test's own request to the double; returns the body (caller frees). */
static char *
http(struct fixture *f, const char *method, const char *path,
    const char *token, const char *body, long *status)
{
	struct curl_slist *headers = NULL;
	struct body b = { xcalloc(1, 1), 0 };
	char err[CURL_ERROR_SIZE] = "", *url, *hdr = NULL;
	CURLcode code;
	CURL *curl;

	curl = curl_easy_init();
	assert_non_null(curl);
	url = xasprintf("%s%s", f->addr, path);
	if (token != NULL) {
		hdr = xasprintf("X-Vault-Token: %s", token);
		headers = curl_slist_append(headers, hdr);
	}
	if (body != NULL)
		headers = curl_slist_append(headers,
		    "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (body != NULL || strcmp(method, "POST") == 0) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body != NULL ?
		    body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
		    body != NULL ? (long)strlen(body) : 0L);
	}
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	if (f->ca != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, f->ca);
	code = curl_easy_perform(curl);
	*status = 0;
	if (code == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	free(hdr);
	free(url);
	if (code != CURLE_OK) {
		free(b.p);
		fail_msg("%s %s: %s", method, path, *err != '\0' ? err :
		    curl_easy_strerror(code));
	}
	return b.p;
}

/* A request whose status must be want; the body is dropped. */
static void
http_expect(struct fixture *f, const char *method, const char *path,
    const char *token, const char *body, long want)
{
	long status;
	char *answer = http(f, method, path, token, body, &status);

	if (status != want)
		fail_msg("%s %s: status %ld (%s), expected %ld", method, path,
		    status, answer, want);
	free(answer);
}

static void
double_delay(struct fixture *f, long ms)
{
	char *path = xasprintf("/__double/delay?ms=%ld", ms);

	http_expect(f, "POST", path, NULL, NULL, 204);
	free(path);
}

/* The double's request log (a JSON array); *raw gets the body if asked. */
static json_t *
requests(struct fixture *f, char **raw)
{
	json_error_t jerr;
	json_t *a;
	long status;
	char *body;

	body = http(f, "GET", "/__double/requests", NULL, NULL, &status);
	assert_int_equal(status, 200);
	a = json_loads(body, 0, &jerr);
	if (a == NULL || !json_is_array(a))
		fail_msg("request log is not a JSON array: %s", body);
	if (raw != NULL)
		*raw = body;
	else
		free(body);
	return a;
}

static void
requests_clear(struct fixture *f)
{
	http_expect(f, "DELETE", "/__double/requests", NULL, NULL, 204);
}

static const char *
req_str(const json_t *reqs, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(reqs, i),
	    key));
}

static long
req_int(const json_t *reqs, size_t i, const char *key)
{
	return (long)json_integer_value(json_object_get(json_array_get(reqs,
	    i), key));
}

static int
req_bool(const json_t *reqs, size_t i, const char *key)
{
	return json_is_true(json_object_get(json_array_get(reqs, i), key));
}

static int
method_matches(const char *want, const char *got)
{
	if (got == NULL)
		return 0;
	if (strcmp(want, "WRITE") == 0)
		return strcmp(got, "POST") == 0 || strcmp(got, "PUT") == 0;
	return strcmp(want, got) == 0;
}

static size_t
req_count(const json_t *reqs, const char *method, const char *path)
{
	size_t i, n = 0;

	for (i = 0; i < json_array_size(reqs); i++)
		if (method_matches(method, req_str(reqs, i, "method")) &&
		    strcmp(req_str(reqs, i, "path"), path) == 0)
			n++;
	return n;
}

static void
print_requests(const json_t *reqs)
{
	char *s = json_dumps(reqs, JSON_INDENT(1));

	print_error("request log: %s\n", s != NULL ? s : "?");
	free(s);
}

/* The log is exactly these requests, in this order. */
static void
expect_requests(const json_t *reqs, const struct want *w, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < json_array_size(reqs); i++) {
		if (!method_matches(w[i].method, req_str(reqs, i, "method")) ||
		    strcmp(req_str(reqs, i, "path"), w[i].path) != 0 ||
		    req_int(reqs, i, "status") != w[i].status) {
			print_requests(reqs);
			fail_msg("request %zu is %s %s %ld, expected %s %s %d",
			    i, req_str(reqs, i, "method"),
			    req_str(reqs, i, "path"),
			    req_int(reqs, i, "status"), w[i].method, w[i].path,
			    w[i].status);
		}
	}
	if (json_array_size(reqs) != n) {
		print_requests(reqs);
		fail_msg("%zu requests logged, expected %zu",
		    json_array_size(reqs), n);
	}
}

static void
check_requests(struct fixture *f, const struct want *w, size_t n)
{
	json_t *reqs = requests(f, NULL);

	expect_requests(reqs, w, n);
	json_decref(reqs);
}

static struct vault_settings
settings(const struct fixture *f, const char *mount, int kv_version)
{
	struct vault_settings s;

	memset(&s, 0, sizeof s);
	s.addr = f->addr;
	s.mount = mount;
	s.prefix = "privateer";
	s.kv_version = kv_version;
	s.token = ROOT_TOKEN;
	s.cacert = f->ca;
	s.timeout_ms = 5000;
	return s;
}

/* Opens a store that teardown closes. */
static struct keystore *
open_store(struct fixture *f, const struct vault_settings *s)
{
	struct keystore *ks;
	char *cause = NULL;

	assert_true(f->nks < MAX_STORES);
	ks = keystore_vault_open(s, &cause);
	if (ks == NULL)
		fail_msg("keystore_vault_open: %s", cause);
	assert_null(cause);
	f->ks[f->nks++] = ks;
	return ks;
}

static void
put_ok(struct keystore *ks, const struct keypair *kp, int want_replaced)
{
	char *cause = NULL;
	int replaced = -1;

	if (keystore_put(ks, NAME, kp, &replaced, &cause) != 0)
		fail_msg("put: %s", cause);
	assert_null(cause);
	assert_int_equal(replaced, want_replaced);
}

static void
get_ok(struct keystore *ks, const struct keypair *want, int need_private)
{
	struct keypair got;
	char *cause = NULL;

	if (keystore_get(ks, NAME, need_private, &got, &cause) != 0)
		fail_msg("get: %s", cause);
	assert_null(cause);
	assert_non_null(got.public_key);
	assert_string_equal(got.public_key, want->public_key);
	if (need_private) {
		assert_non_null(got.private_key);
		assert_string_equal(got.private_key, want->private_key);
	} else
		assert_null(got.private_key);
	keypair_wipe(&got);
}

/* get that must fail; returns the cause (caller frees). */
static char *
get_err(struct keystore *ks, const char *name)
{
	struct keypair got;
	char *cause = NULL;
	int rc;

	rc = keystore_get(ks, name, 1, &got, &cause);
	if (rc == 0) {
		keypair_wipe(&got);
		fail_msg("get of %s succeeded", name);
	}
	assert_int_equal(rc, -1);
	assert_non_null(cause);
	assert_null(got.public_key);
	assert_null(got.private_key);
	return cause;
}

static char *
put_err(struct keystore *ks, const struct keypair *kp)
{
	char *cause = NULL;
	int replaced = -1, rc;

	rc = keystore_put(ks, NAME, kp, &replaced, &cause);
	if (rc == 0)
		fail_msg("put succeeded");
	assert_int_equal(rc, -1);
	assert_non_null(cause);
	return cause;
}

/* Frees cause, which must be want. */
static void
expect_cause(char *cause, const char *want)
{
	assert_non_null(cause);
	if (strcmp(cause, want) != 0)
		fail_msg("cause \"%s\", expected \"%s\"", cause, want);
	free(cause);
}

/* Frees cause, which must start with prefix and contain part (or NULL). */
static void
expect_cause_like(char *cause, const char *prefix, const char *part)
{
	assert_non_null(cause);
	if (strncmp(cause, prefix, strlen(prefix)) != 0)
		fail_msg("cause \"%s\" does not start with \"%s\"", cause,
		    prefix);
	if (part != NULL && strcasestr(cause, part) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, part);
	free(cause);
}

/* Reads a secret directly with the root token; the JSON answer. */
static json_t *
vault_read_direct(struct fixture *f, const char *path)
{
	json_t *doc;
	long status;
	char *body;

	body = http(f, "GET", path, ROOT_TOKEN, NULL, &status);
	if (status != 200)
		fail_msg("GET %s: %ld %s", path, status, body);
	doc = json_loads(body, 0, NULL);
	if (doc == NULL)
		fail_msg("GET %s: not JSON: %s", path, body);
	free(body);
	return doc;
}

/* data.current_version of kv/metadata/privateer/NAME. */
static long
kv2_current_version(struct fixture *f)
{
	json_t *doc, *v;
	long version;

	doc = vault_read_direct(f, "/v1/kv/metadata/privateer/" NAME);
	v = json_object_get(json_object_get(doc, "data"), "current_version");
	assert_true(json_is_integer(v));
	version = (long)json_integer_value(v);
	json_decref(doc);
	return version;
}

/* The stored secret object has exactly privateer2's fields, kp's halves. */
static void
expect_secret(const json_t *data, const struct keypair *kp)
{
	assert_true(json_is_object(data));
	assert_int_equal(json_object_size(data), 2);
	assert_string_equal(json_string_value(json_object_get(data, "public")),
	    kp->public_key);
	assert_string_equal(json_string_value(json_object_get(data,
	    "private")), kp->private_key);
}

/* A v2 write of kp straight to the double, as another client would. */
static void
kv2_write_direct(struct fixture *f, const struct keypair *kp)
{
	json_t *req;
	char *body;

	req = json_pack("{s:{s:s, s:s}}", "data", "private", kp->private_key,
	    "public", kp->public_key);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	http_expect(f, "POST", "/v1/kv/data/privateer/" NAME, ROOT_TOKEN,
	    body, 200);
	free(body);
}

static void
test_kv1_round_trip(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks = open_store(f, &s);
	static const struct want w[] = {
		{ "GET", "/v1/secret/privateer/" NAME, 404 },
		{ "WRITE", "/v1/secret/privateer/" NAME, 204 },
		{ "GET", "/v1/secret/privateer/" NAME, 200 },
		{ "GET", "/v1/secret/privateer/" NAME, 200 },
		{ "WRITE", "/v1/secret/privateer/" NAME, 204 },
		{ "GET", "/v1/secret/privateer/" NAME, 200 },
	};
	json_t *doc;

	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	put_ok(ks, &f->kp[1], 1);
	get_ok(ks, &f->kp[1], 0);
	check_requests(f, w, sizeof w / sizeof w[0]);

	/* Stored in privateer2's layout, readable by other clients. */
	doc = vault_read_direct(f, "/v1/secret/privateer/" NAME);
	expect_secret(json_object_get(doc, "data"), &f->kp[1]);
	json_decref(doc);
}

static void
test_kv1_missing(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks = open_store(f, &s);
	static const struct want w[] = {
		{ "GET", "/v1/secret/privateer/" NAME, 404 },
	};

	expect_cause(get_err(ks, NAME), "no key for " NAME " at secret/"
	    "privateer/" NAME " (404) — run privateer keygen " NAME);
	check_requests(f, w, 1);
}

static void
test_kv2_round_trip(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "kv", 2);
	struct keystore *ks = open_store(f, &s);
	static const struct want w[] = {
		{ "GET", "/v1/kv/data/privateer/" NAME, 404 },
		{ "WRITE", "/v1/kv/data/privateer/" NAME, 200 },
		{ "GET", "/v1/kv/data/privateer/" NAME, 200 },
		{ "GET", "/v1/kv/data/privateer/" NAME, 200 },
		{ "WRITE", "/v1/kv/data/privateer/" NAME, 200 },
		{ "GET", "/v1/kv/data/privateer/" NAME, 200 },
	};
	json_t *doc;

	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	put_ok(ks, &f->kp[1], 1);
	get_ok(ks, &f->kp[1], 0);
	check_requests(f, w, sizeof w / sizeof w[0]);
	assert_int_equal(kv2_current_version(f), 2);

	doc = vault_read_direct(f, "/v1/kv/data/privateer/" NAME);
	expect_secret(json_object_get(json_object_get(doc, "data"), "data"),
	    &f->kp[1]);
	json_decref(doc);
}

static void
test_kv2_missing(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "kv", 2);
	struct keystore *ks = open_store(f, &s);

	expect_cause(get_err(ks, NAME), "no key for " NAME " at kv/"
	    "privateer/" NAME " (404) — run privateer keygen " NAME);
}

/* With cas_required on the engine, only writes naming options.cas pass. */
static void
test_kv2_cas_required(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "kv", 2);
	struct keystore *ks = open_store(f, &s);
	long status;
	char *body;

	http_expect(f, "POST", "/v1/kv/config", ROOT_TOKEN,
	    "{\"cas_required\":true}", 204);
	/* The double enforces it: a write without cas is refused. */
	body = http(f, "POST", "/v1/kv/data/privateer/other", ROOT_TOKEN,
	    "{\"data\":{\"x\":\"y\"}}", &status);
	assert_int_equal(status, 400);
	assert_non_null(strstr(body, "check-and-set parameter required"));
	free(body);

	put_ok(ks, &f->kp[0], 0);
	put_ok(ks, &f->kp[1], 1);
	assert_int_equal(kv2_current_version(f), 2);
	get_ok(ks, &f->kp[1], 1);
}

/* Another client wrote a version in between: cas comes from a new read. */
static void
test_kv2_direct_write_then_put(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "kv", 2);
	struct keystore *ks = open_store(f, &s);

	put_ok(ks, &f->kp[0], 0);
	kv2_write_direct(f, &f->kp[1]);
	assert_int_equal(kv2_current_version(f), 2);
	get_ok(ks, &f->kp[1], 1);
	put_ok(ks, &f->kp[2], 1);
	assert_int_equal(kv2_current_version(f), 3);
	get_ok(ks, &f->kp[2], 1);
}

static void
test_kv2_soft_deleted(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "kv", 2);
	struct keystore *ks = open_store(f, &s);

	put_ok(ks, &f->kp[0], 0);
	http_expect(f, "DELETE", "/v1/kv/data/privateer/" NAME, ROOT_TOKEN,
	    NULL, 204);
	expect_cause(get_err(ks, NAME), "no key for " NAME " at kv/"
	    "privateer/" NAME " (404) — run privateer keygen " NAME);
	/* A new key over the deleted version: cas 1 from the 404's metadata. */
	put_ok(ks, &f->kp[1], 0);
	assert_int_equal(kv2_current_version(f), 2);
	get_ok(ks, &f->kp[1], 1);
}

static void
test_kv2_destroyed(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "kv", 2);
	struct keystore *ks = open_store(f, &s);

	put_ok(ks, &f->kp[0], 0);
	http_expect(f, "POST", "/v1/kv/destroy/privateer/" NAME, ROOT_TOKEN,
	    "{\"versions\":[1]}", 204);
	expect_cause(get_err(ks, NAME), "no key for " NAME " at kv/"
	    "privateer/" NAME " (404) — run privateer keygen " NAME);
	put_ok(ks, &f->kp[1], 0);
	assert_int_equal(kv2_current_version(f), 2);
	get_ok(ks, &f->kp[1], 1);
}

struct racer {
	struct keystore *ks;
	const struct keypair *kp;
	pthread_barrier_t *start;
	int rc;
	int replaced;
	char *cause;
};

static void *
racer_put(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	r->rc = keystore_put(r->ks, NAME, r->kp, &r->replaced, &r->cause);
	return NULL;
}

/*
 * Two stores (two privateer processes, say) replace the same key at once.
 * The double's delay holds every request 400 ms, so both read version 1
 * before either writes; both then write with cas 1 and Vault takes only
 * the first.
 */
static void
test_kv2_cas_conflict(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "kv", 2);
	struct keystore *a = open_store(f, &s), *b = open_store(f, &s);
	struct racer r[2] = {
		{ a, &f->kp[1], NULL, -2, -1, NULL },
		{ b, &f->kp[2], NULL, -2, -1, NULL },
	};
	pthread_barrier_t start;
	pthread_t th[2];
	json_t *reqs;
	size_t i, win;

	put_ok(a, &f->kp[0], 0);
	requests_clear(f);
	double_delay(f, 400);
	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (i = 0; i < 2; i++) {
		r[i].start = &start;
		assert_int_equal(pthread_create(&th[i], NULL, racer_put, &r[i]),
		    0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	double_delay(f, 0);

	if ((r[0].rc == 0) == (r[1].rc == 0))
		fail_msg("put results %d (%s) and %d (%s): expected one "
		    "success, one failure", r[0].rc, r[0].cause ? r[0].cause :
		    "-", r[1].rc, r[1].cause ? r[1].cause : "-");
	win = r[0].rc == 0 ? 0 : 1;
	assert_null(r[win].cause);
	assert_int_equal(r[win].replaced, 1);
	assert_int_equal(r[1 - win].rc, -1);
	expect_cause(r[1 - win].cause, "writing kv/privateer/" NAME " was "
	    "refused (400): check-and-set parameter did not match the current "
	    "version — if another keygen ran at the same time, run this one "
	    "again");

	/* Both read version 1, both wrote, one write was refused. */
	reqs = requests(f, NULL);
	assert_int_equal(req_count(reqs, "GET", "/v1/kv/data/privateer/" NAME),
	    2);
	assert_int_equal(req_count(reqs, "WRITE", "/v1/kv/data/privateer/"
	    NAME), 2);
	for (i = 0; i < json_array_size(reqs); i++) {
		if (strcmp(req_str(reqs, i, "method"), "GET") == 0)
			assert_int_equal(req_int(reqs, i, "status"), 200);
	}
	json_decref(reqs);
	assert_int_equal(kv2_current_version(f), 2);
	get_ok(a, r[win].kp, 1);
}

static void
test_autodetect_kv1(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 0);
	struct keystore *ks = open_store(f, &s);
	static const struct want w[] = {
		{ "GET", "/v1/sys/internal/ui/mounts/secret/privateer", 200 },
		{ "GET", "/v1/secret/privateer/" NAME, 404 },
		{ "WRITE", "/v1/secret/privateer/" NAME, 204 },
		{ "GET", "/v1/secret/privateer/" NAME, 200 },
	};

	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	check_requests(f, w, sizeof w / sizeof w[0]);
}

static void
test_autodetect_kv2(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "kv", 0);
	struct keystore *ks = open_store(f, &s);
	static const struct want w[] = {
		{ "GET", "/v1/sys/internal/ui/mounts/kv/privateer", 200 },
		{ "GET", "/v1/kv/data/privateer/" NAME, 404 },
		{ "WRITE", "/v1/kv/data/privateer/" NAME, 200 },
		{ "GET", "/v1/kv/data/privateer/" NAME, 200 },
	};

	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	check_requests(f, w, sizeof w / sizeof w[0]);
	assert_int_equal(kv2_current_version(f), 1);
}

static void
test_autodetect_unknown_mount(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "nosuch", 0);
	struct keystore *ks = open_store(f, &s);
	static const struct want w[] = {
		{ "GET", "/v1/sys/internal/ui/mounts/nosuch/privateer", 403 },
	};

	expect_cause(get_err(ks, NAME), "permission denied reading the mount "
	    "information of nosuch (403); set vault.kv_version in "
	    "privateer.json to skip this check");
	check_requests(f, w, 1);
}

static void
test_wrong_token(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks;
	json_t *reqs;

	s.token = WRONG_TOKEN;
	ks = open_store(f, &s);
	expect_cause(get_err(ks, NAME),
	    "permission denied reading secret/privateer/" NAME " (403)");
	expect_cause(put_err(ks, &f->kp[0]),
	    "permission denied reading secret/privateer/" NAME " (403)");
	reqs = requests(f, NULL);
	assert_int_equal(json_array_size(reqs), 2);
	assert_int_equal(req_int(reqs, 0, "status"), 403);
	assert_true(req_bool(reqs, 0, "token_sent"));
	assert_false(req_bool(reqs, 0, "token_valid"));
	json_decref(reqs);
}

static void
test_sealed(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct vault_settings s0 = settings(f, "kv", 0);
	struct keystore *ks = open_store(f, &s), *detect = open_store(f, &s0);

	put_ok(ks, &f->kp[0], 0);
	http_expect(f, "POST", "/__double/seal", NULL, NULL, 204);
	expect_cause(get_err(ks, NAME), "vault is sealed (503)");
	expect_cause(put_err(ks, &f->kp[1]), "vault is sealed (503)");
	expect_cause_like(get_err(detect, NAME), "vault is sealed (503)",
	    NULL);
	http_expect(f, "POST", "/__double/unseal", NULL, NULL, 204);
	get_ok(ks, &f->kp[0], 1);
}

static void
test_approle(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks;
	static const struct want w[] = {
		{ "WRITE", "/v1/auth/approle/login", 200 },
		{ "GET", "/v1/secret/privateer/" NAME, 404 },
		{ "WRITE", "/v1/secret/privateer/" NAME, 204 },
		{ "GET", "/v1/secret/privateer/" NAME, 200 },
	};
	json_t *reqs;
	size_t i;

	s.token = NULL;
	s.role_id = ROLE_ID;
	s.secret_id = SECRET_ID;
	ks = open_store(f, &s);
	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	reqs = requests(f, NULL);
	expect_requests(reqs, w, sizeof w / sizeof w[0]);
	/* The login sends no token; the rest use the token it issued. */
	assert_false(req_bool(reqs, 0, "token_sent"));
	for (i = 1; i < json_array_size(reqs); i++) {
		assert_true(req_bool(reqs, i, "token_sent"));
		assert_true(req_bool(reqs, i, "token_valid"));
	}
	json_decref(reqs);
}

static void
test_approle_wrong_secret(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks;
	static const struct want w[] = {
		{ "WRITE", "/v1/auth/approle/login", 400 },
	};
	char *cause;

	s.token = NULL;
	s.role_id = ROLE_ID;
	s.secret_id = "not-the-secret-id";
	ks = open_store(f, &s);
	cause = get_err(ks, NAME);
	if (strstr(cause, "AppRole login") == NULL ||
	    strstr(cause, "400") == NULL)
		fail_msg("cause \"%s\" should name the AppRole login and 400",
		    cause);
	free(cause);
	check_requests(f, w, 1);
}

/* An AppRole token that expired is replaced by one new login. */
static void
test_approle_relogin(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks;
	static const struct want w[] = {
		{ "WRITE", "/v1/auth/approle/login", 200 },
		{ "GET", "/v1/secret/privateer/" NAME, 404 },
		{ "WRITE", "/v1/secret/privateer/" NAME, 204 },
		{ "GET", "/v1/secret/privateer/" NAME, 403 },
		{ "WRITE", "/v1/auth/approle/login", 200 },
		{ "GET", "/v1/secret/privateer/" NAME, 200 },
	};

	s.token = NULL;
	s.role_id = ROLE_ID;
	s.secret_id = SECRET_ID;
	ks = open_store(f, &s);
	put_ok(ks, &f->kp[0], 0);
	sleep_ms(1300);		/* the double's --token-ttl is 1 s */
	get_ok(ks, &f->kp[0], 1);
	check_requests(f, w, sizeof w / sizeof w[0]);
}

static void
test_no_credentials(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *none, *empty, *half;
	static const char want[] = "no Vault token: set vault.token, "
	    "VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID";

	s.token = NULL;
	none = open_store(f, &s);
	s.token = "";
	empty = open_store(f, &s);
	s.role_id = ROLE_ID;
	half = open_store(f, &s);
	expect_cause(get_err(none, NAME), want);
	expect_cause(get_err(empty, NAME), want);
	expect_cause(get_err(half, NAME), want);
	expect_cause(put_err(none, &f->kp[0]), want);
	check_requests(f, NULL, 0);
}

static void
test_namespace(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct vault_settings s2 = settings(f, "kv", 0);
	struct keystore *ks, *ks2;
	json_t *reqs;
	size_t i;

	s.name_space = "ns1";
	ks = open_store(f, &s);
	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	/* AppRole login and version detection inside the namespace too. */
	s2.name_space = "ns1";
	s2.token = NULL;
	s2.role_id = ROLE_ID;
	s2.secret_id = SECRET_ID;
	ks2 = open_store(f, &s2);
	put_ok(ks2, &f->kp[1], 0);
	get_ok(ks2, &f->kp[1], 1);

	reqs = requests(f, NULL);
	assert_int_equal(json_array_size(reqs), 8);
	assert_int_equal(req_count(reqs, "WRITE", "/v1/auth/approle/login"),
	    1);
	assert_int_equal(req_count(reqs, "GET",
	    "/v1/sys/internal/ui/mounts/kv/privateer"), 1);
	for (i = 0; i < json_array_size(reqs); i++) {
		assert_true(req_bool(reqs, i, "namespace_sent"));
		assert_string_equal(req_str(reqs, i, "namespace"), "ns1");
		assert_true(req_int(reqs, i, "status") < 400 ||
		    req_int(reqs, i, "status") == 404);
	}
	json_decref(reqs);
}

static void
test_namespace_missing(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks = open_store(f, &s);
	json_t *reqs;

	expect_cause(get_err(ks, NAME),
	    "permission denied reading secret/privateer/" NAME " (403)");
	reqs = requests(f, NULL);
	assert_int_equal(json_array_size(reqs), 1);
	assert_false(req_bool(reqs, 0, "namespace_sent"));
	assert_int_equal(req_int(reqs, 0, "status"), 403);
	json_decref(reqs);
}

static void
test_timeout(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks;
	char *cause, *prefix;
	double t0, elapsed;

	s.timeout_ms = 300;
	ks = open_store(f, &s);
	put_ok(ks, &f->kp[0], 0);
	double_delay(f, 2000);
	t0 = now_s();
	cause = get_err(ks, NAME);
	elapsed = now_s() - t0;
	if (elapsed > 1.5 || elapsed < 0.25)
		fail_msg("get gave up after %.3f s, expected about 0.3 s "
		    "(%s)", elapsed, cause);
	prefix = xasprintf("cannot reach Vault at %s: ", f->addr);
	expect_cause_like(cause, prefix, "timed out");
	free(prefix);
	/* The store works again once Vault answers in time. */
	double_delay(f, 0);
	get_ok(ks, &f->kp[0], 1);
}

static void
test_unreachable(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 1);
	struct keystore *ks, *slash;

	s.addr = "http://127.0.0.1:1";
	ks = open_store(f, &s);
	s.addr = "http://127.0.0.1:1/";
	slash = open_store(f, &s);
	expect_cause_like(get_err(ks, NAME),
	    "cannot reach Vault at http://127.0.0.1:1: ", NULL);
	expect_cause_like(put_err(ks, &f->kp[0]),
	    "cannot reach Vault at http://127.0.0.1:1: ", NULL);
	expect_cause_like(get_err(slash, NAME),
	    "cannot reach Vault at http://127.0.0.1:1: ", NULL);
}

static void
test_tls(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s, s0;
	struct keystore *ks, *detect;
	static const struct want w[] = {
		{ "GET", "/v1/secret/privateer/" NAME, 404 },
		{ "WRITE", "/v1/secret/privateer/" NAME, 204 },
		{ "GET", "/v1/secret/privateer/" NAME, 200 },
		{ "GET", "/v1/sys/internal/ui/mounts/kv/privateer", 200 },
		{ "GET", "/v1/kv/data/privateer/" NAME, 404 },
		{ "WRITE", "/v1/kv/data/privateer/" NAME, 200 },
		{ "GET", "/v1/kv/data/privateer/" NAME, 200 },
	};

	skip_without_openssl(f);
	assert_int_equal(strncmp(f->addr, "https://", 8), 0);
	s = settings(f, "secret", 1);
	ks = open_store(f, &s);
	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	s0 = settings(f, "kv", 0);
	detect = open_store(f, &s0);
	put_ok(detect, &f->kp[1], 0);
	get_ok(detect, &f->kp[1], 1);
	check_requests(f, w, sizeof w / sizeof w[0]);
}

static void
test_tls_no_cacert(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s;
	struct keystore *ks;
	char *prefix;

	skip_without_openssl(f);
	s = settings(f, "secret", 1);
	s.cacert = NULL;
	ks = open_store(f, &s);
	prefix = xasprintf("cannot reach Vault at %s: ", f->addr);
	expect_cause_like(get_err(ks, NAME), prefix, "certificate");
	expect_cause_like(put_err(ks, &f->kp[0]), prefix, "certificate");
	free(prefix);
	check_requests(f, NULL, 0);
}

static void
test_tls_wrong_ca(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s;
	struct keystore *other, *missing;
	char *prefix, *other_ca, *missing_ca;

	skip_without_openssl(f);
	assert_int_equal(make_ca(f, "other"), 0);
	other_ca = xasprintf("%s/other.pem", f->tmp);
	missing_ca = xasprintf("%s/missing.pem", f->tmp);
	s = settings(f, "secret", 1);
	s.cacert = other_ca;
	other = open_store(f, &s);
	s.cacert = missing_ca;
	missing = open_store(f, &s);
	free(other_ca);
	free(missing_ca);
	prefix = xasprintf("cannot reach Vault at %s: ", f->addr);
	expect_cause_like(get_err(other, NAME), prefix, "certificate");
	/* A CA file that is not there must not mean "no verification". */
	expect_cause_like(get_err(missing, NAME), prefix, NULL);
	free(prefix);
	check_requests(f, NULL, 0);
}

static void
test_tls_plain_http(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s;
	struct keystore *ks;
	char *addr, *prefix;

	skip_without_openssl(f);
	addr = xasprintf("http://%s", f->addr + strlen("https://"));
	s = settings(f, "secret", 1);
	s.addr = addr;
	ks = open_store(f, &s);
	prefix = xasprintf("cannot reach Vault at %s: ", addr);
	free(addr);
	expect_cause_like(get_err(ks, NAME), prefix, NULL);
	free(prefix);
	check_requests(f, NULL, 0);
}

static void
test_open_refusals(void **state)
{
	static const char *const bad[] = { "ftp://127.0.0.1:8200",
	    "127.0.0.1:8200", "vault.example.com", "file:///etc/passwd",
	    "https:/vault" };
	struct vault_settings s;
	struct keystore *ks;
	char *cause = NULL, *want;
	size_t i;

	(void)state;
	memset(&s, 0, sizeof s);
	s.mount = "secret";
	s.token = ROOT_TOKEN;
	ks = keystore_vault_open(&s, &cause);
	assert_null(ks);
	expect_cause(cause, "no Vault address: set vault.url in "
	    "privateer.json or VAULT_ADDR");
	cause = NULL;
	s.addr = "";
	ks = keystore_vault_open(&s, &cause);
	assert_null(ks);
	expect_cause(cause, "no Vault address: set vault.url in "
	    "privateer.json or VAULT_ADDR");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		s.addr = bad[i];
		ks = keystore_vault_open(&s, &cause);
		if (ks != NULL) {
			keystore_close(ks);
			fail_msg("address \"%s\" was accepted", bad[i]);
		}
		want = xasprintf("Vault address \"%s\" is not an http:// or "
		    "https:// URL", bad[i]);
		expect_cause(cause, want);
		free(want);
	}
}

/* Opening contacts nobody; trailing slashes of the address are dropped. */
static void
test_open_lazy(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 0);
	struct keystore *ks;
	static const struct want w[] = {
		{ "GET", "/v1/sys/internal/ui/mounts/secret/privateer", 200 },
		{ "GET", "/v1/secret/privateer/" NAME, 404 },
	};
	char *addr, *where;

	addr = xasprintf("%s//", f->addr);
	s.addr = addr;
	s.token = NULL;
	s.role_id = ROLE_ID;
	s.secret_id = SECRET_ID;
	ks = open_store(f, &s);
	free(addr);
	check_requests(f, NULL, 0);
	where = xasprintf("Vault %s (mount secret, prefix privateer)",
	    f->addr);
	assert_string_equal(ks->where, where);
	free(where);

	s = settings(f, "secret", 0);
	addr = xasprintf("%s/", f->addr);
	s.addr = addr;
	ks = open_store(f, &s);
	free(addr);
	expect_cause_like(get_err(ks, NAME), "no key for " NAME, NULL);
	check_requests(f, w, sizeof w / sizeof w[0]);
}

/* mount NULL is "secret"; prefix NULL puts secrets at the mount's top. */
static void
test_defaults(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, NULL, 1);
	struct keystore *ks;
	static const struct want w[] = {
		{ "GET", "/v1/secret/" NAME, 404 },
		{ "WRITE", "/v1/secret/" NAME, 204 },
		{ "GET", "/v1/secret/" NAME, 200 },
		{ "GET", "/v1/secret/other", 404 },
	};
	char *where;

	s.prefix = NULL;
	s.timeout_ms = 0;
	ks = open_store(f, &s);
	where = xasprintf("Vault %s (mount secret, prefix /)", f->addr);
	assert_string_equal(ks->where, where);
	free(where);
	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	expect_cause(get_err(ks, "other"), "no key for other at secret/other "
	    "(404) — run privateer keygen other");
	check_requests(f, w, sizeof w / sizeof w[0]);
}

static int
file_contains(const char *path, const char *needle)
{
	char *text = read_file_capped(path, 4 * 1024 * 1024, NULL);
	int found;

	assert_non_null(text);
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

/* Tokens and secret_ids travel in headers and bodies, never in URLs. */
static void
test_token_not_logged(void **state)
{
	struct fixture *f = *state;
	struct vault_settings s = settings(f, "secret", 0);
	struct vault_settings sa = settings(f, "kv", 2);
	struct vault_settings sw = settings(f, "secret", 1);
	struct keystore *ks, *ka, *kw;
	static const char *const secrets[] = { ROOT_TOKEN, WRONG_TOKEN,
	    SECRET_ID };
	json_t *reqs;
	char *raw;
	size_t i;

	ks = open_store(f, &s);
	put_ok(ks, &f->kp[0], 0);
	get_ok(ks, &f->kp[0], 1);
	sa.token = NULL;
	sa.role_id = ROLE_ID;
	sa.secret_id = SECRET_ID;
	ka = open_store(f, &sa);
	put_ok(ka, &f->kp[1], 0);
	sw.token = WRONG_TOKEN;
	kw = open_store(f, &sw);
	free(get_err(kw, NAME));

	reqs = requests(f, &raw);
	assert_int_equal(json_array_size(reqs), 8);
	for (i = 0; i < json_array_size(reqs); i++)
		assert_string_equal(req_str(reqs, i, "query"), "");
	json_decref(reqs);
	for (i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		if (strstr(raw, secrets[i]) != NULL)
			fail_msg("\"%s\" is in the request log: %s",
			    secrets[i], raw);
		if (file_contains(f->dlog, secrets[i]))
			fail_msg("\"%s\" is in the double's log", secrets[i]);
	}
	free(raw);
}

#define T(fn, s) cmocka_unit_test_setup_teardown(fn, s, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_kv1_round_trip, setup),
		T(test_kv1_missing, setup),
		T(test_kv2_round_trip, setup),
		T(test_kv2_missing, setup),
		T(test_kv2_cas_required, setup),
		T(test_kv2_direct_write_then_put, setup),
		T(test_kv2_soft_deleted, setup),
		T(test_kv2_destroyed, setup),
		T(test_kv2_cas_conflict, setup),
		T(test_autodetect_kv1, setup),
		T(test_autodetect_kv2, setup),
		T(test_autodetect_unknown_mount, setup),
		T(test_wrong_token, setup),
		T(test_sealed, setup),
		T(test_approle, setup),
		T(test_approle_wrong_secret, setup),
		T(test_approle_relogin, setup_ttl),
		T(test_no_credentials, setup),
		T(test_namespace, setup_ns),
		T(test_namespace_missing, setup_ns),
		T(test_timeout, setup),
		T(test_unreachable, setup_nodouble),
		T(test_tls, setup_tls),
		T(test_tls_no_cacert, setup_tls),
		T(test_tls_wrong_ca, setup_tls),
		T(test_tls_plain_http, setup_tls),
		cmocka_unit_test(test_open_refusals),
		T(test_open_lazy, setup),
		T(test_defaults, setup),
		T(test_token_not_logged, setup),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
