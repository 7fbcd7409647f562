/*
 * watch: a thread that looks, every half minute, at what nobody triggers:
 * pairs that went stale (on a client its own volumes, on a server every
 * client volume it keeps) are told through notify, once an episode; and
 * on a server, the "verify" schedule runs verification of every kept
 * snapshot (verify.h), damage being a verify event.
 */
#ifndef PRIVATEER_WATCH_H
#define PRIVATEER_WATCH_H

struct fleet;
struct vol_registry;
struct watch;

/* period_seconds <= 0: 30. */
struct watch *watch_start(struct vol_registry *, struct fleet *,
    int period_seconds);
void watch_stop(struct watch *);

#endif
