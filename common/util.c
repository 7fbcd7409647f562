/*
 * util: allocation wrappers, formatted strings and small file helpers shared
 * by every module. Nothing here knows about Docker or volumes.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("privateer: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* Not exit(): its handlers (OpenSSL's cleanup) would pull what other
	 * threads use from under them, and turn this into a crash. */
	fflush(NULL);
	_exit(1);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		fatal("allocation overflow (%zu x %zu)", n, size);
	p = realloc(old, n * size == 0 ? 1 : n * size);
	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("out of memory");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		fatal("out of memory");
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory");
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	*cause = xvasprintf(fmt, ap);
	va_end(ap);
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fsync_dir(const char *path)
{
	int fd, r, saved;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

char *
read_file_capped(const char *path, size_t cap, size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0, size = 0;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	for (;;) {
		if (len == size) {
			if (size > cap) {
				errno = EFBIG;
				goto fail;
			}
			size = size == 0 ? 4096 : size * 2;
			buf = xreallocarray(buf, size + 1, 1);
		}
		n = read(fd, buf + len, size - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > cap) {
		errno = EFBIG;
		goto fail;
	}
	close(fd);
	if (buf == NULL)
		buf = xmalloc(1);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;

fail:
	saved = errno;
	close(fd);
	free(buf);
	errno = saved;
	return NULL;
}

int
write_file_new(const char *path, const void *data, size_t len, mode_t mode,
    char **cause)
{
	char *dircopy;
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0) {
		set_cause(cause, "creating %s: %s", path, strerror(errno));
		return -1;
	}
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		set_cause(cause, "writing %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) != 0) {
		set_cause(cause, "writing %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	dircopy = xstrdup(path);
	rc = fsync_dir(dirname(dircopy));
	if (rc != 0) {
		set_cause(cause, "syncing the directory of %s: %s", path,
		    strerror(errno));
		unlink(path);
	}
	free(dircopy);
	return rc;
}

int
write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
    char **cause)
{
	char *tmp, *dircopy = NULL, suffix[17];
	int fd, rc = -1;

	random_hex(suffix, 16);
	tmp = xasprintf("%s.tmp-%s", path, suffix);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0) {
		set_cause(cause, "creating %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		set_cause(cause, "writing %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		set_cause(cause, "writing %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) != 0) {
		set_cause(cause, "renaming %s to %s: %s", tmp, path,
		    strerror(errno));
		goto out;
	}
	dircopy = xstrdup(path);
	if (fsync_dir(dirname(dircopy)) != 0) {
		set_cause(cause, "syncing the directory of %s: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	free(dircopy);
	return rc;
}

static int
remove_tree_entry(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int
remove_tree(const char *path, char **cause)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		set_cause(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* FTW_MOUNT: a volume still bind-mounted somewhere is never emptied. */
	if (nftw(path, remove_tree_entry, 32,
	    FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0) {
		set_cause(cause, "removing %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

char *
utf8_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xmalloc(strlen(s) + 1), *o = out;
	size_t need, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			*o++ = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			need = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			need = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			need = 3;
		else
			need = 0;
		for (i = 1; need > 0 && i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				need = 0;
		}
		if (need == 0) {
			*o++ = '?';
			p++;
			continue;
		}
		memcpy(o, p, need + 1);
		o += need + 1;
		p += need + 1;
	}
	*o = '\0';
	return out;
}

char *
utf8_clip(const char *s, size_t max)
{
	char *out = utf8_clean(s);
	size_t len = strlen(out);

	if (len > max) {
		len = max;
		/* back off continuation bytes to a character's start */
		while (len > 0 && ((unsigned char)out[len] & 0xc0) == 0x80)
			len--;
		out[len] = '\0';
	}
	return out;
}

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
ts_seconds(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) +
	    (double)(t1->tv_nsec - t0->tv_nsec) / 1e9;
}

time_t
now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

void
random_hex(char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t i;

	if (n > sizeof raw * 2)
		fatal("random_hex: %zu digits is too many", n);
	if (getrandom(raw, (n + 1) / 2, 0) != (ssize_t)((n + 1) / 2))
		fatal("getrandom failed: %s", strerror(errno));
	for (i = 0; i < n; i++)
		buf[i] = hex[(raw[i / 2] >> ((i % 2) * 4)) & 0xf];
	buf[n] = '\0';
}
