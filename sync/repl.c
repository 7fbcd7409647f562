/*
 * repl: each operation builds an rsync argv, hands the transport its key
 * material through a pipe (descriptor 3 of rsync and, inherited, of the
 * transport), reads rsync's stdout (--stats) and stderr at the same time,
 * and parses the statistics. rsync runs with a clean environment.
 */
#include "repl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "attrs.h"
#include "child.h"
#include "flusher.h"
#include "log.h"
#include "prefetch.h"
#include "rsync_argv.h"
#include "util.h"

#define REPL_SECRETS_FD 3
#define REPL_OUTPUT_MAX (1024 * 1024)
#define REPL_ERROR_MAX (16 * 1024)
#define REPL_TIMEOUT "--timeout=600"
/* rsync reports progress after every file; callers hear at most this often. */
#define REPL_PROGRESS_MS 100
/*
 * rsync's output is read at most this often: a line per file otherwise
 * costs a poll and a read each (34000 of them in a restore of 30000 small
 * files). Its pipes hold far more than it writes in that time.
 */
#define REPL_READ_PAUSE_MS 10

/* Options for data: contents, modes, numeric owners, times, hard links,
 * symlinks as links, and ACLs and xattrs (-AX) unless a backup found none
 * (attrs.h). -D is left out on purpose: volumes hold data, and the server
 * refuses device files. No --delete, except into a copy-on-write store: a
 * backup there rewrites a private copy of the latest snapshot in place
 * (--inplace --delete, sync/store.h); elsewhere it fills a new snapshot
 * directory (the server refuses --delete there), a restore an empty one. */
#define REPL_META "-rlptgoH"
#define REPL_META_ATTRS REPL_META "AX"
static const char *const repl_data_opts[] = { "--numeric-ids", REPL_TIMEOUT,
	NULL };

void
repl_result_free(struct repl_result *r)
{
	free(r->error);
	memset(r, 0, sizeof *r);
}

struct repl_argv {
	char **v;
	size_t n;
};

static void
repl_add(struct repl_argv *a, char *s)
{
	a->v = xreallocarray(a->v, a->n + 2, sizeof *a->v);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void
repl_argv_free(struct repl_argv *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof *a);
}

static char *
repl_rsh(const struct repl_self *self, const struct repl_server *srv)
{
	return xasprintf("%s transport --secrets-fd %d --port %d", self->exe,
	    REPL_SECRETS_FD, srv->port);
}

/* rsync HOST:PATH; a bare IPv6 address needs brackets. */
static char *
repl_remote(const struct repl_server *srv, const char *path)
{
	if (strchr(srv->hostname, ':') != NULL)
		return xasprintf("[%s]:%s", srv->hostname, path);
	return xasprintf("%s:%s", srv->hostname, path);
}

/*
 * What each server's store is (store.h), asked with `privateer-store`
 * before its first backup and again after REPL_STORE_SECONDS or a failed
 * backup: one more handshake then, none on the backups in between.
 */
#define REPL_STORE_SECONDS 600
#define REPL_STORE_SLOTS 32

static struct {
	char *key;		/* name hostname port */
	int cow;
	time_t at;
} repl_stores[REPL_STORE_SLOTS];
static pthread_mutex_t repl_stores_lock = PTHREAD_MUTEX_INITIALIZER;

static char *
repl_store_key(const struct repl_server *srv)
{
	return xasprintf("%s %s %d", srv->name, srv->hostname, srv->port);
}

/* 1 cow, 0 not, -1 unknown or stale. */
static int
repl_store_cached(const struct repl_server *srv)
{
	char *key = repl_store_key(srv);
	time_t now = time(NULL);
	int cow = -1, i;

	pthread_mutex_lock(&repl_stores_lock);
	for (i = 0; i < REPL_STORE_SLOTS; i++) {
		if (repl_stores[i].key != NULL &&
		    strcmp(repl_stores[i].key, key) == 0 &&
		    now - repl_stores[i].at < REPL_STORE_SECONDS &&
		    now >= repl_stores[i].at)
			cow = repl_stores[i].cow;
	}
	pthread_mutex_unlock(&repl_stores_lock);
	free(key);
	return cow;
}

static void
repl_store_set(const struct repl_server *srv, int cow, time_t at)
{
	char *key = repl_store_key(srv);
	int i, slot = -1, oldest = 0;

	pthread_mutex_lock(&repl_stores_lock);
	for (i = 0; i < REPL_STORE_SLOTS && slot < 0; i++) {
		if (repl_stores[i].key == NULL ||
		    strcmp(repl_stores[i].key, key) == 0)
			slot = i;
		else if (repl_stores[i].at < repl_stores[oldest].at)
			oldest = i;
	}
	if (slot < 0)
		slot = oldest;
	free(repl_stores[slot].key);
	repl_stores[slot].key = key;
	repl_stores[slot].cow = cow;
	repl_stores[slot].at = at;
	pthread_mutex_unlock(&repl_stores_lock);
}

static void
repl_store_forget(const struct repl_server *srv)
{
	repl_store_set(srv, 0, 0);
}

/*
 * When each source's last backup to each server started, in this
 * process: what a backup's sender reads ahead (prefetch.h) is what
 * changed since then, the files rsync will read. Unknown (0: after a
 * start), everything is read ahead, at most a window ahead of rsync.
 */
#define REPL_LAST_SLOTS 64
/* mtimes set by a writer in the second before the last backup started */
#define REPL_LAST_SLACK 2

static struct {
	char *key;		/* server hostname port src */
	time_t started;
} repl_lasts[REPL_LAST_SLOTS];

static char *
repl_last_key(const struct repl_server *srv, const char *src)
{
	return xasprintf("%s %s %d %s", srv->name, srv->hostname, srv->port,
	    src);
}

static time_t
repl_last_backup(const struct repl_server *srv, const char *src)
{
	char *key = repl_last_key(srv, src);
	time_t t = 0;
	int i;

	pthread_mutex_lock(&repl_stores_lock);
	for (i = 0; i < REPL_LAST_SLOTS; i++) {
		if (repl_lasts[i].key != NULL &&
		    strcmp(repl_lasts[i].key, key) == 0)
			t = repl_lasts[i].started - REPL_LAST_SLACK;
	}
	pthread_mutex_unlock(&repl_stores_lock);
	free(key);
	return t > 0 ? t : 0;
}

static void
repl_last_backup_set(const struct repl_server *srv, const char *src,
    time_t started)
{
	char *key = repl_last_key(srv, src);
	int i, slot = -1, oldest = 0;

	pthread_mutex_lock(&repl_stores_lock);
	for (i = 0; i < REPL_LAST_SLOTS && slot < 0; i++) {
		if (repl_lasts[i].key == NULL ||
		    strcmp(repl_lasts[i].key, key) == 0)
			slot = i;
		else if (repl_lasts[i].started < repl_lasts[oldest].started)
			oldest = i;
	}
	if (slot < 0)
		slot = oldest;
	free(repl_lasts[slot].key);
	repl_lasts[slot].key = key;
	repl_lasts[slot].started = started;
	pthread_mutex_unlock(&repl_stores_lock);
}

/* What a transfer's local sender reads ahead (prefetch.h). */
struct repl_ahead {
	const char *dir;
	time_t since;		/* files changed since; 0: all */
};

static void repl_transport_argv(struct repl_argv *,
    const struct repl_self *, const struct repl_server *, char *command);
static int repl_secrets(const struct repl_self *,
    const struct repl_server *);

int
repl_store(const struct repl_self *self, const struct repl_server *srv,
    char **method, char **cause)
{
	struct repl_argv a = { NULL, 0 };
	struct child sp;
	char *out = NULL, *err = NULL;
	int sfd, status, rc = -1;

	*method = NULL;
	sfd = repl_secrets(self, srv);
	if (sfd < 0) {
		set_cause(cause, "cannot pass the key to the transport: %s",
		    strerror(errno));
		return -1;
	}
	repl_transport_argv(&a, self, srv, xstrdup(RSYNC_STORE_COMMAND));
	status = child_start(self->exe, a.v, child_clean_env, NULL, sfd,
	    REPL_SECRETS_FD, &sp, cause);
	close(sfd);
	repl_argv_free(&a);
	if (status != 0)
		return -1;
	close(sp.in);
	sp.in = -1;
	out = child_read_all(sp.out, 256);
	err = child_read_all(sp.err, REPL_ERROR_MAX);
	status = child_wait(&sp);
	child_close(&sp);
	if (out != NULL)
		out[strcspn(out, "\n")] = '\0';
	if (status == 0 && out != NULL && *out != '\0') {
		*method = utf8_clean(out);
		rc = 0;
	} else
		set_cause(cause, "%s", err != NULL && *err != '\0' ? err :
		    "no answer");
	free(out);
	free(err);
	return rc;
}

/* Whether backups to srv go in place (asking the server if need be). */
static int
repl_store_cow(const struct repl_self *self, const struct repl_server *srv)
{
	char *method = NULL, *cause = NULL;
	int cow = repl_store_cached(srv);

	if (cow >= 0)
		return cow;
	if (repl_store(self, srv, &method, &cause) == 0) {
		cow = strcmp(method, "btrfs") == 0 ||
		    strcmp(method, "reflink") == 0;
		log_debug("server %s keeps snapshots by %s", srv->name,
		    method);
	} else {
		/* An older server, or none: a push as ever, which any
		 * server takes. */
		log_debug("server %s did not say how it keeps snapshots: %s",
		    srv->name, cause);
		cow = 0;
	}
	repl_store_set(srv, cow, method != NULL ? time(NULL) : 0);
	free(method);
	free(cause);
	return cow;
}

/* rsync, its data options (meta: REPL_META...; NULL: none), transport. */
static void
repl_common(struct repl_argv *a, const struct repl_self *self,
    const struct repl_server *srv, const char *meta)
{
	size_t i;

	repl_add(a, xstrdup(self->rsync));
	if (meta != NULL) {
		repl_add(a, xstrdup(meta));
		for (i = 0; repl_data_opts[i] != NULL; i++)
			repl_add(a, xstrdup(repl_data_opts[i]));
	}
	repl_add(a, xstrdup("-e"));
	repl_add(a, repl_rsh(self, srv));
}

/* -AX only if src has ACLs or xattrs (or cannot be read through). */
static const char *
repl_backup_meta(const char *src)
{
	struct timespec t0, t1;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = attrs_present(src);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0)
		log_warn("backup of %s: cannot tell whether it has ACLs or "
		    "extended attributes (%s): carrying them", src,
		    strerror(errno));
	else
		log_info("backup of %s: %s ACLs or extended attributes "
		    "(looked in %.2f s)", src, r ? "carrying" : "no",
		    ts_seconds(&t0, &t1));
	return r != 0 ? REPL_META_ATTRS : REPL_META;
}

static void
repl_backup_argv(struct repl_argv *a, const struct repl_self *self,
    const struct repl_server *srv, const char *volume, const char *src,
    int cow)
{
	char *rpath = xasprintf("%s/", volume);

	repl_common(a, self, srv, repl_backup_meta(src));
	/* The sender must know too: it then never matches a block the
	 * receiver has already overwritten. */
	if (cow) {
		repl_add(a, xstrdup("--inplace"));
		repl_add(a, xstrdup("--delete"));
	}
	/*
	 * rsync's quick check compares times in whole seconds: a file
	 * rewritten at the same size within the second of the last backup
	 * would be taken as unchanged and its change lost (e2e_triggers
	 * caught one). -1: nanoseconds too (servers keep them: rsync -t
	 * carries them, and ext4, XFS and btrfs store them).
	 */
	repl_add(a, xstrdup("--modify-window=-1"));
	/* zstd on the wire; rsync skips already-compressed file types. */
	repl_add(a, xstrdup("--compress-choice=zstd"));
	repl_add(a, xstrdup("--stats"));
	/* The whole file list first: an exact progress total, and (with
	 * -H) faster: 1.4 s instead of 2.4 s for an incremental backup of
	 * 30000 small files. */
	repl_add(a, xstrdup("--no-inc-recursive"));
	if (self->progress != NULL)
		repl_add(a, xstrdup("--info=progress2"));
	repl_add(a, xasprintf("%s/", src));
	repl_add(a, repl_remote(srv, rpath));
	free(rpath);
}

static int
repl_on_btrfs(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == BTRFS_SUPER_MAGIC;
}

static void
repl_restore_argv(struct repl_argv *a, const struct repl_self *self,
    const struct repl_server *srv, const char *source, const char *volume,
    const char *snapshot, const char *into)
{
	char *rpath = xasprintf("%s/%s/%s/", source, volume, snapshot);

	repl_common(a, self, srv, REPL_META_ATTRS);
	/*
	 * into is empty: written in place, a file needs no temporary name
	 * and rename. That pays on btrfs; on XFS it made a restore of 30000
	 * small files 1.6x slower (each file's preallocation trimmed at
	 * the end, it seems), and on ext4 it was no faster: measured with
	 * the page cache dropped, 2026-12-04.
	 */
	if (repl_on_btrfs(into))
		repl_add(a, xstrdup("--inplace"));
	repl_add(a, xstrdup("--compress-choice=zstd"));
	repl_add(a, xstrdup("--stats"));
	repl_add(a, xstrdup("--no-inc-recursive"));
	if (self->progress != NULL)
		repl_add(a, xstrdup("--info=progress2"));
	repl_add(a, repl_remote(srv, rpath));
	repl_add(a, xasprintf("%s/", into));
	free(rpath);
}

static char *
repl_join(const struct repl_argv *a)
{
	char *s = xstrdup(""), *tmp;
	size_t i;

	for (i = 0; i < a->n; i++) {
		tmp = s;
		s = xasprintf("%s%s%s", tmp, i > 0 ? " " : "", a->v[i]);
		free(tmp);
	}
	return s;
}

char *
repl_describe_backup(const struct repl_self *self,
    const struct repl_server *srv, const char *volume, const char *src)
{
	struct repl_argv a = { NULL, 0 };
	char *s;

	repl_backup_argv(&a, self, srv, volume, src,
	    repl_store_cached(srv) == 1);
	s = repl_join(&a);
	repl_argv_free(&a);
	return s;
}

char *
repl_describe_restore(const struct repl_self *self,
    const struct repl_server *srv, const char *source, const char *volume,
    const char *snapshot, const char *into)
{
	struct repl_argv a = { NULL, 0 };
	char *s;

	repl_restore_argv(&a, self, srv, source, volume, snapshot, into);
	s = repl_join(&a);
	repl_argv_free(&a);
	return s;
}

/* The pipe whose read end carries the key material to the transport. */
static int
repl_secrets(const struct repl_self *self, const struct repl_server *srv)
{
	json_t *doc;
	char *text;
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	doc = json_pack("{s:s, s:s, s:s}", "private", self->private_key,
	    "host_key", srv->host_key, "server", srv->name);
	if (self->dead_seconds > 0)
		json_object_set_new(doc, "dead_seconds",
		    json_integer(self->dead_seconds));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	/* Far below the pipe's capacity, so this never blocks. */
	if (text == NULL || write_all(p[1], text, strlen(text)) != 0) {
		close(p[0]);
		close(p[1]);
		p[0] = -1;
	} else
		close(p[1]);
	if (text != NULL) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	return p[0];
}

static uint64_t
repl_stat(const char *out, const char *label)
{
	const char *p = strstr(out, label);
	uint64_t v = 0;

	if (p == NULL)
		return 0;
	for (p += strlen(label); *p == ' '; p++)
		;
	for (; *p != '\0' && *p != '\n'; p++) {
		if (*p >= '0' && *p <= '9')
			v = v * 10 + (uint64_t)(*p - '0');
		else if (*p != ',')
			break;
	}
	return v;
}

/*
 * Appends what fd has into *buf, keeping at most cap bytes: when full, the
 * oldest half goes (progress lines come first; the --stats rsync prints
 * at the end must survive). 1 at EOF.
 */
static int
repl_drain(int fd, char **buf, size_t *len, size_t cap)
{
	char tmp[8192];
	size_t keep, take;
	ssize_t n;

	n = read(fd, tmp, sizeof tmp);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	if (n == 0)
		return 1;
	if (*len + (size_t)n > cap) {
		keep = cap / 2;
		if (*len > keep) {
			memmove(*buf, *buf + *len - keep, keep);
			*len = keep;
		}
	}
	take = (size_t)n < cap - *len ? (size_t)n : cap - *len;
	*buf = xreallocarray(*buf, *len + take + 1, 1);
	memcpy(*buf + *len, tmp, take);
	*len += take;
	(*buf)[*len] = '\0';
	return 0;
}

/* Parses one --info=progress2 line; 0 if it is one. */
static int
repl_progress_line(const char *start, const char *end, int *pct,
    uint64_t *bytes, uint64_t *files)
{
	const char *p = start;

	*bytes = *files = 0;
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && ((*p >= '0' && *p <= '9') || *p == ','); p++) {
		if (*p != ',')
			*bytes = *bytes * 10 + (uint64_t)(*p - '0');
	}
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p < '0' || *p > '9')
		return -1;
	for (*pct = 0; p < end && *p >= '0' && *p <= '9'; p++)
		*pct = *pct * 10 + (*p - '0');
	if (p == end || *p != '%' || *pct > 100)
		return -1;
	p = memmem(start, (size_t)(end - start), "xfr#", 4);
	if (p != NULL)
		*files = strtoull(p + 4, NULL, 10);
	return 0;
}

/*
 * Reports the newest complete --info=progress2 line of rsync's stdout
 * ("\r  1,234,567  45%  1.2MB/s  0:00:03 (xfr#5, to-chk=10/20)"; each
 * update starts with '\r', the statistics follow after '\n').
 */
static void
repl_progress(const struct repl_self *self, const char *buf, size_t len)
{
	const char *end = buf + len, *start;
	uint64_t bytes, files;
	int pct, lines;

	for (lines = 0; lines < 64; lines++) {
		while (end > buf && end[-1] != '\r' && end[-1] != '\n')
			end--;
		if (end == buf)
			return;
		end--;		/* at the terminator */
		start = end;
		while (start > buf && start[-1] != '\r' && start[-1] != '\n')
			start--;
		if (repl_progress_line(start, end, &pct, &bytes, &files) == 0) {
			self->progress(self->progress_arg, pct, bytes, files);
			return;
		}
		end = start;
	}
}

/* Runs argv; fills res; *out gets stdout (caller frees). */
static int
repl_run(const struct repl_self *self, const struct repl_server *srv,
    char *const argv[], const struct repl_ahead *ahead,
    struct repl_result *res, char **out)
{
	struct prefetch *pf = NULL;
	struct timespec t0, t1, tp, last = { 0, 0 };
	struct pollfd pfd[2];
	struct child sp;
	char *obuf = NULL, *ebuf = NULL, *cause = NULL;
	size_t olen = 0, elen = 0;
	int sfd, oeof = 0, eeof = 0;

	memset(res, 0, sizeof *res);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sfd = repl_secrets(self, srv);
	if (sfd < 0) {
		res->status = 255;
		res->error = xasprintf("cannot pass the key to the transport: "
		    "%s", strerror(errno));
		return -1;
	}
	if (child_start(self->rsync, argv, child_clean_env, "/", sfd,
	    REPL_SECRETS_FD, &sp, &cause) != 0) {
		close(sfd);
		res->status = 255;
		res->error = cause;
		return -1;
	}
	close(sfd);
	close(sp.in);
	sp.in = -1;
	if (ahead != NULL)
		pf = prefetch_start(ahead->dir, sp.pid, ahead->since,
		    PREFETCH_DATA);
	while (!oeof || !eeof) {
		pfd[0].fd = oeof ? -1 : sp.out;
		pfd[0].events = POLLIN;
		pfd[1].fd = eeof ? -1 : sp.err;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (!oeof && pfd[0].revents != 0) {
			oeof = repl_drain(sp.out, &obuf, &olen,
			    REPL_OUTPUT_MAX);
			clock_gettime(CLOCK_MONOTONIC, &tp);
			if (self->progress != NULL && obuf != NULL &&
			    (tp.tv_sec - last.tv_sec) * 1000 + (tp.tv_nsec -
			    last.tv_nsec) / 1000000 >= REPL_PROGRESS_MS) {
				repl_progress(self, obuf, olen);
				last = tp;
			}
		}
		if (!eeof && pfd[1].revents != 0)
			eeof = repl_drain(sp.err, &ebuf, &elen,
			    REPL_ERROR_MAX);
		/* Not once rsync is closing its output: the end is near. */
		if (!oeof && !eeof) {
			struct timespec pause = { 0,
			    REPL_READ_PAUSE_MS * 1000000L };

			nanosleep(&pause, NULL);
		}
	}
	/* The last word: a fast transfer may end within REPL_PROGRESS_MS. */
	if (self->progress != NULL && obuf != NULL)
		repl_progress(self, obuf, olen);
	child_close(&sp);
	res->status = child_wait(&sp);
	prefetch_stop(pf);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->seconds = ts_seconds(&t0, &t1);
	if (obuf == NULL)
		obuf = xstrdup("");
	res->bytes_sent = repl_stat(obuf, "Total bytes sent:");
	res->bytes_received = repl_stat(obuf, "Total bytes received:");
	res->files = repl_stat(obuf, "Number of regular files transferred:");
	/* The transport failed (not rsync): say so with 255. */
	if (res->status != 0 && ebuf != NULL &&
	    strstr(ebuf, "privateer transport: ") != NULL)
		res->status = 255;
	if (res->status != 0) {
		/* rsync's own words, without its trailing blank lines. */
		while (elen > 0 && (ebuf[elen - 1] == '\n' ||
		    ebuf[elen - 1] == ' '))
			ebuf[--elen] = '\0';
		res->error = ebuf != NULL && *ebuf != '\0' ? ebuf :
		    xasprintf("rsync exited with status %d", res->status);
		if (res->error != ebuf)
			free(ebuf);
		ebuf = NULL;
	}
	free(ebuf);
	if (out != NULL)
		*out = obuf;
	else
		free(obuf);
	return res->status == 0 ? 0 : -1;
}

int
repl_backup(const struct repl_self *self, const struct repl_server *srv,
    const char *volume, const char *src, struct repl_result *res)
{
	struct repl_argv a = { NULL, 0 };
	struct repl_ahead ahead;
	time_t started;
	int rc;

	repl_backup_argv(&a, self, srv, volume, src,
	    repl_store_cow(self, srv));
	ahead.dir = src;
	ahead.since = repl_last_backup(srv, src);
	started = time(NULL);
	rc = repl_run(self, srv, a.v, &ahead, res, NULL);
	repl_argv_free(&a);
	/* Ask again next time: the server may have moved its store. */
	if (rc != 0)
		repl_store_forget(srv);
	else
		repl_last_backup_set(srv, src, started);
	return rc;
}

int
repl_restore(const struct repl_self *self, const struct repl_server *srv,
    const char *source, const char *volume, const char *snapshot,
    const char *into, struct repl_result *res)
{
	struct repl_argv a = { NULL, 0 };
	struct timespec t0, t1;
	struct flusher fl;
	int rc, dfd;

	repl_restore_argv(&a, self, srv, source, volume, snapshot, into);
	/*
	 * A restored volume is on disk before it is handed over; written
	 * back while rsync writes, the final syncfs finds little left.
	 */
	dfd = open(into, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		memset(res, 0, sizeof *res);
		res->status = 1;
		res->error = xasprintf("%s: %s", into, strerror(errno));
		repl_argv_free(&a);
		return -1;
	}
	flusher_start(&fl, dfd);
	rc = repl_run(self, srv, a.v, NULL, res, NULL);
	flusher_stop(&fl);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (rc == 0 && syncfs(dfd) != 0) {
		res->status = 1;
		res->error = xasprintf("writing the restored files to disk: "
		    "%s", strerror(errno));
		rc = -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->sync_seconds = ts_seconds(&t0, &t1);
	res->seconds += res->sync_seconds;
	close(dfd);
	repl_argv_free(&a);
	return rc;
}

static int
repl_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
repl_list(const struct repl_self *self, const struct repl_server *srv,
    const char *source, const char *volume, char ***idsp, size_t *np,
    struct repl_result *res)
{
	struct repl_argv a = { NULL, 0 };
	char *out = NULL, *rpath, *line, *save = NULL, *name, **ids = NULL;
	size_t n = 0;
	int rc;

	*idsp = NULL;
	*np = 0;
	repl_common(&a, self, srv, NULL);
	repl_add(&a, xstrdup("--list-only"));
	repl_add(&a, xstrdup(REPL_TIMEOUT));
	rpath = xasprintf("%s/%s/", source, volume);
	repl_add(&a, repl_remote(srv, rpath));
	free(rpath);
	rc = repl_run(self, srv, a.v, NULL, res, &out);
	repl_argv_free(&a);
	if (rc != 0) {
		free(out);
		return -1;
	}
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		/* "drwx------  4,096 2026/11/22 05:50:01 20261122T055001Z" */
		if (line[0] != 'd')
			continue;
		name = strrchr(line, ' ');
		if (name == NULL)
			continue;
		name++;
		if (strlen(name) != 16 || name[8] != 'T' || name[15] != 'Z')
			continue;
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		ids[n++] = xstrdup(name);
	}
	free(out);
	if (n > 0)
		qsort(ids, n, sizeof *ids, repl_cmp);
	*idsp = ids;
	*np = n;
	return 0;
}

int
repl_probe(const struct repl_self *self, const struct repl_server *srv,
    struct repl_result *res)
{
	struct repl_argv a = { NULL, 0 };
	char tmpl[] = "/tmp/privateer-probe.XXXXXX", *dir;
	int rc;

	dir = mkdtemp(tmpl);
	if (dir == NULL) {
		memset(res, 0, sizeof *res);
		res->status = 255;
		res->error = xasprintf("mkdtemp: %s", strerror(errno));
		return -1;
	}
	repl_common(&a, self, srv, NULL);
	repl_add(&a, xstrdup("-rlptgo"));
	repl_add(&a, xstrdup("--dry-run"));
	repl_add(&a, xstrdup(REPL_TIMEOUT));
	repl_add(&a, xasprintf("%s/", dir));
	repl_add(&a, repl_remote(srv, "privateer-probe/"));
	rc = repl_run(self, srv, a.v, NULL, res, NULL);
	repl_argv_free(&a);
	rmdir(dir);
	return rc;
}

int
repl_export_start(const struct repl_self *self, const struct repl_server *srv,
    const char *source, const char *volume, const char *snapshot,
    const char *compress, struct child *out, char **cause)
{
	struct repl_argv a = { NULL, 0 };
	int sfd, rc;

	sfd = repl_secrets(self, srv);
	if (sfd < 0) {
		set_cause(cause, "cannot pass the key to the transport: %s",
		    strerror(errno));
		return -1;
	}
	repl_transport_argv(&a, self, srv, xasprintf("privateer-export %s %s "
	    "%s %s", source, volume, snapshot, compress));
	rc = child_start(self->exe, a.v, child_clean_env, NULL, sfd,
	    REPL_SECRETS_FD, out, cause);
	close(sfd);
	repl_argv_free(&a);
	if (rc != 0)
		return -1;
	/* Nothing goes to the server: its stdin ends now. */
	close(out->in);
	out->in = -1;
	return 0;
}

int
repl_verify(const struct repl_self *self, const struct repl_server *srv,
    const char *source, const char *volume, const char *which, int manifest,
    size_t cap, char **out, int *status, char **cause)
{
	struct repl_argv a = { NULL, 0 };
	struct child sp;
	char *err = NULL;
	int sfd;

	*out = NULL;
	sfd = repl_secrets(self, srv);
	if (sfd < 0) {
		set_cause(cause, "cannot pass the key to the transport: %s",
		    strerror(errno));
		return -1;
	}
	repl_transport_argv(&a, self, srv, xasprintf(RSYNC_VERIFY_COMMAND
	    " %s %s %s%s", source, volume, which, manifest ? " manifest" :
	    ""));
	*status = child_start(self->exe, a.v, child_clean_env, NULL, sfd,
	    REPL_SECRETS_FD, &sp, cause);
	close(sfd);
	repl_argv_free(&a);
	if (*status != 0)
		return -1;
	close(sp.in);
	sp.in = -1;
	*out = child_read_all(sp.out, cap);
	err = child_read_all(sp.err, REPL_ERROR_MAX);
	*status = child_wait(&sp);
	child_close(&sp);
	if (*status != 0 && *status != 1) {
		set_cause(cause, "%s", err != NULL && *err != '\0' ? err :
		    "the server did not answer");
		free(*out);
		*out = NULL;
		free(err);
		return -1;
	}
	free(err);
	if (*out == NULL)
		*out = xstrdup("");
	return 0;
}

/* The transport run directly, with command (taken) as the exec request. */
static void
repl_transport_argv(struct repl_argv *a, const struct repl_self *self,
    const struct repl_server *srv, char *command)
{
	repl_add(a, xstrdup(self->exe));
	repl_add(a, xstrdup("transport"));
	repl_add(a, xstrdup("--secrets-fd"));
	repl_add(a, xasprintf("%d", REPL_SECRETS_FD));
	repl_add(a, xstrdup("--port"));
	repl_add(a, xasprintf("%d", srv->port));
	repl_add(a, xstrdup(srv->hostname));
	repl_add(a, command);
}
