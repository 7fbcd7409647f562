/*
 * flusher: writeback that keeps pace with a writer. Whatever must be on
 * disk before it is handed over (an import, a restore) pays the disk's
 * time after the writing's when one syncfs is left to the end. A thread
 * that syncs the filesystem every FLUSHER_MS while the writing goes on
 * lets the disk work at the same time, so the final syncfs, which the
 * caller still makes and checks, finds little left.
 */
#ifndef PRIVATEER_FLUSHER_H
#define PRIVATEER_FLUSHER_H

#include "ticker.h"

#define FLUSHER_MS 250

struct flusher {
	struct ticker ticker;
	int fd;			/* any descriptor on the filesystem */
};

/* Starts syncing fd's filesystem in the background; if no thread can be
 * started, the caller's final syncfs does it all. */
void flusher_start(struct flusher *, int fd);
/* Stops the thread; a second call does nothing. Errors of the background
 * syncs are not reported: they show in the caller's final syncfs. */
void flusher_stop(struct flusher *);

#endif
