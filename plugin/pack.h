/*
 * pack: volumes as tar files, with libarchive.
 *
 * Export walks a directory and writes a pax archive to a descriptor:
 * contents, modes, numeric owners (and names where this machine knows
 * them), mtimes, hard links, symlinks as links, xattrs and ACLs where
 * present, sparse files as sparse entries. Entries are named "./PATH",
 * like `tar -C DIR -c .`, so GNU tar extracts them where it is run.
 *
 * Import reads a tar (plain, gzip, zstd, xz or bzip2, detected) from a
 * descriptor into an empty directory and refuses, naming the entry, every
 * entry that could write outside it or is not data: absolute paths, ".."
 * components, writes through symlinks, hard links leaving the tree, device
 * nodes, over-long names, sizes larger than the free space. Any refusal or
 * error ends the import; the caller removes the half-made directory.
 *
 * Both are meant to run in a child process (`privateer pack ...`), so a
 * hostile or corrupt archive can at worst end that child, never the plugin.
 */
#ifndef PRIVATEER_PACK_H
#define PRIVATEER_PACK_H

#include <stdint.h>

enum pack_compress {
	PACK_NONE,
	PACK_GZIP,
	PACK_ZSTD,
};

/* "none", "gzip", "zstd" (also "gz", "zst"); 0, or -1 if unknown. */
int pack_compress_parse(const char *name, enum pack_compress *out);
const char *pack_compress_name(enum pack_compress);
/* The file name suffix: ".tar", ".tar.gz", ".tar.zst". */
const char *pack_suffix(enum pack_compress);

/* Export: symlink targets were stored by rsync --munge-links (a server's
 * snapshot): write them as the client had them. */
#define PACK_UNMUNGE 0x1

struct pack_stats {
	uint64_t entries;
	uint64_t bytes;		/* file contents */
	uint64_t skipped;	/* export: sockets and devices left out */
	uint64_t dropped_xattrs;	/* import: non-user xattrs not set */
};

/*
 * Writes the tree under dir as an archive to fd. 0, or -1 with *cause
 * (the archive written so far is then incomplete). Warnings (skipped
 * sockets and device nodes) go to stderr.
 */
int pack_export(const char *dir, int fd, enum pack_compress, int flags,
    struct pack_stats *, char **cause);

/*
 * Extracts the archive read from fd into dir, which must exist and be
 * empty. 0, or -1 with *cause naming the entry and what is wrong with it.
 */
int pack_import(int fd, const char *dir, struct pack_stats *, char **cause);

/*
 * `privateer pack export DIR [--compress C] [--unmunge]` (archive on
 * stdout) and `privateer pack import DIR` (archive on stdin): the child
 * processes the plugin runs. Exit 0 with a JSON line of statistics on
 * stdout (import), or 1 with the reason on stderr.
 */
int pack_main(int argc, char **argv);

#endif
