/*
 * fake_os: the in-memory vol_os of fake_os.h. The registry calls it from
 * several threads at once (changes of different volumes), so one mutex
 * guards the fake's memory; a held write waits on a condition.
 */
#include "fake_os.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct fake_os_state fake_os_state;

static pthread_mutex_t fake_os_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_os_cond = PTHREAD_COND_INITIALIZER;
static int fake_os_holding;
static unsigned fake_os_nheld;

static int
fake_os_find(const char *path)
{
	size_t i;

	for (i = 0; i < fake_os_state.nmounted; i++) {
		if (strcmp(fake_os_state.mounted[i], path) == 0)
			return (int)i;
	}
	return -1;
}

static void
fake_os_forget(size_t i)
{
	struct fake_os_state *s = &fake_os_state;

	free(s->mounted[i]);
	free(s->source[i]);
	s->nmounted--;
	s->mounted[i] = s->mounted[s->nmounted];
	s->source[i] = s->source[s->nmounted];
	s->mounted[s->nmounted] = NULL;
	s->source[s->nmounted] = NULL;
}

static void
fake_os_remember(const char *path, const char *src)
{
	struct fake_os_state *s = &fake_os_state;
	int i = fake_os_find(path);

	if (i >= 0) {
		free(s->source[i]);
		s->source[i] = xstrdup(src);
		return;
	}
	if (s->nmounted == FAKE_OS_MAX)
		fatal("fake_os: more than %d mounts", FAKE_OS_MAX);
	s->mounted[s->nmounted] = xstrdup(path);
	s->source[s->nmounted] = xstrdup(src);
	s->nmounted++;
}

void
fake_os_reset(void)
{
	struct fake_os_state *s = &fake_os_state;

	pthread_mutex_lock(&fake_os_lock);
	while (s->nmounted > 0)
		fake_os_forget(s->nmounted - 1);
	free(s->last_bind_src);
	free(s->last_bind_dst);
	free(s->last_unbind);
	memset(s, 0, sizeof *s);
	fake_os_holding = 0;
	pthread_cond_broadcast(&fake_os_cond);
	pthread_mutex_unlock(&fake_os_lock);
}

int
fake_os_is_mounted(const char *path)
{
	return fake_os_find(path) >= 0;
}

void
fake_os_set_mounted(const char *path, const char *src, int on)
{
	int i = fake_os_find(path);

	if (on)
		fake_os_remember(path, src != NULL ? src : "");
	else if (i >= 0)
		fake_os_forget((size_t)i);
}

const char *
fake_os_source(const char *path)
{
	int i = fake_os_find(path);

	return i >= 0 ? fake_os_state.source[i] : NULL;
}

static int
fake_os_bind(const char *src, const char *dst, char **cause)
{
	struct fake_os_state *s = &fake_os_state;
	int rc = -1;

	pthread_mutex_lock(&fake_os_lock);
	if (s->fail_bind > 0) {
		s->fail_bind--;
		set_cause(cause, "fake bind of %s on %s failed", src, dst);
		goto out;
	}
	if (mkdir(dst, 0755) != 0 && errno != EEXIST) {
		set_cause(cause, "fake bind: creating %s: %s", dst,
		    strerror(errno));
		goto out;
	}
	fake_os_remember(dst, src);
	s->binds++;
	free(s->last_bind_src);
	free(s->last_bind_dst);
	s->last_bind_src = xstrdup(src);
	s->last_bind_dst = xstrdup(dst);
	rc = 0;
out:
	pthread_mutex_unlock(&fake_os_lock);
	return rc;
}

static int
fake_os_unbind(const char *dst, char **cause)
{
	struct fake_os_state *s = &fake_os_state;
	int i;

	pthread_mutex_lock(&fake_os_lock);
	s->unbind_calls++;
	if (s->fail_unbind > 0) {
		s->fail_unbind--;
		pthread_mutex_unlock(&fake_os_lock);
		set_cause(cause, "fake unbind of %s failed", dst);
		return -1;
	}
	i = fake_os_find(dst);
	if (i >= 0) {
		fake_os_forget((size_t)i);
		s->unbinds++;
		free(s->last_unbind);
		s->last_unbind = xstrdup(dst);
	}
	(void)rmdir(dst);
	pthread_mutex_unlock(&fake_os_lock);
	return 0;
}

static int
fake_os_mounted(const char *path)
{
	int on;

	pthread_mutex_lock(&fake_os_lock);
	on = fake_os_is_mounted(path);
	pthread_mutex_unlock(&fake_os_lock);
	return on;
}

/* Counts a step (fake_os_lock held); 1 if it is the one that crashes. */
static int
fake_os_step_crashes(void)
{
	struct fake_os_state *s = &fake_os_state;

	s->steps++;
	if (s->crash_at != 0 && s->steps == s->crash_at)
		s->crashed = 1;
	return s->crashed;
}

/*
 * write_file_atomic's steps (write_file_new's when fresh: no temporary, no
 * rename), one at a time, each first counted; stops where the crash comes
 * (fake_os_lock held, so the count is one sequence).
 */
static int
fake_os_write_steps(const char *path, const void *data, size_t len,
    int fresh, char **cause)
{
	static const char *const names[] = { "creating the temporary",
	    "writing its first half", "writing the rest", "fsync",
	    "rename", "fsync of the directory" };
	char *tmp = fresh ? xstrdup(path) : xasprintf("%s.tmp-fakecrash%u",
	    path, fake_os_state.writes), *dir = NULL;
	size_t half = len / 2;
	int fd = -1, step, rc = -1;

	for (step = 0; step < 6; step++) {
		if (fresh && step == 4)
			continue;
		if (fake_os_step_crashes()) {
			set_cause(cause, "fake crash at step %u (%s) of writing "
			    "%s", fake_os_state.steps, names[step], path);
			goto out;
		}
		switch (step) {
		case 0:
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
			if (fd < 0)
				goto fail;
			break;
		case 1:
			if (write_all(fd, data, half) != 0)
				goto fail;
			break;
		case 2:
			if (write_all(fd, (const char *)data + half,
			    len - half) != 0)
				goto fail;
			break;
		case 3:
			if (fsync(fd) != 0 || close(fd) != 0)
				goto fail;
			fd = -1;
			break;
		case 4:
			if (rename(tmp, path) != 0)
				goto fail;
			break;
		case 5:
			dir = xstrdup(path);
			if (fsync_dir(dirname(dir)) != 0)
				goto fail;
			break;
		}
	}
	rc = 0;
	goto out;
fail:
	set_cause(cause, "fake write of %s: %s", path, strerror(errno));
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dir);
	return rc;
}

static int
fake_os_write_file(const char *path, const void *data, size_t len,
    int fresh, char **cause)
{
	struct fake_os_state *s = &fake_os_state;
	int rc;

	pthread_mutex_lock(&fake_os_lock);
	s->writes++;
	if (s->crash_steps) {
		if (s->crashed) {
			set_cause(cause, "fake write of %s after the crash",
			    path);
			rc = -1;
		} else
			rc = fake_os_write_steps(path, data, len, fresh,
			    cause);
		pthread_mutex_unlock(&fake_os_lock);
		return rc;
	}
	if (s->fail_write > 0) {
		s->fail_write--;
		pthread_mutex_unlock(&fake_os_lock);
		set_cause(cause, "fake write of %s failed", path);
		return -1;
	}
	fake_os_nheld++;
	pthread_cond_broadcast(&fake_os_cond);
	while (fake_os_holding)
		pthread_cond_wait(&fake_os_cond, &fake_os_lock);
	fake_os_nheld--;
	pthread_mutex_unlock(&fake_os_lock);
	if (fresh)
		return write_file_new(path, data, len, 0600, cause);
	return write_file_atomic(path, data, len, 0600, cause);
}

void
fake_os_hold_writes(int on)
{
	pthread_mutex_lock(&fake_os_lock);
	fake_os_holding = on;
	pthread_cond_broadcast(&fake_os_cond);
	pthread_mutex_unlock(&fake_os_lock);
}

int
fake_os_wait_held(unsigned n, int ms)
{
	struct timespec deadline;
	int ok;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fake_os_lock);
	while (fake_os_nheld < n && pthread_cond_timedwait(&fake_os_cond,
	    &fake_os_lock, &deadline) != ETIMEDOUT)
		;
	ok = fake_os_nheld >= n;
	pthread_mutex_unlock(&fake_os_lock);
	return ok;
}

unsigned
fake_os_held(void)
{
	unsigned n;

	pthread_mutex_lock(&fake_os_lock);
	n = fake_os_nheld;
	pthread_mutex_unlock(&fake_os_lock);
	return n;
}

const struct vol_os fake_os = {
	fake_os_bind,
	fake_os_unbind,
	fake_os_mounted,
	fake_os_write_file,
};
