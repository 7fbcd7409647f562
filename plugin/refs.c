/*
 * refs: a small array; a volume rarely has more than a handful of users.
 */
#include "refs.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static struct ref *
refs_find(const struct refs *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (strcmp(r->v[i].id, id) == 0)
			return &r->v[i];
	}
	return NULL;
}

int
refs_add(struct refs *r, const char *id)
{
	struct ref *ref = refs_find(r, id);

	if (*id == '\0' || strlen(id) > REFS_ID_MAX)
		return -1;
	if (ref != NULL) {
		if (ref->count >= 1000000)
			return -1;
		ref->count++;
		return 0;
	}
	if (r->n >= REFS_MAX)
		return -1;
	r->v = xreallocarray(r->v, r->n + 1, sizeof *r->v);
	r->v[r->n].id = xstrdup(id);
	r->v[r->n].count = 1;
	r->n++;
	return 0;
}

int
refs_del(struct refs *r, const char *id)
{
	struct ref *ref = refs_find(r, id);
	size_t i;

	if (ref == NULL)
		return 0;
	if (--ref->count == 0) {
		i = (size_t)(ref - r->v);
		free(ref->id);
		memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof *r->v);
		r->n--;
	}
	return 1;
}

unsigned
refs_total(const struct refs *r)
{
	unsigned total = 0;
	size_t i;

	for (i = 0; i < r->n; i++)
		total += r->v[i].count;
	return total;
}

void
refs_clear(struct refs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->v[i].id);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

json_t *
refs_to_json(const struct refs *r)
{
	json_t *j = json_object();
	size_t i;

	for (i = 0; i < r->n; i++)
		json_object_set_new(j, r->v[i].id,
		    json_integer((json_int_t)r->v[i].count));
	return j;
}

int
refs_from_json(struct refs *r, const json_t *j, char **cause)
{
	struct refs tmp = { NULL, 0 };
	const char *id;
	json_t *count;
	json_int_t c;

	if (!json_is_object(j)) {
		set_cause(cause, "mounts must be an object");
		return -1;
	}
	json_object_foreach((json_t *)j, id, count) {
		c = json_is_integer(count) ? json_integer_value(count) : 0;
		if (c < 1 || c > 1000000 || *id == '\0' ||
		    strlen(id) > REFS_ID_MAX || tmp.n >= REFS_MAX) {
			set_cause(cause, "mount reference \"%.64s\" is not "
			    "valid", id);
			refs_clear(&tmp);
			return -1;
		}
		tmp.v = xreallocarray(tmp.v, tmp.n + 1, sizeof *tmp.v);
		tmp.v[tmp.n].id = xstrdup(id);
		tmp.v[tmp.n].count = (unsigned)c;
		tmp.n++;
	}
	refs_clear(r);
	*r = tmp;
	return 0;
}
