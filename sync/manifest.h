/*
 * manifest: what a snapshot held when the server made it — every entry's
 * path, type, mode, owner, size, mtime, link target and, for regular
 * files, a SHA-256 of the content — written once per snapshot, off the
 * client's wait, as <root>/.manifests/<client>/<volume>/<ID> (outside
 * every client's area; a name starting with '.' is never a client).
 * Building one reuses the previous snapshot's entry for a file rsync
 * would have left alone (same size, mtime, mode and owner), so its cost
 * follows what changed. Checking a directory against one (the snapshot
 * itself, or a client's live volume) reports every entry that is
 * missing, changed, damaged or unexpected, by path.
 *
 * The file: a header line "privateer-manifest 1 <ID>", then one line per
 * entry, parents before children:
 *   TYPE MODE UID GID SIZE MTIME HASH PATH [TARGET]
 * TYPE f d l p s c b; MODE octal permission bits; MTIME sec.nsec; HASH
 * hex or "-"; PATH relative ("." for the root) and TARGET with bytes
 * below '!', '%' and DEL as %XX.
 */
#ifndef PRIVATEER_MANIFEST_H
#define PRIVATEER_MANIFEST_H

#include <stddef.h>
#include <stdio.h>

#define MANIFEST_DIR ".manifests"
#define MANIFEST_MAX_BYTES (512L * 1024 * 1024)

struct manifest;

/* Where id's manifest is (caller frees). */
char *manifest_path(const char *root, const char *client, const char *volume,
    const char *id);
/*
 * Writes the manifest of snapshot id (reusing the newest earlier one's
 * entries); 0, or -1 with *cause.
 */
int manifest_build(const char *root, const char *client, const char *volume,
    const char *id, char **cause);
/*
 * After a push: builds the manifest of the latest snapshot if it has
 * none, and removes manifests whose snapshot is gone. 0 or -1 with *cause.
 */
int manifest_update(const char *root, const char *client, const char *volume,
    char **cause);

/* Parses a manifest's text; NULL with *cause. */
struct manifest *manifest_parse(const char *text, size_t len, char **cause);
/* Reads and parses id's manifest; NULL with *cause ("no manifest ..."). */
struct manifest *manifest_load(const char *root, const char *client,
    const char *volume, const char *id, char **cause);
void manifest_free(struct manifest *);
/* How many entries m holds. */
size_t manifest_entries(const struct manifest *);

/*
 * Called for each problem: what is "missing", "changed" (type, mode,
 * owner, size, mtime or target), "damaged" (content) or "unexpected" (not
 * in the manifest); detail says how.
 */
typedef void manifest_report_fn(void *arg, const char *what,
    const char *path, const char *detail);
/*
 * Checks dir against m. flags: MANIFEST_CHECK_NO_DIR_TIMES leaves out the
 * mtimes of directories (a live volume's change as files come and go);
 * MANIFEST_CHECK_UNMUNGE (below).
 * The number of problems, or -1 with *cause if dir cannot be read at all.
 */
#define MANIFEST_CHECK_NO_DIR_TIMES 0x1
/*
 * MANIFEST_CHECK_UNMUNGE: the server stores symlinks munged (rsync's
 * --munge-links puts "/rsyncd-munged/" before the target); compare the
 * live volume's with the target without it.
 */
#define MANIFEST_CHECK_UNMUNGE 0x2
#define MANIFEST_MUNGE_PREFIX "/rsyncd-munged/"
long manifest_check(const struct manifest *m, const char *dir, int flags,
    manifest_report_fn *report, void *arg, char **cause);

/*
 * Checks client's snapshots of volume kept under root — which is an ID,
 * "latest" or "all" — against their manifests, writing one line per
 * problem ("<client>/<volume>/<ID>: damaged: PATH (content)") and one per
 * snapshot (": ok (N entries)", ": N problem(s)", ": not checked: ...")
 * to out. The number of problems, or -1 with *cause (no such snapshot).
 */
long manifest_verify(const char *root, const char *client,
    const char *volume, const char *which, FILE *out, char **cause);

#endif
