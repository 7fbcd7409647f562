/*
 * name: validation of the names that become path components — volume names
 * from Docker, and machine, volume and snapshot names from privateer.json or
 * volume options.
 */
#ifndef PRIVATEER_NAME_H
#define PRIVATEER_NAME_H

/* Docker's anonymous volumes are 64 hex digits; leave room beyond that. */
#define NAME_VOLUME_MAX 128
/* Machine names (PRODUCT.md §2). */
#define NAME_SAFE_MAX 64

/*
 * A Docker volume name: 1..NAME_VOLUME_MAX characters of [A-Za-z0-9_.-],
 * starting with a letter or digit, no "..". 0, or -1 with *cause (caller
 * frees) saying what is wrong.
 */
int name_volume_check(const char *name, char **cause);
/*
 * A machine or volume name in privateer.json: [A-Za-z0-9][A-Za-z0-9_.-]*, at
 * most NAME_SAFE_MAX characters. what names the thing in the message.
 */
int name_safe_check(const char *what, const char *name, char **cause);

#endif
