/* flusher: writeback that keeps pace with a writer (flusher.h). */
#include <unistd.h>

#include "flusher.h"

static void
flusher_tick(void *arg)
{
	struct flusher *f = arg;

	(void)syncfs(f->fd);
}

void
flusher_start(struct flusher *f, int fd)
{
	f->fd = fd;
	(void)ticker_start(&f->ticker, FLUSHER_MS, 1, flusher_tick, f);
}

void
flusher_stop(struct flusher *f)
{
	ticker_stop(&f->ticker);
}
