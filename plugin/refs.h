/*
 * refs: mount references of one volume, counted per mount ID. Docker reuses
 * a container's ID for `docker cp`, so one ID can hold several references;
 * the volume is unmounted when the last reference of the last ID goes.
 */
#ifndef PRIVATEER_REFS_H
#define PRIVATEER_REFS_H

#include <jansson.h>
#include <stddef.h>

#define REFS_ID_MAX 256
#define REFS_MAX 4096

struct ref {
	char *id;
	unsigned count;
};

struct refs {
	struct ref *v;
	size_t n;
};

/*
 * Adds one reference for id (copied). -1 if id is empty or longer than
 * REFS_ID_MAX, if REFS_MAX IDs are held, or at a million references.
 */
int refs_add(struct refs *, const char *id);
/* Drops one reference for id: 1 if it had one, 0 if id was unknown. */
int refs_del(struct refs *, const char *id);
unsigned refs_total(const struct refs *);
void refs_clear(struct refs *);
/* {"<id>": count, ...}; caller owns the result. */
json_t *refs_to_json(const struct refs *);
/* Replaces *r with the references in j; -1 with *cause on a bad document. */
int refs_from_json(struct refs *r, const json_t *j, char **cause);

#endif
