/*
 * relay: moves bytes between an ssh channel and local descriptors, in
 * both directions at once, without ever blocking on a full window or pipe
 * (both ends of a transfer relay at the same time; blocking writes on both
 * would deadlock). Used by the server (channel <-> rsync --server) and by
 * the client transport (channel <-> the local rsync).
 */
#ifndef PRIVATEER_RELAY_H
#define PRIVATEER_RELAY_H

#include <libssh/libssh.h>
#include <stdint.h>

struct relay {
	int to_channel;		/* read: sent as channel data; -1 if none */
	int err_to_channel;	/* read: sent as channel stderr; -1 if none */
	int from_channel;	/* write: channel data lands here */
	int err_from_channel;	/* write: channel stderr lands here; -1 drops */
	/* 1: stop once the peer's output ended (a client: the remote side
	 * is done when it closes), even if local input is still open. */
	int end_on_eof;
	/* Optional: 1 when the local side is finished (child exited). */
	int (*finished)(void *);
	void *arg;
	/* Optional: called at every turn of the loop, at least every 200 ms
	 * (the client transport sends its keepalives from here). */
	void (*tick)(void *);
	void *tick_arg;
	/* Counters, updated as bytes move. */
	uint64_t sent;
	uint64_t received;
};

/*
 * Runs until every local source hit EOF (then the channel gets EOF) and
 * the channel hit EOF or closed — or, with finished(), until the local side
 * finished and its output is drained. Closes from_channel when the channel
 * is at EOF. 0, or -1 with *cause on a transport failure.
 */
int relay_run(ssh_session, ssh_channel, struct relay *, char **cause);

#endif
