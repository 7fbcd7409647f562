/*
 * test_http: the HTTP server on a Unix socket, driven by libcurl over
 * CURLOPT_UNIX_SOCKET_PATH. A small handler echoes the method, URL, body
 * length and a hash of the body as JSON. Checked: a POST body (binary, with
 * NUL bytes) reaches the handler intact and NUL-terminated; the handler's
 * status and the Docker content type come back; bodies up to the cap (1024
 * bytes here) are served and larger ones get 413 without the handler being
 * called; several parallel connections are served at once (a barrier in the
 * handler proves it) and each serves several requests; the socket is
 * private (0600); a stale socket file is replaced; http_stop removes the
 * socket; impossible socket paths fail with a cause. Streamed answers
 * (export): the pipe's bytes, the extra header, chunked, an ok or error
 * trailer (the reason cleaned of line breaks), release called once.
 * Streamed bodies (import): the sink gets a 3 MiB body in pieces and
 * answers, the handler never sees it, a refusal before the body comes
 * back with its status, other URLs stay buffered.
 * Hostile input and load: a NUL in the request path (%00 or a raw byte)
 * gets 404 and one in the query 400, without reaching the handler; a new
 * connection costs few page faults (a small per-connection pool); 300
 * idle connections do not keep a request out; an idle connection is
 * closed within seconds, but a handler or a streamed answer slower than
 * that is not cut.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define BODY_MAX 1024
#define PARALLEL 6
#define PER_CONNECTION 20
#define IDLE_S 5		/* http.c's HTTP_IDLE_TIMEOUT */
#define SLOW_MS 6500		/* longer than that */
#define FLOOD 300		/* idle connections, more than http.c takes */
#if defined(__SANITIZE_ADDRESS__)	/* gcc */
#define TEST_ASAN 1
#elif defined(__has_feature)		/* clang */
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#define FAULTS_MAX 80		/* per new connection */
#else
#define FAULTS_MAX 32
#endif

/* What the handler saw; shared with the server's threads. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned calls;
	unsigned in_barrier;
	unsigned barrier_n;
	char *last_body;
	size_t last_len;
	int last_terminated;
} seen = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0,
    NULL, 0, 0 };

struct fixture {
	char dir[64];
	char *sock;
	struct http_server *srv;
};

struct response {
	long status;
	char *body;
	size_t len;
	char *content_type;
	json_t *json;		/* body parsed, or NULL */
};

static uint64_t
fnv1a(const char *p, size_t len)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* Waits (at most 10 s) until barrier_n handlers are inside at once. */
static int
handler_barrier(void)
{
	struct timespec deadline;
	int ok = 1;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&seen.lock);
	seen.in_barrier++;
	pthread_cond_broadcast(&seen.cond);
	while (seen.in_barrier < seen.barrier_n) {
		if (pthread_cond_timedwait(&seen.cond, &seen.lock,
		    &deadline) == ETIMEDOUT) {
			ok = 0;
			break;
		}
	}
	pthread_mutex_unlock(&seen.lock);
	return ok;
}

/* ---- streamed responses: a pipe, then a trailer ---- */

static struct {
	pthread_mutex_t lock;
	int released;
	int fail;
} streamed = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };

static char *
stream_finish(void *ctx)
{
	(void)ctx;
	return streamed.fail ? xstrdup("disk on fire\r\nX-Evil: 1") : NULL;
}

static void
stream_release(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&streamed.lock);
	streamed.released++;
	pthread_mutex_unlock(&streamed.lock);
}

/* Writes the second half of the body after a pause longer than idle. */
static void *
slow_writer(void *arg)
{
	int fd = (int)(intptr_t)arg;

	usleep(SLOW_MS * 1000);
	(void)write_all(fd, "stream", 6);
	close(fd);
	return NULL;
}

static int
stream_start(const char *how, char **out, const char **ctype,
    struct http_stream *stream)
{
	pthread_t t;
	int p[2];

	if (pipe(p) != 0)
		return 500;
	if (strcmp(how, "slow") == 0) {
		assert_int_equal(write_all(p[1], "hello, ", 7), 0);
		if (pthread_create(&t, NULL, slow_writer,
		    (void *)(intptr_t)p[1]) != 0)
			return 500;
		pthread_detach(t);
		streamed.fail = 0;
		*out = NULL;
		*ctype = "application/x-tar";
		stream->fd = p[0];
		stream->finish = stream_finish;
		stream->release = stream_release;
		return 200;
	}
	/* Small enough for the pipe's buffer: written before it is read. */
	assert_int_equal(write_all(p[1], "hello, ", 7), 0);
	assert_int_equal(write_all(p[1], "stream", 6), 0);
	close(p[1]);
	streamed.fail = strcmp(how, "fail") == 0;
	*out = NULL;
	*ctype = "application/x-tar";
	stream->fd = p[0];
	stream->finish = stream_finish;
	stream->release = stream_release;
	stream->header = xstrdup("X-Privateer-Filename: v-local-1.tar");
	return 200;
}

static int
handler(void *arg, const char *method, const char *url, const char *body,
    size_t len, char **out, const char **ctype, struct http_stream *stream)
{
	int status = 200;
	char hash[17];
	json_t *j;

	(void)arg;
	if (strncmp(url, "/stream/", 8) == 0)
		return stream_start(url + 8, out, ctype, stream);
	pthread_mutex_lock(&seen.lock);
	seen.calls++;
	free(seen.last_body);
	seen.last_body = xmalloc(len + 1);
	memcpy(seen.last_body, body, len);
	seen.last_len = len;
	seen.last_terminated = body[len] == '\0';
	pthread_mutex_unlock(&seen.lock);

	if (strcmp(url, "/barrier") == 0 && !handler_barrier())
		status = 503;
	else if (strcmp(url, "/sleep") == 0)
		usleep(SLOW_MS * 1000);
	else if (strncmp(url, "/status/", 8) == 0)
		status = atoi(url + 8);
	snprintf(hash, sizeof hash, "%016llx",
	    (unsigned long long)fnv1a(body, len));
	j = json_pack("{s:s, s:s, s:I, s:s}", "method", method, "url", url,
	    "len", (json_int_t)len, "hash", hash);
	*out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return status;
}

static unsigned
calls(void)
{
	unsigned n;

	pthread_mutex_lock(&seen.lock);
	n = seen.calls;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

/*
 * A copy of the body the handler saw last, taken under the lock so that no
 * assertion ever fails (and jumps away) with the lock held.
 */
static char *
last_body(size_t *len, int *terminated)
{
	char *body;

	pthread_mutex_lock(&seen.lock);
	*len = seen.last_len;
	*terminated = seen.last_terminated;
	body = xmalloc(seen.last_len + 1);
	if (seen.last_body != NULL)
		memcpy(body, seen.last_body, seen.last_len);
	body[seen.last_len] = '\0';
	pthread_mutex_unlock(&seen.lock);
	return body;
}

static void
start_server(struct fixture *f)
{
	char *cause = NULL;

	f->srv = http_start(f->sock, BODY_MAX, handler, NULL, &cause);
	if (f->srv == NULL)
		fail_msg("http_start: %s",
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);

	strcpy(f->dir, "/tmp/privateer-test-http-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	f->sock = xasprintf("%s/plugin.sock", f->dir);
	pthread_mutex_lock(&seen.lock);
	seen.calls = 0;
	seen.in_barrier = 0;
	seen.barrier_n = 0;
	free(seen.last_body);
	seen.last_body = NULL;
	seen.last_len = 0;
	pthread_mutex_unlock(&seen.lock);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	http_stop(f->srv);
	(void)remove_tree(f->dir, NULL);
	free(f->sock);
	free(f);
	pthread_mutex_lock(&seen.lock);
	free(seen.last_body);
	seen.last_body = NULL;
	pthread_mutex_unlock(&seen.lock);
	return 0;
}

/* ---- the client ---- */

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct response *r = arg;

	r->body = xreallocarray(r->body, r->len + size * n + 1, 1);
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static CURL *
client(const char *sock)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	return h;
}

static void
response_free(struct response *r)
{
	free(r->body);
	free(r->content_type);
	json_decref(r->json);
	memset(r, 0, sizeof *r);
}

/*
 * One request on h. body NULL means no body (a GET unless method says
 * otherwise). Returns the curl result; fills *r (free with response_free).
 */
static CURLcode
request(CURL *h, const char *method, const char *path, const char *body,
    size_t len, struct curl_slist *headers, struct response *r)
{
	char url[256];
	char *ct = NULL;
	CURLcode rc;

	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "http://localhost%s", path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	} else
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		return rc;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
	if (ct != NULL)
		r->content_type = xstrdup(ct);
	if (r->body != NULL)
		r->json = json_loads(r->body, 0, NULL);
	return rc;
}

/* A request that must complete; any HTTP status. */
static void
request_ok(CURL *h, const char *method, const char *path, const char *body,
    size_t len, struct response *r)
{
	CURLcode rc;

	rc = request(h, method, path, body, len, NULL, r);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	if (r->json == NULL)
		fail_msg("%s %s: response is not JSON: %s", method, path,
		    r->body != NULL ? r->body : "(empty)");
}

static void
assert_echo(const struct response *r, const char *method, const char *path,
    const char *body, size_t len)
{
	char hash[17];

	snprintf(hash, sizeof hash, "%016llx",
	    (unsigned long long)fnv1a(body, len));
	assert_int_equal(r->status, 200);
	assert_string_equal(json_string_value(json_object_get(r->json,
	    "method")), method);
	assert_string_equal(json_string_value(json_object_get(r->json, "url")),
	    path);
	assert_int_equal(json_integer_value(json_object_get(r->json, "len")),
	    len);
	assert_string_equal(json_string_value(json_object_get(r->json,
	    "hash")), hash);
}

/* ---- tests ---- */

static void
test_post_body_intact(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char body[1000], *got;
	size_t i, len;
	int terminated;
	CURL *h;

	for (i = 0; i < sizeof body; i++)
		body[i] = (char)((i * 7 + 3) % 256);
	body[0] = '\0';
	body[500] = '\0';
	start_server(f);
	h = client(f->sock);
	assert_non_null(h);
	request_ok(h, "POST", "/VolumeDriver.Create", body, sizeof body, &r);
	assert_echo(&r, "POST", "/VolumeDriver.Create", body, sizeof body);
	assert_non_null(r.content_type);
	assert_string_equal(r.content_type, API_CONTENT_TYPE);
	response_free(&r);

	assert_int_equal(calls(), 1);
	got = last_body(&len, &terminated);
	assert_int_equal(len, sizeof body);
	assert_memory_equal(got, body, sizeof body);
	assert_true(terminated);
	free(got);
	curl_easy_cleanup(h);
}

static void
test_json_body(void **state)
{
	struct fixture *f = *state;
	const char *body = "{\"Name\": \"v1\", \"ID\": \"c0ffee\"}\n";
	struct response r;
	char *got;
	size_t len;
	int terminated;
	CURL *h;

	start_server(f);
	h = client(f->sock);
	request_ok(h, "POST", "/VolumeDriver.Mount", body, strlen(body), &r);
	assert_echo(&r, "POST", "/VolumeDriver.Mount", body, strlen(body));
	response_free(&r);
	got = last_body(&len, &terminated);
	assert_string_equal(got, body);
	assert_int_equal(len, strlen(body));
	free(got);
	curl_easy_cleanup(h);
}

static void
test_empty_body_and_methods(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char *got;
	size_t len;
	int terminated;
	CURL *h;

	start_server(f);
	h = client(f->sock);
	request_ok(h, "POST", "/Plugin.Activate", "", 0, &r);
	assert_echo(&r, "POST", "/Plugin.Activate", "", 0);
	response_free(&r);
	request_ok(h, "GET", "/VolumeDriver.List", NULL, 0, &r);
	assert_echo(&r, "GET", "/VolumeDriver.List", "", 0);
	response_free(&r);
	request_ok(h, "PUT", "/x", "abc", 3, &r);
	assert_echo(&r, "PUT", "/x", "abc", 3);
	response_free(&r);
	got = last_body(&len, &terminated);
	assert_int_equal(len, 3);
	assert_true(terminated);
	free(got);
	assert_int_equal(calls(), 3);
	curl_easy_cleanup(h);
}

static void
test_status_passed(void **state)
{
	struct fixture *f = *state;
	struct response r;
	CURL *h;

	start_server(f);
	h = client(f->sock);
	request_ok(h, "POST", "/status/404", "{}", 2, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.content_type, API_CONTENT_TYPE);
	response_free(&r);
	request_ok(h, "POST", "/status/500", "{}", 2, &r);
	assert_int_equal(r.status, 500);
	response_free(&r);
	curl_easy_cleanup(h);
}

static void
test_body_cap(void **state)
{
	struct fixture *f = *state;
	struct curl_slist *no_expect;
	struct response r;
	char *body;
	const char *err;
	CURL *h;

	body = xmalloc(100000);
	memset(body, 'b', 100000);
	start_server(f);
	h = client(f->sock);

	/* Exactly at the cap: served. */
	request_ok(h, "POST", "/echo", body, BODY_MAX, &r);
	assert_echo(&r, "POST", "/echo", body, BODY_MAX);
	response_free(&r);
	assert_int_equal(calls(), 1);

	/* One byte over: 413, and the handler never sees it. */
	request_ok(h, "POST", "/echo", body, BODY_MAX + 1, &r);
	assert_int_equal(r.status, 413);
	err = json_string_value(json_object_get(r.json, "Err"));
	assert_non_null(err);
	assert_non_null(strstr(err, "exceeds"));
	response_free(&r);
	assert_int_equal(calls(), 1);

	/* Much larger, with and without "Expect: 100-continue". */
	request_ok(h, "POST", "/echo", body, 100000, &r);
	assert_int_equal(r.status, 413);
	response_free(&r);
	no_expect = curl_slist_append(NULL, "Expect:");
	assert_int_equal(request(h, "POST", "/echo", body, 100000, no_expect,
	    &r), CURLE_OK);
	assert_int_equal(r.status, 413);
	response_free(&r);
	curl_slist_free_all(no_expect);
	assert_int_equal(calls(), 1);

	/* The server is still fine afterwards. */
	request_ok(h, "POST", "/echo", "ok", 2, &r);
	assert_echo(&r, "POST", "/echo", "ok", 2);
	response_free(&r);
	assert_int_equal(calls(), 2);
	curl_easy_cleanup(h);
	free(body);
}

static void
test_keep_alive(void **state)
{
	struct fixture *f = *state;
	struct response r;
	long connects;
	CURL *h;
	int i;

	start_server(f);
	h = client(f->sock);
	for (i = 0; i < 5; i++) {
		request_ok(h, "POST", "/echo", "x", 1, &r);
		assert_int_equal(r.status, 200);
		response_free(&r);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
		/* One connection, reused: Docker keeps it open too. */
		assert_int_equal(connects, i == 0 ? 1 : 0);
	}
	curl_easy_cleanup(h);
}

struct worker {
	const char *sock;
	int n;
	int failures;
	char why[256];
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct response r;
	char body[64], path[32], hash[17];
	CURLcode rc;
	CURL *h;
	int i;

	h = client(w->sock);
	if (h == NULL) {
		w->failures++;
		return NULL;
	}
	/* All PARALLEL connections must be inside the handler at once. */
	rc = request(h, "POST", "/barrier", "{}", 2, NULL, &r);
	if (rc != CURLE_OK || r.status != 200) {
		w->failures++;
		snprintf(w->why, sizeof w->why, "barrier: %s, status %ld",
		    curl_easy_strerror(rc), r.status);
	}
	response_free(&r);
	for (i = 0; i < PER_CONNECTION; i++) {
		snprintf(body, sizeof body, "{\"worker\": %d, \"i\": %d}",
		    w->n, i);
		snprintf(path, sizeof path, "/w%d/%d", w->n, i);
		snprintf(hash, sizeof hash, "%016llx",
		    (unsigned long long)fnv1a(body, strlen(body)));
		rc = request(h, "POST", path, body, strlen(body), NULL, &r);
		if (rc != CURLE_OK || r.status != 200 || r.json == NULL ||
		    strcmp(json_string_value(json_object_get(r.json, "url")),
		    path) != 0 ||
		    strcmp(json_string_value(json_object_get(r.json, "hash")),
		    hash) != 0) {
			w->failures++;
			snprintf(w->why, sizeof w->why, "%s: %s, status %ld, "
			    "body %s", path, curl_easy_strerror(rc), r.status,
			    r.body != NULL ? r.body : "");
		}
		response_free(&r);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void
test_parallel_connections(void **state)
{
	struct fixture *f = *state;
	struct worker w[PARALLEL];
	pthread_t t[PARALLEL];
	int i;

	start_server(f);
	pthread_mutex_lock(&seen.lock);
	seen.barrier_n = PARALLEL;
	pthread_mutex_unlock(&seen.lock);
	for (i = 0; i < PARALLEL; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].sock = f->sock;
		w[i].n = i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main,
		    &w[i]), 0);
	}
	for (i = 0; i < PARALLEL; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < PARALLEL; i++) {
		if (w[i].failures != 0)
			fail_msg("worker %d: %d failure(s), last: %s", i,
			    w[i].failures, w[i].why);
	}
	assert_int_equal(calls(), PARALLEL * (PER_CONNECTION + 1));
}

static void
test_socket_private(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	mode_t old, during;

	/* Even with a permissive umask, only the owner may connect. */
	old = umask(0);
	start_server(f);
	during = umask(old);
	assert_int_equal(stat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* And the process umask is put back. */
	assert_int_equal(during, 0);
}

static void
test_stale_socket(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun;
	struct response r;
	struct stat st;
	CURL *h;
	int fd;

	/* What a killed plugin leaves: a socket file nobody listens on. */
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, f->sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
	assert_int_equal(stat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	h = client(f->sock);
	assert_int_equal(request(h, "POST", "/echo", "x", 1, NULL, &r),
	    CURLE_COULDNT_CONNECT);
	response_free(&r);

	start_server(f);
	request_ok(h, "POST", "/echo", "x", 1, &r);
	assert_echo(&r, "POST", "/echo", "x", 1);
	response_free(&r);
	curl_easy_cleanup(h);
}

static void
test_stop_removes_socket(void **state)
{
	struct fixture *f = *state;
	struct response r;
	struct stat st;
	CURL *h;

	start_server(f);
	h = client(f->sock);
	request_ok(h, "POST", "/echo", "x", 1, &r);
	response_free(&r);
	curl_easy_cleanup(h);

	http_stop(f->srv);
	f->srv = NULL;
	assert_int_equal(stat(f->sock, &st), -1);
	assert_int_equal(errno, ENOENT);

	h = client(f->sock);
	assert_int_not_equal(request(h, "POST", "/echo", "x", 1, NULL, &r),
	    CURLE_OK);
	response_free(&r);
	curl_easy_cleanup(h);
	http_stop(NULL);

	/* And the path can be served again. */
	start_server(f);
	h = client(f->sock);
	request_ok(h, "POST", "/echo", "y", 1, &r);
	assert_echo(&r, "POST", "/echo", "y", 1);
	response_free(&r);
	curl_easy_cleanup(h);
}

static void
test_start_fails(void **state)
{
	struct fixture *f = *state;
	char *path, *cause = NULL;

	/* Longer than sun_path. */
	path = xmalloc(200);
	memset(path, 'p', 199);
	path[0] = '/';
	path[199] = '\0';
	assert_null(http_start(path, BODY_MAX, handler, NULL, &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "too long"));
	free(cause);
	cause = NULL;
	free(path);

	/* A directory that does not exist. */
	path = xasprintf("%s/missing/plugin.sock", f->dir);
	assert_null(http_start(path, BODY_MAX, handler, NULL, &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, path));
	free(cause);
	free(path);
}

/* Headers and trailers, as curl hands them over, one string. */
static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	char **all = arg, *tmp = *all;

	*all = xasprintf("%s%.*s", tmp != NULL ? tmp : "", (int)(size * n), p);
	free(tmp);
	return size * n;
}

static void
test_stream_trailer(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char *headers;
	CURL *h;
	int i, k;

	start_server(f);
	for (i = 0; i < 2; i++) {
		h = client(f->sock);
		headers = NULL;
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, &headers);
		assert_int_equal(request(h, "POST", i == 0 ? "/stream/ok" :
		    "/stream/fail", "{}", 2, NULL, &r), CURLE_OK);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, "hello, stream");
		assert_string_equal(r.content_type, "application/x-tar");
		assert_non_null(strstr(headers,
		    "X-Privateer-Filename: v-local-1.tar\r\n"));
		assert_non_null(strstr(headers, "Transfer-Encoding: chunked"));
		if (i == 0) {
			assert_non_null(strstr(headers,
			    "X-Privateer-Result: ok\r\n"));
			assert_null(strstr(headers, "X-Privateer-Error"));
		} else {
			/* The reason, with its line break made harmless. */
			assert_non_null(strstr(headers, "X-Privateer-Error: "
			    "disk on fire??X-Evil: 1\r\n"));
			assert_null(strstr(headers, "X-Privateer-Result"));
			assert_null(strstr(headers, "\r\nX-Evil"));
		}
		free(headers);
		response_free(&r);
		curl_easy_cleanup(h);
	}
	/* release runs once per response, after it is over. */
	for (k = 0; k < 100; k++) {
		pthread_mutex_lock(&streamed.lock);
		i = streamed.released;
		pthread_mutex_unlock(&streamed.lock);
		if (i == 2)
			break;
		usleep(10000);
	}
	assert_int_equal(i, 2);
}

/* ---- streamed request bodies ---- */

static struct {
	pthread_mutex_t lock;
	size_t len;
	uint64_t hash;
	int writes, finished, aborted;
} sunk = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0 };

static int
sink_write(void *ctx, const char *data, size_t len)
{
	size_t i;

	(void)ctx;
	pthread_mutex_lock(&sunk.lock);
	for (i = 0; i < len; i++)
		sunk.hash = (sunk.hash ^ (unsigned char)data[i]) *
		    1099511628211ULL;
	sunk.len += len;
	sunk.writes++;
	pthread_mutex_unlock(&sunk.lock);
	return 0;
}

static int
sink_finish(void *ctx, int aborted, char **out)
{
	(void)ctx;
	pthread_mutex_lock(&sunk.lock);
	sunk.finished++;
	sunk.aborted += aborted;
	if (!aborted)
		*out = xasprintf("{\"len\":%zu,\"hash\":\"%016llx\"}",
		    sunk.len, (unsigned long long)sunk.hash);
	pthread_mutex_unlock(&sunk.lock);
	return 201;
}

static int
upload_open(void *arg, const char *url, const struct http_conn *conn,
    struct http_sink *sink, char **out)
{
	const char *v = http_query(conn, "Volume");

	(void)arg;
	if (strcmp(url, "/up") != 0)
		return 0;
	if (v == NULL || strcmp(v, "taken") == 0) {
		*out = xstrdup("{\"Err\":\"volume taken exists\"}");
		return 409;
	}
	sink->write = sink_write;
	sink->finish = sink_finish;
	sink->ctx = NULL;
	pthread_mutex_lock(&sunk.lock);
	sunk.len = 0;
	sunk.hash = UINT64_C(14695981039346656037);
	pthread_mutex_unlock(&sunk.lock);
	return 1;
}

static void
test_upload_sink(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 * 1024 * 1024 + 17, i;
	char *big = xmalloc(n), want[17];
	struct response r;
	unsigned before;
	CURL *h;

	start_server(f);
	http_set_upload(f->srv, upload_open);
	for (i = 0; i < n; i++)
		big[i] = (char)(i * 7 + (i >> 11));
	before = calls();
	h = client(f->sock);
	/* Far beyond the buffered cap: streamed, never buffered. */
	assert_int_equal(request(h, "POST", "/up?Volume=v1", big, n, NULL,
	    &r), CURLE_OK);
	assert_int_equal(r.status, 201);
	assert_non_null(r.json);
	assert_int_equal(json_integer_value(json_object_get(r.json, "len")),
	    n);
	snprintf(want, sizeof want, "%016llx", (unsigned long long)fnv1a(big,
	    n));
	assert_string_equal(json_string_value(json_object_get(r.json, "hash")),
	    want);
	assert_int_equal(calls(), before);	/* the handler never saw it */
	pthread_mutex_lock(&sunk.lock);
	i = (size_t)sunk.writes;
	pthread_mutex_unlock(&sunk.lock);
	assert_true(i > 1 && i < 1000);		/* in pieces, not bytes */
	response_free(&r);
	/* Refused before the body, with the open's answer. */
	assert_int_equal(request(h, "POST", "/up?Volume=taken", big, n, NULL,
	    &r), CURLE_OK);
	assert_int_equal(r.status, 409);
	assert_string_equal(json_string_value(json_object_get(r.json, "Err")),
	    "volume taken exists");
	response_free(&r);
	/* Other URLs are buffered as before. */
	assert_int_equal(request(h, "POST", "/other", "{}", 2, NULL, &r),
	    CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(calls(), before + 1);
	response_free(&r);
	curl_easy_cleanup(h);
	free(big);
}

/* ---- hostile input and load ---- */

static int
raw_connect(const char *sock)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Sends len bytes on a new connection and reads the answer's head (at
 * most 5 s); its status, or -1.
 */
static int
raw_request(const char *sock, const char *req, size_t len)
{
	char buf[4096];
	size_t have = 0;
	struct pollfd pfd;
	int fd, status = -1;
	ssize_t n;

	fd = raw_connect(sock);
	if (fd < 0)
		return -1;
	if (write_all(fd, req, len) != 0)
		goto out;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (have < sizeof buf - 1 && poll(&pfd, 1, 5000) == 1) {
		n = read(fd, buf + have, sizeof buf - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	buf[have] = '\0';
	if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
		status = atoi(buf + 9);
out:
	close(fd);
	return status;
}

static void
test_nul_in_target(void **state)
{
	static const char raw_nul[] = "POST /VolumeDriver.Remove\0junk "
	    "HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
	static const char raw_tail[] = "POST /VolumeDriver.Remove\0 "
	    "HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
	static const char raw_ok[] = "POST /VolumeDriver.Remove "
	    "HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
	static const char raw_bad_head[] = "GET /echo HTTP/1.1\r\nno colon"
	    "\r\n\r\n";
	static const char raw_no_target[] = "GET \r\n\r\n";
	struct fixture *f = *state;
	struct response r;
	unsigned before;
	CURL *h;

	start_server(f);
	http_set_upload(f->srv, upload_open);
	h = client(f->sock);
	before = calls();
	/* Cut at the NUL, these would be served as Remove and Get. */
	request_ok(h, "POST", "/VolumeDriver.Remove%00junk", "{\"Name\":"
	    "\"v\"}", 12, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(json_string_value(json_object_get(r.json, "Err")),
	    "unknown endpoint");
	response_free(&r);
	request_ok(h, "POST", "/VolumeDriver.Get%00", "{}", 2, &r);
	assert_int_equal(r.status, 404);
	response_free(&r);
	request_ok(h, "GET", "/VolumeDriver.List%00?x=1", NULL, 0, &r);
	assert_int_equal(r.status, 404);
	response_free(&r);
	/* Before the body is read, for a streamed upload too. */
	request_ok(h, "POST", "/up%00?Volume=v1", "{}", 2, &r);
	assert_int_equal(r.status, 404);
	response_free(&r);
	/* In the query: the value would be cut short. */
	request_ok(h, "POST", "/up?Volume=taken%00junk", "{}", 2, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(json_string_value(json_object_get(r.json,
	    "Err")), "NUL"));
	response_free(&r);
	request_ok(h, "POST", "/echo?a=%00", "{}", 2, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	assert_int_equal(calls(), before);
	/* A raw NUL byte in the request line, mid-path or at its end. */
	assert_int_equal(raw_request(f->sock, raw_nul, sizeof raw_nul - 1),
	    404);
	assert_int_equal(raw_request(f->sock, raw_tail, sizeof raw_tail - 1),
	    404);
	assert_int_equal(calls(), before);

	/* A head MHD itself refuses after the request line: nothing leaks. */
	assert_int_equal(raw_request(f->sock, raw_bad_head,
	    sizeof raw_bad_head - 1), 400);
	/* No target at all: MHD says so with a NULL URI. */
	(void)raw_request(f->sock, raw_no_target, sizeof raw_no_target - 1);
	assert_int_equal(calls(), before);

	/* What only looks like one is served: "%2500" is "%00" as text. */
	request_ok(h, "POST", "/echo%2500", "x", 1, &r);
	assert_echo(&r, "POST", "/echo%00", "x", 1);
	response_free(&r);
	assert_int_equal(raw_request(f->sock, raw_ok, sizeof raw_ok - 1), 200);
	assert_int_equal(calls(), before + 2);
	curl_easy_cleanup(h);
}

static long
minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void
test_connection_cost(void **state)
{
	struct fixture *f = *state;
	struct response r;
	long before, per;
	CURL *h;
	int i, n = 200;

	start_server(f);
	/* Warm up: thread stacks, curl, the allocator. */
	for (i = 0; i < 20; i++) {
		h = client(f->sock);
		request_ok(h, "POST", "/echo", "x", 1, &r);
		response_free(&r);
		curl_easy_cleanup(h);
	}
	before = minor_faults();
	for (i = 0; i < n; i++) {
		h = client(f->sock);
		request_ok(h, "POST", "/echo", "x", 1, &r);
		assert_int_equal(r.status, 200);
		response_free(&r);
		curl_easy_cleanup(h);
	}
	per = (minor_faults() - before) / n;
	/*
	 * A 512 KiB pool, mapped per connection and zeroed after each
	 * request, faulted in 128 pages every time (0.12 ms of CPU per
	 * connection became 2.4 ms); 32 KiB comes from the allocator and is
	 * reused: no fault at all. AddressSanitizer's quarantine keeps freed
	 * memory from being reused: about 40 more there.
	 */
	if (per > FAULTS_MAX)
		fail_msg("%ld page faults per connection", per);
}

/* A request on a new connection; how long it took, or -1 on failure. */
static long
timed_request(const char *sock, struct response *r)
{
	struct timespec t0, t1;
	CURLcode rc;
	CURL *h;

	h = client(sock);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 8000L);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = request(h, "POST", "/echo", "x", 1, NULL, r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK)
		return -1;
	return (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

static void
test_idle_flood(void **state)
{
	struct fixture *f = *state;
	struct rlimit rl;
	struct response r;
	int fds[FLOOD], i, n;
	long ms;

	/* Both ends live in this process. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 3 * FLOOD && rl.rlim_max >= 3 * FLOOD) {
		rl.rlim_cur = 3 * FLOOD;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	start_server(f);
	for (n = 0; n < FLOOD; n++) {
		fds[n] = raw_connect(f->sock);
		if (fds[n] < 0)
			break;
		/* Some of them have been used once and kept open. */
		if (n % 10 == 0) {
			static const char req[] = "POST /echo HTTP/1.1\r\n"
			    "Host: x\r\nContent-Length: 1\r\n\r\nx";
			char buf[512];
			(void)write_all(fds[n], req, sizeof req - 1);
			(void)read(fds[n], buf, sizeof buf);
		}
	}
	/* Let the server take them all in. */
	usleep(300000);
	ms = timed_request(f->sock, &r);
	for (i = 0; i < n; i++)
		close(fds[i]);
	if (ms < 0)
		fail_msg("no answer behind %d idle connections", n);
	assert_int_equal(n, FLOOD);
	assert_echo(&r, "POST", "/echo", "x", 1);
	response_free(&r);
	if (ms > 2000)
		fail_msg("answered after %ld ms behind %d idle connections",
		    ms, n);
	/* And it keeps serving. */
	assert_true(timed_request(f->sock, &r) >= 0);
	assert_int_equal(r.status, 200);
	response_free(&r);
}

/* Milliseconds until fd is closed by the peer (at most limit_ms), or -1. */
static long
closed_after(int fd, long limit_ms)
{
	struct timespec t0, t1;
	struct pollfd pfd;
	char buf[512];
	ssize_t n;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= limit_ms || poll(&pfd, 1, (int)(limit_ms - ms)) != 1)
			return -1;
		n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

struct slow {
	const char *sock;
	const char *path;
	struct response r;
	CURLcode rc;
};

static void *
slow_main(void *arg)
{
	struct slow *s = arg;
	CURL *h = client(s->sock);

	s->rc = request(h, "POST", s->path, "{}", 2, NULL, &s->r);
	curl_easy_cleanup(h);
	return NULL;
}

static void
test_idle_timeout(void **state)
{
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1\r\n\r\nx";
	struct fixture *f = *state;
	struct slow slow[2];
	pthread_t t[2];
	long never, used;
	int fd, fd2, i;
	char buf[512];

	start_server(f);
	/* Slower than the idle timeout: a handler, and a streamed answer. */
	slow[0].path = "/sleep";
	slow[1].path = "/stream/slow";
	for (i = 0; i < 2; i++) {
		slow[i].sock = f->sock;
		assert_int_equal(pthread_create(&t[i], NULL, slow_main,
		    &slow[i]), 0);
	}
	/* One never says anything, one is idle after a request. */
	fd = raw_connect(f->sock);
	fd2 = raw_connect(f->sock);
	assert_true(fd >= 0 && fd2 >= 0);
	assert_int_equal(write_all(fd2, req, sizeof req - 1), 0);
	assert_true(read(fd2, buf, sizeof buf) > 0);
	never = closed_after(fd, (IDLE_S + 3) * 1000);
	used = closed_after(fd2, 3000);
	close(fd);
	close(fd2);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (never < 0 || used < 0)
		fail_msg("idle connections still open after %d s", IDLE_S + 3);
	for (i = 0; i < 2; i++) {
		if (slow[i].rc != CURLE_OK)
			fail_msg("%s: %s", slow[i].path,
			    curl_easy_strerror(slow[i].rc));
		assert_int_equal(slow[i].r.status, 200);
	}
	assert_echo(&slow[0].r, "POST", "/sleep", "{}", 2);
	assert_string_equal(slow[1].r.body, "hello, stream");
	for (i = 0; i < 2; i++)
		response_free(&slow[i].r);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_post_body_intact),
		T(test_json_body),
		T(test_empty_body_and_methods),
		T(test_status_passed),
		T(test_body_cap),
		T(test_keep_alive),
		T(test_parallel_connections),
		T(test_socket_private),
		T(test_stale_socket),
		T(test_stop_removes_socket),
		T(test_start_fails),
		T(test_stream_trailer),
		T(test_upload_sink),
		T(test_nul_in_target),
		T(test_connection_cost),
		T(test_idle_flood),
		T(test_idle_timeout),
	};
	const char *level = getenv("PRIVATEER_LOG_LEVEL");
	int rc;

	log_set_level(level != NULL && *level != '\0' ? level : "error");
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
