/*
 * ssh_server: one listener thread accepts connections; each connection
 * gets its own thread and libssh session, so a slow or dead client holds
 * only its own thread. Every phase has a deadline (key exchange and
 * authentication together get auth_seconds; the channel request as long),
 * and sockets use TCP keepalive so a vanished peer is noticed.
 */
#include "ssh_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "manifest.h"
#include "prefetch.h"
#include "relay.h"
#include "rsync_argv.h"
#include "store.h"
#include "usage.h"
#include "sshkey.h"
#include "child.h"
#include "flusher.h"
#include "ticker.h"
#include "util.h"

/* Where rsync --munge-links points every stored symlink. */
#define SSHD_MUNGE_PREFIX "/rsyncd-munged"
#define SSHD_MAX_AUTH_TRIES 6
#define SSHD_AFTER_NICE 10
/* How long a stop waits for the work after backups to reach a step's end. */
#define SSHD_AFTER_STOP_MS 5000

struct sshd_peer {
	char *name;
	ssh_key key;
};

struct sshd_conn;

struct sshd {
	ssh_bind bind;
	char *root;
	char *rsync;
	char *exe;
	char *self;
	char *volumes_root;
	char **local_volumes;
	size_t nlocal;
	struct snap_policy policy;
	const struct store_ops *store;	/* picked once, at start */
	int compress;
	struct sshd_peer *peers;
	size_t npeers;
	int auth_seconds;
	int max_sessions;
	int keepalive_seconds;
	int has_drop_d;
	int has_confine_root;
	int has_insecure_links;	/* and it is safe to use on pushes */

	pthread_t listener;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stopping;
	struct sshd_conn *conns;	/* live connections */
	/* Threads doing the work after a backup (sshd_after_main): a stop
	 * asks them to end at the next step and waits a while for them;
	 * srv outlives any still running then (under lock). */
	unsigned after_running;
	int after_stop;
	struct sshd_stats stats;

	/*
	 * One flusher for the store's filesystem while any push writes
	 * (common/flusher.h): twenty pushes at once need one syncfs every
	 * 250 ms, not twenty. Under flush_lock (stopping it waits for a
	 * syncfs: not under lock).
	 */
	pthread_mutex_t flush_lock;
	struct flusher flusher;
	int flush_fd;
	unsigned flush_users;
};

struct sshd_conn {
	struct sshd *srv;
	ssh_session session;
	pid_t child;			/* rsync, while it runs */
	char peer[64];
	struct sshd_conn *next;
};

/* Which client owns key, or NULL. */
static const char *
sshd_lookup(struct sshd *srv, ssh_key key)
{
	size_t i;

	if (key == NULL)
		return NULL;
	for (i = 0; i < srv->npeers; i++) {
		if (ssh_key_cmp(srv->peers[i].key, key,
		    SSH_KEY_CMP_PUBLIC) == 0)
			return srv->peers[i].name;
	}
	return NULL;
}

/* Authenticates: returns the client name, or NULL (caller disconnects). */
static const char *
sshd_auth(struct sshd_conn *c, time_t deadline)
{
	const char *who = NULL, *name;
	ssh_message msg;
	int tries = 0, state;

	ssh_set_auth_methods(c->session, SSH_AUTH_METHOD_PUBLICKEY);
	while (who == NULL && time(NULL) < deadline &&
	    tries < SSHD_MAX_AUTH_TRIES) {
		msg = ssh_message_get(c->session);
		if (msg == NULL)
			return NULL;
		if (ssh_message_type(msg) != SSH_REQUEST_AUTH) {
			ssh_message_reply_default(msg);
			ssh_message_free(msg);
			continue;
		}
		if (ssh_message_subtype(msg) != SSH_AUTH_METHOD_PUBLICKEY) {
			/* "none" is every client's first probe. */
			if (ssh_message_subtype(msg) != SSH_AUTH_METHOD_NONE)
				tries++;
			ssh_message_auth_set_methods(msg,
			    SSH_AUTH_METHOD_PUBLICKEY);
			ssh_message_reply_default(msg);
			ssh_message_free(msg);
			continue;
		}
		/*
		 * libssh 0.10 marks the message API deprecated in favour of
		 * server callbacks, but still supports it; it keeps each
		 * session's flow in one readable loop.
		 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		name = sshd_lookup(c->srv, ssh_message_auth_pubkey(msg));
		state = ssh_message_auth_publickey_state(msg);
#pragma GCC diagnostic pop
		if (name != NULL && state == SSH_PUBLICKEY_STATE_NONE) {
			ssh_message_auth_reply_pk_ok_simple(msg);
		} else if (name != NULL && state == SSH_PUBLICKEY_STATE_VALID) {
			ssh_message_auth_reply_success(msg, 0);
			who = name;
		} else {
			tries++;
			ssh_message_auth_set_methods(msg,
			    SSH_AUTH_METHOD_PUBLICKEY);
			ssh_message_reply_default(msg);
		}
		ssh_message_free(msg);
	}
	if (who == NULL)
		log_info("ssh %s: authentication failed (%d attempt(s))",
		    c->peer, tries);
	return who;
}

static const char *
sshd_request_name(int type, int subtype)
{
	if (type == SSH_REQUEST_CHANNEL_OPEN) {
		switch (subtype) {
		case SSH_CHANNEL_DIRECT_TCPIP:
			return "port forwarding (direct-tcpip)";
		case SSH_CHANNEL_FORWARDED_TCPIP:
			return "port forwarding (forwarded-tcpip)";
		case SSH_CHANNEL_X11:
			return "an X11 channel";
		case SSH_CHANNEL_SESSION:
			return "a second session channel";
		default:
			return "an unknown channel type";
		}
	}
	if (type == SSH_REQUEST_CHANNEL) {
		switch (subtype) {
		case SSH_CHANNEL_REQUEST_PTY:
			return "a pty";
		case SSH_CHANNEL_REQUEST_SHELL:
			return "a shell";
		case SSH_CHANNEL_REQUEST_ENV:
			return "setting environment variables";
		case SSH_CHANNEL_REQUEST_SUBSYSTEM:
			return "a subsystem (e.g. sftp)";
		case SSH_CHANNEL_REQUEST_X11:
			return "X11 forwarding";
		case SSH_CHANNEL_REQUEST_WINDOW_CHANGE:
			return "a window change";
		default:
			return "an unknown channel request (e.g. agent "
			    "forwarding)";
		}
	}
	if (type == SSH_REQUEST_GLOBAL)
		return "a global request (e.g. port forwarding)";
	return "an unexpected request";
}

/*
 * Waits for one session channel and its exec request; everything else is
 * refused. Returns the channel (and *command) or NULL.
 */
static ssh_channel
sshd_exec_request(struct sshd_conn *c, const char *who, time_t deadline,
    char **command)
{
	ssh_channel ch = NULL;
	ssh_message msg;
	int type, subtype;

	*command = NULL;
	while (time(NULL) < deadline) {
		msg = ssh_message_get(c->session);
		if (msg == NULL)
			break;
		type = ssh_message_type(msg);
		subtype = ssh_message_subtype(msg);
		if (type == SSH_REQUEST_CHANNEL_OPEN &&
		    subtype == SSH_CHANNEL_SESSION && ch == NULL) {
			ch = ssh_message_channel_request_open_reply_accept(msg);
		} else if (type == SSH_REQUEST_CHANNEL && ch != NULL &&
		    subtype == SSH_CHANNEL_REQUEST_EXEC) {
			const char *cmd =
			    ssh_message_channel_request_command(msg);
			ssh_message_channel_request_reply_success(msg);
			*command = xstrdup(cmd != NULL ? cmd : "");
			ssh_message_free(msg);
			return ch;
		} else {
			log_info("ssh %s (%s): refused %s", c->peer, who,
			    sshd_request_name(type, subtype));
			ssh_message_reply_default(msg);
		}
		ssh_message_free(msg);
	}
	if (ch != NULL) {
		ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	return NULL;
}

static void
sshd_refuse(struct sshd_conn *c, ssh_channel ch, const char *who,
    const char *why)
{
	char *line = xasprintf("privateer: refused: %s\n", why);

	log_info("ssh %s (%s): refused: %s", c->peer, who, why);
	ssh_channel_write_stderr(ch, line, (uint32_t)strlen(line));
	ssh_channel_request_send_exit_status(ch, 1);
	ssh_channel_send_eof(ch);
	free(line);
	pthread_mutex_lock(&c->srv->lock);
	c->srv->stats.refused++;
	pthread_mutex_unlock(&c->srv->lock);
}

struct sshd_child {
	pid_t pid;
	int status;
	int exited;
};

static int
sshd_child_finished(void *arg)
{
	struct sshd_child *ch = arg;
	int status;

	if (ch->exited)
		return 1;
	if (waitpid(ch->pid, &status, WNOHANG) == ch->pid) {
		ch->exited = 1;
		ch->status = WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	}
	return ch->exited;
}

/*
 * The argv of rsync --server for a checked request, run in cwd; a push
 * shares unchanged files with basis (hard links) if link, else copies them
 * from it.
 */
static char **
sshd_argv(struct sshd *srv, const struct rsync_request *req,
    const struct snap_push *push, int link, const char *confine)
{
	char **argv = xcalloc(req->nopts + 17, sizeof *argv);
	const char *basis = push != NULL ? push->link_dest : NULL;
	int cow = push != NULL && push->store != NULL && push->store->cow;
	size_t n = 0, i;

	argv[n++] = xstrdup(srv->rsync);
	argv[n++] = xstrdup("--server");
	if (req->kind != RSYNC_PUSH)
		argv[n++] = xstrdup("--sender");
	for (i = 0; i < req->nopts; i++) {
		/*
		 * Into an empty partial there is nothing to rewrite: on XFS,
		 * new files written in place made 30000 small files 1.3-1.6x
		 * slower to receive than rsync's temporary file and rename
		 * (as restores were); btrfs gains a little from it. The
		 * sender's side is the same either way with no basis file.
		 */
		if (push != NULL && push->empty && push->store != NULL &&
		    push->store != &store_btrfs &&
		    strcmp(req->opts[i], "--inplace") == 0)
			continue;
		argv[n++] = xstrdup(req->opts[i]);
	}
	argv[n++] = xstrdup("--numeric-ids");
	/* Symlinks are stored munged and unmunged when sent back. */
	argv[n++] = xstrdup("--munge-links");
	if (req->kind == RSYNC_PUSH && srv->has_drop_d)
		argv[n++] = xstrdup("--drop-D");
	/*
	 * rsync >= 3.4 resolves operator paths (the destination,
	 * --link-dest) with a component-by-component walk from "/" that
	 * refuses symlinks planted by other users, and does it again for
	 * every file looked up in --link-dest: five times the cost of the
	 * push on many small files. On a push every such path is ours
	 * (root-owned directories under the server root, the snapshot tree
	 * below them holding only munged symlinks, which lead nowhere), and
	 * the receiver reads no client filter rules (rsync_parse refuses
	 * --delete and -m on a backup), so the walk guards nothing there and
	 * --insecure-links turns it off. rsync refuses it together with
	 * --confine-root, which stays on reads, where the sender does read
	 * the client's filter rules.
	 */
	/*
	 * A push into a copy-on-write store links nothing, so the walk
	 * costs nothing per file there; and it may carry --delete, with
	 * which the receiver reads the client's filter rules: their merge
	 * files must stay inside the client's own area (--confine-root).
	 */
	if (req->kind == RSYNC_PUSH && srv->has_insecure_links && !cow)
		argv[n++] = xstrdup("--insecure-links");
	else if (srv->has_confine_root)
		argv[n++] = xasprintf("--confine-root=%s", confine);
	/* Written in place, a file costs only the blocks rsync's delta
	 * finds changed; whole, it would cost all of them again. */
	if (push != NULL && push->in_place)
		argv[n++] = xstrdup("--no-whole-file");
	if (basis != NULL)
		argv[n++] = xasprintf("--%s-dest=%s", link && !cow ? "link" :
		    "copy", basis);
	/*
	 * xattrs that are the filesystem's, not the volume's: btrfs keeps a
	 * subvolume's compression as btrfs.compression on every inode made
	 * below it, XFS shows its ACLs as trusted.SGI_ACL_* too (a root
	 * rsync -X from another filesystem would remove those and with them
	 * the ACL it just set with -A). Never sent back, never removed by a
	 * push. With a rule of its own, rsync no longer skips system.* by
	 * itself (ACLs go with -A).
	 */
	if (req->xattrs) {
		argv[n++] = xstrdup("--filter=-x btrfs.*");
		argv[n++] = xstrdup("--filter=-x trusted.SGI_ACL_*");
		argv[n++] = xstrdup("--filter=-x system.*");
	}
	if (req->kind == RSYNC_LIST)
		argv[n++] = xstrdup("--exclude=.*");
	argv[n++] = xstrdup(".");
	argv[n++] = xstrdup(req->kind == RSYNC_PUSH ? "." : "./");
	return argv;
}

static void
sshd_argv_free(char **argv)
{
	size_t i;

	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/*
 * The session's voice while the connection's thread does something long
 * without reading it (a push's commit: syncs and renames): an SSH_MSG_IGNORE
 * every keepalive_seconds, so the client's watchdog, which ends a
 * transport that hears nothing for 60 s, does not fail a backup whose
 * commit is slow. The ticker's thread alone uses the session meanwhile.
 */
static void
sshd_voice(void *session)
{
	(void)ssh_send_ignore(session, "");
}

/* snap_commit, the client kept hearing from us meanwhile. */
static int
sshd_commit(struct sshd_conn *c, struct snap_push *push, char **cause)
{
	struct ticker voice;
	int rc;

	(void)ticker_start(&voice, c->srv->keepalive_seconds * 1000L, 0,
	    sshd_voice, c->session);
	rc = snap_commit(push, cause);
	ticker_stop(&voice);
	return rc;
}

/*
 * What to do alongside a child: read ahead of it (sync/prefetch.h), and
 * write back what it writes to the store while it writes, so that the
 * sync a snapshot needs before it is published finds little left.
 */
struct sshd_ahead {
	const char *dir;	/* NULL: nothing */
	int flags;		/* PREFETCH_DATA: contents too */
	int flush;		/* it writes into the store */
};

/* The store's flusher runs while at least one writer holds it. */
static void
sshd_flush_hold(struct sshd *srv)
{
	pthread_mutex_lock(&srv->flush_lock);
	if (srv->flush_users++ == 0) {
		srv->flush_fd = open(srv->root, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (srv->flush_fd >= 0)	/* else: the final sync does it */
			flusher_start(&srv->flusher, srv->flush_fd);
	}
	pthread_mutex_unlock(&srv->flush_lock);
}

static void
sshd_flush_release(struct sshd *srv)
{
	pthread_mutex_lock(&srv->flush_lock);
	if (--srv->flush_users == 0 && srv->flush_fd >= 0) {
		flusher_stop(&srv->flusher);
		close(srv->flush_fd);
		srv->flush_fd = -1;
	}
	pthread_mutex_unlock(&srv->flush_lock);
}

/*
 * Runs path (argv, in cwd) with its stdio relayed over ch until it exits,
 * reading ahead of it as `ahead` says (NULL: not at all);
 * returns its exit status, or -1 with *cause if it could not start.
 * *received counts the bytes that came from the client.
 */
static int
sshd_relay_child(struct sshd_conn *c, ssh_channel ch, const char *who,
    const char *path, char **argv, const char *cwd,
    const struct sshd_ahead *ahead, uint64_t *received, char **cause)
{
	struct sshd *srv = c->srv;
	struct sshd_child child = { -1, 0, 0 };
	struct prefetch *pf = NULL;
	struct relay r;
	struct child sp;
	char *why = NULL;

	if (child_start(path, argv, child_clean_env, cwd, -1, -1, &sp,
	    cause) != 0)
		return -1;
	child.pid = sp.pid;
	if (ahead != NULL && ahead->dir != NULL)
		pf = prefetch_start(ahead->dir, sp.pid, 0, ahead->flags);
	if (ahead != NULL && ahead->flush)
		sshd_flush_hold(srv);
	pthread_mutex_lock(&srv->lock);
	c->child = sp.pid;
	pthread_mutex_unlock(&srv->lock);

	memset(&r, 0, sizeof r);
	r.to_channel = sp.out;
	r.err_to_channel = sp.err;
	r.from_channel = sp.in;
	r.err_from_channel = -1;
	r.finished = sshd_child_finished;
	r.arg = &child;
	sp.in = -1;	/* the relay closes it */
	if (relay_run(c->session, ch, &r, &why) != 0) {
		log_info("ssh %s (%s): %s; stopping %s", c->peer, who, why,
		    argv[0]);
		free(why);
		if (!child.exited)
			kill(child.pid, SIGTERM);
	}
	if (r.from_channel >= 0)
		close(r.from_channel);
	child_close(&sp);
	if (!child.exited) {
		sp.pid = child.pid;
		child.status = child_wait(&sp);
	}
	if (ahead != NULL && ahead->flush)
		sshd_flush_release(srv);
	if (pf != NULL) {
		struct prefetch_stats ps;

		prefetch_get_stats(pf, &ps);
		prefetch_stop(pf);
		log_info("ssh %s (%s): read ahead: %llu files and %llu "
		    "directories seen, %llu files (%.1f MB) asked for, %llu "
		    "waits for %s", c->peer, who, ps.files, ps.dirs,
		    ps.advised, (double)ps.bytes / 1e6, ps.waits, argv[0]);
	}
	pthread_mutex_lock(&srv->lock);
	c->child = -1;
	pthread_mutex_unlock(&srv->lock);
	*received = r.received;
	return child.status;
}

/* Whether source/volume names one of the server's own local volumes. */
static int
sshd_is_local(const struct sshd *srv, const char *source, const char *volume)
{
	size_t i;

	if (srv->self == NULL || strcmp(source, srv->self) != 0)
		return 0;
	for (i = 0; i < srv->nlocal; i++) {
		if (strcmp(srv->local_volumes[i], volume) == 0)
			return 1;
	}
	return 0;
}

/* A local volume has no history: only "latest", its data as it is. */
static int
sshd_local_dir(const struct sshd *srv, const struct rsync_request *req,
    char **dir, char **cause)
{
	struct stat st;

	if (strcmp(req->snapshot, "latest") != 0) {
		*cause = xasprintf("%s is a local volume of %s: it has no "
		    "snapshots, ask for latest", req->volume, srv->self);
		return -1;
	}
	*dir = xasprintf("%s/%s/data", srv->volumes_root, req->volume);
	if (lstat(*dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		*cause = xasprintf("the local volume %s does not exist on %s",
		    req->volume, srv->self);
		free(*dir);
		*dir = NULL;
		return -1;
	}
	return 0;
}

struct sshd_after_job {
	struct sshd *srv;
	char *root, *client, *volume;
	struct snap_policy policy;
	struct snap_method method;	/* of the next push */
};

/* Whether the server is stopping: the work after a backup ends early. Each
 * step is one a crash may cut anyway, so stopping between them is safe. */
static int
sshd_after_stopping(const struct sshd_after_job *j)
{
	int stop;

	pthread_mutex_lock(&j->srv->lock);
	stop = j->srv->after_stop;
	pthread_mutex_unlock(&j->srv->lock);
	if (stop)
		log_info("%s/%s: the work after its backup is left to the "
		    "next one: the server is stopping", j->client, j->volume);
	return stop;
}

/*
 * After a backup, off the client's wait and at a lower priority than the
 * transfers: the manifest, retention, the next push's copy where the store
 * makes it ahead, then the recount of the volume's usage for status.
 */
static void *
sshd_after_main(void *arg)
{
	struct sshd_after_job *j = arg;
	struct sshd *srv = j->srv;
	struct usage u;
	char *cause = NULL;

	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    SSHD_AFTER_NICE);
	if (sshd_after_stopping(j))
		goto out;
	/* Before retention, which may prune the snapshot it reuses. */
	if (manifest_update(j->root, j->client, j->volume, &cause) != 0) {
		log_warn("manifest of %s/%s: %s", j->client, j->volume, cause);
		free(cause);
		cause = NULL;
	}
	if (sshd_after_stopping(j))
		goto out;
	if (snap_prune(j->root, j->client, j->volume, &j->policy,
	    &cause) < 0) {
		log_error("retention of %s/%s: %s", j->client, j->volume,
		    cause);
		free(cause);
		cause = NULL;
	}
	if (sshd_after_stopping(j))
		goto out;
	if (snap_prepare_next(&j->method, j->root, j->client, j->volume,
	    &cause) != 0) {
		log_warn("the next backup of %s/%s will clone its copy: %s",
		    j->client, j->volume, cause);
		free(cause);
		cause = NULL;
	}
	if (sshd_after_stopping(j))
		goto out;
	if (usage_update(j->root, j->client, j->volume, &u, &cause) != 0) {
		log_warn("usage of %s/%s: %s", j->client, j->volume, cause);
		free(cause);
	} else if (u.latest_links == 0 && *u.latest != '\0' &&
	    snap_mark_nolinks(j->root, j->client, j->volume, u.latest,
	    &cause) != 0) {
		log_warn("%s/%s: %s", j->client, j->volume, cause);
		free(cause);
	}
out:
	free(j->root);
	free(j->client);
	free(j->volume);
	free(j);
	pthread_mutex_lock(&srv->lock);
	srv->after_running--;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

static void
sshd_after_backup(struct sshd *srv, const char *client, const char *volume)
{
	struct sshd_after_job *j = xcalloc(1, sizeof *j);
	pthread_attr_t attr;
	pthread_t t;
	int e;

	j->srv = srv;
	j->root = xstrdup(srv->root);
	j->client = xstrdup(client);
	j->volume = xstrdup(volume);
	j->policy = srv->policy;
	j->method.store = srv->store;
	j->method.compress = srv->compress;
	j->method.in_place = 1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&srv->lock);
	srv->after_running++;
	pthread_mutex_unlock(&srv->lock);
	if ((e = pthread_create(&t, &attr, sshd_after_main, j)) != 0) {
		pthread_mutex_lock(&srv->lock);
		srv->after_running--;
		pthread_mutex_unlock(&srv->lock);
		log_warn("no thread for retention of %s/%s: %s", client,
		    volume, strerror(e));
		free(j->root);
		free(j->client);
		free(j->volume);
		free(j);
	}
	pthread_attr_destroy(&attr);
}

/* Runs the checked request on ch; returns the exit status to send. */
static int
sshd_run(struct sshd_conn *c, ssh_channel ch, const char *who,
    const struct rsync_request *req)
{
	struct sshd *srv = c->srv;
	struct snap_push push;
	char *cwd = NULL, *cause = NULL, **argv = NULL, *msg, *basis = NULL;
	struct sshd_ahead ahead = { NULL, 0, 0 };
	int status = 1, pushing = 0, link, prepared = 0;
	struct timespec t0, t1, t2;
	uint64_t received = 0;
	double copy_s = 0;

	memset(&push, 0, sizeof push);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (req->kind == RSYNC_PUSH && req->dry_run) {
		/* A dry run writes nothing: give it an empty directory. */
		cwd = xasprintf("%s/.dry-run", srv->root);
		if (mkdir(cwd, 0700) != 0 && errno != EEXIST) {
			cause = xasprintf("creating %s: %s", cwd,
			    strerror(errno));
			goto refuse;
		}
	} else if (req->kind == RSYNC_PUSH) {
		struct snap_method m = { srv->store, srv->compress,
		    req->inplace && req->delete, !req->acls && !req->xattrs };

		if (snap_begin_with(&m, srv->root, who, req->volume, &push,
		    &cause) != 0)
			goto refuse;
		copy_s = push.copy_seconds;
		prepared = push.prepared;
		pushing = 1;
		cwd = xstrdup(push.partial);
	} else if (req->kind == RSYNC_PULL && sshd_is_local(srv, req->source,
	    req->volume)) {
		if (sshd_local_dir(srv, req, &cwd, &cause) != 0)
			goto refuse;
	} else if (req->kind == RSYNC_PULL) {
		if (snap_resolve(srv->root, req->source, req->volume,
		    req->snapshot, &cwd, &cause) != 0)
			goto refuse;
	} else {
		struct stat st;
		cwd = xasprintf("%s/%s/%s", srv->root, req->source,
		    req->volume);
		if (stat(cwd, &st) != 0 || !S_ISDIR(st.st_mode)) {
			cause = xasprintf("no backups of %s from %s on this "
			    "server", req->volume, req->source);
			goto refuse;
		}
	}
	/*
	 * A push may read its own earlier snapshots (--link-dest=../ID). One
	 * that carries no ACLs or xattrs links only to a snapshot known to
	 * hold none (snapshot.h).
	 */
	push.plain = !req->acls && !req->xattrs;
	link = (req->acls && req->xattrs) || push.latest_plain;
	if (pushing && push.store->cow && !push.in_place)
		log_info("ssh %s (%s): %s comes without --inplace and --delete: "
		    "a full snapshot, unchanged files copied from the last",
		    c->peer, who, req->volume);
	else if (pushing && push.link_dest != NULL && !link)
		log_info("ssh %s (%s): %s comes without ACLs or xattrs and "
		    "its latest snapshot may have some: unchanged files are "
		    "copied from it, not linked", c->peer, who, req->volume);
	argv = sshd_argv(srv, req, pushing ? &push : NULL, link,
	    pushing ? push.dir : cwd);
	/*
	 * A pull reads every file of the snapshot: read them ahead. A push
	 * looks at every file of its basis (the copy it rewrites, or the
	 * snapshot it links to): warm their metadata.
	 */
	if (req->kind == RSYNC_PULL) {
		ahead.dir = cwd;
		ahead.flags = PREFETCH_DATA;
	} else if (pushing && push.in_place)
		ahead.dir = cwd;
	else if (pushing && push.link_dest != NULL &&
	    strncmp(push.link_dest, "../", 3) == 0)
		ahead.dir = basis = xasprintf("%s/%s", push.dir,
		    push.link_dest + 3);
	ahead.flush = pushing;
	status = sshd_relay_child(c, ch, who, srv->rsync, argv, cwd,
	    &ahead, &received, &cause);
	if (status < 0)
		goto refuse;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (pushing) {
		pushing = 0;
		if (status != 0) {
			log_info("ssh %s (%s): backup of %s failed (rsync exit "
			    "%d); no snapshot made", c->peer, who, req->volume,
			    status);
			snap_abort(&push);
		} else if (sshd_commit(c, &push, &cause) != 0) {
			msg = xasprintf("privateer: the snapshot could not be "
			    "completed: %s\n", cause);
			ssh_channel_write_stderr(ch, msg, (uint32_t)strlen(msg));
			log_error("ssh %s (%s): %s", c->peer, who, cause);
			free(msg);
			status = 1;
		} else {
			clock_gettime(CLOCK_MONOTONIC, &t2);
			log_info("ssh %s (%s): snapshot of %s complete "
			    "(copy %.2f s%s, rsync %.2f s, sync %.2f s, %llu "
			    "bytes in)", c->peer, who, req->volume, copy_s,
			    prepared ? ", made ahead" : "",
			    ts_seconds(&t0, &t1) - copy_s,
			    ts_seconds(&t1, &t2), (unsigned long long)received);
			sshd_after_backup(srv, who, req->volume);
		}
	}
	goto out;
refuse:
	sshd_refuse(c, ch, who, cause != NULL ? cause : "failed");
	status = -1;
out:
	if (pushing)
		snap_abort(&push);
	sshd_argv_free(argv);
	free(basis);
	free(cwd);
	free(cause);
	return status;
}

/* A snapshot as a tar stream: `privateer pack export` in its directory. */
static int
sshd_export(struct sshd_conn *c, ssh_channel ch, const char *who,
    const struct rsync_export *req)
{
	struct sshd *srv = c->srv;
	char *cwd = NULL, *cause = NULL, *argv[8];
	struct sshd_ahead ahead = { NULL, PREFETCH_DATA, 0 };
	uint64_t received;
	int status = -1;

	if (srv->exe == NULL)
		cause = xstrdup("this server cannot export");
	else if (snap_resolve(srv->root, req->source, req->volume,
	    req->snapshot, &cwd, &cause) == 0) {
		argv[0] = srv->exe;
		argv[1] = "pack";
		argv[2] = "export";
		argv[3] = ".";
		argv[4] = "--unmunge";
		argv[5] = "--compress";
		argv[6] = req->compress;
		argv[7] = NULL;
		ahead.dir = cwd;
		status = sshd_relay_child(c, ch, who, srv->exe, argv, cwd,
		    &ahead, &received, &cause);
	}
	if (status < 0)
		sshd_refuse(c, ch, who, cause != NULL ? cause : "failed");
	free(cwd);
	free(cause);
	return status;
}

/*
 * "privateer-verify": a child (`privateer verify-snapshots`) checks the
 * snapshots against their manifests and writes its report, or the
 * manifest itself, to the channel; its exit status is the answer.
 */
static int
sshd_verify(struct sshd_conn *c, ssh_channel ch, const char *who,
    const struct rsync_verify *req)
{
	struct sshd *srv = c->srv;
	char *cause = NULL, *argv[9];
	uint64_t received;
	int status = -1, i = 0;

	if (srv->exe == NULL)
		cause = xstrdup("this server cannot verify");
	else {
		argv[i++] = srv->exe;
		argv[i++] = "verify-snapshots";
		argv[i++] = srv->root;
		argv[i++] = req->source;
		argv[i++] = req->volume;
		argv[i++] = req->snapshot;
		if (req->manifest)
			argv[i++] = "--manifest";
		argv[i] = NULL;
		status = sshd_relay_child(c, ch, who, srv->exe, argv, srv->root,
		    NULL, &received, &cause);
	}
	if (status < 0)
		sshd_refuse(c, ch, who, cause != NULL ? cause : "failed");
	free(cause);
	return status;
}

/* "privateer-store": which method the store uses, for the client. */
static int
sshd_store_answer(struct sshd_conn *c, ssh_channel ch)
{
	char *line = xasprintf("%s\n", c->srv->store->name);

	ssh_channel_write(ch, line, (uint32_t)strlen(line));
	free(line);
	return 0;
}

/*
 * Gives the client a moment to close its side first, so OpenSSH does not
 * report "closed by remote host" after a clean exit.
 */
static void
sshd_linger(struct sshd_conn *c)
{
	ssh_message msg;
	long timeout = 2;
	time_t deadline = time(NULL) + 3;

	ssh_options_set(c->session, SSH_OPTIONS_TIMEOUT, &timeout);
	while (time(NULL) < deadline &&
	    (msg = ssh_message_get(c->session)) != NULL) {
		ssh_message_reply_default(msg);
		ssh_message_free(msg);
	}
}

static void
sshd_conn_session(struct sshd_conn *c)
{
	struct sshd *srv = c->srv;
	struct rsync_request req;
	ssh_channel ch = NULL;
	char *command = NULL, *cause = NULL;
	const char *who;
	time_t deadline;
	long timeout = srv->auth_seconds;
	int status;

	deadline = time(NULL) + srv->auth_seconds;
	ssh_options_set(c->session, SSH_OPTIONS_TIMEOUT, &timeout);
	sshkey_keepalive(ssh_get_fd(c->session));
	if (ssh_handle_key_exchange(c->session) != SSH_OK) {
		log_info("ssh %s: key exchange failed: %s", c->peer,
		    ssh_get_error(c->session));
		return;
	}
	who = sshd_auth(c, deadline);
	if (who == NULL) {
		pthread_mutex_lock(&srv->lock);
		srv->stats.refused++;
		pthread_mutex_unlock(&srv->lock);
		return;
	}
	ch = sshd_exec_request(c, who, time(NULL) + srv->auth_seconds,
	    &command);
	if (ch == NULL) {
		log_info("ssh %s (%s): no exec request", c->peer, who);
		return;
	}
	if (rsync_is_export(command)) {
		struct rsync_export ex;
		if (rsync_parse_export(command, &ex, &cause) != 0) {
			sshd_refuse(c, ch, who, cause);
			goto out;
		}
		log_info("ssh %s (%s): export of %s/%s/%s", c->peer, who,
		    ex.source, ex.volume, ex.snapshot);
		timeout = 0;
		ssh_options_set(c->session, SSH_OPTIONS_TIMEOUT, &timeout);
		status = sshd_export(c, ch, who, &ex);
		rsync_export_free(&ex);
		goto done;
	}
	if (rsync_is_verify(command)) {
		struct rsync_verify ve;
		if (rsync_parse_verify(command, &ve, &cause) != 0) {
			sshd_refuse(c, ch, who, cause);
			goto out;
		}
		log_info("ssh %s (%s): verify of %s/%s/%s", c->peer, who,
		    ve.source, ve.volume, ve.snapshot);
		timeout = 0;
		ssh_options_set(c->session, SSH_OPTIONS_TIMEOUT, &timeout);
		status = sshd_verify(c, ch, who, &ve);
		rsync_verify_free(&ve);
		goto done;
	}
	if (rsync_is_store(command)) {
		status = sshd_store_answer(c, ch);
		goto done;
	}
	if (rsync_parse_for(command, srv->store->cow, &req, &cause) != 0) {
		sshd_refuse(c, ch, who, cause);
		goto out;
	}
	log_info("ssh %s (%s): %s %s%s%s%s%s", c->peer, who,
	    req.kind == RSYNC_PUSH ? "backup of" : req.kind == RSYNC_PULL ?
	    "restore of" : "listing of", req.kind == RSYNC_PUSH ? "" :
	    req.source, req.kind == RSYNC_PUSH ? "" : "/", req.volume,
	    req.snapshot != NULL ? "/" : "", req.snapshot != NULL ?
	    req.snapshot : "");
	/* The transfer itself may be long: no session timeout now. */
	timeout = 0;
	ssh_options_set(c->session, SSH_OPTIONS_TIMEOUT, &timeout);
	status = sshd_run(c, ch, who, &req);
	rsync_request_free(&req);
done:
	if (status >= 0) {
		ssh_channel_request_send_exit_status(ch, status);
		ssh_channel_send_eof(ch);
	}
out:
	free(cause);
	free(command);
	ssh_channel_close(ch);
	sshd_linger(c);
	ssh_channel_free(ch);
}

static void *
sshd_conn_main(void *arg)
{
	struct sshd_conn *c = arg, **pp;
	struct sshd *srv = c->srv;

	sshd_conn_session(c);
	/* Out of the list before its session goes: sshd_stop reaches the
	 * sessions of the listed connections. */
	pthread_mutex_lock(&srv->lock);
	for (pp = &srv->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	ssh_disconnect(c->session);
	ssh_free(c->session);
	pthread_mutex_lock(&srv->lock);
	srv->stats.active--;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	free(c);
	return NULL;
}

static void
sshd_peer_name(ssh_session session, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[48];
	int port = 0;

	snprintf(buf, len, "?");
	if (getpeername(ssh_get_fd(session), (struct sockaddr *)&ss,
	    &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		port = ntohs(sin6->sin6_port);
	} else
		return;
	snprintf(buf, len, "%s:%d", host, port);
}

/*
 * The handshake and rsync's exchanges are small messages that wait for an
 * answer: with Nagle's algorithm each waited for the peer's delayed ACK
 * (40 ms), a third of the time of a small backup.
 */
static void
sshd_nodelay(ssh_session session)
{
	int one = 1;

	(void)setsockopt(ssh_get_fd(session), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof one);
}

static void *
sshd_listener(void *arg)
{
	struct sshd *srv = arg;
	struct sshd_conn *c;
	struct pollfd pfd;
	ssh_session session;
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_mutex_lock(&srv->lock);
		if (srv->stopping) {
			pthread_mutex_unlock(&srv->lock);
			break;
		}
		pthread_mutex_unlock(&srv->lock);
		pfd.fd = ssh_bind_get_fd(srv->bind);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 250) <= 0)
			continue;
		session = ssh_new();
		if (ssh_bind_accept(srv->bind, session) != SSH_OK) {
			ssh_free(session);
			continue;
		}
		sshd_nodelay(session);
		c = xcalloc(1, sizeof *c);
		c->srv = srv;
		c->session = session;
		c->child = -1;
		sshd_peer_name(session, c->peer, sizeof c->peer);
		pthread_mutex_lock(&srv->lock);
		if (srv->stats.active >= (unsigned)srv->max_sessions) {
			pthread_mutex_unlock(&srv->lock);
			log_warn("ssh %s: too many sessions (%d); refused",
			    c->peer, srv->max_sessions);
			ssh_disconnect(session);
			ssh_free(session);
			free(c);
			continue;
		}
		c->next = srv->conns;
		srv->conns = c;
		srv->stats.active++;
		srv->stats.sessions++;
		pthread_mutex_unlock(&srv->lock);
		if (pthread_create(&t, &attr, sshd_conn_main, c) != 0) {
			log_error("ssh %s: cannot start a thread", c->peer);
			sshd_conn_main(c);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

/* Which safety options the installed rsync has. */
static void
sshd_probe_rsync(struct sshd *srv)
{
	char *argv[] = { srv->rsync, "--help", NULL }, *text;
	struct child sp;
	struct stat st;

	if (child_start(srv->rsync, argv, child_clean_env, "/", -1, -1, &sp,
	    NULL) != 0)
		return;
	close(sp.in);
	sp.in = -1;
	text = child_read_all(sp.out, 256 * 1024);
	child_close(&sp);
	(void)child_wait(&sp);
	srv->has_drop_d = strstr(text, "--drop-D") != NULL;
	srv->has_confine_root = strstr(text, "--confine-root") != NULL;
	srv->has_insecure_links = strstr(text, "--insecure-links") != NULL;
	free(text);
	/* Munged symlinks are safe only while this path does not exist. */
	if (srv->has_insecure_links && lstat(SSHD_MUNGE_PREFIX, &st) == 0) {
		log_error("ssh server: %s exists, so symlinks stored munged "
		    "could lead into it; backups use rsync's slower safe path "
		    "walk", SSHD_MUNGE_PREFIX);
		srv->has_insecure_links = 0;
	}
}

struct sshd *
sshd_start(const struct sshd_config *cfg, char **cause)
{
	struct sshd *srv = xcalloc(1, sizeof *srv);
	ssh_key hostkey = NULL;
	char *port, *why = NULL;
	size_t i;
	int verbosity = SSH_LOG_NOLOG;

	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->flush_lock, NULL);
	srv->flush_fd = -1;
	pthread_cond_init(&srv->cond, NULL);
	srv->root = xstrdup(cfg->root);
	srv->rsync = xstrdup(cfg->rsync);
	srv->exe = cfg->exe != NULL ? xstrdup(cfg->exe) : NULL;
	if (cfg->self != NULL && cfg->volumes_root != NULL) {
		srv->self = xstrdup(cfg->self);
		srv->volumes_root = xstrdup(cfg->volumes_root);
		srv->local_volumes = xcalloc(cfg->nlocal + 1,
		    sizeof *srv->local_volumes);
		for (i = 0; i < cfg->nlocal; i++)
			srv->local_volumes[i] = xstrdup(cfg->local_volumes[i]);
		srv->nlocal = cfg->nlocal;
	}
	srv->policy = cfg->policy;
	srv->auth_seconds = cfg->auth_seconds > 0 ? cfg->auth_seconds : 30;
	srv->max_sessions = cfg->max_sessions > 0 ? cfg->max_sessions : 32;
	srv->keepalive_seconds = cfg->keepalive_seconds > 0 ?
	    cfg->keepalive_seconds : 15;
	if (mkdir(srv->root, 0700) != 0 && errno != EEXIST) {
		set_cause(cause, "creating %s: %s", srv->root, strerror(errno));
		goto fail;
	}
	snap_recover(srv->root);
	sshd_probe_rsync(srv);
	srv->store = store_pick(srv->root, srv->has_confine_root, &why);
	srv->compress = cfg->compress;
	log_info("snapshot store: %s (%s)%s%s", srv->store->name,
	    srv->store == &store_btrfs ? (srv->compress ? "read-only "
	    "subvolumes, zstd" : "read-only subvolumes") :
	    srv->store == &store_reflink ? "files cloned with FICLONE" :
	    "unchanged files hard-linked", why != NULL ? "; " : "",
	    why != NULL ? why : "");
	free(why);
	srv->peers = xcalloc(cfg->nclients, sizeof *srv->peers);
	for (i = 0; i < cfg->nclients; i++) {
		ssh_key key = sshkey_parse_public(cfg->clients[i].public_key);

		if (key != NULL) {
			srv->peers[srv->npeers].name =
			    xstrdup(cfg->clients[i].name);
			srv->peers[srv->npeers++].key = key;
		} else
			log_error("ssh server: the public key of %s does not "
			    "decode; it cannot connect", cfg->clients[i].name);
	}
	if (ssh_pki_import_privkey_base64(cfg->host_key, NULL, NULL, NULL,
	    &hostkey) != SSH_OK) {
		set_cause(cause, "the host key does not decode");
		goto fail;
	}
	srv->bind = ssh_bind_new();
	port = xasprintf("%d", cfg->port);
	ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_BINDADDR,
	    cfg->address);
	ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_BINDPORT_STR, port);
	ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_LOG_VERBOSITY,
	    &verbosity);
	free(port);
	if (ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_IMPORT_KEY,
	    hostkey) != SSH_OK) {
		set_cause(cause, "cannot use the host key: %s",
		    ssh_get_error(srv->bind));
		ssh_key_free(hostkey);
		goto fail;
	}
	if (ssh_bind_listen(srv->bind) != SSH_OK) {
		set_cause(cause, "cannot listen on %s port %d: %s",
		    cfg->address, cfg->port, ssh_get_error(srv->bind));
		goto fail;
	}
	if (pthread_create(&srv->listener, NULL, sshd_listener, srv) != 0) {
		set_cause(cause, "cannot start the ssh listener thread");
		goto fail;
	}
	log_info("ssh server listening on %s port %d for %zu client(s); "
	    "snapshots in %s", cfg->address, cfg->port, srv->npeers,
	    srv->root);
	return srv;
fail:
	srv->stopping = 2;
	sshd_stop(srv);
	return NULL;
}

void
sshd_stop(struct sshd *srv)
{
	struct sshd_conn *c;
	size_t i;

	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	if (srv->stopping != 2) {
		srv->stopping = 1;
		pthread_mutex_unlock(&srv->lock);
		pthread_join(srv->listener, NULL);
		pthread_mutex_lock(&srv->lock);
	}
	/* End live sessions: their sockets fail, their rsync is stopped. */
	for (c = srv->conns; c != NULL; c = c->next) {
		shutdown(ssh_get_fd(c->session), SHUT_RDWR);
		if (c->child > 0)
			kill(c->child, SIGTERM);
	}
	while (srv->stats.active > 0)
		pthread_cond_wait(&srv->cond, &srv->lock);
	/* The work after backups ends at its next step; one still in a
	 * long step (a manifest's hashing) is cut with the process, as a
	 * crash would, and keeps what it uses: srv is not freed then. */
	srv->after_stop = 1;
	if (srv->after_running > 0) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SSHD_AFTER_STOP_MS / 1000;
		while (srv->after_running > 0 && pthread_cond_timedwait(
		    &srv->cond, &srv->lock, &until) != ETIMEDOUT)
			;
		if (srv->after_running > 0) {
			log_info("ssh server stopped; %u backup(s)' work after "
			    "the transfer cut short (the next backup redoes "
			    "it)", srv->after_running);
			pthread_mutex_unlock(&srv->lock);
			return;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	if (srv->bind != NULL)
		ssh_bind_free(srv->bind);
	for (i = 0; i < srv->npeers; i++) {
		free(srv->peers[i].name);
		ssh_key_free(srv->peers[i].key);
	}
	free(srv->peers);
	free(srv->root);
	free(srv->rsync);
	free(srv->exe);
	free(srv->self);
	free(srv->volumes_root);
	for (i = 0; i < srv->nlocal; i++)
		free(srv->local_volumes[i]);
	free(srv->local_volumes);
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->flush_lock);
	free(srv);
}

const char *
sshd_store_name(struct sshd *srv)
{
	return srv->store != NULL ? srv->store->name : "hardlink";
}

void
sshd_get_stats(struct sshd *srv, struct sshd_stats *out)
{
	pthread_mutex_lock(&srv->lock);
	*out = srv->stats;
	pthread_mutex_unlock(&srv->lock);
}
