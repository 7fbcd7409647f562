/*
 * meta: a volume's persisted metadata (name, creation time, options, mount
 * references) as <volume dir>/meta.json, always replaced atomically: write a
 * temporary file, fsync, rename, fsync the directory. A crash leaves either
 * the old or the new document, never a torn one.
 */
#ifndef PRIVATEER_META_H
#define PRIVATEER_META_H

#include <jansson.h>
#include <time.h>

#include "refs.h"

#define META_FILE "meta.json"
#define META_VERSION 1
#define META_MAX_BYTES (1024 * 1024)

struct vol_meta {
	char *name;
	time_t created;
	json_t *options;	/* object of strings; owned */
	struct refs refs;
	long long last_used;	/* last mount or unmount, ms; 0: never */
	json_t *backups;	/* per server: last results; owned, may be NULL */
	json_t *restore;	/* restore-from state, or NULL; owned */
};

/* Caller owns the result. */
json_t *meta_encode(const struct vol_meta *);
/* Fills *dst with a deep copy of src (free with meta_free). */
void meta_copy(struct vol_meta *dst, const struct vol_meta *src);
/* Fills *m (free with meta_free); -1 with *cause naming the bad field. */
int meta_decode(const json_t *, struct vol_meta *m, char **cause);
void meta_free(struct vol_meta *);

/*
 * doc as the text meta_write_json writes (indented, sorted keys, a final
 * newline), *len bytes; caller frees. NULL if it cannot be encoded.
 */
char *meta_format(const json_t *doc, size_t *len);
/* Writes doc to path atomically and durably; 0 or -1 with *cause. */
int meta_write_json(const char *path, const json_t *doc, char **cause);
/* Saves m as dir/meta.json. */
int meta_save(const char *dir, const struct vol_meta *m, char **cause);
/* Loads dir/meta.json into *m. */
int meta_load(const char *dir, struct vol_meta *m, char **cause);

#endif
