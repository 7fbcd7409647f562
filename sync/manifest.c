/*
 * manifest: one walk per snapshot, entries sorted by name within each
 * directory, so the same tree always gives the same file. Lookups by path
 * (reuse, unexpected entries) go through a copy of the entries sorted by
 * path. Checking opens every path with openat2(RESOLVE_NO_SYMLINKS |
 * RESOLVE_BENEATH): a directory replaced by a symlink is reported, never
 * followed out of the tree.
 */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "util.h"

#define MANIFEST_HEADER "privateer-manifest 1 "
#define MANIFEST_DEPTH_MAX 256
#define MANIFEST_HASH_HEX 64

struct manifest_entry {
	char *path;
	char type;
	unsigned mode;
	unsigned long uid, gid;
	unsigned long long size;
	long long mtime_s;
	long mtime_ns;
	char hash[MANIFEST_HASH_HEX + 1];	/* "" when none */
	char *target;
};

struct manifest {
	struct manifest_entry *e;
	size_t n, cap;
	struct manifest_entry **sorted;	/* by path */
};

struct manifest_buf {
	char *s;
	size_t len, cap;
};

static void
manifest_put(struct manifest_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap == 0 ? 65536 : b->cap * 2;
		b->s = xreallocarray(b->s, b->cap, 1);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
manifest_put_escaped(struct manifest_buf *b, const char *s)
{
	char hex[4];

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == '%' || c == 0x7f) {
			snprintf(hex, sizeof hex, "%%%02X", c);
			manifest_put(b, hex, 3);
		} else
			manifest_put(b, s, 1);
	}
}

static char *
manifest_unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out, hex[3];
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n) {
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			*o++ = (char)strtoul(hex, NULL, 16);
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
}

char *
manifest_path(const char *root, const char *client, const char *volume,
    const char *id)
{
	return xasprintf("%s/" MANIFEST_DIR "/%s/%s/%s", root, client, volume,
	    id);
}

/* openat2 beneath dfd without following any symlink; -1 and errno. */
static int
manifest_open(int dfd, const char *path, int flags)
{
	struct open_how how;

	memset(&how, 0, sizeof how);
	how.flags = (unsigned long long)(flags | O_NOFOLLOW | O_CLOEXEC);
	how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH |
	    RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dfd, path, &how, sizeof how);
}

/* SHA-256 of what fd reads, as hex; 0 or -1 (errno). */
static int
manifest_hash_fd(int fd, char out[MANIFEST_HASH_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE], *buf;
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;
	ssize_t r;
	int rc = -1;

	ctx = EVP_MD_CTX_new();
	buf = xmalloc(1 << 20);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		fatal("out of memory");
	for (;;) {
		r = read(fd, buf, 1 << 20);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)r);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (i = 0; i < mdlen && i < MANIFEST_HASH_HEX / 2; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * i] = '\0';
	rc = 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static char
manifest_type(mode_t m)
{
	if (S_ISREG(m))
		return 'f';
	if (S_ISDIR(m))
		return 'd';
	if (S_ISLNK(m))
		return 'l';
	if (S_ISFIFO(m))
		return 'p';
	if (S_ISSOCK(m))
		return 's';
	if (S_ISCHR(m))
		return 'c';
	return 'b';
}

static int
manifest_cmp_sorted(const void *a, const void *b)
{
	const struct manifest_entry *const *x = a, *const *y = b;

	return strcmp((*x)->path, (*y)->path);
}

static void
manifest_index(struct manifest *m)
{
	size_t i;

	free(m->sorted);
	m->sorted = xcalloc(m->n + 1, sizeof *m->sorted);
	for (i = 0; i < m->n; i++)
		m->sorted[i] = &m->e[i];
	if (m->n > 1)
		qsort(m->sorted, m->n, sizeof *m->sorted, manifest_cmp_sorted);
}

static const struct manifest_entry *
manifest_find(const struct manifest *m, const char *path)
{
	struct manifest_entry key, *kp = &key, **hit;

	if (m == NULL || m->sorted == NULL || m->n == 0)
		return NULL;
	key.path = (char *)path;
	hit = bsearch(&kp, m->sorted, m->n, sizeof *m->sorted,
	    manifest_cmp_sorted);
	return hit != NULL ? *hit : NULL;
}

/* ---- walking a tree ---- */

typedef int manifest_walk_fn(void *arg, int dfd, const char *name,
    const char *path, const struct stat *st);

static int
manifest_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Calls fn for every entry below the directory dfd (path is its relative
 * name, "" for the root), parents first, names sorted; descends into
 * directories. 0 or -1 (errno) if dfd cannot be read.
 */
static int
manifest_walk(int dfd, const char *path, int depth, manifest_walk_fn *fn,
    void *arg)
{
	struct dirent *de;
	struct stat st;
	char **names = NULL, *rel;
	size_t n = 0, cap = 0, i;
	int fd, sub;
	DIR *d;

	fd = dup(dfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			names = xreallocarray(names, cap, sizeof *names);
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, manifest_cmp_names);
	for (i = 0; i < n; i++) {
		rel = *path == '\0' ? xstrdup(names[i]) :
		    xasprintf("%s/%s", path, names[i]);
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    fn(arg, dfd, names[i], rel, &st) == 1 &&
		    S_ISDIR(st.st_mode) && depth < MANIFEST_DEPTH_MAX) {
			sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				(void)manifest_walk(sub, rel, depth + 1, fn,
				    arg);
				close(sub);
			}
		}
		free(rel);
		free(names[i]);
	}
	free(names);
	return 0;
}

/* ---- building ---- */

struct manifest_builder {
	struct manifest_buf out;
	const struct manifest *prev;
	unsigned long long hashed, reused;
};

static void
manifest_line(struct manifest_buf *b, const char *path, const struct stat *st,
    const char *hash, const char *target)
{
	char head[160];
	int k;

	k = snprintf(head, sizeof head, "%c %o %lu %lu %llu %lld.%09ld %s ",
	    manifest_type(st->st_mode), (unsigned)(st->st_mode & 07777),
	    (unsigned long)st->st_uid, (unsigned long)st->st_gid,
	    S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ?
	    (unsigned long long)st->st_size : 0ULL,
	    (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
	    hash != NULL && *hash != '\0' ? hash : "-");
	manifest_put(b, head, (size_t)k);
	manifest_put_escaped(b, path);
	if (target != NULL) {
		manifest_put(b, " ", 1);
		manifest_put_escaped(b, target);
	}
	manifest_put(b, "\n", 1);
}

static int
manifest_build_one(void *arg, int dfd, const char *name, const char *path,
    const struct stat *st)
{
	struct manifest_builder *mb = arg;
	const struct manifest_entry *old;
	char hash[MANIFEST_HASH_HEX + 1] = "", target[4097];
	ssize_t k;
	int fd;

	if (S_ISREG(st->st_mode)) {
		old = manifest_find(mb->prev, path);
		if (old != NULL && old->type == 'f' && *old->hash != '\0' &&
		    old->size == (unsigned long long)st->st_size &&
		    old->mtime_s == (long long)st->st_mtim.tv_sec &&
		    old->mtime_ns == st->st_mtim.tv_nsec &&
		    old->mode == (unsigned)(st->st_mode & 07777) &&
		    old->uid == (unsigned long)st->st_uid &&
		    old->gid == (unsigned long)st->st_gid) {
			/* What rsync left alone: the same content. */
			memcpy(hash, old->hash, sizeof hash);
			mb->reused++;
		} else {
			fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW |
			    O_CLOEXEC);
			if (fd < 0 || manifest_hash_fd(fd, hash) != 0)
				snprintf(hash, sizeof hash, "unreadable");
			if (fd >= 0)
				close(fd);
			mb->hashed++;
		}
		manifest_line(&mb->out, path, st, hash, NULL);
	} else if (S_ISLNK(st->st_mode)) {
		k = readlinkat(dfd, name, target, sizeof target - 1);
		target[k < 0 ? 0 : k] = '\0';
		manifest_line(&mb->out, path, st, NULL, target);
	} else
		manifest_line(&mb->out, path, st, NULL, NULL);
	return 1;
}

/* The newest manifest of a snapshot older than id, or NULL. */
static struct manifest *
manifest_previous(const char *root, const char *client, const char *volume,
    const char *id)
{
	struct manifest *m = NULL;
	char **ids = NULL, *cause = NULL;
	size_t n = 0, i;

	if (snap_list(root, client, volume, &ids, &n, &cause) != 0) {
		free(cause);
		return NULL;
	}
	for (i = n; m == NULL && i > 0; i--) {
		if (strcmp(ids[i - 1], id) >= 0)
			continue;
		m = manifest_load(root, client, volume, ids[i - 1], &cause);
		free(cause);
		cause = NULL;
	}
	snap_list_free(ids, n);
	return m;
}

static int
manifest_mkdirs(const char *root, const char *client, const char *volume,
    char **cause)
{
	char *p[3];
	int i, rc = 0;

	p[0] = xasprintf("%s/" MANIFEST_DIR, root);
	p[1] = xasprintf("%s/%s", p[0], client);
	p[2] = xasprintf("%s/%s", p[1], volume);
	for (i = 0; i < 3; i++) {
		if (rc == 0 && mkdir(p[i], 0700) != 0 && errno != EEXIST) {
			set_cause(cause, "creating %s: %s", p[i],
			    strerror(errno));
			rc = -1;
		}
	}
	for (i = 0; i < 3; i++)
		free(p[i]);
	return rc;
}

int
manifest_build(const char *root, const char *client, const char *volume,
    const char *id, char **cause)
{
	struct manifest_builder mb;
	struct stat st;
	char *snap, *path = NULL, *head;
	int dfd = -1, rc = -1;

	memset(&mb, 0, sizeof mb);
	snap = xasprintf("%s/%s/%s/%s", root, client, volume, id);
	dfd = open(snap, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) != 0) {
		set_cause(cause, "snapshot %s/%s/%s: %s", client, volume, id,
		    strerror(errno));
		goto out;
	}
	if (manifest_mkdirs(root, client, volume, cause) != 0)
		goto out;
	mb.prev = manifest_previous(root, client, volume, id);
	head = xasprintf(MANIFEST_HEADER "%s\n", id);
	manifest_put(&mb.out, head, strlen(head));
	free(head);
	manifest_line(&mb.out, ".", &st, NULL, NULL);
	if (manifest_walk(dfd, "", 0, manifest_build_one, &mb) != 0) {
		set_cause(cause, "reading %s: %s", snap, strerror(errno));
		goto out;
	}
	path = manifest_path(root, client, volume, id);
	if (write_file_atomic(path, mb.out.s, mb.out.len, 0600, cause) != 0)
		goto out;
	log_info("manifest of %s/%s/%s: %llu file(s) hashed, %llu reused",
	    client, volume, id, mb.hashed, mb.reused);
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	manifest_free((struct manifest *)mb.prev);
	free(mb.out.s);
	free(path);
	free(snap);
	return rc;
}

int
manifest_update(const char *root, const char *client, const char *volume,
    char **cause)
{
	char **ids = NULL, *path, *dir;
	struct dirent *de;
	struct stat st;
	size_t n = 0, i;
	int rc = 0, keep;
	DIR *d;

	if (snap_list(root, client, volume, &ids, &n, cause) != 0)
		return -1;
	if (n > 0) {
		path = manifest_path(root, client, volume, ids[n - 1]);
		if (lstat(path, &st) != 0)
			rc = manifest_build(root, client, volume, ids[n - 1],
			    cause);
		free(path);
	}
	/* Manifests of pruned snapshots. */
	dir = xasprintf("%s/" MANIFEST_DIR "/%s/%s", root, client, volume);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			for (keep = 0, i = 0; i < n && !keep; i++)
				keep = strcmp(ids[i], de->d_name) == 0;
			if (!keep)
				(void)unlinkat(dirfd(d), de->d_name, 0);
		}
		closedir(d);
	}
	free(dir);
	snap_list_free(ids, n);
	return rc;
}

/* ---- reading ---- */

void
manifest_free(struct manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->e[i].path);
		free(m->e[i].target);
	}
	free(m->e);
	free(m->sorted);
	free(m);
}

size_t
manifest_entries(const struct manifest *m)
{
	return m->n;
}

/* One entry line (NUL-terminated, no newline); 0 or -1. */
static int
manifest_parse_line(char *line, struct manifest_entry *e)
{
	char *f[9], *save = NULL, *tok, *dot;
	int n = 0;

	memset(e, 0, sizeof *e);
	for (tok = strtok_r(line, " ", &save); tok != NULL && n < 9;
	    tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	if (n < 8 || strlen(f[0]) != 1 || strchr("fdlpscb", f[0][0]) == NULL)
		return -1;
	e->type = f[0][0];
	e->mode = (unsigned)strtoul(f[1], NULL, 8);
	e->uid = strtoul(f[2], NULL, 10);
	e->gid = strtoul(f[3], NULL, 10);
	e->size = strtoull(f[4], NULL, 10);
	e->mtime_s = strtoll(f[5], &dot, 10);
	e->mtime_ns = *dot == '.' ? strtol(dot + 1, NULL, 10) : 0;
	if (strcmp(f[6], "-") != 0)
		snprintf(e->hash, sizeof e->hash, "%s", f[6]);
	e->path = manifest_unescape(f[7], strlen(f[7]));
	if (n == 9)
		e->target = manifest_unescape(f[8], strlen(f[8]));
	return 0;
}

struct manifest *
manifest_parse(const char *text, size_t len, char **cause)
{
	struct manifest *m = xcalloc(1, sizeof *m);
	const char *p = text, *end = text + len, *nl;
	char *line;
	size_t lineno = 0;

	if (len < strlen(MANIFEST_HEADER) || strncmp(text, MANIFEST_HEADER,
	    strlen(MANIFEST_HEADER)) != 0) {
		set_cause(cause, "not a privateer manifest");
		manifest_free(m);
		return NULL;
	}
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		lineno++;
		if (lineno > 1 && nl > p) {
			if (m->n == m->cap) {
				m->cap = m->cap == 0 ? 256 : m->cap * 2;
				m->e = xreallocarray(m->e, m->cap, sizeof *m->e);
			}
			line = xstrndup(p, (size_t)(nl - p));
			if (manifest_parse_line(line, &m->e[m->n]) != 0) {
				set_cause(cause, "manifest line %zu is not an "
				    "entry", lineno);
				free(line);
				manifest_free(m);
				return NULL;
			}
			m->n++;
			free(line);
		}
		p = nl + 1;
	}
	manifest_index(m);
	return m;
}

struct manifest *
manifest_load(const char *root, const char *client, const char *volume,
    const char *id, char **cause)
{
	struct manifest *m;
	char *path, *text;
	size_t len;

	path = manifest_path(root, client, volume, id);
	text = read_file_capped(path, MANIFEST_MAX_BYTES, &len);
	if (text == NULL) {
		set_cause(cause, errno == ENOENT ? "no manifest for snapshot "
		    "%s (made before manifests were kept)" : "manifest of %s: "
		    "%s", id, strerror(errno));
		free(path);
		return NULL;
	}
	m = manifest_parse(text, len, cause);
	free(text);
	free(path);
	return m;
}

/* ---- checking ---- */

struct manifest_checker {
	const struct manifest *m;
	manifest_report_fn *report;
	void *arg;
	long problems;
};

static void
manifest_add(char *buf, size_t len, const char *what)
{
	size_t k = strlen(buf);

	snprintf(buf + k, len - k, "%s%s", k > 0 ? ", " : "", what);
}

/* Checks one entry; reports and returns 1 if it does not match. */
static int
manifest_check_entry(struct manifest_checker *c, int root,
    const struct manifest_entry *e, int flags)
{
	char detail[256] = "", hash[MANIFEST_HASH_HEX + 1], target[4097];
	unsigned long long size;
	struct stat st;
	const char *what = "changed", *want;
	ssize_t k;
	int fd;

	if (strcmp(e->path, ".") == 0)
		fd = dup(root);
	else
		fd = manifest_open(root, e->path, O_PATH);
	if (fd < 0 || fstat(fd, &st) != 0) {
		c->report(c->arg, "missing", e->path, errno == ELOOP ?
		    "a directory on its path is now a symlink" :
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (manifest_type(st.st_mode) != e->type)
		manifest_add(detail, sizeof detail, "type");
	else {
		if ((unsigned)(st.st_mode & 07777) != e->mode)
			manifest_add(detail, sizeof detail, "mode");
		if ((unsigned long)st.st_uid != e->uid ||
		    (unsigned long)st.st_gid != e->gid)
			manifest_add(detail, sizeof detail, "owner");
		want = e->target != NULL ? e->target : "";
		size = e->size;
		if (e->type == 'l' && (flags & MANIFEST_CHECK_UNMUNGE) &&
		    strncmp(want, MANIFEST_MUNGE_PREFIX,
		    strlen(MANIFEST_MUNGE_PREFIX)) == 0) {
			want += strlen(MANIFEST_MUNGE_PREFIX);
			size = strlen(want);
		}
		if ((e->type == 'f' || e->type == 'l') &&
		    (unsigned long long)st.st_size != size)
			manifest_add(detail, sizeof detail, "size");
		if ((e->type != 'd' || !(flags & MANIFEST_CHECK_NO_DIR_TIMES)) &&
		    e->type != 'l' && ((long long)st.st_mtim.tv_sec !=
		    e->mtime_s || st.st_mtim.tv_nsec != e->mtime_ns))
			manifest_add(detail, sizeof detail, "mtime");
		if (e->type == 'l') {
			k = readlinkat(fd, "", target, sizeof target - 1);
			target[k < 0 ? 0 : k] = '\0';
			if (strcmp(target, want) != 0)
				manifest_add(detail, sizeof detail, "target");
		}
		if (e->type == 'f' && *e->hash != '\0') {
			int rfd = manifest_open(root, e->path, O_RDONLY);

			if (rfd < 0 || manifest_hash_fd(rfd, hash) != 0) {
				manifest_add(detail, sizeof detail,
				    "unreadable");
				what = "damaged";
			} else if (strcmp(hash, e->hash) != 0) {
				manifest_add(detail, sizeof detail, "content");
				what = "damaged";
			}
			if (rfd >= 0)
				close(rfd);
		}
	}
	close(fd);
	if (*detail == '\0')
		return 0;
	c->report(c->arg, what, e->path, detail);
	return 1;
}

static int
manifest_check_extra(void *arg, int dfd, const char *name, const char *path,
    const struct stat *st)
{
	struct manifest_checker *c = arg;
	const struct manifest_entry *e = manifest_find(c->m, path);

	(void)dfd;
	(void)name;
	if (e == NULL) {
		c->report(c->arg, "unexpected", path, "not in the manifest");
		c->problems++;
		return 0;	/* what is below it is unexpected too */
	}
	/* Do not walk into what the manifest knows as something else. */
	return S_ISDIR(st->st_mode) && e->type == 'd';
}

long
manifest_check(const struct manifest *m, const char *dir, int flags,
    manifest_report_fn *report, void *arg, char **cause)
{
	struct manifest_checker c;
	size_t i;
	int root;

	root = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0) {
		set_cause(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	c.m = m;
	c.report = report;
	c.arg = arg;
	c.problems = 0;
	for (i = 0; i < m->n; i++)
		c.problems += manifest_check_entry(&c, root, &m->e[i], flags);
	(void)manifest_walk(root, "", 0, manifest_check_extra, &c);
	close(root);
	return c.problems;
}

/* ---- verifying kept snapshots ---- */

struct manifest_printer {
	FILE *out;
	const char *prefix;
};

static void
manifest_print(void *arg, const char *what, const char *path,
    const char *detail)
{
	struct manifest_printer *p = arg;
	char *clean = utf8_clean(path);

	fprintf(p->out, "%s: %s: %s (%s)\n", p->prefix, what, clean, detail);
	free(clean);
}

long
manifest_verify(const char *root, const char *client, const char *volume,
    const char *which, FILE *out, char **cause)
{
	struct manifest_printer pr;
	struct manifest *m;
	char **ids = NULL, *dir, *prefix, *why = NULL;
	size_t n = 0, i, from;
	long problems = 0, k;

	if (snap_list(root, client, volume, &ids, &n, cause) != 0)
		return -1;
	if (n == 0) {
		set_cause(cause, "%s has no snapshots of %s here", client,
		    volume);
		snap_list_free(ids, n);
		return -1;
	}
	if (strcmp(which, "all") == 0)
		from = 0;
	else if (strcmp(which, "latest") == 0)
		from = n - 1;
	else {
		for (from = 0; from < n && strcmp(ids[from], which) != 0;
		    from++)
			;
		if (from == n) {
			set_cause(cause, "no snapshot %s of %s/%s", which,
			    client, volume);
			snap_list_free(ids, n);
			return -1;
		}
	}
	for (i = from; i < n; i++) {
		if (strcmp(which, "all") != 0 && i != from)
			break;
		prefix = xasprintf("%s/%s/%s", client, volume, ids[i]);
		m = manifest_load(root, client, volume, ids[i], &why);
		if (m == NULL) {
			fprintf(out, "%s: not checked: %s\n", prefix, why);
			free(why);
			why = NULL;
			free(prefix);
			continue;
		}
		dir = xasprintf("%s/%s/%s/%s", root, client, volume, ids[i]);
		pr.out = out;
		pr.prefix = prefix;
		k = manifest_check(m, dir, 0, manifest_print, &pr, &why);
		if (k < 0) {
			fprintf(out, "%s: missing: the snapshot (%s)\n", prefix,
			    why);
			free(why);
			why = NULL;
			k = 1;
		} else if (k == 0)
			fprintf(out, "%s: ok (%zu entries)\n", prefix,
			    manifest_entries(m));
		else
			fprintf(out, "%s: %ld problem(s)\n", prefix, k);
		problems += k;
		manifest_free(m);
		free(dir);
		free(prefix);
	}
	snap_list_free(ids, n);
	return problems;
}
