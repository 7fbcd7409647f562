/*
 * notify_int: what notify.c (the queue, its thread, the state file) and
 * notify_episode.c (what changes of state are told) share. Functions
 * named *_locked are called with notify.lock held.
 */
#ifndef PRIVATEER_NOTIFY_INT_H
#define PRIVATEER_NOTIFY_INT_H

#include <jansson.h>
#include <pthread.h>

#include "notify.h"

#define NOTIFY_ATTEMPTS 3
#define NOTIFY_QUEUE_MAX 1000
#define NOTIFY_STATE_MAX (1024 * 1024)
/* A stale episode ended by a backup: "recovered@<its last_success>". */
#define NOTIFY_RECOVERED "recovered@"
/* Notifications owed across a restart: which, and how many at most. */
#define NOTIFY_KEPT (CONFIG_EV_FAILURE | CONFIG_EV_RECOVERY | \
			 CONFIG_EV_STALE | CONFIG_EV_VERIFY)
#define NOTIFY_UNSENT_MAX 64

struct notify_item {
	struct config_notify target;
	int index;		/* notify[index] in the file, for logs */
	const struct notify_backend *backend;
	unsigned event;
	char *host, *volume, *server, *client, *message;
	time_t last_success, time;
	int attempts;
	long long not_before;	/* ms */
	unsigned long long seq;	/* its record in notify.unsent; 0: none */
	struct notify_item *next;
};

/* The key store secrets are read from, shared by the sender while in use. */
struct notify_store {
	struct keystore *ks;	/* NULL when it could not be opened */
	char *error;		/* why, then */
	int refs;		/* under notify.lock */
};

struct notify {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int stopping;
	int busy;		/* the thread is sending */
	char *state_file;
	json_t *episodes;	/* key -> "failing", "stale", "damaged" */
	json_t *unsent;		/* seq -> a notification owed (a record) */
	unsigned long long seq;	/* the last record's */
	int restored;		/* the records of the last run are queued */
	json_t *orphans;	/* episodes whose volume the last sweep missed */
	const struct notify_backend *const *backends;
	int retry_ms;
	struct config_notify *targets;
	const struct notify_backend **target_backends;	/* picked once */
	size_t ntargets;
	char *host;
	struct notify_store *store;	/* NULL: no target names a secret */
	struct notify_item *queue;
	size_t queued;
	unsigned long long failed, sent;
};

/*
 * Queues m for every target that wants it, and the events also (0: no
 * more); the number queued. What an episode's change owes is kept in the
 * state file until sent.
 */
unsigned notify_queue_to_locked(struct notify *, const struct notify_msg *m,
    unsigned also);
unsigned notify_queue_locked(struct notify *, const struct notify_msg *m);
/* Writes the episodes and what is owed to the state file. */
void notify_save_locked(struct notify *);

#endif
