/*
 * test_rsync_argv: the allow-list for the one command a client may exec on
 * the replication server. A table of command lines, each either accepted
 * (with the kind PUSH/PULL/LIST, the source, volume and snapshot it names,
 * the dry-run flag and the exact options kept for rsync) or refused (with a
 * word of the cause). The accepted lines start with what real rsync 3.x
 * clients send for privateer's backup, restore, listing and dry run; the
 * refused ones cover every option the module refuses by name, options with
 * bad values, paths outside the virtual layout, a broken command structure
 * and shell quoting. Generated cases cover each shell metacharacter, control
 * characters and the length and word-count limits, and rsync_split is
 * tested on its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsync_argv.h"
#include "util.h"

#define MAX_OPTS 12

/* What real rsync 3.x sends for -rlptgoHAX (privateer's data options). */
#define FLAGS "-lHogtpAXre.iLsfxCIvu"
#define NAME64 "v2345678901234567890123456789012" \
    "34567890123456789012345678901234"
#define NAME65 NAME64 "5"

struct accept_case {
	const char *command;
	enum rsync_kind kind;
	const char *source;
	const char *volume;
	const char *snapshot;
	int dry_run;
	const char *opts[MAX_OPTS];	/* kept options, NULL-terminated */
};

struct refuse_case {
	const char *command;
	const char *cause;	/* a substring of the expected cause */
	const char *bug;	/* non-NULL: a known defect, skipped */
};

static const struct accept_case accepted[] = {
	/* Real rsync 3.x command lines. */
	{ "rsync --server " FLAGS " --compress-choice=zstd "
	    "--numeric-ids . vol/", RSYNC_PUSH, NULL, "vol", NULL, 0,
	    { FLAGS, "--compress-choice=zstd", "--numeric-ids" } },
	/* privateer's own backup (repl.c), as rsync 3.x forwards it. */
	{ "rsync --server " FLAGS " --timeout=600 --compress-choice=zstd "
	    "--stats --numeric-ids . vol/", RSYNC_PUSH, NULL, "vol",
	    NULL, 0, { FLAGS, "--timeout=600", "--compress-choice=zstd",
	    "--stats", "--numeric-ids" } },
	/* Times compared to the nanosecond (--modify-window=-1). */
	{ "rsync --server " FLAGS " --timeout=600 -@-1 "
	    "--compress-choice=zstd --numeric-ids . vol/", RSYNC_PUSH, NULL,
	    "vol", NULL, 0, { FLAGS, "--timeout=600", "-@-1",
	    "--compress-choice=zstd", "--numeric-ids" } },
	/* Reads may delete on the client's side and prune. */
	{ "rsync --server --sender -mlogtpre.iLsfxCIvu --delete-after . "
	    "bob/vol/latest/", RSYNC_PULL, "bob", "vol", "latest", 0,
	    { "-mlogtpre.iLsfxCIvu", "--delete-after" } },
	{ "rsync --server --sender " FLAGS " --numeric-ids . "
	    "bob/vol/20260101T000000Z/", RSYNC_PULL, "bob", "vol",
	    "20260101T000000Z", 0, { FLAGS, "--numeric-ids" } },
	/* privateer's own restore. */
	{ "rsync --server --sender " FLAGS " --timeout=600 "
	    "--compress-choice=zstd --numeric-ids . bob/vol/latest/",
	    RSYNC_PULL, "bob", "vol", "latest", 0, { FLAGS, "--timeout=600",
	    "--compress-choice=zstd", "--numeric-ids" } },
	/* a restore writes in place into its own empty directory */
	{ "rsync --server --sender " FLAGS " --compress-choice=zstd "
	    "--inplace . bob/vol/latest/", RSYNC_PULL, "bob", "vol", "latest",
	    0, { FLAGS, "--compress-choice=zstd", "--inplace" } },
	{ "rsync --server --sender -de.LsfxCIvu --list-only . bob/vol/",
	    RSYNC_LIST, "bob", "vol", NULL, 0,
	    { "-de.LsfxCIvu", "--list-only" } },
	/* rsync turns the client's --dry-run into -n in the cluster. */
	{ "rsync --server -nlogtpre.iLsfxCIvu . vol/", RSYNC_PUSH, NULL,
	    "vol", NULL, 1, { "-nlogtpre.iLsfxCIvu" } },
	{ "rsync --server --sender -nlogtpre.iLsfxCIvu . bob/vol/latest",
	    RSYNC_PULL, "bob", "vol", "latest", 1, { "-nlogtpre.iLsfxCIvu" } },
	/* The long form, as a hand-written command would have it. */
	{ "rsync --server -rlptgo --dry-run . vol", RSYNC_PUSH, NULL, "vol",
	    NULL, 1, { "-rlptgo", "--dry-run" } },
	/* An 'n' in the capability tail is not -n. */
	{ "rsync --server -re.iLsfxCInvu . vol", RSYNC_PUSH, NULL, "vol",
	    NULL, 0, { "-re.iLsfxCInvu" } },
	/* ...nor an 'm' -m. */
	{ "rsync --server -re.iLsfxCImvu . vol", RSYNC_PUSH, NULL, "vol",
	    NULL, 0, { "-re.iLsfxCImvu" } },
	/* More options rsync 3.x forwards, in the forms it sends them. */
	{ "rsync --server -re.iLsfxCIvu -B1024 --bwlimit=1536 "
	    "--checksum-choice=xxh128 --max-size=10485760 --partial --mkpath "
	    ". vol/", RSYNC_PUSH, NULL, "vol", NULL, 0, { "-re.iLsfxCIvu",
	    "-B1024", "--bwlimit=1536", "--checksum-choice=xxh128",
	    "--max-size=10485760", "--partial", "--mkpath" } },
	{ "rsync --server -yre.iLsfxCIvu --delay-updates . "
	    "vol/", RSYNC_PUSH, NULL, "vol", NULL, 0, { "-yre.iLsfxCIvu",
	    "--delay-updates" } },
	{ "rsync --server -rze.iLsfxCIvu . vol/", RSYNC_PUSH, NULL, "vol",
	    NULL, 0, { "-rze.iLsfxCIvu" } },
	/* A capability tail with a sub-protocol number; -@ with a number. */
	{ "rsync --server -rte31.iLsfxC -@2 --info=progress2 --debug=ALL "
	    "--timeout=0 . vol", RSYNC_PUSH, NULL, "vol", NULL, 0,
	    { "-rte31.iLsfxC", "-@2", "--info=progress2", "--debug=ALL",
	    "--timeout=0" } },
	/* rsync 3.x sends --max-delete=0 as -1: numbers may be negative. */
	{ "rsync --server -re.iLsfxCIvu --max-delete=-1 . vol/",
	    RSYNC_PUSH, NULL, "vol", NULL, 0, { "-re.iLsfxCIvu",
	    "--max-delete=-1" } },
	{ "rsync --server -re.iLsfxCIvu --timeout=30 --modify-window=1 . "
	    "vol/", RSYNC_PUSH, NULL, "vol", NULL, 0, { "-re.iLsfxCIvu",
	    "--timeout=30", "--modify-window=1" } },
	/* No options at all. */
	{ "rsync --server . vol", RSYNC_PUSH, NULL, "vol", NULL, 0, { NULL } },
	/* Runs of blanks and tabs separate words like one blank. */
	{ "rsync\t--server  -r \t.\t\tvol  ", RSYNC_PUSH, NULL, "vol", NULL,
	    0, { "-r" } },
	/* A backslash escapes the next character; the kept word has none. */
	{ "rsync --server --bwlimit=1\\.5m . vol", RSYNC_PUSH, NULL, "vol",
	    NULL, 0, { "--bwlimit=1.5m" } },
	/* Names: letters, digits, '_', '.', '-'; up to 64 characters. */
	{ "rsync --server -r . my_vol-1.data/", RSYNC_PUSH, NULL,
	    "my_vol-1.data", NULL, 0, { "-r" } },
	{ "rsync --server -r . " NAME64, RSYNC_PUSH, NULL, NAME64, NULL, 0,
	    { "-r" } },
	{ "rsync --server --sender -r . " NAME64 "/" NAME64 "/" NAME64 "/",
	    RSYNC_PULL, NAME64, NAME64, NAME64, 0, { "-r" } },
	{ "rsync --server --sender --list-only . bob/vol", RSYNC_LIST, "bob",
	    "vol", NULL, 0, { "--list-only" } },
};

static const struct refuse_case refused[] = {
	/* A backup fills a new directory: deleting or pruning there only
	 * makes the receiving server read the client's filter rules. */
	{ "rsync --server " FLAGS " --delete . vol/", "--delete is refused on "
	    "a backup: a backup fills a new directory, and the option would "
	    "have the server read the client's filter rules", NULL },
	{ "rsync --server -re.iLsfxCIvu --delete-excluded . vol/",
	    "--delete-excluded is refused on a backup", NULL },
	{ "rsync --server -re.iLsfxCIvu --delete-missing-args . vol/",
	    "--delete-missing-args is refused on a backup", NULL },
	{ "rsync --server -rme.iLsfxCIvu . vol/", "-m (--prune-empty-dirs) is "
	    "refused on a backup", NULL },
	/* Options that hide the arguments from this check. */
	{ "rsync --server -sre.iLsfxCIvu", "protect-args", NULL },
	{ "rsync --server -s -r . vol", "protect-args", NULL },
	{ "rsync --server --protect-args -r . vol",
	    "--protect-args is refused: it hides arguments", NULL },
	{ "rsync --server --secluded-args -r . vol", "--secluded-args is "
	    "refused: it hides arguments", NULL },
	/* Running something else. */
	{ "rsync --server --daemon . vol", "--daemon is refused: it starts a "
	    "daemon", NULL },
	{ "rsync --server --rsh=ssh -r . vol", "--rsh is refused: it runs a "
	    "command", NULL },
	{ "rsync --server --rsync-path=/bin/sh -r . vol", "--rsync-path is "
	    "refused", NULL },
	{ "rsync --server -e ssh . vol", "runs a command", NULL },
	{ "rsync --server -essh . vol", "runs a command", NULL },
	{ "rsync --server -re . vol", "runs a command", NULL },
	/* After "e" only rsync's capability tail: digits, ".", letters. */
	{ "rsync --server -re.iLsfxCIvu1 . vol", "-e (--rsh)", NULL },
	{ "rsync --server -re.iL-x . vol", "-e (--rsh)", NULL },
	{ "rsync --server -re.iL.x . vol", "-e (--rsh)", NULL },
	{ "rsync --server -re3x.iL . vol", "-e (--rsh)", NULL },
	/* Following symlinks. */
	{ "rsync --server -L . vol", "follows symlinks", NULL },
	{ "rsync --server -rLe.iLsfxCIvu . vol", "-L (--copy-links)", NULL },
	{ "rsync --server -k . vol", "-k (--copy-dirlinks)", NULL },
	{ "rsync --server -rK . vol", "-K (--keep-dirlinks)", NULL },
	{ "rsync --server --copy-links . vol", "--copy-links is refused: it "
	    "follows symlinks", NULL },
	{ "rsync --server --copy-dirlinks . vol", "--copy-dirlinks is "
	    "refused", NULL },
	{ "rsync --server --keep-dirlinks . vol", "--keep-dirlinks is "
	    "refused", NULL },
	{ "rsync --server --copy-unsafe-links . vol", "--copy-unsafe-links "
	    "is refused: it follows symlinks", NULL },
	/* Devices and special files; -a, which implies -D. */
	{ "rsync --server -D . vol", "-D (--devices --specials)", NULL },
	{ "rsync --server -logDtpre.iLsfxCIvu . vol/", "-D (--devices", NULL },
	{ "rsync --server --devices . vol", "--devices is refused: it "
	    "creates device files", NULL },
	{ "rsync --server --specials . vol", "--specials is refused: it "
	    "creates special files", NULL },
	{ "rsync --server --copy-devices . vol", "--copy-devices is refused: "
	    "it reads devices", NULL },
	{ "rsync --server --write-devices . vol", "--write-devices is "
	    "refused: it writes to devices", NULL },
	{ "rsync --server -a . vol", "-a implies -D", NULL },
	/* Writing into existing files. */
	{ "rsync --server -re.iLsfxCIvu --inplace . vol/", "--inplace is "
	    "refused on a backup: it writes into existing files in place",
	    NULL },
	{ "rsync --server --inplace -r . vol", "--inplace is refused on a "
	    "backup", NULL },
	{ "rsync --server --append . vol", "--append is refused", NULL },
	{ "rsync --server --append-verify . vol", "--append-verify is "
	    "refused", NULL },
	/* Options that name a path, with and without a value. */
	{ "rsync --server --log-file=/tmp/x . vol", "--log-file is refused: "
	    "it names a path", NULL },
	{ "rsync --server --files-from=list . vol", "--files-from is "
	    "refused: it names a path", NULL },
	{ "rsync --server --link-dest=/x . vol", "--link-dest is refused",
	    NULL },
	/* rsync 3.x forwards --link-dest as two words. */
	{ "rsync --server -re.iLsfxCIvu --link-dest /x . vol/",
	    "--link-dest is refused", NULL },
	{ "rsync --server --link-dest=../20260101T000000Z . vol",
	    "--link-dest is refused: it names a path", NULL },
	{ "rsync --server --compare-dest=/x . vol", "--compare-dest is "
	    "refused: it names a path", NULL },
	{ "rsync --server --copy-dest=/x . vol", "--copy-dest is refused: "
	    "it names a path", NULL },
	{ "rsync --server --backup-dir=/x . vol", "--backup-dir is refused: "
	    "it names a path", NULL },
	{ "rsync --server --partial-dir=.p . vol", "--partial-dir is "
	    "refused: it names a path", NULL },
	{ "rsync --server --temp-dir=/tmp . vol", "--temp-dir is refused: "
	    "it names a path", NULL },
	{ "rsync --server -T /tmp . vol", "-T (--temp-dir) names a path",
	    NULL },
	{ "rsync --server -rT. . vol", "-T (--temp-dir)", NULL },
	{ "rsync --server --only-write-batch=/x . vol", "--only-write-batch "
	    "is refused: it names a path", NULL },
	{ "rsync --server --write-batch=b . vol", "--write-batch is refused",
	    NULL },
	{ "rsync --server --read-batch=b . vol", "--read-batch is refused",
	    NULL },
	{ "rsync --server --exclude-from=/x . vol", "--exclude-from is "
	    "refused", NULL },
	{ "rsync --server --password-file=/x . vol", "--password-file is "
	    "refused", NULL },
	/* Deleting on the server; the server's own choices. */
	{ "rsync --server --sender --remove-source-files -r . bob/vol/latest",
	    "--remove-source-files is refused: it deletes on the server",
	    NULL },
	{ "rsync --server --sender --remove-sent-files -r . bob/vol/latest",
	    "--remove-sent-files is refused", NULL },
	{ "rsync --server --no-munge-links -r . vol", "--no-munge-links is "
	    "refused: it is the server's choice", NULL },
	{ "rsync --server --chown=0:0 -r . vol", "--chown is refused", NULL },
	{ "rsync --server --usermap=1:0 -r . vol", "--usermap is refused",
	    NULL },
	{ "rsync --server --fake-super -r . vol", "--fake-super is refused",
	    NULL },
	{ "rsync --server --super -r . vol", "--super is refused", NULL },
	{ "rsync --server --iconv=utf8 -r . vol", "--iconv is refused", NULL },
	{ "rsync --server --filter=-_/x -r . vol", "--filter is refused: it "
	    "is not used by privateer", NULL },
	{ "rsync --server -f -_x -r . vol", "-f (--filter)", NULL },
	{ "rsync --server --exclude=x -r . vol", "--exclude is refused",
	    NULL },
	{ "rsync --server -P . vol", "-P (--partial --progress)", NULL },
	{ "rsync --server -h . vol", "-h is the client's", NULL },
	/* Unknown long and short options. */
	{ "rsync --server --archive . vol", "option --archive is not allowed",
	    NULL },
	{ "rsync --server --server . vol", "option --server is not allowed",
	    NULL },
	{ "rsync --server --dry . vol", "option --dry is not allowed", NULL },
	{ "rsync --server --=x . vol", "is not allowed", NULL },
	{ "rsync --server --" NAME65 " . vol", "is not allowed", NULL },
	{ "rsync --server -Z . vol", "option -Z (in -Z) is not allowed",
	    NULL },
	{ "rsync --server -rlZt . vol", "option -Z (in -rlZt)", NULL },
	{ "rsync --server -r1 . vol", "option -1", NULL },
	{ "rsync --server -r.x . vol", "option -.", NULL },
	/* Values: numbers, safe words, none for flags. */
	{ "rsync --server --timeout=abc . vol", "--timeout needs =NUMBER",
	    NULL },
	{ "rsync --server --timeout . vol", "--timeout needs =NUMBER", NULL },
	{ "rsync --server --timeout= . vol", "--timeout needs =NUMBER", NULL },
	{ "rsync --server --timeout=1x . vol", "needs =NUMBER", NULL },
	{ "rsync --server --max-delete=- . vol", "needs =NUMBER", NULL },
	{ "rsync --server --bwlimit=1/2 . vol", "--bwlimit needs =VALUE",
	    NULL },
	{ "rsync --server --bwlimit . vol", "--bwlimit needs =VALUE", NULL },
	{ "rsync --server --bwlimit= . vol", "needs =VALUE", NULL },
	{ "rsync --server --info=a\\ b . vol", "needs =VALUE", NULL },
	{ "rsync --server --max-size=" NAME65 " . vol", "needs =VALUE",
	    NULL },
	{ "rsync --server -B . vol", "option -B needs a number", NULL },
	{ "rsync --server -Bx . vol", "needs a number", NULL },
	{ "rsync --server -B1k . vol", "needs a number", NULL },
	{ "rsync --server -@ . vol", "option -@ needs a number", NULL },
	{ "rsync --server --delete=1 . vol", "--delete takes no value",
	    NULL },
	{ "rsync --server --list-only= . vol", "takes no value", NULL },
	{ "rsync --server --sender --dry-run=yes . bob/vol/latest",
	    "--dry-run takes no value", NULL },
	/* Paths: absolute, "..", ".", wrong number of components. */
	{ "rsync --server -r . /vol", "is absolute", NULL },
	{ "rsync --server --sender -r . /bob/vol/latest", "is absolute",
	    NULL },
	{ "rsync --server -r . //vol", "is absolute", NULL },
	{ "rsync --server -r . ..", "contains \"..\"", NULL },
	{ "rsync --server -r . vol/..", "contains \"..\"", NULL },
	{ "rsync --server --sender -r . bob/../vol/latest",
	    "contains \"..\"", NULL },
	{ "rsync --server --sender -r . ../alice/vol/latest",
	    "contains \"..\"", NULL },
	{ "rsync --server -r . a..b", "contains \"..\"", NULL },
	{ "rsync --server -r . ./vol", "contains \".\"", NULL },
	{ "rsync --server --sender -r . bob/./vol", "contains \".\"", NULL },
	{ "rsync --server --sender -r . bob/vol/latest/x",
	    "SOURCE/VOLUME/SNAPSHOT", NULL },
	{ "rsync --server --sender -r . a/b/c/d/e/f", "SOURCE/VOLUME/SNAPSHOT",
	    NULL },
	{ "rsync --server -r . bob/vol", "a backup names only VOLUME", NULL },
	{ "rsync --server -r . bob/vol/latest", "names only VOLUME", NULL },
	{ "rsync --server --sender -r . vol", "a restore names "
	    "SOURCE/VOLUME/SNAPSHOT", NULL },
	{ "rsync --server --sender -r . bob/vol/", "SOURCE/VOLUME/SNAPSHOT",
	    NULL },
	{ "rsync --server --sender -de.LsfxCIvu --list-only . bob/vol/latest",
	    "a listing SOURCE/VOLUME/", NULL },
	{ "rsync --server --sender -de.LsfxCIvu --list-only . vol",
	    "a listing SOURCE/VOLUME/", NULL },
	/* A listing that is recursive; --list-only on a push. */
	{ "rsync --server --sender -re.LsfxCIvu --list-only . bob/vol/",
	    "may not be recursive", NULL },
	{ "rsync --server --sender --recursive --list-only . bob/vol/",
	    "may not be recursive", NULL },
	{ "rsync --server --sender --list-only -dr . bob/vol/",
	    "may not be recursive", NULL },
	{ "rsync --server -de.LsfxCIvu --list-only . vol/",
	    "--list-only is only for reading", NULL },
	/* Bad names: leading dot or dash, over 64, other characters. */
	{ "rsync --server -r . .vol", "volume \".vol\" is not a name", NULL },
	{ "rsync --server -r . .partial-20260101T000000Z",
	    "is not a name", NULL },
	{ "rsync --server -r . -vol", "is not a name", NULL },
	{ "rsync --server -r . _vol", "is not a name", NULL },
	{ "rsync --server -r . " NAME65, "is not a name", NULL },
	{ "rsync --server -r . v@l", "is not a name", NULL },
	{ "rsync --server -r . v:l", "is not a name", NULL },
	{ "rsync --server -r . v\xc3\xa9l", "is not a name", NULL },
	{ "rsync --server --sender -r . .bob/vol/latest",
	    "source \".bob\" is not a name", NULL },
	{ "rsync --server --sender -r . bob/" NAME65 "/latest",
	    "volume", NULL },
	{ "rsync --server --sender -r . bob/vol/.partial-20260101T000000Z",
	    "snapshot \".partial-20260101T000000Z\" is not a name", NULL },
	{ "rsync --server --sender -r . bob/vol/.lock", "snapshot", NULL },
	{ "rsync --server --sender -r . bob/vol/la..test", "contains \"..\"",
	    NULL },
	/* Structure. */
	{ "rsync", "only \"rsync --server ...\" is accepted", NULL },
	{ "rsync -r . vol", "only \"rsync --server", NULL },
	{ "rsync --sender --server . bob/vol/latest", "only \"rsync --server",
	    NULL },
	{ "/usr/bin/rsync --server . vol", "only \"rsync --server", NULL },
	{ "sh -c rsync --server . vol", "only \"rsync --server", NULL },
	{ "RSYNC --server . vol", "only \"rsync --server", NULL },
	{ "rsync --server -r --sender . bob/vol/latest",
	    "--sender must come right after --server", NULL },
	{ "rsync --server --sender --sender . bob/vol/latest",
	    "--sender must come right after", NULL },
	{ "rsync --server -r -- . vol", "\"--\" before the \".\"", NULL },
	{ "rsync --server -- . vol", "\"--\" before", NULL },
	{ "rsync --server -r vol", "\"vol\" comes before the \".\" argument",
	    NULL },
	{ "rsync --server -r", "no \".\" argument", NULL },
	{ "rsync --server", "no \".\" argument", NULL },
	{ "rsync --server -r .", "exactly one path must follow \".\" (got 0)",
	    NULL },
	{ "rsync --server -r . vol vol2", "(got 2)", NULL },
	{ "rsync --server -r . vol .", "(got 2)", NULL },
	/* Options after "." are paths, and no path is an option. */
	{ "rsync --server . --delete", "is not a name", NULL },
	/* Quoting: the escaped blank joins one word, then is not a name. */
	{ "rsync --server -r . my\\ vol", "volume \"my vol\" is not a name",
	    NULL },
	{ "rsync --server -r . vol\\", "ends in a backslash", NULL },
	{ "rsync --server -r . vol\\\t", "escapes a control character",
	    NULL },
	{ "rsync --server -r . vol\\\n", "escapes a control character",
	    NULL },
	{ "rsync --server -r . 'vol'", "shell character '''", NULL },
	{ "rsync --server -r . \"vol\"", "shell character '\"'", NULL },
	{ "rsync --server -r . vol;reboot", "shell character ';'", NULL },
	{ "rsync --server -r . $(reboot)", "shell character '$'", NULL },
	{ "rsync --server -r . `reboot`", "shell character '`'", NULL },
	{ "rsync --server -r . vol && reboot", "shell character '&'", NULL },
	{ "rsync --server -r . vol\nreboot", "control character", NULL },
	{ "", "empty", NULL },
	{ "rsync --server - . vol", "a lone \"-\" is not an option", NULL },
	{ "rsync --server -r - . vol", "a lone \"-\"", NULL },
};

static int
case_skipped(const char *bug)
{
	return bug != NULL;
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static const char *
kind_name(enum rsync_kind k)
{
	return k == RSYNC_PUSH ? "PUSH" : k == RSYNC_PULL ? "PULL" :
	    k == RSYNC_LIST ? "LIST" : "?";
}

/* Checks one accepted case; prints what differs and returns 0 if any. */
static int
check_accepted(const struct accept_case *c)
{
	struct rsync_request r;
	char *cause = NULL;
	size_t i, nopts = 0;
	int ok = 1;

	if (rsync_parse(c->command, &r, &cause) != 0) {
		print_error("refused \"%s\": %s\n", c->command,
		    cause != NULL ? cause : "(no cause)");
		free(cause);
		return 0;
	}
	if (cause != NULL) {
		print_error("\"%s\": accepted but cause set: %s\n", c->command,
		    cause);
		free(cause);
		ok = 0;
	}
	if (r.kind != c->kind) {
		print_error("\"%s\": kind %s, expected %s\n", c->command,
		    kind_name(r.kind), kind_name(c->kind));
		ok = 0;
	}
	if (!str_eq(r.source, c->source) || !str_eq(r.volume, c->volume) ||
	    !str_eq(r.snapshot, c->snapshot)) {
		print_error("\"%s\": source/volume/snapshot %s/%s/%s, expected "
		    "%s/%s/%s\n", c->command,
		    r.source != NULL ? r.source : "(null)",
		    r.volume != NULL ? r.volume : "(null)",
		    r.snapshot != NULL ? r.snapshot : "(null)",
		    c->source != NULL ? c->source : "(null)",
		    c->volume != NULL ? c->volume : "(null)",
		    c->snapshot != NULL ? c->snapshot : "(null)");
		ok = 0;
	}
	if (r.dry_run != c->dry_run) {
		print_error("\"%s\": dry_run %d, expected %d\n", c->command,
		    r.dry_run, c->dry_run);
		ok = 0;
	}
	while (nopts < MAX_OPTS && c->opts[nopts] != NULL)
		nopts++;
	if (r.nopts != nopts) {
		print_error("\"%s\": %zu options kept, expected %zu\n",
		    c->command, r.nopts, nopts);
		ok = 0;
	}
	for (i = 0; i < r.nopts && i < nopts; i++) {
		if (!str_eq(r.opts[i], c->opts[i])) {
			print_error("\"%s\": option %zu is \"%s\", expected "
			    "\"%s\"\n", c->command, i, r.opts[i], c->opts[i]);
			ok = 0;
		}
	}
	rsync_request_free(&r);
	/* Freed means emptied: a second free is harmless. */
	if (r.opts != NULL || r.nopts != 0 || r.volume != NULL) {
		print_error("\"%s\": rsync_request_free left fields set\n",
		    c->command);
		ok = 0;
	}
	rsync_request_free(&r);
	return ok;
}

/* Checks one refused case; prints what differs and returns 0 if any. */
static int
check_refused(const char *command, const char *needle)
{
	struct rsync_request r;
	char *cause = NULL;
	int ok = 1;

	if (rsync_parse(command, &r, &cause) != -1) {
		print_error("accepted \"%s\" (expected a cause with \"%s\")\n",
		    command, needle);
		rsync_request_free(&r);
		free(cause);
		return 0;
	}
	if (cause == NULL) {
		print_error("\"%s\": refused without a cause\n", command);
		return 0;
	}
	if (strstr(cause, needle) == NULL) {
		print_error("\"%s\": cause \"%s\" does not mention \"%s\"\n",
		    command, cause, needle);
		ok = 0;
	}
	/* Nothing of a refused request is left for the caller to free. */
	if (r.opts != NULL || r.nopts != 0 || r.source != NULL ||
	    r.volume != NULL || r.snapshot != NULL || r.dry_run != 0) {
		print_error("\"%s\": refused request has fields set\n",
		    command);
		ok = 0;
	}
	free(cause);
	return ok;
}

static void
test_accepted_table(void **state)
{
	size_t i, bad = 0;

	(void)state;
	for (i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
		if (!check_accepted(&accepted[i]))
			bad++;
	}
	if (bad != 0)
		fail_msg("%zu of %zu accepted cases failed", bad,
		    sizeof accepted / sizeof accepted[0]);
}

static void
test_refused_table(void **state)
{
	size_t i, bad = 0, skipped = 0;

	(void)state;
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		if (case_skipped(refused[i].bug)) {
			print_message("skipped (BUG: %s): \"%s\"\n",
			    refused[i].bug, refused[i].command);
			skipped++;
			continue;
		}
		if (!check_refused(refused[i].command, refused[i].cause))
			bad++;
	}
	if (bad != 0)
		fail_msg("%zu of %zu refused cases failed", bad,
		    sizeof refused / sizeof refused[0] - skipped);
}

/* A NULL cause pointer is allowed: the answer is still -1. */
static void
test_refused_null_cause(void **state)
{
	struct rsync_request r;

	(void)state;
	assert_int_equal(rsync_parse("rsync --server -L . vol", &r, NULL),
	    -1);
	assert_int_equal(rsync_parse("rsync --server . 'vol'", &r, NULL), -1);
	assert_int_equal(rsync_parse("rsync --server . vol", &r, NULL), 0);
	rsync_request_free(&r);
}

/* Every shell metacharacter, unescaped, anywhere in the command. */
static void
test_shell_metacharacters(void **state)
{
	static const char meta[] = "'\"`$;&|<>(){}*?!~#";
	char cmd[64], needle[48];
	const char *p;
	size_t bad = 0;

	(void)state;
	for (p = meta; *p != '\0'; p++) {
		snprintf(needle, sizeof needle, "shell character '%c'", *p);
		/* In the path, in an option, and as a word of its own. */
		snprintf(cmd, sizeof cmd, "rsync --server -r . vol%c", *p);
		bad += !check_refused(cmd, needle);
		snprintf(cmd, sizeof cmd, "rsync --server -r%cv . vol", *p);
		bad += !check_refused(cmd, needle);
		snprintf(cmd, sizeof cmd, "rsync --server %c . vol", *p);
		bad += !check_refused(cmd, needle);
	}
	if (bad != 0)
		fail_msg("%zu metacharacter cases failed", bad);
}

/*
 * An escaped metacharacter is a literal character of its word (no shell
 * runs the command), and no name or option value may contain one.
 */
static void
test_escaped_metacharacters(void **state)
{
	static const char meta[] = "'\"`$;&|<>(){}*?!~#";
	char cmd[64];
	const char *p;
	size_t bad = 0;

	(void)state;
	for (p = meta; *p != '\0'; p++) {
		snprintf(cmd, sizeof cmd, "rsync --server -r . vol\\%c", *p);
		bad += !check_refused(cmd, "is not a name");
		snprintf(cmd, sizeof cmd, "rsync --server --sender -r . "
		    "bob/vol/\\%clatest", *p);
		bad += !check_refused(cmd, "snapshot");
		snprintf(cmd, sizeof cmd, "rsync --server --info=x\\%c . vol",
		    *p);
		bad += !check_refused(cmd, "needs =VALUE");
		snprintf(cmd, sizeof cmd, "rsync --server -r\\%c . vol", *p);
		bad += !check_refused(cmd, "not allowed");
	}
	if (bad != 0)
		fail_msg("%zu escaped metacharacter cases failed", bad);
}

static void
test_control_characters(void **state)
{
	char cmd[64];
	size_t bad = 0;
	int c;

	(void)state;
	for (c = 1; c < 0x20; c++) {
		if (c == '\t')
			continue;
		snprintf(cmd, sizeof cmd, "rsync --server -r . vol%cx", c);
		bad += !check_refused(cmd, "control character");
		snprintf(cmd, sizeof cmd, "rsync --server -r . vol\\%c", c);
		bad += !check_refused(cmd, "escapes a control character");
	}
	bad += !check_refused("rsync --server -r . vol\x7f", "control "
	    "character");
	bad += !check_refused("rsync --server -r . vol\\\x7f", "escapes a "
	    "control character");
	if (bad != 0)
		fail_msg("%zu control character cases failed", bad);
}

/* n bytes: "rsync --server -r", blanks, " . vol". */
static char *
padded_command(size_t n)
{
	const char *head = "rsync --server -r", *tail = " . vol";
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = xmalloc(n + 1);

	assert_true(n >= hl + tl);
	memcpy(s, head, hl);
	memset(s + hl, ' ', n - hl - tl);
	memcpy(s + n - tl, tail, tl);
	s[n] = '\0';
	return s;
}

static void
test_command_length(void **state)
{
	struct rsync_request r;
	char *cmd, *cause = NULL;

	(void)state;
	cmd = padded_command(RSYNC_COMMAND_MAX);
	assert_int_equal(strlen(cmd), RSYNC_COMMAND_MAX);
	if (rsync_parse(cmd, &r, &cause) != 0)
		fail_msg("a command of RSYNC_COMMAND_MAX bytes refused: %s",
		    cause);
	assert_string_equal(r.volume, "vol");
	assert_int_equal(r.nopts, 1);
	rsync_request_free(&r);
	free(cmd);

	cmd = padded_command(RSYNC_COMMAND_MAX + 1);
	assert_true(check_refused(cmd, "longer than 4096 bytes"));
	free(cmd);
	cmd = padded_command(RSYNC_COMMAND_MAX * 4);
	assert_true(check_refused(cmd, "longer than"));
	free(cmd);
}

/* "rsync --server" + k times "-v" + ". vol": k + 4 words. */
static char *
words_command(size_t k)
{
	char *s = xmalloc(32 + 3 * k), *p;
	size_t i;

	p = s + sprintf(s, "rsync --server");
	for (i = 0; i < k; i++)
		p += sprintf(p, " -v");
	sprintf(p, " . vol");
	return s;
}

static void
test_word_count(void **state)
{
	struct rsync_request r;
	char *cmd, *cause = NULL;
	size_t i;

	(void)state;
	cmd = words_command(RSYNC_MAX_ARGS - 4);
	if (rsync_parse(cmd, &r, &cause) != 0)
		fail_msg("RSYNC_MAX_ARGS words refused: %s", cause);
	assert_int_equal(r.nopts, RSYNC_MAX_ARGS - 4);
	for (i = 0; i < r.nopts; i++)
		assert_string_equal(r.opts[i], "-v");
	rsync_request_free(&r);
	free(cmd);

	cmd = words_command(RSYNC_MAX_ARGS - 3);
	assert_true(check_refused(cmd, "more than 64 words"));
	free(cmd);
}

/* Whether the client sends ACLs and xattrs decides --link-dest or not. */
static void
test_acls_xattrs_seen(void **state)
{
	static const struct {
		const char *command;
		int acls, xattrs;
	} cases[] = {
		{ "rsync --server " FLAGS " . vol/", 1, 1 },
		{ "rsync --server -lHogtpre.iLsfxCIvu . vol/", 0, 0 },
		{ "rsync --server -lHogtpAre.iLsfxCIvu . vol/", 1, 0 },
		{ "rsync --server -lX -r . vol/", 0, 1 },
		/* letters of rsync's capability tail are not options */
		{ "rsync --server -rle.AX . vol/", 0, 0 },
		{ "rsync --server --sender " FLAGS " . bob/vol/latest/", 1, 1 },
	};
	struct rsync_request r;
	char *cause = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (rsync_parse(cases[i].command, &r, &cause) != 0)
			fail_msg("\"%s\" refused: %s", cases[i].command, cause);
		if (r.acls != cases[i].acls || r.xattrs != cases[i].xattrs)
			fail_msg("\"%s\": acls %d xattrs %d, expected %d %d",
			    cases[i].command, r.acls, r.xattrs,
			    cases[i].acls, cases[i].xattrs);
		rsync_request_free(&r);
	}
}

/* rsync_split(command) must give exactly the NULL-terminated words. */
static void
split_is(const char *command, const char *const *want)
{
	char **w = NULL, *cause = NULL;
	size_t n = 99, i, nwant = 0;

	while (want[nwant] != NULL)
		nwant++;
	if (rsync_split(command, &w, &n, &cause) != 0)
		fail_msg("split \"%s\" failed: %s", command, cause);
	assert_null(cause);
	if (n != nwant)
		fail_msg("split \"%s\": %zu words, expected %zu", command, n,
		    nwant);
	for (i = 0; i < n; i++) {
		if (strcmp(w[i], want[i]) != 0)
			fail_msg("split \"%s\": word %zu is \"%s\", expected "
			    "\"%s\"", command, i, w[i], want[i]);
	}
	rsync_words_free(w, n);
}

static void
split_fails(const char *command, const char *needle)
{
	char **w = (char **)1, *cause = NULL;
	size_t n = 99;

	if (rsync_split(command, &w, &n, &cause) != -1)
		fail_msg("split \"%s\" succeeded", command);
	assert_null(w);
	assert_int_equal(n, 0);
	if (cause == NULL || strstr(cause, needle) == NULL)
		fail_msg("split \"%s\": cause \"%s\" does not mention \"%s\"",
		    command, cause != NULL ? cause : "(null)", needle);
	free(cause);
}

static void
test_split_words(void **state)
{
	(void)state;
	split_is("a", (const char *[]){ "a", NULL });
	split_is("a b c", (const char *[]){ "a", "b", "c", NULL });
	split_is("a  b\t\tc \t d", (const char *[]){ "a", "b", "c", "d",
	    NULL });
	split_is("  \ta b\t ", (const char *[]){ "a", "b", NULL });
	split_is(" \t ", (const char *[]){ NULL });
	split_is("rsync --server -lHogtpAXre.iLsfxCIvu . vol/",
	    (const char *[]){ "rsync", "--server", "-lHogtpAXre.iLsfxCIvu",
	    ".", "vol/", NULL });
	/* Bytes above 0x7f are data, for the name checks to judge. */
	split_is("v\xc3\xa9l", (const char *[]){ "v\xc3\xa9l", NULL });
}

/* The export command: exactly four checked words after its name. */
static void
test_export_command(void **state)
{
	static const struct {
		const char *cmd;
		const char *why;	/* NULL: accepted */
	} cases[] = {
		{ "privateer-export bob data latest zstd", NULL },
		{ "privateer-export bob data 20261122T081500Z none", NULL },
		{ "privateer-export bob my.vol-1 latest gzip", NULL },
		{ "privateer-export bob data latest", "usage" },
		{ "privateer-export bob data latest zstd extra", "usage" },
		{ "privateer-export ../bob data latest zstd", "not a name" },
		{ "privateer-export bob a/b latest zstd", "not a name" },
		{ "privateer-export bob data latest bzip2", "not none, gzip" },
		{ "privateer-export bob data la..test zstd", "\"..\"" },
		{ "privateer-export bob 'data' latest zstd", "shell character" },
		{ "privateer-export bob data latest zstd;id", "shell character" },
	};
	struct rsync_export e;
	char *cause;
	size_t i;

	(void)state;
	assert_true(rsync_is_export("privateer-export bob data latest zstd"));
	assert_true(rsync_is_export("privateer-export"));
	assert_false(rsync_is_export("privateer-exporter a b c d"));
	assert_false(rsync_is_export("rsync --server . x"));
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cause = NULL;
		if (cases[i].why == NULL) {
			if (rsync_parse_export(cases[i].cmd, &e, &cause) != 0)
				fail_msg("%s: refused: %s", cases[i].cmd, cause);
			assert_string_equal(e.source, "bob");
			rsync_export_free(&e);
			continue;
		}
		if (rsync_parse_export(cases[i].cmd, &e, &cause) == 0)
			fail_msg("%s: accepted", cases[i].cmd);
		assert_non_null(cause);
		if (strstr(cause, cases[i].why) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].cmd, cause,
			    cases[i].why);
		free(cause);
	}
}

static void
test_split_escapes(void **state)
{
	(void)state;
	split_is("my\\ vol", (const char *[]){ "my vol", NULL });
	split_is("a\\ \\ b c", (const char *[]){ "a  b", "c", NULL });
	split_is("\\ a", (const char *[]){ " a", NULL });
	split_is("a\\\\b", (const char *[]){ "a\\b", NULL });
	split_is("\\\\", (const char *[]){ "\\", NULL });
	split_is("\\-x \\.", (const char *[]){ "-x", ".", NULL });
	split_is("a\\b", (const char *[]){ "ab", NULL });
	split_fails("a\\", "ends in a backslash");
	split_fails("a \\", "ends in a backslash");
	split_fails("a\\\tb", "escapes a control character");
	split_fails("a\\\x01", "escapes a control character");
}

static void
test_split_refusals(void **state)
{
	char *cmd, *tmp, **w;
	size_t n;

	(void)state;
	split_fails("", "empty");
	split_fails("a 'b c'", "shell character '''");
	split_fails("a \"b\"", "shell character '\"'");
	split_fails("a\nb", "control character");
	split_fails("a\rb", "control character");
	split_fails("a\x7f", "control character");
	cmd = padded_command(RSYNC_COMMAND_MAX + 1);
	split_fails(cmd, "longer than");
	free(cmd);
	cmd = words_command(RSYNC_MAX_ARGS - 3);
	split_fails(cmd, "more than 64 words");
	free(cmd);
	/* Exactly RSYNC_MAX_ARGS words, the last with no blank after it. */
	cmd = words_command(RSYNC_MAX_ARGS - 4);
	w = NULL;
	assert_int_equal(rsync_split(cmd, &w, &n, NULL), 0);
	assert_int_equal(n, RSYNC_MAX_ARGS);
	assert_string_equal(w[2], "-v");
	assert_string_equal(w[RSYNC_MAX_ARGS - 2], ".");
	assert_string_equal(w[RSYNC_MAX_ARGS - 1], "vol");
	rsync_words_free(w, n);
	free(cmd);
	/* One more word after the limit, however short. */
	cmd = xasprintf("%s x", (tmp = words_command(RSYNC_MAX_ARGS - 4)));
	split_fails(cmd, "more than 64 words");
	free(tmp);
	free(cmd);
}

/*
 * A copy-on-write store: a push may write in place and delete, because it
 * writes into a private copy; everything else stays refused, and the same
 * command to a hard-link store is refused as before.
 */
static void
test_cow_store(void **state)
{
	static const char *const ok[] = {
		"rsync --server " FLAGS " --inplace --delete . vol/",
		"rsync --server " FLAGS " --delete-during --inplace . vol/",
		"rsync --server " FLAGS " --delete-after --inplace . vol/",
		"rsync --server " FLAGS " --delete-delay --inplace . vol/",
		"rsync --server " FLAGS " --delete-before --inplace . vol/",
	};
	static const struct { const char *command, *cause; } still[] = {
		{ "rsync --server " FLAGS " --inplace --delete-excluded "
		    ". vol/", "--delete-excluded is refused on a backup" },
		{ "rsync --server " FLAGS " --delete-missing-args . vol/",
		    "--delete-missing-args is refused on a backup" },
		{ "rsync --server -rlme.iLsfxCIvu --inplace . vol/",
		    "-m (--prune-empty-dirs) is refused" },
		{ "rsync --server --append . vol", "--append is refused" },
		{ "rsync --server --link-dest=../20260101T000000Z . vol",
		    "--link-dest is refused" },
		{ "rsync --server --inplace . bob/vol/20260101T000000Z",
		    "" },
		{ "rsync --server --inplace . ../vol", "" },
	};
	struct rsync_request r;
	char *cause = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (rsync_parse_for(ok[i], 1, &r, &cause) != 0)
			fail_msg("cow refused \"%s\": %s", ok[i], cause);
		assert_int_equal(r.kind, RSYNC_PUSH);
		assert_true(r.inplace);
		assert_true(r.delete);
		rsync_request_free(&r);
		/* The server's store decides, not the request. */
		assert_int_equal(rsync_parse_for(ok[i], 0, &r, &cause), -1);
		assert_non_null(cause);
		assert_true(strstr(cause, "refused on a backup") != NULL);
		free(cause);
		cause = NULL;
		assert_int_equal(rsync_parse(ok[i], &r, &cause), -1);
		free(cause);
		cause = NULL;
	}
	for (i = 0; i < sizeof still / sizeof still[0]; i++) {
		if (rsync_parse_for(still[i].command, 1, &r, &cause) == 0)
			fail_msg("cow accepted \"%s\"", still[i].command);
		assert_non_null(cause);
		if (strstr(cause, still[i].cause) == NULL)
			fail_msg("\"%s\": cause \"%s\" lacks \"%s\"",
			    still[i].command, cause, still[i].cause);
		free(cause);
		cause = NULL;
	}
	/* Without them a push to a cow store is an ordinary push. */
	assert_int_equal(rsync_parse_for("rsync --server " FLAGS " . vol/", 1,
	    &r, &cause), 0);
	assert_false(r.inplace);
	assert_false(r.delete);
	rsync_request_free(&r);
	/* Reads never count as in place or deleting, whatever they carry. */
	assert_int_equal(rsync_parse_for("rsync --server --sender " FLAGS
	    " --inplace . bob/vol/latest/", 1, &r, &cause), 0);
	assert_false(r.inplace);
	assert_false(r.delete);
	rsync_request_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_table),
		cmocka_unit_test(test_refused_table),
		cmocka_unit_test(test_refused_null_cause),
		cmocka_unit_test(test_shell_metacharacters),
		cmocka_unit_test(test_escaped_metacharacters),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_command_length),
		cmocka_unit_test(test_word_count),
		cmocka_unit_test(test_acls_xattrs_seen),
		cmocka_unit_test(test_split_words),
		cmocka_unit_test(test_split_escapes),
		cmocka_unit_test(test_split_refusals),
		cmocka_unit_test(test_export_command),
		cmocka_unit_test(test_cow_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
