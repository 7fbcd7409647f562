/*
 * vault_double: a stand-in for HashiCorp Vault that privateer's tests talk
 * to, because a real Vault cannot be installed where the tests run. It
 * serves, from memory, on 127.0.0.1 over HTTP or HTTPS, the part of Vault's
 * published HTTP API (/v1/...) that privateer uses:
 *
 *   - KV version 1 and version 2 secrets engines at mounts named on the
 *     command line: read, write, delete, LIST (and GET ?list=true); for v2
 *     also versions, check-and-set, soft delete, delete/undelete/destroy of
 *     versions, metadata (read, list, write, delete) and the engine config;
 *   - token authentication (X-Vault-Token, or Authorization: Bearer), root
 *     tokens from the command line, auth/token/{lookup,renew,revoke}-self;
 *   - AppRole login (auth/approle/login) for role_id:secret_id pairs given
 *     on the command line; each login issues a new token with full access;
 *   - sys/health, sys/seal-status, sys/internal/ui/mounts and
 *     sys/internal/ui/mounts/<path> (how clients learn a mount's KV version);
 *   - one Enterprise namespace, and a sealed state.
 *
 * Outside /v1 it has test-control endpoints that are not Vault's:
 * POST /__double/seal, POST /__double/unseal, POST /__double/delay?ms=N (every
 * later /v1 request first sleeps N ms), GET /__double/requests (the last 200
 * /v1 requests: method, path, query, status, namespace header, whether a
 * token was sent and was valid; never bodies, never token values) and
 * DELETE /__double/requests (forget them).
 *
 * Fidelity limits, what real Vault does that this double does not:
 *   - no ACL policies: every valid token may do everything; tokens have no
 *     parents, num_uses, entity or max TTL; root tokens never expire;
 *   - no persistence, audit, leases, replication, HA, quotas, response
 *     wrapping (X-Vault-Wrap-TTL is ignored), request forwarding or CORS;
 *   - only the endpoints above: other sys/, auth/ and identity paths, AppRole
 *     role management, KV v2 PATCH and subkeys answer 404 or 405;
 *   - one flat namespace; tokens belong to it. A request that names no
 *     namespace, or another one, in X-Vault-Namespace or as a path prefix is
 *     answered 403 permission denied, as Vault Enterprise answers a token
 *     used outside its namespace. Without --namespace the header is ignored,
 *     as Vault Community ignores it. sys/health and sys/seal-status are
 *     served whatever the namespace;
 *   - request bodies are capped at 1 MiB (Vault: 32 MiB) and answered 413;
 *   - error texts for malformed fields imitate Vault's Go messages but are
 *     not byte-identical; numbers in secrets are re-printed by jansson
 *     (1.0 stays 1.0, 1e3 becomes 1000.0) where Vault echoes the literal;
 *   - paths must be UTF-8; a KV v1 "ttl" is not clamped to a max TTL;
 *     custom_metadata is limited to 64 keys but not checked for unprintable
 *     characters;
 *   - unsealing needs no key shares: /__double/unseal unseals at once.
 */

#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define VD_BODY_MAX		(1024 * 1024)
#define VD_FILE_MAX		(1024 * 1024)
#define VD_LOG_MAX		200
#define VD_QUERY_MAX		1024
#define VD_LEASE_DEFAULT	2764800		/* default lease TTL: 32 days */
#define VD_MAX_VERSIONS		10		/* KV v2 versions per key */
#define VD_CM_MAX_KEYS		64		/* custom_metadata keys */
#define VD_CM_MAX_KEYLEN	128
#define VD_CM_MAX_VALLEN	512
#define VD_VERSIONS_MAX		1000		/* versions in one request */
#define VD_TOKEN_TTL		3600
#define VD_DELAY_MAX		600000		/* ms */
#define VD_NS			1000000000LL
#define VD_VAULT_VERSION	"1.15.6"
#define VD_BUILD_DATE		"2024-02-28T17:07:34Z"

enum vd_op {
	VD_READ,
	VD_LIST,
	VD_WRITE,
	VD_DELETE,
	VD_PATCH
};

struct vd_mount {
	char		*path;		/* no slash at either end */
	int		 version;	/* 1 or 2 */
	char		 accessor[16];
	char		 uuid[37];
	json_t		*keys;		/* key -> secret (v1), metadata (v2) */
	json_int_t	 max_versions;	/* v2 engine config */
	int		 cas_required;
	int64_t		 dva;		/* delete_version_after (ns) */
};

struct vd_token {
	struct vd_token	*next;
	char		*id;
	char		 accessor[25];
	char		 entity_id[37];
	int		 root;
	int64_t		 issued;	/* ns */
	int64_t		 expires;	/* ns; 0: never */
	int64_t		 ttl;		/* seconds; 0: root */
};

struct vd_role {
	char		*role_id;
	char		*secret_id;
};

struct vd_logent {
	int64_t		 time;
	char		 method[16];
	char		*path;
	char		*query;
	char		*ns;		/* NULL: no header */
	int		 status;
	int		 token_sent;
	int		 token_valid;
};

struct vd {
	pthread_mutex_t	 lock;
	struct vd_mount	*mounts;
	size_t		 nmounts;
	struct vd_token	*tokens;
	struct vd_role	*roles;
	size_t		 nroles;
	char		*ns;		/* NULL: no namespace */
	int		 sealed;
	long		 delay_ms;
	int64_t		 token_ttl;	/* AppRole tokens, s */
	struct vd_logent log[VD_LOG_MAX];
	size_t		 log_start;
	size_t		 log_count;
	char		 cluster_name[32];
	char		 cluster_id[37];
	char		 token_accessor[32];
	char		 token_uuid[37];
	char		 approle_accessor[32];
	char		 approle_uuid[37];
	atomic_int	 stopping;
};

/* One request's body, collected by MHD over several calls. */
struct vd_req {
	char		*body;
	size_t		 len;
	size_t		 size;
	int		 too_big;
};

/* One /v1 request being answered. */
struct vd_call {
	struct vd		*vd;
	struct MHD_Connection	*conn;
	const char		*method;
	const char		*raw;		/* after /v1/ */
	char			*path;		/* inside the namespace */
	enum vd_op		 op;
	const char		*body;
	size_t			 len;
	int			 too_big;
	json_t			*doc;		/* write body, or NULL */
	const char		*token_hdr;
	struct vd_token		*token;		/* valid token or NULL */
	int			 token_valid;	/* for the log */
};

struct vd_reply {
	int		 status;
	char		*body;		/* NULL: no body */
};

static void	vd_log(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	vd_fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static char	*vd_xprintf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	vd_reply_error(struct vd_reply *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
vd_log(const char *fmt, ...)
{
	char	buf[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "vault_double: %s\n", buf);
}

static void
vd_fatal(const char *fmt, ...)
{
	char	buf[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "vault_double: %s\n", buf);
	exit(1);
}

static void *
vd_xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		vd_fatal("out of memory");
	return p;
}

static void *
vd_xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n, size)) == NULL)
		vd_fatal("out of memory");
	return p;
}

static char *
vd_xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		vd_fatal("out of memory");
	return p;
}

static char *
vd_xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		vd_fatal("out of memory");
	return p;
}

static char *
vd_xprintf(const char *fmt, ...)
{
	char	*s;
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		vd_fatal("out of memory");
	va_end(ap);
	return s;
}

/* Secrets (tokens) are wiped before their memory is given back. */
static void
vd_wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int64_t
vd_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * VD_NS + ts.tv_nsec;
}

/* RFC 3339 in UTC with only the fraction digits needed, as Go prints it. */
static void
vd_time_fmt(int64_t ns, char *buf, size_t len)
{
	time_t		 sec = (time_t)(ns / VD_NS);
	long		 frac = (long)(ns % VD_NS);
	int		 digits = 9;
	struct tm	 tm;
	size_t		 n;

	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac != 0 && n < len) {
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		n += (size_t)snprintf(buf + n, len - n, ".%0*ld", digits, frac);
	}
	if (n < len)
		snprintf(buf + n, len - n, "Z");
}

/* A time for JSON: "" for none, as Vault prints a missing timestamp. */
static json_t *
vd_time_json(int64_t ns)
{
	char	buf[64];

	if (ns == 0)
		return json_string("");
	vd_time_fmt(ns, buf, sizeof buf);
	return json_string(buf);
}

static void
vd_sleep_ms(struct vd *vd, long ms)
{
	struct timespec	ts;
	long		step;

	/* In steps, so that a stopping server does not wait out a delay. */
	while (ms > 0 && !atomic_load(&vd->stopping)) {
		step = ms > 20 ? 20 : ms;
		ts.tv_sec = 0;
		ts.tv_nsec = step * 1000000L;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		ms -= step;
	}
}

static void
vd_random(void *buf, size_t len)
{
	unsigned char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			vd_fatal("getrandom: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
}

static void
vd_uuid(char out[37])
{
	unsigned char	b[16];

	vd_random(b, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* n random letters and digits, then a NUL: out holds n + 1 bytes. */
static void
vd_random_alnum(char *out, size_t n)
{
	static const char	set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char		buf[64];
	size_t			i = 0, j;

	while (i < n) {
		vd_random(buf, sizeof buf);
		for (j = 0; j < sizeof buf && i < n; j++) {
			if (buf[j] >= 248)	/* 248 = 4 * 62: no bias */
				continue;
			out[i++] = set[buf[j] % 62];
		}
	}
	out[n] = '\0';
	explicit_bzero(buf, sizeof buf);
}

static void
vd_random_hex(char *out, size_t n)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		b;
	size_t			i;

	for (i = 0; i < n; i++) {
		vd_random(&b, 1);
		out[i] = hex[b & 0xf];
	}
	out[n] = '\0';
}

/*
 * A copy of s fit for a log line or a JSON string: control bytes become '?',
 * and so does every non-ASCII byte if s is not valid UTF-8.
 */
static char *
vd_clean(const char *s)
{
	char	*out;
	json_t	*check;
	size_t	 i;

	out = vd_xstrdup(s);
	for (i = 0; out[i] != '\0'; i++) {
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
	}
	if ((check = json_string(out)) != NULL) {
		json_decref(check);
		return out;
	}
	for (i = 0; out[i] != '\0'; i++) {
		if ((unsigned char)out[i] >= 0x80)
			out[i] = '?';
	}
	return out;
}

static int
vd_utf8_ok(const char *s)
{
	json_t	*check;

	if ((check = json_string(s)) == NULL)
		return 0;
	json_decref(check);
	return 1;
}

/*
 * A Vault duration: seconds as a JSON number or a string of digits, or a Go
 * duration string ("90s", "1h30m", "1.5h"); Vault's parser also takes "d"
 * for days. Negative durations are refused. Returns 0 and *out in ns, or -1.
 */
static int
vd_duration_parse(const json_t *v, int64_t *out)
{
	static const struct {
		const char	*unit;
		double		 ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 },
		{ "\xce\xbcs", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
		{ "m", 60e9 }, { "h", 3600e9 }, { "d", 86400e9 },
	};
	const char	*p;
	double		 total = 0, num, scale;
	size_t		 i, ulen;
	int		 digits;

	if (json_is_null(v)) {
		*out = 0;
		return 0;
	}
	if (json_is_integer(v) || json_is_real(v)) {
		total = json_number_value(v) * 1e9;
		goto done;
	}
	if (!json_is_string(v))
		return -1;
	p = json_string_value(v);
	if (*p == '\0') {
		*out = 0;
		return 0;
	}
	if (p[strspn(p, "0123456789")] == '\0') {
		total = strtod(p, NULL) * 1e9;
		goto done;
	}
	while (*p != '\0') {
		num = 0;
		digits = 0;
		while (isdigit((unsigned char)*p)) {
			num = num * 10 + (*p++ - '0');
			digits++;
		}
		if (*p == '.') {
			p++;
			for (scale = 0.1; isdigit((unsigned char)*p);
			    scale /= 10) {
				num += (*p++ - '0') * scale;
				digits++;
			}
		}
		if (digits == 0)
			return -1;
		for (i = 0; i < sizeof units / sizeof units[0]; i++) {
			ulen = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, ulen) == 0)
				break;
		}
		if (i == sizeof units / sizeof units[0])
			return -1;
		total += num * units[i].ns;
		p += ulen;
	}
done:
	if (total < 0 || total > 9.2e18)
		return -1;
	*out = (int64_t)total;
	return 0;
}

static void
vd_frac_fmt(char *buf, size_t len, int64_t whole, int64_t frac, int digits,
    const char *unit)
{
	if (frac == 0) {
		snprintf(buf, len, "%" PRId64 "%s", whole, unit);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, len, "%" PRId64 ".%0*" PRId64 "%s", whole, digits, frac,
	    unit);
}

/* A duration as Go's time.Duration.String() prints it: "0s", "1h2m3s". */
static void
vd_duration_fmt(int64_t ns, char *buf, size_t len)
{
	int64_t	h, m;
	int	n = 0;

	if (ns <= 0) {
		snprintf(buf, len, "0s");
		return;
	}
	if (ns < 1000) {
		snprintf(buf, len, "%" PRId64 "ns", ns);
		return;
	}
	if (ns < 1000000) {
		vd_frac_fmt(buf, len, ns / 1000, ns % 1000, 3, "\xc2\xb5s");
		return;
	}
	if (ns < VD_NS) {
		vd_frac_fmt(buf, len, ns / 1000000, ns % 1000000, 6, "ms");
		return;
	}
	h = ns / (3600 * VD_NS);
	ns -= h * 3600 * VD_NS;
	m = ns / (60 * VD_NS);
	ns -= m * 60 * VD_NS;
	if (h > 0)
		n = snprintf(buf, len, "%" PRId64 "h%" PRId64 "m", h, m);
	else if (m > 0)
		n = snprintf(buf, len, "%" PRId64 "m", m);
	vd_frac_fmt(buf + n, len - (size_t)n, ns / VD_NS, ns % VD_NS, 9, "s");
}

/*
 * Go's "weak" decoding, which Vault applies to its typed fields: integers
 * from numbers, numeric strings and booleans; null is zero.
 */
static int
vd_weak_int(const json_t *v, json_int_t *out)
{
	const char	*s;
	char		*end;
	double		 d;

	if (v == NULL || json_is_null(v))
		*out = 0;
	else if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (json_is_real(v)) {
		d = json_real_value(v);
		if (d < -9.2e18 || d > 9.2e18)
			return -1;
		*out = (json_int_t)d;
	} else if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (json_is_string(v)) {
		s = json_string_value(v);
		if (*s == '\0') {
			*out = 0;
			return 0;
		}
		errno = 0;
		*out = strtoll(s, &end, 0);
		if (errno != 0 || *end != '\0')
			return -1;
	} else
		return -1;
	return 0;
}

/* Go's strconv.ParseBool. */
static int
vd_parse_bool(const char *s, int *out)
{
	static const char	*yes[] = { "1", "t", "T", "TRUE", "true",
				    "True" };
	static const char	*no[] = { "0", "f", "F", "FALSE", "false",
				    "False" };
	size_t			 i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
vd_weak_bool(const json_t *v, int *out)
{
	if (v == NULL || json_is_null(v))
		*out = 0;
	else if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (json_is_integer(v))
		*out = json_integer_value(v) != 0;
	else if (json_is_real(v))
		*out = json_real_value(v) != 0;
	else if (json_is_string(v)) {
		if (*json_string_value(v) == '\0')
			*out = 0;
		else
			return vd_parse_bool(json_string_value(v), out);
	} else
		return -1;
	return 0;
}

static json_int_t
vd_geti(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static void
vd_seti(json_t *obj, const char *key, json_int_t v)
{
	json_object_set_new(obj, key, json_integer(v));
}

static int
vd_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted, as a new array of strings. */
static json_t *
vd_keys_sorted(json_t *obj)
{
	const char	**keys;
	void		 *it;
	json_t		 *out;
	size_t		  n = 0, i;

	keys = vd_xcalloc(json_object_size(obj) + 1, sizeof *keys);
	for (it = json_object_iter(obj); it != NULL;
	    it = json_object_iter_next(obj, it))
		keys[n++] = json_object_iter_key(it);
	qsort(keys, n, sizeof *keys, vd_cmp_str);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(out, json_string(keys[i]));
	free(keys);
	return out;
}

/*
 * A deep copy with every object's keys in sorted order: Vault's "data" maps
 * come out of Go's encoding/json, which sorts map keys.
 */
static json_t *
vd_json_sorted(json_t *v)
{
	json_t		*out, *keys;
	const char	*k;
	size_t		 i;

	if (json_is_object(v)) {
		out = json_object();
		keys = vd_keys_sorted(v);
		for (i = 0; i < json_array_size(keys); i++) {
			k = json_string_value(json_array_get(keys, i));
			json_object_set_new(out, k,
			    vd_json_sorted(json_object_get(v, k)));
		}
		json_decref(keys);
		return out;
	}
	if (json_is_array(v)) {
		out = json_array();
		for (i = 0; i < json_array_size(v); i++)
			json_array_append_new(out,
			    vd_json_sorted(json_array_get(v, i)));
		return out;
	}
	return json_deep_copy(v);
}

/*
 * Vault's response envelope. data is stolen and its maps sorted; warnings
 * and auth are stolen as they are (auth is a Go struct, in field order).
 */
static json_t *
vd_envelope(json_t *data, json_int_t lease, json_t *warnings, json_t *auth,
    const char *mount_type)
{
	json_t	*o;
	char	 id[37];

	vd_uuid(id);
	o = json_object();
	json_object_set_new(o, "request_id", json_string(id));
	json_object_set_new(o, "lease_id", json_string(""));
	json_object_set_new(o, "renewable", json_false());
	json_object_set_new(o, "lease_duration", json_integer(lease));
	if (data != NULL) {
		json_object_set_new(o, "data", vd_json_sorted(data));
		json_decref(data);
	} else
		json_object_set_new(o, "data", json_null());
	json_object_set_new(o, "wrap_info", json_null());
	json_object_set_new(o, "warnings",
	    warnings != NULL ? warnings : json_null());
	json_object_set_new(o, "auth", auth != NULL ? auth : json_null());
	if (mount_type != NULL)
		json_object_set_new(o, "mount_type", json_string(mount_type));
	return o;
}

static json_t *
vd_warning(const char *msg)
{
	json_t	*w;

	w = json_array();
	json_array_append_new(w, json_string(msg));
	return w;
}

/* Takes ownership of doc. Vault ends every JSON body with a newline. */
static void
vd_reply_json(struct vd_reply *r, int status, json_t *doc)
{
	char	*s;
	size_t	 n;

	s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (s == NULL)
		vd_fatal("json_dumps failed");
	n = strlen(s);
	free(r->body);
	r->body = vd_xreallocarray(s, n + 2, 1);
	r->body[n] = '\n';
	r->body[n + 1] = '\0';
	r->status = status;
}

/* {"errors":[]}: what Vault sends for a 404 with nothing to say. */
static void
vd_reply_noerrors(struct vd_reply *r, int status)
{
	json_t	*o;

	o = json_object();
	json_object_set_new(o, "errors", json_array());
	vd_reply_json(r, status, o);
}

static void
vd_reply_error(struct vd_reply *r, int status, const char *fmt, ...)
{
	json_t	*o, *errs, *msg;
	char	*s;
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		vd_fatal("out of memory");
	va_end(ap);
	if ((msg = json_string(s)) == NULL) {
		free(s);
		s = vd_clean(s);
		msg = json_string(s);
	}
	free(s);
	errs = json_array();
	json_array_append_new(errs, msg);
	o = json_object();
	json_object_set_new(o, "errors", errs);
	vd_reply_json(r, status, o);
}

static void
vd_reply_empty(struct vd_reply *r, int status)
{
	free(r->body);
	r->body = NULL;
	r->status = status;
}

static void
vd_reply_unsupported(struct vd_reply *r)
{
	vd_reply_error(r, 405, "unsupported operation");
}

/*
 * A directory listing over keys with '/' separators: the immediate children
 * of dir, sub-directories with a trailing '/', sorted; NULL if there are
 * none (Vault then answers 404 with no errors).
 */
static json_t *
vd_list(json_t *store, const char *dir)
{
	json_t		*set, *keys;
	const char	*k, *rest, *slash;
	char		*prefix, *child;
	void		*it;
	size_t		 plen;

	if (*dir != '\0' && dir[strlen(dir) - 1] != '/')
		prefix = vd_xprintf("%s/", dir);
	else
		prefix = vd_xstrdup(dir);
	plen = strlen(prefix);
	set = json_object();
	for (it = json_object_iter(store); it != NULL;
	    it = json_object_iter_next(store, it)) {
		k = json_object_iter_key(it);
		if (strncmp(k, prefix, plen) != 0)
			continue;
		rest = k + plen;
		if (*rest == '\0')
			continue;
		if ((slash = strchr(rest, '/')) != NULL)
			child = vd_xstrndup(rest, (size_t)(slash - rest) + 1);
		else
			child = vd_xstrdup(rest);
		json_object_set_new(set, child, json_true());
		free(child);
	}
	free(prefix);
	if (json_object_size(set) == 0) {
		json_decref(set);
		return NULL;
	}
	keys = vd_keys_sorted(set);
	json_decref(set);
	return keys;
}

static void
vd_reply_list(struct vd_reply *r, json_t *store, const char *dir,
    const char *mount_type)
{
	json_t	*keys, *data;

	if ((keys = vd_list(store, dir)) == NULL) {
		vd_reply_noerrors(r, 404);
		return;
	}
	data = json_object();
	json_object_set_new(data, "keys", keys);
	vd_reply_json(r, 200, vd_envelope(data, 0, NULL, NULL, mount_type));
}

/* Vault's field validation failure, the framework's 400. */
static void
vd_reply_field(struct vd_reply *r, const char *field, const char *why)
{
	vd_reply_error(r, 400, "Field validation failed: error converting "
	    "input for field \"%s\": %s", field, why);
}

/*
 * Tokens. Expired AppRole tokens are dropped when looked up, as Vault's
 * token store refuses them.
 */
static struct vd_token *
vd_token_add(struct vd *vd, const char *id, int root, int64_t ttl)
{
	struct vd_token	*t;
	char		 buf[29];

	t = vd_xcalloc(1, sizeof *t);
	if (id != NULL)
		t->id = vd_xstrdup(id);
	else {
		memcpy(buf, "hvs.", 4);
		vd_random_alnum(buf + 4, 24);
		t->id = vd_xstrdup(buf);
		explicit_bzero(buf, sizeof buf);
	}
	vd_random_alnum(t->accessor, 24);
	vd_uuid(t->entity_id);
	t->root = root;
	t->issued = vd_now();
	t->ttl = root ? 0 : ttl;
	t->expires = root ? 0 : t->issued + ttl * VD_NS;
	t->next = vd->tokens;
	vd->tokens = t;
	return t;
}

static void
vd_token_free(struct vd_token *t)
{
	vd_wipe_free(t->id);
	explicit_bzero(t, sizeof *t);
	free(t);
}

static void
vd_token_remove(struct vd *vd, struct vd_token *t)
{
	struct vd_token	**pp;

	for (pp = &vd->tokens; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			vd_token_free(t);
			return;
		}
	}
}

static struct vd_token *
vd_token_find(struct vd *vd, const char *id)
{
	struct vd_token	**pp, *t;
	int64_t		  now = vd_now();

	for (pp = &vd->tokens; (t = *pp) != NULL; ) {
		if (t->expires != 0 && t->expires <= now) {
			*pp = t->next;
			vd_token_free(t);
			continue;
		}
		if (strcmp(t->id, id) == 0)
			return t;
		pp = &t->next;
	}
	return NULL;
}

/* X-Vault-Token, else Authorization: Bearer, as Vault reads them. */
static const char *
vd_token_header(struct MHD_Connection *conn)
{
	const char	*v;

	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "X-Vault-Token");
	if (v != NULL && *v != '\0')
		return v;
	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	return *v != '\0' ? v : NULL;
}

/* The "auth" block of a login or renewal: a Go struct, in field order. */
static json_t *
vd_auth_block(struct vd_token *t)
{
	json_t	*a, *p, *meta;

	a = json_object();
	json_object_set_new(a, "client_token", json_string(t->id));
	json_object_set_new(a, "accessor", json_string(t->accessor));
	p = json_array();
	json_array_append_new(p, json_string(t->root ? "root" : "default"));
	json_object_set_new(a, "policies", json_deep_copy(p));
	json_object_set_new(a, "token_policies", p);
	if (t->root)
		meta = json_null();
	else {
		meta = json_object();
		json_object_set_new(meta, "role_name", json_string("default"));
	}
	json_object_set_new(a, "metadata", meta);
	json_object_set_new(a, "lease_duration", json_integer(t->ttl));
	json_object_set_new(a, "renewable", json_boolean(!t->root));
	json_object_set_new(a, "entity_id", json_string(t->entity_id));
	json_object_set_new(a, "token_type", json_string("service"));
	json_object_set_new(a, "orphan", json_true());
	json_object_set_new(a, "mfa_requirement", json_null());
	json_object_set_new(a, "num_uses", json_integer(0));
	return a;
}

/*
 * A write's body: one JSON object. An empty body is no data at all, not an
 * error; anything but an object fails as Go's decoder into a map fails.
 */
static int
vd_body_parse(struct vd_call *c, struct vd_reply *r)
{
	json_error_t	 err;
	json_t		*doc;
	const char	*what;
	size_t		 i;

	for (i = 0; i < c->len; i++) {
		if (!isspace((unsigned char)c->body[i]))
			break;
	}
	if (i == c->len)
		return 0;
	doc = json_loadb(c->body, c->len, JSON_DECODE_ANY, &err);
	if (doc == NULL) {
		vd_reply_error(r, 400, "failed to parse JSON input: %s",
		    err.text);
		return -1;
	}
	if (json_is_object(doc)) {
		c->doc = doc;
		return 0;
	}
	if (json_is_null(doc)) {
		json_decref(doc);
		return 0;
	}
	if (json_is_array(doc))
		what = "array";
	else if (json_is_string(doc))
		what = "string";
	else if (json_is_boolean(doc))
		what = "bool";
	else
		what = "number";
	json_decref(doc);
	vd_reply_error(r, 400, "failed to parse JSON input: json: cannot "
	    "unmarshal %s into Go value of type map[string]interface {}", what);
	return -1;
}

static json_t *
vd_doc_get(struct vd_call *c, const char *key)
{
	json_t	*v;

	if (c->doc == NULL)
		return NULL;
	v = json_object_get(c->doc, key);
	return v != NULL && !json_is_null(v) ? v : NULL;
}

/*
 * KV version 1: one JSON object per key, no versions. Reads carry the
 * default lease TTL, or the secret's own "ttl" (or "lease") field.
 */
static json_int_t
vd_kv1_lease(json_t *secret)
{
	json_t	*ttl;
	int64_t	 ns;

	if ((ttl = json_object_get(secret, "ttl")) == NULL)
		ttl = json_object_get(secret, "lease");
	if (ttl == NULL || vd_duration_parse(ttl, &ns) == -1 || ns == 0)
		return VD_LEASE_DEFAULT;
	return ns / VD_NS;
}

static void
vd_kv1(struct vd_call *c, struct vd_mount *m, const char *key,
    struct vd_reply *r)
{
	json_t	*v;

	switch (c->op) {
	case VD_READ:
		if ((v = json_object_get(m->keys, key)) == NULL) {
			vd_reply_noerrors(r, 404);
			return;
		}
		vd_reply_json(r, 200, vd_envelope(json_deep_copy(v),
		    vd_kv1_lease(v), NULL, NULL, "kv"));
		return;
	case VD_LIST:
		vd_reply_list(r, m->keys, key, "kv");
		return;
	case VD_WRITE:
		if (*key == '\0') {
			vd_reply_error(r, 400, "missing path");
			return;
		}
		if (c->doc == NULL || json_object_size(c->doc) == 0) {
			vd_reply_error(r, 400, "missing data fields");
			return;
		}
		json_object_set_new(m->keys, key, json_deep_copy(c->doc));
		vd_reply_empty(r, 204);
		return;
	case VD_DELETE:
		json_object_del(m->keys, key);
		vd_reply_empty(r, 204);
		return;
	default:
		vd_reply_unsupported(r);
		return;
	}
}

/*
 * KV version 2. A key's metadata object holds, in integer nanoseconds,
 * created_ns and updated_ns, plus current_version, oldest_version,
 * max_versions, cas_required, dva_ns, custom_metadata and "versions": number
 * -> {created_ns, deletion_ns (0: none), destroyed, data}.
 */
static void
vd_kv2_invalid(struct vd_reply *r, enum vd_op op)
{
	const char	*cmd;
	char		*msg;

	switch (op) {
	case VD_WRITE:
		cmd = "put";
		break;
	case VD_PATCH:
		cmd = "patch";
		break;
	case VD_LIST:
		cmd = "list";
		break;
	case VD_DELETE:
		cmd = "delete";
		break;
	default:
		cmd = "get";
		break;
	}
	msg = vd_xprintf("Invalid path for a versioned K/V secrets engine. "
	    "See the API docs for the appropriate API endpoints to use. If "
	    "using the Vault CLI, use 'vault kv %s' for this operation.", cmd);
	vd_reply_json(r, 404, vd_envelope(NULL, 0, vd_warning(msg), NULL,
	    "kv"));
	free(msg);
}

static json_t *
vd_kv2_version(json_t *meta, json_int_t n)
{
	char	buf[32];

	snprintf(buf, sizeof buf, "%lld", (long long)n);
	return json_object_get(json_object_get(meta, "versions"), buf);
}

static int
vd_kv2_deleted(json_t *ver, int64_t now)
{
	json_int_t	dn = vd_geti(ver, "deletion_ns");

	return dn != 0 && dn <= now;
}

/* A version's metadata as data reads and writes show it. */
static json_t *
vd_kv2_vermeta(json_t *meta, json_t *ver, json_int_t n)
{
	json_t	*o, *cm;

	o = json_object();
	json_object_set_new(o, "created_time",
	    vd_time_json(vd_geti(ver, "created_ns")));
	cm = json_object_get(meta, "custom_metadata");
	json_object_set_new(o, "custom_metadata",
	    cm != NULL ? json_deep_copy(cm) : json_null());
	json_object_set_new(o, "deletion_time",
	    vd_time_json(vd_geti(ver, "deletion_ns")));
	json_object_set_new(o, "destroyed",
	    json_boolean(json_is_true(json_object_get(ver, "destroyed"))));
	json_object_set_new(o, "version", json_integer(n));
	return o;
}

static json_t *
vd_kv2_meta_new(int64_t now)
{
	json_t	*meta;

	meta = json_object();
	vd_seti(meta, "current_version", 0);
	vd_seti(meta, "oldest_version", 0);
	vd_seti(meta, "created_ns", now);
	vd_seti(meta, "updated_ns", now);
	vd_seti(meta, "max_versions", 0);
	json_object_set_new(meta, "cas_required", json_false());
	vd_seti(meta, "dva_ns", 0);
	json_object_set_new(meta, "custom_metadata", json_null());
	json_object_set_new(meta, "versions", json_object());
	return meta;
}

/* Drop the oldest versions beyond the key's, else the engine's, maximum. */
static void
vd_kv2_prune(struct vd_mount *m, json_t *meta)
{
	json_t		*versions = json_object_get(meta, "versions");
	json_int_t	 max, n, min;
	void		*it;
	char		 buf[32];
	int		 pruned = 0;

	if ((max = vd_geti(meta, "max_versions")) <= 0)
		max = m->max_versions > 0 ? m->max_versions : VD_MAX_VERSIONS;
	for (;;) {
		min = 0;
		for (it = json_object_iter(versions); it != NULL;
		    it = json_object_iter_next(versions, it)) {
			n = strtoll(json_object_iter_key(it), NULL, 10);
			if (min == 0 || n < min)
				min = n;
		}
		if ((json_int_t)json_object_size(versions) <= max)
			break;
		snprintf(buf, sizeof buf, "%lld", (long long)min);
		json_object_del(versions, buf);
		pruned = 1;
	}
	if (pruned)
		vd_seti(meta, "oldest_version", min);
}

static void
vd_kv2_read(struct vd_call *c, struct vd_mount *m, const char *key,
    struct vd_reply *r)
{
	json_t		*meta, *ver, *data;
	const char	*q;
	char		*end;
	json_int_t	 n = 0;
	int		 gone;

	q = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND,
	    "version");
	if (q != NULL && *q != '\0') {
		errno = 0;
		n = strtoll(q, &end, 10);
		if (errno != 0 || *end != '\0') {
			vd_reply_field(r, "version", "not an integer");
			return;
		}
	}
	if ((meta = json_object_get(m->keys, key)) == NULL) {
		vd_reply_noerrors(r, 404);
		return;
	}
	if (n <= 0)
		n = vd_geti(meta, "current_version");
	if ((ver = vd_kv2_version(meta, n)) == NULL) {
		vd_reply_noerrors(r, 404);
		return;
	}

	/* A deleted or destroyed version: 404, but with its metadata. */
	gone = vd_kv2_deleted(ver, vd_now()) ||
	    json_is_true(json_object_get(ver, "destroyed"));
	data = json_object();
	json_object_set_new(data, "data", gone ? json_null() :
	    json_deep_copy(json_object_get(ver, "data")));
	json_object_set_new(data, "metadata", vd_kv2_vermeta(meta, ver, n));
	vd_reply_json(r, gone ? 404 : 200, vd_envelope(data, 0, NULL, NULL,
	    "kv"));
}

static void
vd_kv2_write(struct vd_call *c, struct vd_mount *m, const char *key,
    struct vd_reply *r)
{
	json_t		*data, *opts, *cas, *meta, *ver;
	json_int_t	 cur = 0, want, n;
	int64_t		 now, dva, kdva;
	char		 buf[32];

	if ((data = vd_doc_get(c, "data")) == NULL) {
		vd_reply_error(r, 400, "no data provided");
		return;
	}
	if (!json_is_object(data)) {
		vd_reply_field(r, "data", "expected a map");
		return;
	}
	opts = vd_doc_get(c, "options");
	if (opts != NULL && !json_is_object(opts)) {
		vd_reply_field(r, "options", "expected a map");
		return;
	}
	meta = json_object_get(m->keys, key);
	if (meta != NULL)
		cur = vd_geti(meta, "current_version");
	cas = opts != NULL ? json_object_get(opts, "cas") : NULL;
	if (cas != NULL) {
		if (vd_weak_int(cas, &want) == -1) {
			vd_reply_error(r, 400,
			    "error parsing check-and-set parameter");
			return;
		}
		if (want != cur) {
			vd_reply_error(r, 400, "check-and-set parameter did "
			    "not match the current version");
			return;
		}
	} else if (m->cas_required || (meta != NULL &&
	    json_is_true(json_object_get(meta, "cas_required")))) {
		vd_reply_error(r, 400,
		    "check-and-set parameter required for this call");
		return;
	}

	now = vd_now();
	if (meta == NULL) {
		meta = vd_kv2_meta_new(now);
		json_object_set_new(m->keys, key, meta);
	}
	n = cur + 1;
	ver = json_object();
	vd_seti(ver, "created_ns", now);

	/* The shorter of the engine's and the key's delete_version_after. */
	dva = m->dva;
	kdva = vd_geti(meta, "dva_ns");
	if (kdva > 0 && (dva == 0 || kdva < dva))
		dva = kdva;
	vd_seti(ver, "deletion_ns", dva > 0 ? now + dva : 0);
	json_object_set_new(ver, "destroyed", json_false());
	json_object_set_new(ver, "data", json_deep_copy(data));
	snprintf(buf, sizeof buf, "%lld", (long long)n);
	json_object_set_new(json_object_get(meta, "versions"), buf, ver);
	vd_seti(meta, "current_version", n);
	vd_seti(meta, "updated_ns", now);
	vd_kv2_prune(m, meta);
	vd_reply_json(r, 200, vd_envelope(vd_kv2_vermeta(meta, ver, n), 0,
	    NULL, NULL, "kv"));
}

/* DELETE data/KEY: soft-delete the latest version, if it is still there. */
static void
vd_kv2_delete_latest(struct vd_mount *m, const char *key)
{
	json_t	*meta, *ver;
	int64_t	 now = vd_now();

	if ((meta = json_object_get(m->keys, key)) == NULL)
		return;
	ver = vd_kv2_version(meta, vd_geti(meta, "current_version"));
	if (ver == NULL || json_is_true(json_object_get(ver, "destroyed")) ||
	    vd_kv2_deleted(ver, now))
		return;
	vd_seti(ver, "deletion_ns", now);
}

static void
vd_kv2_data(struct vd_call *c, struct vd_mount *m, const char *key,
    struct vd_reply *r)
{
	switch (c->op) {
	case VD_READ:
		vd_kv2_read(c, m, key, r);
		return;
	case VD_WRITE:
		vd_kv2_write(c, m, key, r);
		return;
	case VD_DELETE:
		vd_kv2_delete_latest(m, key);
		vd_reply_empty(r, 204);
		return;
	default:
		vd_reply_unsupported(r);
		return;
	}
}

/* "versions": a list of numbers, or a comma-separated string of them. */
static int
vd_versions_parse(const json_t *v, json_int_t *out, size_t *n)
{
	json_t		*s;
	const char	*p, *comma;
	char		*one;
	size_t		 i;
	int		 bad;

	*n = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_array(v)) {
		if (json_array_size(v) > VD_VERSIONS_MAX)
			return -1;
		for (i = 0; i < json_array_size(v); i++) {
			if (vd_weak_int(json_array_get(v, i), &out[i]) == -1)
				return -1;
		}
		*n = json_array_size(v);
		return 0;
	}
	if (json_is_integer(v)) {
		out[0] = json_integer_value(v);
		*n = 1;
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	for (p = json_string_value(v); *p != '\0'; p = comma + 1) {
		if (*n == VD_VERSIONS_MAX)
			return -1;
		if ((comma = strchr(p, ',')) == NULL)
			comma = p + strlen(p);
		one = vd_xstrndup(p, (size_t)(comma - p));
		s = json_string(one);
		free(one);
		bad = s == NULL || vd_weak_int(s, &out[*n]) == -1;
		json_decref(s);
		if (bad)
			return -1;
		(*n)++;
		if (*comma == '\0')
			break;
	}
	return 0;
}

/* POST delete/KEY, undelete/KEY, destroy/KEY with {"versions": [...]}. */
static void
vd_kv2_versions(struct vd_call *c, struct vd_mount *m, const char *key,
    const char *which, struct vd_reply *r)
{
	json_int_t	*list;
	json_t		*meta, *ver;
	size_t		 n, i;
	int64_t		 now = vd_now();

	if (c->op != VD_WRITE) {
		vd_reply_unsupported(r);
		return;
	}
	list = vd_xcalloc(VD_VERSIONS_MAX, sizeof *list);
	if (vd_versions_parse(vd_doc_get(c, "versions"), list, &n) == -1) {
		vd_reply_field(r, "versions", "expected a list of integers");
		goto out;
	}
	if (n == 0) {
		vd_reply_error(r, 400, "no version number provided");
		goto out;
	}
	if ((meta = json_object_get(m->keys, key)) != NULL) {
		for (i = 0; i < n; i++) {
			if ((ver = vd_kv2_version(meta, list[i])) == NULL)
				continue;
			if (strcmp(which, "destroy") == 0) {
				json_object_set_new(ver, "destroyed",
				    json_true());
				json_object_set_new(ver, "data", json_null());
				continue;
			}
			if (json_is_true(json_object_get(ver, "destroyed")))
				continue;
			if (strcmp(which, "undelete") == 0)
				vd_seti(ver, "deletion_ns", 0);
			else if (!vd_kv2_deleted(ver, now))
				vd_seti(ver, "deletion_ns", now);
		}
	}
	vd_reply_empty(r, 204);
out:
	free(list);
}

/* The settings metadata and config writes share. */
struct vd_kv2_settings {
	int		 has_max, has_cas, has_dva, has_cm;
	json_int_t	 max;
	int		 cas;
	int64_t		 dva;
	json_t		*cm;
};

static int
vd_kv2_settings(struct vd_call *c, struct vd_kv2_settings *s,
    struct vd_reply *r, int with_cm)
{
	json_t		*v, *val;
	const char	*k;
	char		*str;
	void		*it;

	memset(s, 0, sizeof *s);
	if ((v = vd_doc_get(c, "max_versions")) != NULL) {
		if (vd_weak_int(v, &s->max) == -1 || s->max < 0) {
			vd_reply_field(r, "max_versions",
			    "expected an integer");
			return -1;
		}
		s->has_max = 1;
	}
	if ((v = vd_doc_get(c, "cas_required")) != NULL) {
		if (vd_weak_bool(v, &s->cas) == -1) {
			vd_reply_field(r, "cas_required", "expected a boolean");
			return -1;
		}
		s->has_cas = 1;
	}
	if ((v = vd_doc_get(c, "delete_version_after")) != NULL) {
		if (vd_duration_parse(v, &s->dva) == -1) {
			vd_reply_field(r, "delete_version_after",
			    "expected a duration");
			return -1;
		}
		s->has_dva = 1;
	}
	if (!with_cm || (v = vd_doc_get(c, "custom_metadata")) == NULL)
		return 0;
	if (!json_is_object(v)) {
		vd_reply_field(r, "custom_metadata", "expected a map");
		return -1;
	}
	if (json_object_size(v) > VD_CM_MAX_KEYS) {
		vd_reply_error(r, 400, "custom_metadata validation failed: "
		    "payload must contain at most %d keys, provided %zu",
		    VD_CM_MAX_KEYS, json_object_size(v));
		return -1;
	}
	s->cm = json_object();
	for (it = json_object_iter(v); it != NULL;
	    it = json_object_iter_next(v, it)) {
		k = json_object_iter_key(it);
		val = json_object_iter_value(it);
		if (json_is_string(val))
			str = vd_xstrdup(json_string_value(val));
		else if (json_is_integer(val))
			str = vd_xprintf("%lld",
			    (long long)json_integer_value(val));
		else if (json_is_real(val))
			str = vd_xprintf("%g", json_real_value(val));
		else if (json_is_boolean(val))
			str = vd_xstrdup(json_is_true(val) ? "1" : "0");
		else {
			vd_reply_error(r, 400, "custom_metadata validation "
			    "failed: value for key \"%s\" is not a string", k);
			goto fail;
		}
		if (*k == '\0' || strlen(k) > VD_CM_MAX_KEYLEN ||
		    *str == '\0' || strlen(str) > VD_CM_MAX_VALLEN) {
			vd_reply_error(r, 400, "custom_metadata validation "
			    "failed: length of key or value for \"%s\" must be "
			    "0 < len(key) <= %d and 0 < len(value) <= %d", k,
			    VD_CM_MAX_KEYLEN, VD_CM_MAX_VALLEN);
			free(str);
			goto fail;
		}
		json_object_set_new(s->cm, k, json_string(str));
		free(str);
	}
	s->has_cm = 1;
	return 0;
fail:
	json_decref(s->cm);
	s->cm = NULL;
	return -1;
}

static json_t *
vd_kv2_metaview(json_t *meta)
{
	json_t		*o, *vs, *v, *ver, *cm;
	void		*it;
	char		 buf[64];

	o = json_object();
	json_object_set_new(o, "cas_required",
	    json_boolean(json_is_true(json_object_get(meta, "cas_required"))));
	json_object_set_new(o, "created_time",
	    vd_time_json(vd_geti(meta, "created_ns")));
	vd_seti(o, "current_version", vd_geti(meta, "current_version"));
	cm = json_object_get(meta, "custom_metadata");
	json_object_set_new(o, "custom_metadata",
	    cm != NULL ? json_deep_copy(cm) : json_null());
	vd_duration_fmt(vd_geti(meta, "dva_ns"), buf, sizeof buf);
	json_object_set_new(o, "delete_version_after", json_string(buf));
	vd_seti(o, "max_versions", vd_geti(meta, "max_versions"));
	vd_seti(o, "oldest_version", vd_geti(meta, "oldest_version"));
	json_object_set_new(o, "updated_time",
	    vd_time_json(vd_geti(meta, "updated_ns")));
	vs = json_object();
	for (it = json_object_iter(json_object_get(meta, "versions"));
	    it != NULL; it = json_object_iter_next(json_object_get(meta,
	    "versions"), it)) {
		ver = json_object_iter_value(it);
		v = json_object();
		json_object_set_new(v, "created_time",
		    vd_time_json(vd_geti(ver, "created_ns")));
		json_object_set_new(v, "deletion_time",
		    vd_time_json(vd_geti(ver, "deletion_ns")));
		json_object_set_new(v, "destroyed", json_boolean(
		    json_is_true(json_object_get(ver, "destroyed"))));
		json_object_set_new(vs, json_object_iter_key(it), v);
	}
	json_object_set_new(o, "versions", vs);
	return o;
}

static void
vd_kv2_metawrite(struct vd_call *c, struct vd_mount *m, const char *key,
    struct vd_reply *r)
{
	struct vd_kv2_settings	 s;
	json_t			*meta;

	if (*key == '\0') {
		vd_reply_error(r, 400, "missing path");
		return;
	}
	if (vd_kv2_settings(c, &s, r, 1) == -1)
		return;
	if (!s.has_max && !s.has_cas && !s.has_dva && !s.has_cm) {
		vd_reply_empty(r, 204);
		return;
	}
	if ((meta = json_object_get(m->keys, key)) == NULL) {
		meta = vd_kv2_meta_new(vd_now());
		json_object_set_new(m->keys, key, meta);
	}
	if (s.has_max)
		vd_seti(meta, "max_versions", s.max);
	if (s.has_cas)
		json_object_set_new(meta, "cas_required", json_boolean(s.cas));
	if (s.has_dva)
		vd_seti(meta, "dva_ns", s.dva);
	if (s.has_cm)
		json_object_set_new(meta, "custom_metadata", s.cm);
	if (s.has_cas && !s.cas && m->cas_required) {
		vd_reply_json(r, 200, vd_envelope(NULL, 0, vd_warning(
		    "\"cas_required\" set to false, but is mandated by backend "
		    "config. This value will be ignored."), NULL, "kv"));
		return;
	}
	vd_reply_empty(r, 204);
}

static void
vd_kv2_metadata(struct vd_call *c, struct vd_mount *m, const char *key,
    struct vd_reply *r)
{
	json_t	*meta;

	switch (c->op) {
	case VD_LIST:
		vd_reply_list(r, m->keys, key, "kv");
		return;
	case VD_READ:
		if ((meta = json_object_get(m->keys, key)) == NULL) {
			vd_reply_noerrors(r, 404);
			return;
		}
		vd_reply_json(r, 200, vd_envelope(vd_kv2_metaview(meta), 0,
		    NULL, NULL, "kv"));
		return;
	case VD_WRITE:
		vd_kv2_metawrite(c, m, key, r);
		return;
	case VD_DELETE:
		json_object_del(m->keys, key);
		vd_reply_empty(r, 204);
		return;
	default:
		vd_reply_unsupported(r);
		return;
	}
}

static void
vd_kv2_config(struct vd_call *c, struct vd_mount *m, struct vd_reply *r)
{
	struct vd_kv2_settings	 s;
	json_t			*data;
	char			 buf[64];

	switch (c->op) {
	case VD_READ:
		data = json_object();
		json_object_set_new(data, "cas_required",
		    json_boolean(m->cas_required));
		vd_duration_fmt(m->dva, buf, sizeof buf);
		json_object_set_new(data, "delete_version_after",
		    json_string(buf));
		vd_seti(data, "max_versions", m->max_versions);
		vd_reply_json(r, 200, vd_envelope(data, 0, NULL, NULL, "kv"));
		return;
	case VD_WRITE:
		if (vd_kv2_settings(c, &s, r, 0) == -1)
			return;
		if (s.has_max)
			m->max_versions = s.max;
		if (s.has_cas)
			m->cas_required = s.cas;
		if (s.has_dva)
			m->dva = s.dva;
		vd_reply_empty(r, 204);
		return;
	default:
		vd_reply_unsupported(r);
		return;
	}
}

static void
vd_kv2(struct vd_call *c, struct vd_mount *m, const char *rest,
    struct vd_reply *r)
{
	static const char	*roots[] = { "data", "metadata", "delete",
				    "undelete", "destroy" };
	const char		*slash, *key;
	size_t			 len, i;

	if ((slash = strchr(rest, '/')) == NULL) {
		if (strcmp(rest, "config") == 0) {
			vd_kv2_config(c, m, r);
			return;
		}
		for (i = 0; i < sizeof roots / sizeof roots[0]; i++) {
			if (strcmp(rest, roots[i]) != 0)
				continue;
			vd_reply_json(r, 404, vd_envelope(NULL, 0, vd_warning(
			    "Non-listing operations on the root of a K/V v2 "
			    "mount are not supported."), NULL, "kv"));
			return;
		}
		vd_kv2_invalid(r, c->op);
		return;
	}
	len = (size_t)(slash - rest);
	key = slash + 1;
	if (len == 4 && strncmp(rest, "data", 4) == 0) {
		/* Vault's data path takes a key that does not end in '/'. */
		if (*key == '\0' || key[strlen(key) - 1] == '/')
			vd_kv2_invalid(r, c->op);
		else
			vd_kv2_data(c, m, key, r);
		return;
	}
	if (len == 8 && strncmp(rest, "metadata", 8) == 0) {
		vd_kv2_metadata(c, m, key, r);
		return;
	}
	for (i = 2; i < sizeof roots / sizeof roots[0]; i++) {
		if (len == strlen(roots[i]) &&
		    strncmp(rest, roots[i], len) == 0 && *key != '\0') {
			vd_kv2_versions(c, m, key, roots[i], r);
			return;
		}
	}
	vd_kv2_invalid(r, c->op);
}

/*
 * sys/internal/ui/mounts: unauthenticated, lists mounts only to a valid
 * token. sys/internal/ui/mounts/PATH: the mount holding PATH; no such mount
 * is Vault's preflight 403, which is what its own CLI prints.
 */
static json_t *
vd_mount_info(const char *path, const char *type, const char *version,
    const char *accessor, const char *uuid, const char *desc)
{
	json_t	*o, *cfg, *opts;

	o = json_object();
	json_object_set_new(o, "accessor", json_string(accessor));
	cfg = json_object();
	vd_seti(cfg, "default_lease_ttl", 0);
	json_object_set_new(cfg, "force_no_cache", json_false());
	vd_seti(cfg, "max_lease_ttl", 0);
	json_object_set_new(o, "config", cfg);
	json_object_set_new(o, "description", json_string(desc));
	json_object_set_new(o, "external_entropy_access", json_false());
	json_object_set_new(o, "local", json_false());
	if (version != NULL) {
		opts = json_object();
		json_object_set_new(opts, "version", json_string(version));
	} else
		opts = json_null();
	json_object_set_new(o, "options", opts);
	json_object_set_new(o, "path", json_string(path));
	json_object_set_new(o, "plugin_version", json_string(""));
	json_object_set_new(o, "seal_wrap", json_false());
	json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "uuid", json_string(uuid));
	return o;
}

static json_t *
vd_kv_info(struct vd_mount *m)
{
	json_t	*info;
	char	*path;

	path = vd_xprintf("%s/", m->path);
	info = vd_mount_info(path, "kv", m->version == 1 ? "1" : "2",
	    m->accessor, m->uuid, "key/value secret storage");
	free(path);
	return info;
}

static void
vd_ui_mounts(struct vd_call *c, struct vd_reply *r)
{
	struct vd	*vd = c->vd;
	json_t		*data, *auth, *secret;
	char		*name;
	size_t		 i;

	if (c->op != VD_READ) {
		vd_reply_unsupported(r);
		return;
	}
	auth = json_object();
	secret = json_object();
	if (c->token != NULL) {
		json_object_set_new(auth, "token/", vd_mount_info(
		    "auth/token/", "token", NULL, vd->token_accessor,
		    vd->token_uuid, "token based credentials"));
		if (vd->nroles > 0)
			json_object_set_new(auth, "approle/", vd_mount_info(
			    "auth/approle/", "approle", NULL,
			    vd->approle_accessor, vd->approle_uuid, ""));
		for (i = 0; i < vd->nmounts; i++) {
			name = vd_xprintf("%s/", vd->mounts[i].path);
			json_object_set_new(secret, name,
			    vd_kv_info(&vd->mounts[i]));
			free(name);
		}
	}
	data = json_object();
	json_object_set_new(data, "auth", auth);
	json_object_set_new(data, "secret", secret);
	vd_reply_json(r, 200, vd_envelope(data, 0, NULL, NULL, "system"));
}

static int
vd_under(const char *path, const char *mount)
{
	size_t	len = strlen(mount);

	return strncmp(path, mount, len) == 0 &&
	    (path[len] == '\0' || path[len] == '/');
}

/* The KV mount that holds path (longest match); *rest is below it. */
static struct vd_mount *
vd_mount_find(struct vd *vd, const char *path, const char **rest)
{
	struct vd_mount	*best = NULL;
	size_t		 i, len;

	for (i = 0; i < vd->nmounts; i++) {
		if (!vd_under(path, vd->mounts[i].path))
			continue;
		if (best == NULL ||
		    strlen(vd->mounts[i].path) > strlen(best->path))
			best = &vd->mounts[i];
	}
	if (best != NULL) {
		len = strlen(best->path);
		*rest = path[len] == '/' ? path + len + 1 : path + len;
	}
	return best;
}

static void
vd_ui_mount(struct vd_call *c, const char *sub, struct vd_reply *r)
{
	struct vd	*vd = c->vd;
	struct vd_mount	*m;
	const char	*rest;
	json_t		*info = NULL;
	size_t		 len;

	if (c->op != VD_READ) {
		vd_reply_unsupported(r);
		return;
	}
	if ((m = vd_mount_find(vd, sub, &rest)) != NULL)
		info = vd_kv_info(m);
	else if (vd_under(sub, "auth/token"))
		info = vd_mount_info("auth/token/", "token", NULL,
		    vd->token_accessor, vd->token_uuid,
		    "token based credentials");
	else if (vd->nroles > 0 && vd_under(sub, "auth/approle"))
		info = vd_mount_info("auth/approle/", "approle", NULL,
		    vd->approle_accessor, vd->approle_uuid, "");
	if (info == NULL) {
		len = strlen(sub);
		vd_reply_error(r, 403, "preflight capability check returned "
		    "403, please ensure client's policies grant access to path "
		    "\"%s%s\"", sub, len > 0 && sub[len - 1] == '/' ? "" : "/");
		return;
	}
	vd_reply_json(r, 200, vd_envelope(info, 0, NULL, NULL, "system"));
}

/* auth/approle/login: unauthenticated; a good pair gets a new token. */
static void
vd_approle_login(struct vd_call *c, struct vd_reply *r)
{
	struct vd	*vd = c->vd;
	struct vd_role	*role = NULL;
	struct vd_token	*t;
	json_t		*v;
	char		*role_id = NULL, *secret_id = NULL, *p;
	size_t		 i;

	if (c->op != VD_WRITE) {
		vd_reply_unsupported(r);
		return;
	}

	/* Vault trims both ids before comparing them. */
	if ((v = vd_doc_get(c, "role_id")) != NULL && json_is_string(v)) {
		role_id = vd_xstrdup(json_string_value(v));
		for (p = role_id; isspace((unsigned char)*p); p++)
			;
		memmove(role_id, p, strlen(p) + 1);
		for (i = strlen(role_id); i > 0 &&
		    isspace((unsigned char)role_id[i - 1]); i--)
			role_id[i - 1] = '\0';
	}
	if ((v = vd_doc_get(c, "secret_id")) != NULL && json_is_string(v)) {
		secret_id = vd_xstrdup(json_string_value(v));
		for (p = secret_id; isspace((unsigned char)*p); p++)
			;
		memmove(secret_id, p, strlen(p) + 1);
		for (i = strlen(secret_id); i > 0 &&
		    isspace((unsigned char)secret_id[i - 1]); i--)
			secret_id[i - 1] = '\0';
	}
	if (role_id == NULL || *role_id == '\0') {
		vd_reply_error(r, 400, "missing role_id");
		goto out;
	}
	for (i = 0; i < vd->nroles; i++) {
		if (strcmp(vd->roles[i].role_id, role_id) == 0) {
			role = &vd->roles[i];
			break;
		}
	}
	if (role == NULL) {
		vd_reply_error(r, 400, "invalid role or secret ID");
		goto out;
	}
	if (secret_id == NULL || *secret_id == '\0') {
		vd_reply_error(r, 400, "missing secret_id");
		goto out;
	}
	if (strcmp(role->secret_id, secret_id) != 0) {
		vd_reply_error(r, 400, "invalid role or secret ID");
		goto out;
	}
	t = vd_token_add(vd, NULL, 0, vd->token_ttl);
	vd_reply_json(r, 200, vd_envelope(NULL, 0, NULL, vd_auth_block(t),
	    "approle"));
out:
	vd_wipe_free(role_id);
	vd_wipe_free(secret_id);
}

static void
vd_token_lookup_self(struct vd_call *c, struct vd_reply *r)
{
	struct vd_token	*t = c->token;
	json_t		*d, *p, *meta;
	int64_t		 now = vd_now();

	if (c->op != VD_READ && c->op != VD_WRITE) {
		vd_reply_unsupported(r);
		return;
	}
	d = json_object();
	json_object_set_new(d, "accessor", json_string(t->accessor));
	vd_seti(d, "creation_time", t->issued / VD_NS);
	vd_seti(d, "creation_ttl", t->ttl);
	json_object_set_new(d, "display_name",
	    json_string(t->root ? "root" : "approle"));
	json_object_set_new(d, "entity_id",
	    json_string(t->root ? "" : t->entity_id));
	json_object_set_new(d, "expire_time",
	    t->expires != 0 ? vd_time_json(t->expires) : json_null());
	vd_seti(d, "explicit_max_ttl", 0);
	json_object_set_new(d, "id", json_string(t->id));
	json_object_set_new(d, "issue_time", vd_time_json(t->issued));
	if (t->root)
		meta = json_null();
	else {
		meta = json_object();
		json_object_set_new(meta, "role_name", json_string("default"));
	}
	json_object_set_new(d, "meta", meta);
	vd_seti(d, "num_uses", 0);
	json_object_set_new(d, "orphan", json_true());
	json_object_set_new(d, "path", json_string(t->root ?
	    "auth/token/root" : "auth/approle/login"));
	p = json_array();
	json_array_append_new(p, json_string(t->root ? "root" : "default"));
	json_object_set_new(d, "policies", p);
	json_object_set_new(d, "renewable", json_boolean(!t->root));
	vd_seti(d, "ttl", t->expires != 0 ?
	    (t->expires - now + VD_NS - 1) / VD_NS : 0);
	json_object_set_new(d, "type", json_string("service"));
	vd_reply_json(r, 200, vd_envelope(d, 0, NULL, NULL, "token"));
}

static void
vd_token_renew_self(struct vd_call *c, struct vd_reply *r)
{
	struct vd_token	*t = c->token;
	json_t		*inc;
	int64_t		 ns = 0;

	if (c->op != VD_WRITE) {
		vd_reply_unsupported(r);
		return;
	}
	if ((inc = vd_doc_get(c, "increment")) != NULL &&
	    vd_duration_parse(inc, &ns) == -1) {
		vd_reply_field(r, "increment", "expected a duration");
		return;
	}
	if (!t->root) {
		if (ns <= 0)
			ns = c->vd->token_ttl * VD_NS;
		if (ns > (int64_t)VD_LEASE_DEFAULT * VD_NS)
			ns = (int64_t)VD_LEASE_DEFAULT * VD_NS;
		t->ttl = ns / VD_NS;
		t->expires = vd_now() + ns;
	}
	vd_reply_json(r, 200, vd_envelope(NULL, 0, NULL, vd_auth_block(t),
	    "token"));
}

static void
vd_route(struct vd_call *c, struct vd_reply *r)
{
	struct vd	*vd = c->vd;
	struct vd_mount	*m;
	const char	*p = c->path, *rest;

	if (strcmp(p, "sys/internal/ui/mounts") == 0 ||
	    strcmp(p, "sys/internal/ui/mounts/") == 0) {
		vd_ui_mounts(c, r);
		return;
	}
	if (vd->nroles > 0 && strcmp(p, "auth/approle/login") == 0) {
		vd_approle_login(c, r);
		return;
	}
	if (c->token == NULL) {
		vd_reply_error(r, 403, "permission denied");
		return;
	}
	if (strncmp(p, "sys/internal/ui/mounts/", 23) == 0) {
		vd_ui_mount(c, p + 23, r);
		return;
	}
	if (strcmp(p, "auth/token/lookup-self") == 0) {
		vd_token_lookup_self(c, r);
		return;
	}
	if (strcmp(p, "auth/token/renew-self") == 0) {
		vd_token_renew_self(c, r);
		return;
	}
	if (strcmp(p, "auth/token/revoke-self") == 0) {
		if (c->op != VD_WRITE) {
			vd_reply_unsupported(r);
			return;
		}
		vd_token_remove(vd, c->token);
		c->token = NULL;
		vd_reply_empty(r, 204);
		return;
	}
	if ((m = vd_mount_find(vd, p, &rest)) != NULL) {
		if (m->version == 1)
			vd_kv1(c, m, rest, r);
		else
			vd_kv2(c, m, rest, r);
		return;
	}
	vd_reply_error(r, 404,
	    "no handler for route \"%s\". route entry not found.", p);
}

static int
vd_query_code(struct MHD_Connection *conn, const char *name, int def,
    int *out, struct vd_reply *r)
{
	const char	*v;
	char		*end;
	long		 n;

	*out = def;
	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 100 || n > 999) {
		vd_reply_error(r, 400, "unable to parse %s: invalid syntax",
		    name);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* sys/health: unauthenticated; 200 when unsealed, 503 when sealed. */
static void
vd_sys_health(struct vd_call *c, struct vd_reply *r)
{
	struct vd	*vd = c->vd;
	json_t		*o;
	int		 active, sealed;

	if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "HEAD") != 0) {
		vd_reply_noerrors(r, 405);
		return;
	}
	if (vd_query_code(c->conn, "activecode", 200, &active, r) == -1 ||
	    vd_query_code(c->conn, "sealedcode", 503, &sealed, r) == -1)
		return;
	o = json_object();
	json_object_set_new(o, "initialized", json_true());
	json_object_set_new(o, "sealed", json_boolean(vd->sealed));
	json_object_set_new(o, "standby", json_boolean(vd->sealed));
	json_object_set_new(o, "performance_standby", json_false());
	json_object_set_new(o, "replication_performance_mode",
	    json_string(vd->sealed ? "unknown" : "disabled"));
	json_object_set_new(o, "replication_dr_mode",
	    json_string(vd->sealed ? "unknown" : "disabled"));
	vd_seti(o, "server_time_utc", vd_now() / VD_NS);
	json_object_set_new(o, "version", json_string(VD_VAULT_VERSION));
	json_object_set_new(o, "enterprise", json_boolean(vd->ns != NULL));
	if (!vd->sealed) {
		json_object_set_new(o, "cluster_name",
		    json_string(vd->cluster_name));
		json_object_set_new(o, "cluster_id",
		    json_string(vd->cluster_id));
	}
	json_object_set_new(o, "echo_duration_ms", json_integer(0));
	json_object_set_new(o, "clock_skew_ms", json_integer(0));
	vd_reply_json(r, vd->sealed ? sealed : active, o);
}

static void
vd_sys_seal_status(struct vd_call *c, struct vd_reply *r)
{
	struct vd	*vd = c->vd;
	json_t		*o;

	if (strcmp(c->method, "GET") != 0) {
		vd_reply_noerrors(r, 405);
		return;
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("shamir"));
	json_object_set_new(o, "initialized", json_true());
	json_object_set_new(o, "sealed", json_boolean(vd->sealed));
	vd_seti(o, "t", 1);
	vd_seti(o, "n", 1);
	vd_seti(o, "progress", 0);
	json_object_set_new(o, "nonce", json_string(""));
	json_object_set_new(o, "version", json_string(VD_VAULT_VERSION));
	json_object_set_new(o, "build_date", json_string(VD_BUILD_DATE));
	json_object_set_new(o, "migration", json_false());
	if (!vd->sealed) {
		json_object_set_new(o, "cluster_name",
		    json_string(vd->cluster_name));
		json_object_set_new(o, "cluster_id",
		    json_string(vd->cluster_id));
	}
	json_object_set_new(o, "recovery_seal", json_false());
	json_object_set_new(o, "storage_type", json_string("inmem"));
	vd_reply_json(r, 200, o);
}

/*
 * Vault Enterprise joins X-Vault-Namespace and the request path, so either
 * may name the namespace. Returns the path inside ours, or NULL.
 */
static char *
vd_ns_strip(struct vd *vd, const char *hdr, const char *path)
{
	char	*h, *full, *out = NULL;
	size_t	 len, nslen = strlen(vd->ns);

	while (hdr != NULL && *hdr == '/')
		hdr++;
	h = vd_xstrdup(hdr != NULL ? hdr : "");
	len = strlen(h);
	while (len > 0 && h[len - 1] == '/')
		h[--len] = '\0';
	if (strcmp(h, "root") == 0)
		*h = '\0';
	full = *h != '\0' ? vd_xprintf("%s/%s", h, path) : vd_xstrdup(path);
	if (strncmp(full, vd->ns, nslen) == 0) {
		if (full[nslen] == '/')
			out = vd_xstrdup(full + nslen + 1);
		else if (full[nslen] == '\0')
			out = vd_xstrdup("");
	}
	free(h);
	free(full);
	return out;
}

/* The operation a method means on a logical path, as Vault maps them. */
static int
vd_op(struct vd_call *c, struct vd_reply *r)
{
	const char	*list;
	int		 b;

	if (strcmp(c->method, "GET") == 0) {
		c->op = VD_READ;
		list = MHD_lookup_connection_value(c->conn,
		    MHD_GET_ARGUMENT_KIND, "list");
		if (list != NULL && *list != '\0') {
			if (vd_parse_bool(list, &b) == -1) {
				vd_reply_noerrors(r, 400);
				return -1;
			}
			if (b)
				c->op = VD_LIST;
		}
	} else if (strcmp(c->method, "LIST") == 0)
		c->op = VD_LIST;
	else if (strcmp(c->method, "POST") == 0 ||
	    strcmp(c->method, "PUT") == 0)
		c->op = VD_WRITE;
	else if (strcmp(c->method, "DELETE") == 0)
		c->op = VD_DELETE;
	else if (strcmp(c->method, "PATCH") == 0)
		c->op = VD_PATCH;
	else {
		vd_reply_noerrors(r, 405);
		return -1;
	}
	return 0;
}

static void
vd_handle(struct vd_call *c, struct vd_reply *r)
{
	struct vd	*vd = c->vd;
	char		*p;
	size_t		 len;

	if (c->too_big) {
		vd_reply_error(r, 413, "http: request body too large");
		return;
	}
	if (strcmp(c->raw, "sys/health") == 0) {
		vd_sys_health(c, r);
		return;
	}
	if (strcmp(c->raw, "sys/seal-status") == 0) {
		vd_sys_seal_status(c, r);
		return;
	}
	if (vd->sealed) {
		vd_reply_error(r, 503, "Vault is sealed");
		return;
	}
	if (!vd_utf8_ok(c->raw)) {
		vd_reply_error(r, 400, "invalid request path");
		return;
	}
	if (vd->ns != NULL) {
		c->path = vd_ns_strip(vd, MHD_lookup_connection_value(c->conn,
		    MHD_HEADER_KIND, "X-Vault-Namespace"), c->raw);
		if (c->path == NULL) {
			vd_reply_error(r, 403, "permission denied");
			return;
		}
	} else
		c->path = vd_xstrdup(c->raw);
	if (vd_op(c, r) == -1)
		return;

	/* Vault lists directories: a LIST path always ends in '/'. */
	len = strlen(c->path);
	if (c->op == VD_LIST && (len == 0 || c->path[len - 1] != '/')) {
		p = vd_xprintf("%s/", c->path);
		free(c->path);
		c->path = p;
	}
	if ((c->op == VD_WRITE || c->op == VD_PATCH) &&
	    vd_body_parse(c, r) == -1)
		return;
	if (c->token_hdr != NULL)
		c->token = vd_token_find(vd, c->token_hdr);
	c->token_valid = c->token != NULL;
	vd_route(c, r);
}

static void
vd_ring_add(struct vd *vd, const char *method, const char *url,
    const char *query, int status, const char *ns, int token_sent,
    int token_valid)
{
	struct vd_logent	*e;

	if (vd->log_count < VD_LOG_MAX)
		e = &vd->log[(vd->log_start + vd->log_count++) % VD_LOG_MAX];
	else {
		e = &vd->log[vd->log_start];
		vd->log_start = (vd->log_start + 1) % VD_LOG_MAX;
		free(e->path);
		free(e->query);
		free(e->ns);
	}
	memset(e, 0, sizeof *e);
	e->time = vd_now();
	snprintf(e->method, sizeof e->method, "%s", method);
	e->path = vd_clean(url);
	e->query = vd_clean(query);
	e->ns = ns != NULL ? vd_clean(ns) : NULL;
	e->status = status;
	e->token_sent = token_sent;
	e->token_valid = token_valid;
}

static void
vd_ring_clear(struct vd *vd)
{
	size_t	i;

	for (i = 0; i < VD_LOG_MAX; i++) {
		free(vd->log[i].path);
		free(vd->log[i].query);
		free(vd->log[i].ns);
		memset(&vd->log[i], 0, sizeof vd->log[i]);
	}
	vd->log_start = vd->log_count = 0;
}

static json_t *
vd_ring_json(struct vd *vd)
{
	struct vd_logent	*e;
	json_t			*a, *o;
	size_t			 i;

	a = json_array();
	for (i = 0; i < vd->log_count; i++) {
		e = &vd->log[(vd->log_start + i) % VD_LOG_MAX];
		o = json_object();
		json_object_set_new(o, "time", vd_time_json(e->time));
		json_object_set_new(o, "method", json_string(e->method));
		json_object_set_new(o, "path", json_string(e->path));
		json_object_set_new(o, "query", json_string(e->query));
		vd_seti(o, "status", e->status);
		json_object_set_new(o, "namespace_sent",
		    json_boolean(e->ns != NULL));
		json_object_set_new(o, "namespace",
		    e->ns != NULL ? json_string(e->ns) : json_null());
		json_object_set_new(o, "token_sent",
		    json_boolean(e->token_sent));
		json_object_set_new(o, "token_valid",
		    json_boolean(e->token_valid));
		json_array_append_new(a, o);
	}
	return a;
}

struct vd_qbuf {
	char	buf[VD_QUERY_MAX];
	size_t	len;
};

static enum MHD_Result
vd_query_add(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct vd_qbuf	*q = cls;
	int		 n;

	(void)kind;
	n = snprintf(q->buf + q->len, sizeof q->buf - q->len, "%s%s%s%s",
	    q->len > 0 ? "&" : "", key, value != NULL ? "=" : "",
	    value != NULL ? value : "");
	if (n < 0 || (size_t)n >= sizeof q->buf - q->len) {
		q->len = sizeof q->buf - 1;
		return MHD_NO;
	}
	q->len += (size_t)n;
	return MHD_YES;
}

static void
vd_serve_v1(struct vd *vd, struct MHD_Connection *conn, const char *url,
    const char *method, struct vd_req *req, struct vd_reply *r)
{
	struct vd_call	 c;
	struct vd_qbuf	 q;
	const char	*ns;
	char		*clean;
	long		 delay;

	pthread_mutex_lock(&vd->lock);
	delay = vd->delay_ms;
	pthread_mutex_unlock(&vd->lock);
	if (delay > 0)
		vd_sleep_ms(vd, delay);

	memset(&c, 0, sizeof c);
	c.vd = vd;
	c.conn = conn;
	c.method = method;
	c.raw = url + 4;
	c.body = req->body != NULL ? req->body : "";
	c.len = req->len;
	c.too_big = req->too_big;
	c.token_hdr = vd_token_header(conn);
	ns = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "X-Vault-Namespace");
	memset(&q, 0, sizeof q);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, vd_query_add,
	    &q);

	pthread_mutex_lock(&vd->lock);
	vd_handle(&c, r);
	vd_ring_add(vd, method, url, q.buf, r->status, ns,
	    c.token_hdr != NULL, c.token_valid);
	pthread_mutex_unlock(&vd->lock);

	clean = vd_clean(url);
	vd_log("%s %s %d", method, clean, r->status);
	free(clean);
	free(c.path);
	json_decref(c.doc);
}

/* Test-control endpoints: not Vault's API, never delayed or sealed. */
static void
vd_serve_control(struct vd *vd, struct MHD_Connection *conn,
    const char *url, const char *method, struct vd_reply *r)
{
	const char	*name = url + strlen("/__double/"), *v;
	char		*end, *clean;
	long		 ms;
	int		 post, get, del;

	post = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
	get = strcmp(method, "GET") == 0;
	del = strcmp(method, "DELETE") == 0;
	pthread_mutex_lock(&vd->lock);
	if (strcmp(name, "seal") == 0 || strcmp(name, "unseal") == 0) {
		if (!post)
			vd_reply_error(r, 405, "use POST");
		else {
			vd->sealed = strcmp(name, "seal") == 0;
			vd_reply_empty(r, 204);
		}
	} else if (strcmp(name, "delay") == 0) {
		v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
		    "ms");
		errno = 0;
		ms = v != NULL ? strtol(v, &end, 10) : -1;
		if (!post)
			vd_reply_error(r, 405, "use POST");
		else if (v == NULL || *v == '\0' || errno != 0 ||
		    *end != '\0' || ms < 0 || ms > VD_DELAY_MAX)
			vd_reply_error(r, 400, "ms must be an integer from 0 "
			    "to %d", VD_DELAY_MAX);
		else {
			vd->delay_ms = ms;
			vd_reply_empty(r, 204);
		}
	} else if (strcmp(name, "requests") == 0) {
		if (get)
			vd_reply_json(r, 200, vd_ring_json(vd));
		else if (del) {
			vd_ring_clear(vd);
			vd_reply_empty(r, 204);
		} else
			vd_reply_error(r, 405, "use GET or DELETE");
	} else
		vd_reply_error(r, 404, "no such control endpoint");
	pthread_mutex_unlock(&vd->lock);
	clean = vd_clean(url);
	vd_log("control: %s %s %d", method, clean, r->status);
	free(clean);
}

static enum MHD_Result
vd_queue(struct MHD_Connection *conn, struct vd_reply *r)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;

	if (r->body != NULL) {
		resp = MHD_create_response_from_buffer(strlen(r->body),
		    r->body, MHD_RESPMEM_MUST_FREE);
		if (resp == NULL) {
			free(r->body);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "application/json");
	} else {
		resp = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
vd_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct vd	*vd = cls;
	struct vd_req	*req = *con_cls;
	struct vd_reply	 r = { 500, NULL };
	size_t		 n;

	(void)version;
	if (req == NULL) {
		*con_cls = vd_xcalloc(1, sizeof *req);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		n = *upload_data_size;
		*upload_data_size = 0;
		if (req->too_big || req->len + n > VD_BODY_MAX) {
			/* Keep reading, keep nothing. */
			req->too_big = 1;
			return MHD_YES;
		}
		if (req->len + n + 1 > req->size) {
			req->size = req->len + n + 1 > 2 * req->size ?
			    req->len + n + 1 : 2 * req->size;
			req->body = vd_xreallocarray(req->body, req->size, 1);
		}
		memcpy(req->body + req->len, upload_data, n);
		req->len += n;
		req->body[req->len] = '\0';
		return MHD_YES;
	}
	if (strncmp(url, "/v1/", 4) == 0)
		vd_serve_v1(vd, conn, url, method, req, &r);
	else if (strncmp(url, "/__double/", 10) == 0)
		vd_serve_control(vd, conn, url, method, &r);
	else
		vd_reply_noerrors(&r, 404);
	return vd_queue(conn, &r);
}

static void
vd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct vd_req	*req = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req != NULL) {
		if (req->body != NULL) {
			explicit_bzero(req->body, req->size);
			free(req->body);
		}
		free(req);
		*con_cls = NULL;
	}
}

static char *
vd_read_file(const char *path)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		vd_fatal("%s: %s", path, strerror(errno));
	buf = vd_xcalloc(VD_FILE_MAX + 1, 1);
	n = fread(buf, 1, VD_FILE_MAX + 1, f);
	if (ferror(f))
		vd_fatal("%s: read error", path);
	fclose(f);
	if (n > VD_FILE_MAX)
		vd_fatal("%s: larger than %d bytes", path, VD_FILE_MAX);
	buf[n] = '\0';
	return buf;
}

/* Written whole or not at all, so a test never reads half a number. */
static void
vd_port_file(const char *path, unsigned int port)
{
	FILE	*f;
	char	*tmp;

	tmp = vd_xprintf("%s.tmp.%ld", path, (long)getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		vd_fatal("%s: %s", tmp, strerror(errno));
	fprintf(f, "%u\n", port);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0)
		vd_fatal("%s: %s", tmp, strerror(errno));
	if (rename(tmp, path) == -1)
		vd_fatal("rename %s: %s", path, strerror(errno));
	free(tmp);
}

/* A mount path without its slashes; Vault's own mounts are refused. */
static void
vd_add_mount(struct vd *vd, const char *arg, int version)
{
	static const char	*reserved[] = { "sys", "auth", "cubbyhole",
				    "identity" };
	struct vd_mount		*m;
	char			*path;
	size_t			 len, i;

	while (*arg == '/')
		arg++;
	path = vd_xstrdup(arg);
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		path[--len] = '\0';
	if (len == 0 || !vd_utf8_ok(path) || strstr(path, "//") != NULL)
		vd_fatal("bad mount path \"%s\"", arg);
	for (i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
		if (vd_under(path, reserved[i]))
			vd_fatal("mount path \"%s\" is reserved by Vault",
			    path);
	}
	for (i = 0; i < vd->nmounts; i++) {
		if (vd_under(path, vd->mounts[i].path) ||
		    vd_under(vd->mounts[i].path, path))
			vd_fatal("mount \"%s\" overlaps mount \"%s\"", path,
			    vd->mounts[i].path);
	}
	vd->mounts = vd_xreallocarray(vd->mounts, vd->nmounts + 1,
	    sizeof *vd->mounts);
	m = &vd->mounts[vd->nmounts++];
	memset(m, 0, sizeof *m);
	m->path = path;
	m->version = version;
	memcpy(m->accessor, "kv_", 3);
	vd_random_hex(m->accessor + 3, 8);
	vd_uuid(m->uuid);
	m->keys = json_object();
}

static void
vd_add_role(struct vd *vd, const char *arg)
{
	const char	*colon;
	struct vd_role	*role;

	if ((colon = strchr(arg, ':')) == NULL || colon == arg ||
	    colon[1] == '\0')
		vd_fatal("--approle wants ROLE_ID:SECRET_ID");
	vd->roles = vd_xreallocarray(vd->roles, vd->nroles + 1,
	    sizeof *vd->roles);
	role = &vd->roles[vd->nroles++];
	role->role_id = vd_xstrndup(arg, (size_t)(colon - arg));
	role->secret_id = vd_xstrdup(colon + 1);
}

static void
vd_free(struct vd *vd)
{
	struct vd_token	*t;
	size_t		 i;

	for (i = 0; i < vd->nmounts; i++) {
		free(vd->mounts[i].path);
		json_decref(vd->mounts[i].keys);
	}
	free(vd->mounts);
	while ((t = vd->tokens) != NULL) {
		vd->tokens = t->next;
		vd_token_free(t);
	}
	for (i = 0; i < vd->nroles; i++) {
		vd_wipe_free(vd->roles[i].role_id);
		vd_wipe_free(vd->roles[i].secret_id);
	}
	free(vd->roles);
	free(vd->ns);
	vd_ring_clear(vd);
	pthread_mutex_destroy(&vd->lock);
}

static void __attribute__((noreturn))
vd_usage(void)
{
	fprintf(stderr,
	    "usage: vault_double --port N [--port-file PATH]\n"
	    "           [--tls-cert PEM --tls-key PEM]\n"
	    "           --token T [--token T ...]\n"
	    "           [--kv1 MOUNT ...] [--kv2 MOUNT ...]\n"
	    "           [--approle ROLE_ID:SECRET_ID ...] [--namespace NS]\n"
	    "           [--sealed] [--token-ttl SECONDS]\n");
	exit(2);
}

static long
vd_number(const char *s, long min, long max, const char *what)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || errno != 0 || *end != '\0' || n < min || n > max) {
		fprintf(stderr, "vault_double: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return n;
}

int
main(int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "token", required_argument, NULL, 't' },
		{ "kv1", required_argument, NULL, '1' },
		{ "kv2", required_argument, NULL, '2' },
		{ "approle", required_argument, NULL, 'a' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "sealed", no_argument, NULL, 's' },
		{ "token-ttl", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct vd			 vd;
	struct MHD_Daemon		*mhd;
	const union MHD_DaemonInfo	*info;
	struct MHD_OptionItem		 tls[3];
	struct sockaddr_in		 sin;
	sigset_t			 sigs;
	const char			*port_file = NULL, *cert_path = NULL;
	const char			*key_path = NULL;
	char				*cert = NULL, *key = NULL;
	unsigned int			 flags;
	long				 port = -1;
	size_t				 len;
	int				 ch, sig, ntokens = 0;

	memset(&vd, 0, sizeof vd);
	pthread_mutex_init(&vd.lock, NULL);
	vd.token_ttl = VD_TOKEN_TTL;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			port = vd_number(optarg, 0, 65535, "port");
			break;
		case 'P':
			port_file = optarg;
			break;
		case 'c':
			cert_path = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 't':
			if (*optarg == '\0' || !vd_utf8_ok(optarg))
				vd_fatal("--token wants a non-empty token");
			vd_token_add(&vd, optarg, 1, 0);
			ntokens++;
			break;
		case '1':
		case '2':
			vd_add_mount(&vd, optarg, ch - '0');
			break;
		case 'a':
			vd_add_role(&vd, optarg);
			break;
		case 'n':
			while (*optarg == '/')
				optarg++;
			free(vd.ns);
			vd.ns = vd_xstrdup(optarg);
			len = strlen(vd.ns);
			while (len > 0 && vd.ns[len - 1] == '/')
				vd.ns[--len] = '\0';
			if (len == 0 || !vd_utf8_ok(vd.ns))
				vd_fatal("--namespace wants a name");
			break;
		case 's':
			vd.sealed = 1;
			break;
		case 'T':
			vd.token_ttl = vd_number(optarg, 1, VD_LEASE_DEFAULT,
			    "token TTL");
			break;
		default:
			vd_usage();
		}
	}
	if (optind != argc || port < 0 || ntokens == 0 ||
	    (cert_path == NULL) != (key_path == NULL))
		vd_usage();

	memcpy(vd.cluster_name, "vault-cluster-", 14);
	vd_random_hex(vd.cluster_name + 14, 8);
	vd_uuid(vd.cluster_id);
	memcpy(vd.token_accessor, "auth_token_", 11);
	vd_random_hex(vd.token_accessor + 11, 8);
	vd_uuid(vd.token_uuid);
	memcpy(vd.approle_accessor, "auth_approle_", 13);
	vd_random_hex(vd.approle_accessor + 13, 8);
	vd_uuid(vd.approle_uuid);

	/* Threads MHD starts inherit this mask; only main takes signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	memset(tls, 0, sizeof tls);
	tls[0].option = MHD_OPTION_END;
	if (cert_path != NULL) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			vd_fatal("libmicrohttpd was built without TLS");
		cert = vd_read_file(cert_path);
		key = vd_read_file(key_path);
		tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
		    key };
		tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
		    cert };
		tls[2].option = MHD_OPTION_END;
		flags |= MHD_USE_TLS;
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, vd_access,
	    &vd, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_NOTIFY_COMPLETED, vd_completed, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)256,
	    MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (mhd == NULL)
		vd_fatal("cannot listen on 127.0.0.1:%ld", port);
	info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0)
		vd_fatal("cannot learn the port");
	if (port_file != NULL)
		vd_port_file(port_file, info->port);
	vd_log("listening on %s://127.0.0.1:%u%s%s%s", cert != NULL ?
	    "https" : "http", (unsigned int)info->port, vd.sealed ?
	    ", sealed" : "", vd.ns != NULL ? ", namespace " : "",
	    vd.ns != NULL ? vd.ns : "");

	do {
		if (sigwait(&sigs, &sig) != 0)
			sig = 0;
	} while (sig != SIGINT && sig != SIGTERM);
	vd_log("stopping on signal %d", sig);
	atomic_store(&vd.stopping, 1);
	MHD_stop_daemon(mhd);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	vd_free(&vd);
	return 0;
}
