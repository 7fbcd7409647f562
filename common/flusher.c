/* flusher: writeback that keeps pace with a writer (flusher.h). */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flusher.h"

static void *
flusher_main(void *arg)
{
	struct flusher *f = arg;
	struct timespec until;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		pthread_mutex_unlock(&f->lock);
		(void)syncfs(f->fd);
		pthread_mutex_lock(&f->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += FLUSHER_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!f->stop && pthread_cond_timedwait(&f->wake, &f->lock,
		    &until) == 0)
			;
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

void
flusher_start(struct flusher *f, int fd)
{
	memset(f, 0, sizeof *f);
	f->fd = fd;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	f->running = pthread_create(&f->thread, NULL, flusher_main, f) == 0;
	if (!f->running) {
		pthread_cond_destroy(&f->wake);
		pthread_mutex_destroy(&f->lock);
	}
}

void
flusher_stop(struct flusher *f)
{
	if (!f->running)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	f->running = 0;
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
}
