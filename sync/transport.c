/*
 * transport: argv is what rsync gives its remote shell: our own options,
 * then [-l USER] HOST COMMAND... (the command already escaped by rsync).
 *
 * A dead connection is noticed within TRANSPORT_DEAD_SECONDS. TCP
 * keepalive alone cannot tell: a middlebox, NAT or relay that stops
 * forwarding keeps answering for the server at the TCP level (and a full
 * send window is probed, not timed out). So the transport sends an SSH
 * keepalive (keepalive@openssh.com, which the server answers) every
 * TRANSPORT_KEEPALIVE_SECONDS, and a watchdog thread, which touches no
 * libssh state and so works even while the relay is stuck inside a libssh
 * call, ends the process when nothing at all has come from the server for
 * TRANSPORT_DEAD_SECONDS (TCP_INFO's last_data_recv). rsync then fails
 * with our message.
 */
#include "transport.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libssh/libssh.h>
/* ssh_send_keepalive is declared there, though clients may use it. */
#include <libssh/server.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"
#include "sshkey.h"
#include "util.h"

#define TRANSPORT_KEEPALIVE_SECONDS 15
#define TRANSPORT_DEAD_SECONDS 60

struct transport_watchdog {
	int fd;			/* the session's socket */
	unsigned dead_seconds;	/* TRANSPORT_DEAD_SECONDS, or as told */
	char *server;		/* name, for the message */
	/*
	 * Set once the server's rsync has said something. Before that the
	 * server may be busy for long without reading the session (waiting
	 * for another push of the volume to end, making its private copy),
	 * and answers no keepalive: rsync's own --timeout bounds that part.
	 */
	_Atomic int armed;
};

struct transport_keepalive {
	ssh_session session;
	time_t last;		/* monotonic seconds of the last one sent */
	const struct relay *relay;
	struct transport_watchdog *watchdog;
};

static struct transport_watchdog transport_watchdog;

struct transport_secrets {
	char *private_key;
	char *host_key;		/* pinned public key line */
	char *server;		/* name, for messages */
	int dead_seconds;	/* 0: TRANSPORT_DEAD_SECONDS (tests: fewer) */
};

static int
transport_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("privateer transport: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 255;
}

static void
transport_secrets_free(struct transport_secrets *s)
{
	if (s->private_key != NULL) {
		explicit_bzero(s->private_key, strlen(s->private_key));
		free(s->private_key);
	}
	free(s->host_key);
	free(s->server);
	memset(s, 0, sizeof *s);
}

static int
transport_read_secrets(int fd, struct transport_secrets *s, char **cause)
{
	char *buf = xcalloc(1, TRANSPORT_SECRETS_MAX + 1);
	size_t len = 0;
	json_error_t jerr;
	json_t *doc = NULL, *v;
	ssize_t n;
	int rc = -1;

	for (;;) {
		n = read(fd, buf + len, TRANSPORT_SECRETS_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == TRANSPORT_SECRETS_MAX)
			break;
	}
	close(fd);
	doc = json_loadb(buf, len, 0, &jerr);
	if (doc == NULL) {
		set_cause(cause, "no key material on descriptor %d", fd);
		goto out;
	}
	v = json_object_get(doc, "private");
	if (json_is_string(v))
		s->private_key = xstrdup(json_string_value(v));
	v = json_object_get(doc, "host_key");
	if (json_is_string(v))
		s->host_key = xstrdup(json_string_value(v));
	v = json_object_get(doc, "server");
	s->server = xstrdup(json_is_string(v) ? json_string_value(v) :
	    "the server");
	v = json_object_get(doc, "dead_seconds");
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= 3600)
		s->dead_seconds = (int)json_integer_value(v);
	if (s->private_key == NULL || s->host_key == NULL) {
		set_cause(cause, "key material on descriptor %d is incomplete",
		    fd);
		goto out;
	}
	rc = 0;
out:
	if (doc != NULL) {
		json_t *p = json_object_get(doc, "private");
		if (json_is_string(p))
			explicit_bzero((char *)json_string_value(p),
			    json_string_length(p));
		json_decref(doc);
	}
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

/* Keepalives: TRANSPORT_KEEPALIVE_SECONDS apart, four to a dead verdict. */
static unsigned
transport_keepalive_every(const struct transport_watchdog *w)
{
	unsigned s = w->dead_seconds / 4;

	if (s > TRANSPORT_KEEPALIVE_SECONDS)
		s = TRANSPORT_KEEPALIVE_SECONDS;
	return s > 0 ? s : 1;
}

static time_t
transport_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The relay's tick: a keepalive every transport_keepalive_every(). */
static void
transport_keepalive_tick(void *arg)
{
	struct transport_keepalive *k = arg;
	time_t now = transport_now();

	if (!k->watchdog->armed && k->relay->received > 0)
		k->watchdog->armed = 1;
	if (now - k->last < transport_keepalive_every(k->watchdog))
		return;
	k->last = now;
	(void)ssh_send_keepalive(k->session);
}

/*
 * Ends the process once nothing has come from the server for
 * TRANSPORT_DEAD_SECONDS, whatever the main thread is blocked in.
 */
static void *
transport_watchdog_main(void *arg)
{
	struct transport_watchdog *w = arg;
	struct tcp_info ti;
	socklen_t len;

	for (;;) {
		sleep(1);
		len = sizeof ti;
		if (!w->armed ||
		    getsockopt(w->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
			continue;
		if (ti.tcpi_last_data_recv < w->dead_seconds * 1000U)
			continue;
		fprintf(stderr, "privateer transport: connection to %s lost: "
		    "nothing received for %u s (keepalives every %u s "
		    "unanswered; the limit is %u s)\n", w->server,
		    ti.tcpi_last_data_recv / 1000, transport_keepalive_every(w),
		    w->dead_seconds);
		_exit(255);
	}
	return NULL;
}

/* Starts the watchdog on the session's socket; it lives until exit. */
static void
transport_watchdog_start(ssh_session session, const char *server)
{
	struct transport_watchdog *w = &transport_watchdog;
	pthread_attr_t attr;
	pthread_t t;

	w->fd = ssh_get_fd(session);
	w->server = xstrdup(server);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, transport_watchdog_main, w) != 0)
		fprintf(stderr, "privateer transport: cannot start the "
		    "keepalive watchdog; a dead connection is noticed by "
		    "rsync's timeout only\n");
	pthread_attr_destroy(&attr);
}

int
transport_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "secrets-fd", required_argument, NULL, 'f' },
		{ "port", required_argument, NULL, 'p' },
		{ "connect-timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct transport_secrets sec;
	struct transport_keepalive ka;
	ssh_session session = NULL;
	ssh_channel ch = NULL;
	ssh_key pinned = NULL, got = NULL, priv = NULL;
	struct relay r;
	const char *host, *user = NULL;
	char *cmd = NULL, *tmp, *cause = NULL, *want_fp, *got_fp;
	long timeout = 30;
	unsigned int port = 22;
	int c, fd = -1, rc = 255;
	int verbosity = SSH_LOG_NOLOG, no = 0, one = 1, i;

	memset(&sec, 0, sizeof sec);
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "+l:", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fd = atoi(optarg);
			break;
		case 'p':
			port = (unsigned)atoi(optarg);
			break;
		case 't':
			timeout = atol(optarg);
			break;
		case 'l':
			user = optarg;
			break;
		default:
			return transport_fail("usage: privateer transport "
			    "--secrets-fd N --port P [-l USER] HOST COMMAND");
		}
	}
	/* rsync puts -l USER after our options when given user@host. */
	if (optind + 1 < argc && strcmp(argv[optind], "-l") == 0) {
		user = argv[optind + 1];
		optind += 2;
	}
	if (fd < 0 || optind + 1 >= argc)
		return transport_fail("usage: privateer transport --secrets-fd "
		    "N --port P [-l USER] HOST COMMAND");
	host = argv[optind++];
	cmd = xstrdup(argv[optind++]);
	for (i = optind; i < argc; i++) {
		tmp = cmd;
		cmd = xasprintf("%s %s", tmp, argv[i]);
		free(tmp);
	}
	if (transport_read_secrets(fd, &sec, &cause) != 0) {
		rc = transport_fail("%s", cause);
		goto out;
	}
	pinned = sshkey_parse_public(sec.host_key);
	if (pinned == NULL) {
		rc = transport_fail("the pinned host key of %s does not decode",
		    sec.server);
		goto out;
	}
	session = ssh_new();
	ssh_options_set(session, SSH_OPTIONS_HOST, host);
	ssh_options_set(session, SSH_OPTIONS_PORT, &port);
	if (user != NULL)
		ssh_options_set(session, SSH_OPTIONS_USER, user);
	ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout);
	ssh_options_set(session, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &no);
	/* Small messages that wait for an answer: no Nagle (ssh_server.c). */
	ssh_options_set(session, SSH_OPTIONS_NODELAY, &one);
	ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
	ssh_options_set(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
	/* Ask for the pinned key's type, so the comparison is meaningful. */
	ssh_options_set(session, SSH_OPTIONS_HOSTKEYS,
	    ssh_key_type_to_char(ssh_key_type(pinned)));
	if (ssh_connect(session) != SSH_OK) {
		rc = transport_fail("cannot connect to %s (%s port %u): %s",
		    sec.server, host, port, ssh_get_error(session));
		goto out;
	}
	sshkey_keepalive(ssh_get_fd(session));
	if (ssh_get_server_publickey(session, &got) != SSH_OK ||
	    ssh_key_cmp(got, pinned, SSH_KEY_CMP_PUBLIC) != 0) {
		want_fp = sshkey_fingerprint(pinned);
		got_fp = got != NULL ? sshkey_fingerprint(got) :
		    xstrdup("none");
		rc = transport_fail("the host key of server %s (%s port %u) "
		    "is %s, not the pinned %s from the key store; refusing to "
		    "connect", sec.server, host, port, got_fp, want_fp);
		free(want_fp);
		free(got_fp);
		goto out;
	}
	if (ssh_pki_import_privkey_base64(sec.private_key, NULL, NULL, NULL,
	    &priv) != SSH_OK) {
		rc = transport_fail("our private key does not decode");
		goto out;
	}
	if (ssh_userauth_publickey(session, NULL, priv) != SSH_AUTH_SUCCESS) {
		rc = transport_fail("server %s refused our key: %s",
		    sec.server, ssh_get_error(session));
		goto out;
	}
	ch = ssh_channel_new(session);
	if (ch == NULL || ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		rc = transport_fail("server %s refused the session: %s",
		    sec.server, ssh_get_error(session));
		goto out;
	}
	/* The transfer may be long; keepalives bound a dead peer, not a
	 * per-call timeout. */
	timeout = 0;
	ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout);
	ka.session = session;
	ka.last = transport_now();
	ka.relay = &r;
	ka.watchdog = &transport_watchdog;
	transport_watchdog.dead_seconds = sec.dead_seconds > 0 ?
	    (unsigned)sec.dead_seconds : TRANSPORT_DEAD_SECONDS;
	transport_watchdog_start(session, sec.server);
	memset(&r, 0, sizeof r);
	r.tick = transport_keepalive_tick;
	r.tick_arg = &ka;
	r.to_channel = 0;
	r.err_to_channel = -1;
	r.from_channel = 1;
	r.err_from_channel = 2;
	r.end_on_eof = 1;
	if (relay_run(session, ch, &r, &cause) != 0) {
		rc = transport_fail("connection to %s lost: %s", sec.server,
		    cause);
		goto out;
	}
	rc = ssh_channel_get_exit_status(ch);
	/* Our server always sends one: without it the session ended under
	 * us (a server killed, its socket closed), whichever libssh call
	 * first saw the end. */
	if (rc < 0)
		rc = transport_fail("connection to %s lost: the session ended "
		    "without an exit status%s%s", sec.server,
		    ssh_get_error_code(session) == SSH_FATAL ? ": " : "",
		    ssh_get_error_code(session) == SSH_FATAL ?
		    ssh_get_error(session) : "");
out:
	free(cause);
	free(cmd);
	if (ch != NULL) {
		ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	if (session != NULL) {
		ssh_disconnect(session);
		ssh_free(session);
	}
	ssh_key_free(pinned);
	ssh_key_free(got);
	ssh_key_free(priv);
	transport_secrets_free(&sec);
	return rc;
}
