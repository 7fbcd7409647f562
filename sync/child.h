/*
 * child: child processes without a shell. The child gets an absolute path,
 * an argv built by the caller, the environment given (never the parent's),
 * a working directory, pipes for stdin/stdout/stderr, default signal
 * handling, and no other descriptor of the parent except, optionally, one
 * named descriptor (how a private key reaches the ssh transport).
 */
#ifndef PRIVATEER_CHILD_H
#define PRIVATEER_CHILD_H

#include <sys/types.h>

struct child {
	pid_t pid;
	int in;		/* write end of the child's stdin, or -1 */
	int out;	/* read end of its stdout */
	int err;	/* read end of its stderr */
};

/*
 * Starts path with argv and envp in cwd (NULL: "/"). keep_fd, if >= 0, is
 * passed to the child as descriptor number keep_as. 0, or -1 with *cause.
 */
int child_start(const char *path, char *const argv[], char *const envp[],
    const char *cwd, int keep_fd, int keep_as, struct child *out,
    char **cause);
/* The environment every child gets: a fixed PATH and the C locale. */
extern char *const child_clean_env[];
/* The absolute path of the running binary (privateer runs itself as its
 * helpers: transport, pack). 0, or -1 with *cause. */
int child_self_exe(char *buf, size_t len, char **cause);
/* Waits for the child; returns its exit status, 128+N if killed by N. */
int child_wait(struct child *);
/* Closes whatever pipe ends are still open. */
void child_close(struct child *);
/* Reads all of fd (at most cap bytes kept) into a NUL-terminated string. */
char *child_read_all(int fd, size_t cap);

#endif
