/*
 * ticker: a thread that calls fn(arg) every ms milliseconds (first at
 * once if at_start) until stopped; stopping wakes it at once and waits for
 * a call in progress. The flusher's syncs and the replication server's
 * voice during a commit are tickers.
 */
#ifndef PRIVATEER_TICKER_H
#define PRIVATEER_TICKER_H

#include <pthread.h>

struct ticker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	long ms;
	int at_start;
	void (*fn)(void *);
	void *arg;
	int stop;
	int running;
};

/* Starts it; 0, or -1 when no thread could be started (then nothing runs
 * and ticker_stop does nothing). */
int ticker_start(struct ticker *, long ms, int at_start, void (*fn)(void *),
    void *arg);
/* Stops it and waits for it; a second call does nothing. */
void ticker_stop(struct ticker *);

#endif
