/*
 * child: fork and execve. Between fork and execve the child only makes
 * async-signal-safe calls, since the plugin is multi-threaded.
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#include <linux/close_range.h>
#endif

char *const child_clean_env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };

int
child_self_exe(char *buf, size_t len, char **cause)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n <= 0) {
		set_cause(cause, "cannot find the privateer binary: %s",
		    n < 0 ? strerror(errno) : "empty link");
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

int
child_start(const char *path, char *const argv[], char *const envp[],
    const char *cwd, int keep_fd, int keep_as, struct child *s,
    char **cause)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct sigaction sa;
	sigset_t none;
	pid_t pid;
	int i;

	s->pid = -1;
	s->in = s->out = s->err = -1;
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
	    pipe2(err, O_CLOEXEC) != 0) {
		set_cause(cause, "pipe: %s", strerror(errno));
		goto fail;
	}
	sigemptyset(&none);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	pid = fork();
	if (pid < 0) {
		set_cause(cause, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0)
			_exit(127);
		if (keep_fd >= 0) {
			if (keep_fd == keep_as) {
				if (fcntl(keep_as, F_SETFD, 0) < 0)
					_exit(127);
			} else if (dup2(keep_fd, keep_as) < 0)
				_exit(127);
			close_range(3, (unsigned)keep_as - 1, 0);
			close_range((unsigned)keep_as + 1, ~0U, 0);
		} else
			close_range(3, ~0U, 0);
		for (i = 1; i < NSIG; i++)
			(void)sigaction(i, &sa, NULL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (chdir(cwd != NULL ? cwd : "/") != 0)
			_exit(126);
		execve(path, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	s->pid = pid;
	s->in = in[1];
	s->out = out[0];
	s->err = err[0];
	return 0;
fail:
	for (i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return -1;
}

int
child_wait(struct child *s)
{
	int status;

	if (s->pid < 0)
		return -1;
	while (waitpid(s->pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	s->pid = -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

void
child_close(struct child *s)
{
	if (s->in >= 0)
		close(s->in);
	if (s->out >= 0)
		close(s->out);
	if (s->err >= 0)
		close(s->err);
	s->in = s->out = s->err = -1;
}

char *
child_read_all(int fd, size_t cap)
{
	char *buf = xmalloc(cap + 1), tmp[4096];
	size_t len = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < cap) {
			size_t take = (size_t)n < cap - len ? (size_t)n :
			    cap - len;
			memcpy(buf + len, tmp, take);
			len += take;
		}
	}
	buf[len] = '\0';
	return buf;
}
