/*
 * rsync_argv: the exec command a client may send to the replication
 * server, checked against an allow-list modelled on rsync's rrsync and
 * stricter than it: the command must be `rsync --server [--sender] OPTIONS
 * . PATH` with options from a fixed list (no option that names a path, no
 * links-following, device, protect-args or daemon options, in-place
 * writes only into a copy-on-write store's private copy) and
 * one PATH in privateer's virtual layout. Pure functions: no I/O.
 */
#ifndef PRIVATEER_RSYNC_ARGV_H
#define PRIVATEER_RSYNC_ARGV_H

#include <stddef.h>

#define RSYNC_COMMAND_MAX 4096
#define RSYNC_MAX_ARGS 64

enum rsync_kind {
	RSYNC_PUSH,	/* client sends VOLUME: a new snapshot */
	RSYNC_PULL,	/* client reads SOURCE/VOLUME/SNAPSHOT */
	RSYNC_LIST,	/* client lists SOURCE/VOLUME/ (--list-only) */
};

struct rsync_request {
	enum rsync_kind kind;
	char **opts;		/* the client's options, validated */
	size_t nopts;
	char *source;		/* PULL, LIST: whose copy */
	char *volume;
	char *snapshot;		/* PULL: an ID or "latest" */
	int dry_run;		/* -n / --dry-run: nothing is written */
	int acls, xattrs;	/* -A, -X: the client sends ACLs, xattrs */
	int inplace, delete;	/* PUSH on a cow store: --inplace, --delete */
};

/*
 * Splits command at unescaped blanks; a backslash escapes the next
 * character. Quotes and shell metacharacters are refused (no shell ever
 * sees the command). 0, or -1 with *cause; free with rsync_words_free.
 */
int rsync_split(const char *command, char ***words, size_t *n, char **cause);
void rsync_words_free(char **words, size_t n);

/*
 * The one other command a client may send: `privateer-export SOURCE VOLUME
 * SNAPSHOT COMPRESSION`, a snapshot streamed as a tar file (read-only).
 */
#define RSYNC_EXPORT_COMMAND "privateer-export"

struct rsync_export {
	char *source;
	char *volume;
	char *snapshot;		/* an ID or "latest" */
	char *compress;		/* "none", "gzip" or "zstd" */
};

/*
 * `privateer-store`: the server answers with its snapshot store's method
 * (store.h), so a client knows whether to push in place.
 */
#define RSYNC_STORE_COMMAND "privateer-store"
int rsync_is_store(const char *command);

/* 1 if command is an export command (to be checked by the next). */
int rsync_is_export(const char *command);
/* 0, or -1 with *cause; free with rsync_export_free. */
int rsync_parse_export(const char *command, struct rsync_export *out,
    char **cause);
void rsync_export_free(struct rsync_export *);

/*
 * `privateer-verify SOURCE VOLUME ID|latest|all [manifest]`: the server
 * checks its snapshots against their manifests and answers with the
 * report (exit 1 if anything is damaged), or sends one snapshot's
 * manifest (for a comparison with the client's live volume). Read-only.
 */
#define RSYNC_VERIFY_COMMAND "privateer-verify"

struct rsync_verify {
	char *source;
	char *volume;
	char *snapshot;		/* an ID, "latest" or "all" */
	int manifest;		/* send the manifest instead */
};

/* 1 if command is a verify command (to be checked by the next). */
int rsync_is_verify(const char *command);
/* 0, or -1 with *cause; free with rsync_verify_free. */
int rsync_parse_verify(const char *command, struct rsync_verify *out,
    char **cause);
void rsync_verify_free(struct rsync_verify *);

/* Parses and checks command; 0, or -1 with *cause saying what is refused. */
int rsync_parse(const char *command, struct rsync_request *out, char **cause);
/*
 * The same for a server whose store is copy-on-write (cow != 0): a push
 * may then also carry --inplace and --delete (plain or -before, -during,
 * -delay, -after), since it writes into a private copy (store.h). The
 * server decides cow from its store, never from the request.
 */
int rsync_parse_for(const char *command, int cow, struct rsync_request *out,
    char **cause);
void rsync_request_free(struct rsync_request *);

#endif
