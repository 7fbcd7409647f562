/*
 * fake_os: the in-memory vol_os of fake_os.h. Not thread-safe on its own;
 * the registry calls it with its lock held, which is enough.
 */
#include "fake_os.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct fake_os_state fake_os_state;

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

	while (s->nmounted > 0)
		fake_os_forget(s->nmounted - 1);
	free(s->last_bind_src);
	free(s->last_bind_dst);
	free(s->last_unbind);
	memset(s, 0, sizeof *s);
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

	if (s->fail_bind > 0) {
		s->fail_bind--;
		set_cause(cause, "fake bind of %s on %s failed", src, dst);
		return -1;
	}
	if (mkdir(dst, 0755) != 0 && errno != EEXIST) {
		set_cause(cause, "fake bind: creating %s: %s", dst,
		    strerror(errno));
		return -1;
	}
	fake_os_remember(dst, src);
	s->binds++;
	free(s->last_bind_src);
	free(s->last_bind_dst);
	s->last_bind_src = xstrdup(src);
	s->last_bind_dst = xstrdup(dst);
	return 0;
}

static int
fake_os_unbind(const char *dst, char **cause)
{
	struct fake_os_state *s = &fake_os_state;
	int i;

	s->unbind_calls++;
	if (s->fail_unbind > 0) {
		s->fail_unbind--;
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
	return 0;
}

static int
fake_os_mounted(const char *path)
{
	return fake_os_is_mounted(path);
}

const struct vol_os fake_os = {
	fake_os_bind,
	fake_os_unbind,
	fake_os_mounted,
};
