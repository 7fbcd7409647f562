/*
 * notify: telling people (PRODUCT.md §11). Callers report what happened —
 * a job's outcome, a pair that went stale, damage found by verify — and
 * notify turns it into at most one notification per change of state (a
 * failing episode is told once, however many retries fail, and the state
 * is persisted so a restart does not tell it again). Notifications wait
 * in a queue that one thread sends, with timeouts and a few retries, so
 * no job or Docker request ever waits on a notification target. A send
 * that fails for good is logged (never with its URL or password) and
 * counted. Targets are backends behind one table (notify_webhook.c,
 * notify_email.c, notify_ping.c), picked once per target by its type.
 */
#ifndef PRIVATEER_NOTIFY_H
#define PRIVATEER_NOTIFY_H

#include <jansson.h>
#include <time.h>

#include "config.h"

/* Not an event of the file: a ping target's URL/start when a job starts. */
#define NOTIFY_START 0x100

/* One notification; the strings are borrowed. */
struct notify_msg {
	unsigned event;		/* a CONFIG_EV_* bit or NOTIFY_START */
	const char *host;	/* the machine sending it */
	const char *volume;	/* NULL when not about one volume */
	const char *server;
	const char *client;
	const char *message;	/* what happened, and why */
	time_t last_success;	/* 0: unknown or never */
	time_t time;
};

struct notify_backend {
	const char *type;	/* config_notify.type */
	/*
	 * Sends m to t once, with timeouts; 0, or -1 with *cause (caller
	 * frees), which never holds the target's URL or password. t's url
	 * and password are the values, already read from the environment
	 * or the key store (notify_resolve).
	 */
	int (*send)(const struct config_notify *t, const struct notify_msg *m,
	    char **cause);
};

extern const struct notify_backend notify_webhook;
extern const struct notify_backend notify_email;
extern const struct notify_backend notify_ping;

struct notify;

/*
 * Starts the sender thread. state_file keeps the episodes across
 * restarts; backends is a NULL-terminated table (NULL: webhook, email and
 * ping); retry_ms is the first pause between attempts (0: 2000).
 */
struct notify *notify_start(const char *state_file,
    const struct notify_backend *const *backends, int retry_ms);
/*
 * Stops the thread; what is still queued is logged and dropped, but what
 * an episode's change owes stays in state_file and is queued again by the
 * first notify_configure of the next start.
 */
void notify_stop(struct notify *);
/*
 * Takes cfg's targets (copied) and this machine's name; cfg may be NULL.
 * When a target names a secret of the key store, cfg's store is opened
 * (keys_open) and kept until the next call: secrets are read from it at
 * each send, so a rotated secret needs no reload, and a store that cannot
 * be reached fails that send only.
 */
void notify_configure(struct notify *, const struct config *cfg,
    const char *host);

/*
 * A job's outcome. kind is "backup" or "restore"; client is whose data
 * (NULL: this machine); error when !ok. A failure is told when the pair
 * was not failing already, a success after one is a recovery, and every
 * success is a success event (opt-in). Returns the events queued.
 */
unsigned notify_job(struct notify *, const char *kind, const char *volume,
    const char *server, const char *client, int ok, const char *error,
    time_t last_success);
/* A job starts (a ping target's URL/start). */
void notify_job_start(struct notify *, const char *volume,
    const char *server);
/*
 * Whether client's volume on server is stale now: told once an episode,
 * and its end (a recovery) to the targets that want stale and recovery.
 */
unsigned notify_stale(struct notify *, const char *volume,
    const char *server, const char *client, int stale, long long max_age,
    time_t last_success);
/* A verification's outcome: damage (message says what) is told once. */
unsigned notify_verify(struct notify *, const char *volume,
    const char *server, const char *client, int damaged,
    const char *message);

/*
 * This client's volumes now (names: an object whose keys are the names):
 * the episodes of a volume missing from two calls in a row end quietly,
 * so a new volume of the same name is told its own failures and
 * staleness. (Two: a volume created just after names were read is in the
 * next.)
 */
void notify_sweep(struct notify *, const json_t *names);

/* Sends that failed for good, and sends done, since start. */
unsigned long long notify_failed_total(struct notify *);
unsigned long long notify_sent_total(struct notify *);
/* Waits until the queue is empty, at most timeout_ms; 0 if it is. */
int notify_flush(struct notify *, int timeout_ms);

/* The bodies (caller frees): PRODUCT.md's json, Slack's {"text"}. */
char *notify_json_body(const struct notify_msg *);
char *notify_slack_body(const struct notify_msg *);
/* One line saying it all: "privateer failure on bob: ..." (caller frees). */
char *notify_summary(const struct notify_msg *);
/* An RFC 5322 message with headers (caller frees). */
char *notify_email_message(const struct notify_msg *, const char *from,
    char *const *to, size_t nto);
/*
 * One HTTP request to url: a POST of the JSON body, or a GET when body is
 * NULL; a 2xx answer is success (notify_webhook.c).
 */
int notify_http(const char *url, const char *body, char **cause);
/* RFC 3339 UTC of t into buf (at least 21 bytes). */
void notify_time(time_t t, char *buf, size_t len);
struct keystore;
/* Deep copy of src into dst (notify_target_free frees and wipes it). */
void notify_target_copy(struct config_notify *dst,
    const struct config_notify *src);
void notify_target_free(struct config_notify *);
/*
 * t with its url and password read (notify_resolve) into *resolved, which
 * the caller frees with notify_target_free; 0, or -1 with *cause.
 */
int notify_target_values(const struct config_notify *t, struct keystore *ks,
    const char *ks_error, struct config_notify *resolved, char **cause);
/* Whether a target of cfg names a secret of the key store. */
int notify_target_names_secret(const struct config *cfg);
/*
 * The value of a target's field key ("url", "password") written as value:
 * a literal; "$NAME", the environment's NAME; or "secret:NAME#FIELD",
 * field FIELD (key when not given) of secret NAME in ks (NULL: the store
 * could not be opened, for ks_error). *out is the value (caller wipes and
 * frees) or NULL for a NULL value; 0, or -1 with *cause, which names the
 * field and the reference but never holds a value.
 */
int notify_resolve(const char *key, const char *value, struct keystore *ks,
    const char *ks_error, char **out, char **cause);

#endif
