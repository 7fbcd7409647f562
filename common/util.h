/*
 * util: allocation that cannot fail (out of memory is fatal), formatted
 * strings, and the few file helpers every module needs (write-all, fsync of
 * a directory, reading a file with a size cap).
 */
#ifndef PRIVATEER_UTIL_H
#define PRIVATEER_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))

/* Abort with a message; only for start-up failures and broken invariants. */
_Noreturn void fatal(const char *fmt, ...) PRINTFLIKE(1, 2);

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
/* Caller frees. */
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
char *xasprintf(const char *fmt, ...) PRINTFLIKE(1, 2);
char *xvasprintf(const char *fmt, va_list);

/* Sets *cause (caller frees) to a formatted message, if cause is not NULL. */
void set_cause(char **cause, const char *fmt, ...) PRINTFLIKE(2, 3);

/* Writes all of buf, retrying on EINTR and short writes; 0 or -1 (errno). */
int write_all(int fd, const void *buf, size_t len);
/* fsync() the directory at path; 0 or -1 (errno). */
int fsync_dir(const char *path);
/*
 * Reads at most cap bytes of path into a NUL-terminated buffer (caller
 * frees); a larger file is an error (errno EFBIG). NULL and errno on error.
 */
char *read_file_capped(const char *path, size_t cap, size_t *len);
/*
 * Writes a new file path (which must not exist) with len bytes durably:
 * written in place, fsync, fsync of its directory. For a file in a
 * directory nobody else sees yet, where write_file_atomic's rename would
 * cost another journal commit for nothing. A failure removes what it made.
 */
int write_file_new(const char *path, const void *data, size_t len,
    mode_t mode, char **cause);
/*
 * Replaces path with data atomically and durably: a temporary file in the
 * same directory (mode), fsync, rename, fsync of the directory. A crash
 * leaves the old or the new contents. 0, or -1 with *cause.
 */
int write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode, char **cause);
/* Removes path and everything under it without following symlinks or
 * crossing into other file systems; 0 or -1 with *cause. */
int remove_tree(const char *path, char **cause);
/*
 * A copy of s in which every byte that is not part of valid UTF-8, and
 * every control character, is replaced by '?': safe for JSON and logs.
 * Caller frees.
 */
char *utf8_clean(const char *s);
/* utf8_clean(s) cut to at most max bytes on a character boundary. */
char *utf8_clip(const char *s, size_t max);
/* Wall-clock time in milliseconds since the epoch. */
long long now_ms(void);
/* Seconds from t0 to t1 (struct timespec, any clock). */
struct timespec;
double ts_seconds(const struct timespec *t0, const struct timespec *t1);
/*
 * CLOCK_REALTIME in seconds: the clock pthread_cond_timedwait waits on.
 * time() may read a coarse clock that lags it.
 */
time_t now_realtime(void);
/* Fills buf with n random lowercase hex digits and a NUL (buf has n+1). */
void random_hex(char *buf, size_t n);

#endif
