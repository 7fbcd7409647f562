/*
 * prefetch: reading ahead of rsync. rsync reads one file at a time, and
 * on a cold page cache each small file is a disk round trip it waits for:
 * a restore of 30000 small files spent most of its time waiting on the
 * sender's reads. A thread that walks the same tree in rsync's order
 * (files of a directory by name, then its subdirectories) and asks the
 * kernel to read ahead (posix_fadvise WILLNEED) keeps the disk busy with
 * many requests at once, so rsync finds what it reads already in memory.
 *
 * Without PREFETCH_DATA only metadata is warmed (the walk's fstatat and
 * directory reads): what a receiver's or an incremental sender's pass over
 * unchanged files costs. With it, file contents too, at most a window of
 * bytes ahead of what the reader process has read (its rchar in
 * /proc/PID/io), so a large volume never floods the page cache; files
 * neither modified nor changed since `since` (0: all) are left alone,
 * since rsync's quick check will not read them.
 *
 * Everything is best effort: an error skips the entry, nothing is ever
 * written, and stopping is prompt.
 */
#ifndef PRIVATEER_PREFETCH_H
#define PRIVATEER_PREFETCH_H

#include <sys/types.h>
#include <time.h>

#define PREFETCH_DATA 1

struct prefetch;

/* Starts a thread walking root for reader (a pid; 0: no window). NULL if
 * no thread could be started (nothing to stop then). */
struct prefetch *prefetch_start(const char *root, pid_t reader,
    time_t since, int flags);
/* Stops it, waits for it and frees it. NULL does nothing. */
void prefetch_stop(struct prefetch *);

/* What a walk did, for tests and logs. */
struct prefetch_stats {
	unsigned long long files;	/* regular files seen */
	unsigned long long dirs;	/* directories read */
	unsigned long long advised;	/* files whose data was asked for */
	unsigned long long bytes;	/* bytes asked for */
	unsigned long long waits;	/* times it waited for the reader */
};
/* The walk's figures so far (safe while it runs). */
void prefetch_get_stats(struct prefetch *, struct prefetch_stats *);
/* Waits until the walk has ended by itself (for tests). */
void prefetch_wait(struct prefetch *);
/* The window: bytes ahead of the reader (default 64 MiB). For tests. */
void prefetch_set_window(unsigned long long bytes);

#endif
