/* ticker: a periodic call in a thread of its own (ticker.h). */
#include <string.h>
#include <time.h>

#include "ticker.h"

static void *
ticker_main(void *arg)
{
	struct ticker *t = arg;
	struct timespec until;
	int call = t->at_start;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		if (call) {
			pthread_mutex_unlock(&t->lock);
			t->fn(t->arg);
			pthread_mutex_lock(&t->lock);
		}
		call = 1;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += t->ms / 1000;
		until.tv_nsec += (t->ms % 1000) * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!t->stop && pthread_cond_timedwait(&t->wake, &t->lock,
		    &until) == 0)
			;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int
ticker_start(struct ticker *t, long ms, int at_start, void (*fn)(void *),
    void *arg)
{
	memset(t, 0, sizeof *t);
	t->ms = ms;
	t->at_start = at_start;
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	t->running = pthread_create(&t->thread, NULL, ticker_main, t) == 0;
	if (!t->running) {
		pthread_cond_destroy(&t->wake);
		pthread_mutex_destroy(&t->lock);
		return -1;
	}
	return 0;
}

void
ticker_stop(struct ticker *t)
{
	if (!t->running)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = 1;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	t->running = 0;
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
}
