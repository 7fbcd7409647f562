/*
 * relay: a poll loop. libssh buffers what it has read from the socket, so
 * the loop asks the channel directly (ssh_channel_poll) before sleeping,
 * and writes to the channel at most what the peer's window allows.
 */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define RELAY_CHUNK (64 * 1024)
#define RELAY_POLL_MS 200

struct relay_buf {
	char data[RELAY_CHUNK];
	size_t off, len;
};

static void
relay_nonblock(int fd)
{
	int flags;

	if (fd < 0)
		return;
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Writes what it can of b to fd; -1 if fd is broken. */
static int
relay_flush(int fd, struct relay_buf *b)
{
	ssize_t n;

	while (b->len > 0) {
		n = write(fd, b->data + b->off, b->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		b->off += (size_t)n;
		b->len -= (size_t)n;
	}
	b->off = 0;
	return 0;
}

/*
 * Reads from fd and sends up to the window; 1 at EOF, 2 if the peer has
 * closed the channel, -1 on error. With block set, writes even into a
 * closed window: libssh then waits for the peer's window adjustment,
 * reading the session itself.
 */
static int
relay_pump(ssh_channel ch, int fd, int is_stderr, int block, uint64_t *count,
    char **cause)
{
	char buf[RELAY_CHUNK];
	uint32_t win;
	size_t want;
	ssize_t n;
	int w;

	win = ssh_channel_window_size(ch);
	if (win == 0 && !block)
		return 0;
	want = win < sizeof buf && !block ? win : sizeof buf;
	n = read(fd, buf, want);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : 1;
	if (n == 0)
		return 1;
	w = is_stderr ? ssh_channel_write_stderr(ch, buf, (uint32_t)n) :
	    ssh_channel_write(ch, buf, (uint32_t)n);
	if (w != n) {
		if (!ssh_channel_is_open(ch))
			return 2;
		set_cause(cause, "writing to the ssh channel failed: %s",
		    ssh_get_error(ssh_channel_get_session(ch)));
		return -1;
	}
	*count += (uint64_t)n;
	return 0;
}

/* Takes channel data into b when b is empty; 1 when the stream is at EOF. */
static int
relay_take(ssh_channel ch, int is_stderr, struct relay_buf *b,
    uint64_t *count, char **cause)
{
	int n;

	if (b->len > 0)
		return 0;
	n = ssh_channel_read_nonblocking(ch, b->data, sizeof b->data,
	    is_stderr);
	if (n == SSH_ERROR) {
		set_cause(cause, "reading from the ssh channel failed: %s",
		    ssh_get_error(ssh_channel_get_session(ch)));
		return -1;
	}
	if (n > 0) {
		b->off = 0;
		b->len = (size_t)n;
		*count += (uint64_t)n;
		return 0;
	}
	return ssh_channel_is_eof(ch) || !ssh_channel_is_open(ch);
}

/*
 * Whether relay_pump's st ends the relay with an error. A peer that closed
 * the channel has said all it will (a server that refused a command, its
 * reason and exit status sent): a client then stops sending and reads
 * what is left, and the caller takes the exit status as the outcome. A
 * server whose client went away stops.
 */
static int
relay_pump_failed(const struct relay *r, int st, char **cause)
{
	if (st == 2 && !r->end_on_eof)
		set_cause(cause, "the client closed the channel");
	return st < 0 || (st == 2 && !r->end_on_eof);
}

int
relay_run(ssh_session session, ssh_channel ch, struct relay *r,
    char **cause)
{
	struct relay_buf *bin, *berr;
	struct pollfd pfd[5];
	int out_open, errout_open, ch_eof = 0, eof_sent = 0, rc = -1;
	int nfds, busy, st;
	unsigned i;

	bin = xcalloc(1, sizeof *bin);
	berr = xcalloc(1, sizeof *berr);
	out_open = r->to_channel >= 0;
	errout_open = r->err_to_channel >= 0;
	relay_nonblock(r->to_channel);
	relay_nonblock(r->err_to_channel);
	relay_nonblock(r->from_channel);
	relay_nonblock(r->err_from_channel);
	for (;;) {
		busy = 0;
		if (r->tick != NULL)
			r->tick(r->tick_arg);
		/* channel -> local */
		if (!ch_eof) {
			st = relay_take(ch, 0, bin, &r->received, cause);
			if (st < 0)
				goto out;
			if (r->err_from_channel >= 0 || berr->len == 0) {
				int est = relay_take(ch, 1, berr, &r->received,
				    cause);
				if (est < 0)
					goto out;
			}
			if (st == 1 && bin->len == 0 && berr->len == 0)
				ch_eof = 1;
		}
		if (bin->len > 0) {
			if (r->from_channel < 0 ||
			    relay_flush(r->from_channel, bin) != 0)
				bin->len = 0;	/* nobody reads: drop */
			busy |= bin->len == 0;
		}
		if (berr->len > 0) {
			if (r->err_from_channel < 0 ||
			    relay_flush(r->err_from_channel, berr) != 0)
				berr->len = 0;
			busy |= berr->len == 0;
		}
		if (ch_eof && r->from_channel >= 0) {
			close(r->from_channel);
			r->from_channel = -1;
		}
		/* local -> channel */
		if (out_open) {
			st = relay_pump(ch, r->to_channel, 0, ch_eof, &r->sent,
			    cause);
			if (relay_pump_failed(r, st, cause))
				goto out;
			if (st != 0)
				out_open = 0;
		}
		if (errout_open) {
			st = relay_pump(ch, r->err_to_channel, 1, ch_eof,
			    &r->sent, cause);
			if (relay_pump_failed(r, st, cause))
				goto out;
			if (st != 0)
				errout_open = 0;
		}
		if (!out_open && !errout_open && !eof_sent) {
			ssh_channel_send_eof(ch);
			eof_sent = 1;
		}
		/* done? */
		if (r->end_on_eof && ch_eof && bin->len == 0 &&
		    berr->len == 0)
			break;
		if (!out_open && !errout_open) {
			if (ch_eof)
				break;
			if (r->finished != NULL && r->finished(r->arg))
				break;
		}
		if (!ssh_channel_is_open(ch) && !ch_eof) {
			/* Closed under us: drain what libssh still holds. */
			if (ssh_channel_poll(ch, 0) <= 0 &&
			    ssh_channel_poll(ch, 1) <= 0) {
				ch_eof = 1;
				continue;
			}
		}
		/*
		 * Go round again at once only for data that can move now:
		 * what libssh holds waits while our buffer for it is full
		 * (the local reader is slower), or the loop would spin on
		 * writes that fail with EAGAIN instead of sleeping on POLLOUT.
		 */
		if (busy || (!ch_eof && ((bin->len == 0 &&
		    ssh_channel_poll(ch, 0) > 0) || (berr->len == 0 &&
		    ssh_channel_poll(ch, 1) > 0))))
			continue;
		/*
		 * Sleep until something moves. After the peer's EOF nothing
		 * reads the session any more but libssh's blocking writes
		 * (relay_pump with block), so its socket is not watched: its
		 * unread window adjustments would wake us forever.
		 */
		nfds = 0;
		if (!ch_eof) {
			pfd[nfds].fd = ssh_get_fd(session);
			pfd[nfds++].events = POLLIN;
		}
		if (out_open && (ch_eof || ssh_channel_window_size(ch) > 0)) {
			pfd[nfds].fd = r->to_channel;
			pfd[nfds++].events = POLLIN;
		}
		if (errout_open && (ch_eof || ssh_channel_window_size(ch) > 0)) {
			pfd[nfds].fd = r->err_to_channel;
			pfd[nfds++].events = POLLIN;
		}
		if (bin->len > 0 && r->from_channel >= 0) {
			pfd[nfds].fd = r->from_channel;
			pfd[nfds++].events = POLLOUT;
		}
		if (berr->len > 0 && r->err_from_channel >= 0) {
			pfd[nfds].fd = r->err_from_channel;
			pfd[nfds++].events = POLLOUT;
		}
		for (i = 0; i < (unsigned)nfds; i++)
			pfd[i].revents = 0;
		if (poll(pfd, (nfds_t)nfds, RELAY_POLL_MS) < 0 &&
		    errno != EINTR) {
			set_cause(cause, "poll: %s", strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	if (r->from_channel >= 0 && ch_eof) {
		close(r->from_channel);
		r->from_channel = -1;
	}
	free(bin);
	free(berr);
	return rc;
}
