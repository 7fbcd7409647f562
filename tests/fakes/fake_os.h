/*
 * fake_os: an in-memory struct vol_os for the unit tests. Nothing is really
 * mounted: bind creates the mount point directory and remembers it as
 * mounted, unbind forgets it and removes the directory, and mounted answers
 * from that memory. The memory outlives vol_close(), so a test can reopen a
 * registry and say which mounts "survived". Calls are counted and a bind or
 * unbind failure can be injected. write_file really writes (atomically,
 * durably), and can be made to fail, or to wait until the test lets it go:
 * a "slow fsync" that the test controls. With crash_steps set, it writes
 * step by step instead — create the temporary, write its first half, the
 * rest, fsync, rename, fsync the directory — counting the steps of every
 * call, and the crash_at'th step is where the process "dies": that step is
 * not done (a write done by half), the call fails, and from then on every
 * write_file fails without touching the disk, leaving it as a kill -9 at
 * that point would.
 */
#ifndef PRIVATEER_FAKE_OS_H
#define PRIVATEER_FAKE_OS_H

#include "volume.h"

#define FAKE_OS_MAX 64

struct fake_os_state {
	char *mounted[FAKE_OS_MAX];	/* mount points now "mounted" */
	char *source[FAKE_OS_MAX];	/* what each one shows */
	size_t nmounted;

	unsigned binds;			/* successful calls */
	unsigned unbinds;		/* calls that unmounted something */
	unsigned unbind_calls;		/* every call */
	char *last_bind_src;
	char *last_bind_dst;
	char *last_unbind;

	int fail_bind;			/* fail the next N binds */
	int fail_unbind;		/* fail the next N unbinds */

	unsigned writes;		/* write_file calls */
	int fail_write;			/* fail the next N writes */

	int crash_steps;		/* write step by step, counting */
	unsigned crash_at;		/* the step that "crashes" (0: none) */
	unsigned steps;			/* steps taken (or reached) so far */
	int crashed;			/* crash_at was reached */
};

extern struct fake_os_state fake_os_state;
extern const struct vol_os fake_os;

/* Forgets every mount and counter; frees what the fake holds. */
void fake_os_reset(void);
/* 1 if path is "mounted". */
int fake_os_is_mounted(const char *path);
/* Makes path "mounted" (showing src) or not, as if by another actor. */
void fake_os_set_mounted(const char *path, const char *src, int on);
/* The source path mounted on path, or NULL. */
const char *fake_os_source(const char *path);
/*
 * With on, every write_file waits before writing until the writes are
 * let go (on 0). Thread-safe.
 */
void fake_os_hold_writes(int on);
/* Waits up to ms milliseconds until n writes are held; 1 if they are. */
int fake_os_wait_held(unsigned n, int ms);
/* How many writes are held now. */
unsigned fake_os_held(void);

#endif
