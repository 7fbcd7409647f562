/*
 * relay: a byte-counting TCP relay for bench_replication.sh, so every
 * contender's bytes on the wire are counted the same way, at the ssh layer
 * (the encrypted stream, TCP payload, both directions).
 *
 *   relay LISTEN_PORT TARGET_PORT COUNT_FILE
 *
 * Listens on 127.0.0.1:LISTEN_PORT and forwards each connection to
 * 127.0.0.1:TARGET_PORT, one forked process per connection, non-blocking
 * with a buffer per direction (no deadlock whoever stops reading). The
 * counters live in COUNT_FILE, mapped shared: four native 64-bit integers,
 * client->server bytes, server->client bytes, open connections, accepted
 * connections (read them with `od -An -t u8 -N 32 COUNT_FILE`).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ (256 * 1024)

struct counters {
	uint64_t up, down, active, accepted;
};

struct dir {
	int from, to;
	char *buf;
	size_t len, off;
	int eof;		/* read side saw EOF (or failed) */
	uint64_t *count;
};

static void
nodelay_nonblock(int fd)
{
	int on = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* One step of a direction; -1 when the connection must end. */
static int
pump(struct dir *d, short rev_from, short rev_to)
{
	ssize_t n;

	if (d->len == 0 && !d->eof && (rev_from & (POLLIN | POLLHUP | POLLERR))) {
		n = read(d->from, d->buf, BUFSZ);
		if (n > 0) {
			d->len = (size_t)n;
			d->off = 0;
			__atomic_add_fetch(d->count, (uint64_t)n, __ATOMIC_SEQ_CST);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			d->eof = 1;
			shutdown(d->to, SHUT_WR);
		}
	}
	if (d->len > 0 && (rev_to & (POLLOUT | POLLERR | POLLHUP))) {
		n = write(d->to, d->buf + d->off, d->len);
		if (n > 0) {
			d->off += (size_t)n;
			d->len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
	}
	return 0;
}

static void
serve(int c, int tport, struct counters *k)
{
	struct sockaddr_in a = loopback(tport);
	struct dir up, down;
	struct pollfd p[2];
	int t = socket(AF_INET, SOCK_STREAM, 0);

	if (t < 0 || connect(t, (struct sockaddr *)&a, sizeof a) != 0)
		return;
	nodelay_nonblock(c);
	nodelay_nonblock(t);
	memset(&up, 0, sizeof up);
	memset(&down, 0, sizeof down);
	up.from = c, up.to = t, up.count = &k->up, up.buf = malloc(BUFSZ);
	down.from = t, down.to = c, down.count = &k->down;
	down.buf = malloc(BUFSZ);
	if (up.buf == NULL || down.buf == NULL)
		return;
	while (!(up.eof && up.len == 0 && down.eof && down.len == 0)) {
		p[0].fd = c;
		p[0].events = (short)((!up.eof && up.len == 0 ? POLLIN : 0) |
		    (down.len > 0 ? POLLOUT : 0));
		p[1].fd = t;
		p[1].events = (short)((!down.eof && down.len == 0 ? POLLIN : 0) |
		    (up.len > 0 ? POLLOUT : 0));
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pump(&up, p[0].revents, p[1].revents) != 0 ||
		    pump(&down, p[1].revents, p[0].revents) != 0)
			return;
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a;
	struct counters *k;
	int fd, ls, c, on = 1;
	pid_t pid;

	if (argc != 4) {
		fprintf(stderr, "usage: relay LISTEN_PORT TARGET_PORT COUNT_FILE\n");
		return 2;
	}
	fd = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 4096) != 0) {
		perror(argv[3]);
		return 1;
	}
	k = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (k == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);	/* children are reaped by the kernel */
	signal(SIGPIPE, SIG_IGN);
	a = loopback(atoi(argv[1]));
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(ls, 64) != 0) {
		perror("relay: listen");
		return 1;
	}
	for (;;) {
		c = accept(ls, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("relay: accept");
			return 1;
		}
		/* Counted open before the fork: never seen idle too early. */
		__atomic_add_fetch(&k->active, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&k->accepted, 1, __ATOMIC_SEQ_CST);
		pid = fork();
		if (pid == 0) {
			close(ls);
			serve(c, atoi(argv[2]), k);
			__atomic_sub_fetch(&k->active, 1, __ATOMIC_SEQ_CST);
			_exit(0);
		}
		if (pid < 0)
			__atomic_sub_fetch(&k->active, 1, __ATOMIC_SEQ_CST);
		close(c);
	}
}
