/*
 * drivercalls: a load generator for the benchmarks (not part of
 * privateer). It sends HTTP requests over a unix socket — the plugin's, as
 * Docker does, or dockerd's own API — from C concurrent clients, a new
 * connection per call (Docker's plugin client keeps few idle connections,
 * so a new connection is the common case), and prints how long each call
 * took: p50, p99 and max per kind of call and over all, and the errors.
 *
 *   usage: drivercalls -s SOCKET -f REQUESTS [-c CLIENTS] [-o LATENCIES]
 *
 * REQUESTS has a call a line, four fields separated by tabs:
 *
 *   CLIENT  METHOD  PATH  BODY
 *
 * Client k (0 <= k < CLIENTS) makes the calls whose CLIENT is k modulo
 * CLIENTS, in their order in the file, one at a time: a test orders a
 * volume's Create, Mount, Unmount and Remove by giving them to one client.
 * BODY may be empty. A call is an error when it gets no complete answer,
 * an HTTP status of 400 or more, or an answer with a non-empty "Err" (the
 * VolumeDriver protocol's way). With -o, every call's milliseconds go to
 * LATENCIES, a line each: "kind ms status". Exit status: 0 if every call
 * succeeded, 1 if any failed, 2 on bad usage.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN	(64 * 1024)
#define ANSWER_MAX	(256 * 1024 * 1024)
#define CALL_TIMEOUT_S	120

struct call {
	int client;
	char *method;
	char *path;
	char *body;
	char kind[64];		/* the path's last part, or "GET /volumes" */
	double ms;
	int status;		/* HTTP status; 0: no answer */
	int failed;
	char err[160];		/* the first bytes of the answer, if failed */
};

static const char *sock_path;
static struct call *calls;
static size_t ncalls;
static int nclients = 1;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
fail_usage(const char *msg)
{
	fprintf(stderr, "drivercalls: %s\nusage: drivercalls -s SOCKET "
	    "-f REQUESTS [-c CLIENTS] [-o LATENCIES]\n", msg);
	exit(2);
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		perror("drivercalls");
		exit(2);
	}
	return d;
}

/* Strips query strings and a leading API version: "/v1.43/volumes/x". */
static void
call_kind(struct call *c)
{
	const char *p = c->path, *q, *last;
	char buf[64];
	size_t n;

	if (strncmp(p, "/v1.", 4) == 0 && (q = strchr(p + 1, '/')) != NULL)
		p = q;
	n = strcspn(p, "?");
	last = p;
	/* /VolumeDriver.X -> VolumeDriver.X; /volumes/NAME -> volumes/{name} */
	if (strncmp(p, "/volumes/", 9) == 0 && n > 9) {
		if (strncmp(p + 9, "create", 6) == 0 && n == 15)
			snprintf(buf, sizeof buf, "%s /volumes/create", c->method);
		else
			snprintf(buf, sizeof buf, "%s /volumes/{name}", c->method);
	} else {
		if (n >= sizeof buf - 8)
			n = sizeof buf - 8;
		if (*last == '/' && strncmp(last, "/Volume", 7) == 0)
			snprintf(buf, sizeof buf, "%.*s", (int)n - 1, last + 1);
		else
			snprintf(buf, sizeof buf, "%s %.*s", c->method, (int)n,
			    last);
	}
	snprintf(c->kind, sizeof c->kind, "%s", buf);
}

static void
load(const char *file)
{
	char *line = NULL, *f[4], *save;
	size_t size = 0, cap = 0;
	ssize_t len;
	FILE *in;
	int i;

	in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (in == NULL) {
		fprintf(stderr, "drivercalls: %s: %s\n", file, strerror(errno));
		exit(2);
	}
	while ((len = getline(&line, &size, in)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || len > LINE_MAX_LEN)
			continue;
		save = line;
		for (i = 0; i < 4; i++)
			f[i] = strsep(&save, "\t");
		if (f[2] == NULL)
			fail_usage("a request line needs CLIENT, METHOD and PATH");
		if (ncalls == cap) {
			cap = cap ? cap * 2 : 1024;
			calls = realloc(calls, cap * sizeof *calls);
			if (calls == NULL)
				fail_usage("out of memory");
		}
		memset(&calls[ncalls], 0, sizeof *calls);
		calls[ncalls].client = atoi(f[0]);
		calls[ncalls].method = xstrdup(f[1]);
		calls[ncalls].path = xstrdup(f[2]);
		calls[ncalls].body = xstrdup(f[3] != NULL ? f[3] : "");
		call_kind(&calls[ncalls]);
		ncalls++;
	}
	free(line);
	if (in != stdin)
		fclose(in);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Decodes a chunked body in place (dockerd streams long answers). */
static size_t
dechunk(char *b, size_t n)
{
	size_t in = 0, out = 0, len;
	char *end;

	while (in < n) {
		len = strtoul(b + in, &end, 16);
		if (end == b + in || (end = strstr(end, "\r\n")) == NULL)
			break;
		in = (size_t)(end - b) + 2;
		if (len == 0 || in + len > n)
			break;
		memmove(b + out, b + in, len);
		out += len;
		in += len + 2;
	}
	b[out] = '\0';
	return out;
}

static void
call_do(struct call *c)
{
	struct sockaddr_un sa;
	struct timeval tv = { CALL_TIMEOUT_S, 0 };
	char *req = NULL, *ans = NULL, *body, *e;
	size_t len = 0, cap = 0;
	ssize_t r;
	double t0;
	int fd, n;

	t0 = now_ms();
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		goto fail;
	n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: docker\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", c->method, c->path,
	    strlen(c->body), c->body);
	if (n < 0 || write_all(fd, req, (size_t)n) != 0)
		goto fail;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			if (cap > ANSWER_MAX || (ans = realloc(ans, cap)) ==
			    NULL)
				goto fail;
		}
		r = read(fd, ans + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	c->ms = now_ms() - t0;
	ans[len] = '\0';
	if (sscanf(ans, "HTTP/1.%*d %d", &c->status) != 1 ||
	    (body = strstr(ans, "\r\n\r\n")) == NULL)
		goto fail;
	body += 4;
	if (strcasestr(ans, "transfer-encoding: chunked") != NULL &&
	    strcasestr(ans, "transfer-encoding: chunked") < body)
		dechunk(body, len - (size_t)(body - ans));
	e = strstr(body, "\"Err\":\"");
	if (c->status >= 400 || (e != NULL && e[7] != '"')) {
		c->failed = 1;
		snprintf(c->err, sizeof c->err, "%s", body);
		if ((e = strchr(c->err, '\n')) != NULL)
			*e = '\0';
	}
	goto out;
fail:
	c->ms = now_ms() - t0;
	c->failed = 1;
	snprintf(c->err, sizeof c->err, "no complete answer (%s)",
	    strerror(errno));
out:
	if (fd != -1)
		close(fd);
	free(req);
	free(ans);
}

static void *
client_main(void *arg)
{
	int k = (int)(long)arg;
	size_t i;

	for (i = 0; i < ncalls; i++) {
		if (calls[i].client % nclients == k)
			call_do(&calls[i]);
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
pct(const double *v, size_t n, double p)
{
	size_t r;

	if (n == 0)
		return 0;
	r = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	return v[(r > n ? n : r) - 1];
}

static void
report(const char *kind)
{
	double *v = calloc(ncalls + 1, sizeof *v);
	size_t i, n = 0, nerr = 0;

	for (i = 0; i < ncalls; i++) {
		if (kind != NULL && strcmp(calls[i].kind, kind) != 0)
			continue;
		v[n++] = calls[i].ms;
		nerr += calls[i].failed;
	}
	qsort(v, n, sizeof *v, cmp_double);
	printf("%-28s calls %6zu errors %4zu p50 %8.2f ms p99 %8.2f ms "
	    "max %8.2f ms\n", kind != NULL ? kind : "all", n, nerr,
	    pct(v, n, 50), pct(v, n, 99), n ? v[n - 1] : 0);
	free(v);
}

int
main(int argc, char **argv)
{
	const char *file = NULL, *out = NULL;
	pthread_t *th;
	size_t i, j, shown = 0, nerr = 0;
	double t0;
	FILE *o;
	int ch;

	while ((ch = getopt(argc, argv, "s:f:c:o:")) != -1) {
		switch (ch) {
		case 's': sock_path = optarg; break;
		case 'f': file = optarg; break;
		case 'c': nclients = atoi(optarg); break;
		case 'o': out = optarg; break;
		default: fail_usage("unknown option");
		}
	}
	if (sock_path == NULL || file == NULL || nclients < 1 ||
	    nclients > 1024)
		fail_usage("-s and -f are needed; 1 <= CLIENTS <= 1024");
	load(file);
	th = calloc((size_t)nclients, sizeof *th);
	t0 = now_ms();
	for (i = 0; i < (size_t)nclients; i++) {
		if (pthread_create(&th[i], NULL, client_main, (void *)(long)i) !=
		    0)
			fail_usage("cannot start a client thread");
	}
	for (i = 0; i < (size_t)nclients; i++)
		pthread_join(th[i], NULL);
	printf("%zu calls from %d client(s) in %.2f s\n", ncalls, nclients,
	    (now_ms() - t0) / 1e3);
	for (i = 0; i < ncalls; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(calls[j].kind, calls[i].kind) == 0)
				break;
		}
		if (j == i)
			report(calls[i].kind);
	}
	report(NULL);
	for (i = 0; i < ncalls; i++) {
		if (!calls[i].failed)
			continue;
		nerr++;
		if (shown++ < 5)
			fprintf(stderr, "drivercalls: %s %s: status %d: %s\n",
			    calls[i].method, calls[i].path, calls[i].status,
			    calls[i].err);
	}
	if (out != NULL && (o = fopen(out, "w")) != NULL) {
		for (i = 0; i < ncalls; i++)
			fprintf(o, "%s\t%.3f\t%d\n", calls[i].kind, calls[i].ms,
			    calls[i].status);
		fclose(o);
	}
	return nerr > 0;
}
