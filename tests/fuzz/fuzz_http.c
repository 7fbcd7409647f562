/*
 * fuzz_http: HTTP request framing as the plugin's socket receives it. The
 * real server (http.c over libmicrohttpd, a thread per connection) listens
 * on a Unix socket in a private temp directory; each input is sent as the
 * raw bytes of one connection, which is then half-closed and read until
 * the server closes it (at most FUZZ_HTTP_WAIT_MS, else a hang is
 * reported). Requests that reach the handler are decoded as the plugin's
 * handler does first (api_route, api_decode); /Privateer.Import bodies go
 * to a streaming sink. Body cap 1 KiB, so inputs cross it.
 *
 * Oracles, beyond the sanitizers: the handler's body is NUL-terminated and
 * within the cap; a sink never gets more after refusing; and when the
 * input holds one request whose path has a NUL (raw or %00), no handler
 * call may carry that path cut at the NUL — the bug where
 * "/VolumeDriver.Remove%00junk" removed a volume.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "fuzz.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define FUZZ_HTTP_BODY_MAX 1024
#define FUZZ_HTTP_SINK_MAX (64 * 1024)
#define FUZZ_HTTP_WAIT_MS 5000
#define FUZZ_HTTP_URLS 16

static char *fuzz_http_dir;
static char *fuzz_http_sock;
static struct http_server *fuzz_http_srv;

static pthread_mutex_t fuzz_http_lock = PTHREAD_MUTEX_INITIALIZER;
static char *fuzz_http_urls[FUZZ_HTTP_URLS];	/* handler calls, in order */
static size_t fuzz_http_nurls;

static void
fuzz_http_seen(const char *url)
{
	pthread_mutex_lock(&fuzz_http_lock);
	if (fuzz_http_nurls < FUZZ_HTTP_URLS)
		fuzz_http_urls[fuzz_http_nurls++] = xstrdup(url);
	pthread_mutex_unlock(&fuzz_http_lock);
}

static int
fuzz_http_handler(void *arg, const char *method, const char *url,
    const char *body, size_t len, char **out, const char **ctype,
    struct http_stream *stream)
{
	struct api_req req;
	char *cause = NULL;
	int op, rc;

	(void)arg;
	(void)method;
	(void)ctype;
	(void)stream;
	if (len > FUZZ_HTTP_BODY_MAX || body[len] != '\0') {
		fprintf(stderr, "handler got a body of %zu bytes, %s\n", len,
		    body[len] != '\0' ? "not NUL-terminated" : "over the cap");
		abort();
	}
	fuzz_http_seen(url);
	op = api_route(url);
	if (op < 0) {
		*out = xstrdup("{\"Err\":\"unknown endpoint\"}");
		return 404;
	}
	rc = api_decode((enum api_op)op, body, len, &req, &cause);
	fuzz_check_cause("api_decode", rc, &cause);
	if (rc == 0)
		api_req_free(&req);
	*out = xstrdup(rc == 0 ? "{}" : "{\"Err\":\"bad request\"}");
	return rc == 0 ? 200 : 400;
}

struct fuzz_http_sink {
	size_t got;
	int refused;
};

static int
fuzz_http_sink_write(void *ctx, const char *data, size_t len)
{
	struct fuzz_http_sink *s = ctx;

	(void)data;
	if (s->refused) {
		fprintf(stderr, "sink written after refusing\n");
		abort();
	}
	s->got += len;
	if (s->got > FUZZ_HTTP_SINK_MAX) {
		s->refused = 1;
		return -1;
	}
	return 0;
}

static int
fuzz_http_sink_finish(void *ctx, int aborted, char **out)
{
	struct fuzz_http_sink *s = ctx;
	int status = s->refused ? 413 : 200;

	if (!aborted)
		*out = xasprintf("{\"Got\":%zu}", s->got);
	free(s);
	return status;
}

static int
fuzz_http_upload_open(void *arg, const char *url,
    const struct http_conn *conn, struct http_sink *sink, char **out)
{
	const char *vol;

	(void)arg;
	if (strcmp(url, "/Privateer.Import") != 0)
		return 0;
	vol = http_query(conn, "Volume");
	if (vol == NULL || *vol == '\0') {
		*out = xstrdup("{\"Err\":\"Volume is missing\"}");
		return 400;
	}
	sink->write = fuzz_http_sink_write;
	sink->finish = fuzz_http_sink_finish;
	sink->ctx = xcalloc(1, sizeof(struct fuzz_http_sink));
	return 1;
}

static void
fuzz_http_cleanup(void)
{
	if (fuzz_http_srv != NULL)
		http_stop(fuzz_http_srv);
	if (fuzz_http_sock != NULL) {
		unlink(fuzz_http_sock);
		free(fuzz_http_sock);
	}
	rmdir(fuzz_http_dir);
	free(fuzz_http_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *cause = NULL;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	log_set_level("error");
	fuzz_http_dir = fuzz_tempdir("fuzz_http");
	fuzz_http_sock = xasprintf("%s/s.sock", fuzz_http_dir);
	atexit(fuzz_http_cleanup);
	fuzz_http_srv = http_start(fuzz_http_sock, FUZZ_HTTP_BODY_MAX,
	    fuzz_http_handler, NULL, &cause);
	if (fuzz_http_srv == NULL) {
		fprintf(stderr, "http_start: %s\n", cause);
		abort();
	}
	http_set_upload(fuzz_http_srv, fuzz_http_upload_open);
	return 0;
}

static long long
fuzz_http_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends data on a new connection, half-closes, reads until closed. */
static void
fuzz_http_exchange(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun;
	struct pollfd pfd;
	char buf[4096];
	size_t off = 0;
	long long deadline = fuzz_http_ms() + FUZZ_HTTP_WAIT_MS, left;
	int fd, half = 0;
	ssize_t n;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fuzz_http_sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0 &&
	    errno != EINPROGRESS && errno != EAGAIN) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		abort();
	}
	for (;;) {
		if (!half && off == size) {
			shutdown(fd, SHUT_WR);
			half = 1;
		}
		left = deadline - fuzz_http_ms();
		if (left <= 0) {
			fprintf(stderr, "the server neither answered nor "
			    "closed the connection within %d ms\n",
			    FUZZ_HTTP_WAIT_MS);
			abort();
		}
		pfd.fd = fd;
		pfd.events = POLLIN | (half ? 0 : POLLOUT);
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			abort();
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, buf, sizeof buf, 0);
			if (n == 0 || (n < 0 && errno != EAGAIN &&
			    errno != EINTR))
				break;	/* closed, or reset */
		}
		if (!half && (pfd.revents & POLLOUT)) {
			n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* The server closed its end: no more to say. */
				shutdown(fd, SHUT_WR);
				half = 1;
			}
		}
	}
	close(fd);
}

/*
 * If data is one request whose path holds a NUL (raw, or %00), the path as
 * a C string would see it (percent-decoded, cut at the NUL); else NULL.
 */
static char *
fuzz_http_cut_path(const uint8_t *data, size_t size)
{
	const uint8_t *eol, *sp, *end, *p;
	char *cut;
	size_t n = 0, i;
	int nul = 0;

	eol = memchr(data, '\n', size);
	if (eol == NULL)
		return NULL;
	/* A second request line would make the handler calls ambiguous. */
	if (memmem(eol, size - (size_t)(eol - data), " HTTP/", 6) != NULL)
		return NULL;
	end = eol;
	if (end > data && end[-1] == '\r')
		end--;
	sp = memchr(data, ' ', (size_t)(end - data));
	if (sp == NULL)
		return NULL;
	sp++;
	for (p = end; p > sp && p[-1] != ' '; p--)
		;
	if (p <= sp)
		return NULL;
	end = p - 1;	/* the target is [sp, end) */
	cut = xcalloc(1, (size_t)(end - sp) + 1);
	for (i = 0; sp + i < end && sp[i] != '?'; i++) {
		if (sp[i] == '\0' || (sp[i] == '%' && sp + i + 2 < end &&
		    sp[i + 1] == '0' && sp[i + 2] == '0')) {
			nul = 1;
			break;
		}
		if (sp[i] == '%' && sp + i + 2 < end) {
			unsigned v;
			char hex[3] = { (char)sp[i + 1], (char)sp[i + 2], 0 };
			char *e;

			v = (unsigned)strtoul(hex, &e, 16);
			if (e == hex + 2 && hex[0] != '+' && hex[0] != '-' &&
			    hex[0] != ' ') {
				cut[n++] = (char)v;
				i += 2;
				continue;
			}
		}
		cut[n++] = (char)sp[i];
	}
	if (!nul || n == 0) {
		free(cut);
		return NULL;
	}
	return cut;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cut;
	size_t i;

	if (size > 256 * 1024)
		return 0;
	fuzz_http_exchange(data, size);
	cut = fuzz_http_cut_path(data, size);
	pthread_mutex_lock(&fuzz_http_lock);
	for (i = 0; i < fuzz_http_nurls; i++) {
		if (cut != NULL && strcmp(fuzz_http_urls[i], cut) == 0) {
			fprintf(stderr, "a path with a NUL reached the handler "
			    "as \"%s\"\n", cut);
			abort();
		}
		free(fuzz_http_urls[i]);
	}
	fuzz_http_nurls = 0;
	pthread_mutex_unlock(&fuzz_http_lock);
	free(cut);
	return 0;
}
