/*
 * rsync_argv: the allow-list. Short options are single letters from
 * RSYNC_SHORT (rrsync's list minus -s, -L, -k, -K and -D), optionally
 * followed by rsync's "e<proto>.<flags>" capability tail; a few take a
 * number (-B, -@). Long options are looked up in rsync_long: a kind says
 * whether it takes no value, a number, or a word from a safe character set;
 * everything else — and anything naming a path — is refused by name.
 */
#include "rsync_argv.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* rrsync's short options, minus s (protect-args), L k K (follow links), D. */
#define RSYNC_SHORT "ACEHIJNORSUWXbcdgilmnopqrtuvxyz"
#define RSYNC_SHORT_NUM "@B"
#define RSYNC_NAME_MAX 64

enum rsync_optkind { OPT_FLAG, OPT_NUM, OPT_WORD };

static const struct {
	const char *name;
	enum rsync_optkind kind;
} rsync_long[] = {
	{ "block-size", OPT_NUM },
	{ "bwlimit", OPT_WORD },
	{ "checksum-choice", OPT_WORD },
	{ "checksum-seed", OPT_NUM },
	{ "compress-choice", OPT_WORD },
	{ "compress-level", OPT_NUM },
	{ "compress-threads", OPT_NUM },
	{ "debug", OPT_WORD },
	{ "delay-updates", OPT_FLAG },
	{ "dry-run", OPT_FLAG },
	{ "delete", OPT_FLAG },
	{ "delete-after", OPT_FLAG },
	{ "delete-before", OPT_FLAG },
	{ "delete-delay", OPT_FLAG },
	{ "delete-during", OPT_FLAG },
	{ "delete-excluded", OPT_FLAG },
	{ "delete-missing-args", OPT_FLAG },
	{ "existing", OPT_FLAG },
	{ "force", OPT_FLAG },
	{ "fsync", OPT_FLAG },
	{ "fuzzy", OPT_FLAG },
	{ "group", OPT_FLAG },
	{ "hard-links", OPT_FLAG },
	{ "ignore-errors", OPT_FLAG },
	{ "ignore-existing", OPT_FLAG },
	{ "ignore-missing-args", OPT_FLAG },
	{ "ignore-times", OPT_FLAG },
	{ "info", OPT_WORD },
	{ "inplace", OPT_FLAG },	/* reads only: see rsync_parse */
	{ "links", OPT_FLAG },
	{ "list-only", OPT_FLAG },
	{ "max-alloc", OPT_WORD },
	{ "max-delete", OPT_NUM },
	{ "max-size", OPT_WORD },
	{ "min-size", OPT_WORD },
	{ "mkpath", OPT_FLAG },
	{ "modify-window", OPT_NUM },
	{ "msgs2stderr", OPT_FLAG },
	{ "munge-links", OPT_FLAG },
	{ "new-compress", OPT_FLAG },
	{ "no-W", OPT_FLAG },
	{ "no-implied-dirs", OPT_FLAG },
	{ "no-msgs2stderr", OPT_FLAG },
	{ "no-r", OPT_FLAG },
	{ "no-relative", OPT_FLAG },
	{ "no-specials", OPT_FLAG },
	{ "numeric-ids", OPT_FLAG },
	{ "old-compress", OPT_FLAG },
	{ "one-file-system", OPT_FLAG },
	{ "open-noatime", OPT_FLAG },
	{ "owner", OPT_FLAG },
	{ "partial", OPT_FLAG },
	{ "perms", OPT_FLAG },
	{ "preallocate", OPT_FLAG },
	{ "recursive", OPT_FLAG },
	{ "safe-links", OPT_FLAG },
	{ "size-only", OPT_FLAG },
	{ "skip-compress", OPT_WORD },
	{ "stats", OPT_FLAG },
	{ "stderr", OPT_WORD },
	{ "times", OPT_FLAG },
	{ "timeout", OPT_NUM },
	{ "use-qsort", OPT_FLAG },
};

/* Refused with a reason, so the message says why and not just "unknown". */
static const struct {
	const char *name;
	const char *why;
} rsync_refused[] = {
	{ "append", "writes into existing files in place" },
	{ "append-verify", "writes into existing files in place" },
	{ "backup-dir", "names a path" },
	{ "compare-dest", "names a path" },
	{ "copy-dest", "names a path" },
	{ "copy-devices", "reads devices" },
	{ "copy-links", "follows symlinks" },
	{ "copy-dirlinks", "follows symlinks" },
	{ "copy-unsafe-links", "follows symlinks" },
	{ "daemon", "starts a daemon" },
	{ "devices", "creates device files" },
	{ "specials", "creates special files" },
	{ "fake-super", "is the server's choice" },
	{ "files-from", "names a path" },
	{ "groupmap", "is the server's choice" },
	{ "usermap", "is the server's choice" },
	{ "chown", "is the server's choice" },
	{ "iconv", "is the server's choice" },
	{ "keep-dirlinks", "follows symlinks" },
	{ "link-dest", "names a path" },
	{ "log-file", "names a path" },
	{ "log-file-format", "is the server's choice" },
	{ "no-munge-links", "is the server's choice" },
	{ "only-write-batch", "names a path" },
	{ "write-batch", "names a path" },
	{ "read-batch", "names a path" },
	{ "partial-dir", "names a path" },
	{ "temp-dir", "names a path" },
	{ "protect-args", "hides arguments from this check" },
	{ "secluded-args", "hides arguments from this check" },
	{ "remove-sent-files", "deletes on the server" },
	{ "remove-source-files", "deletes on the server" },
	{ "rsh", "runs a command" },
	{ "rsync-path", "runs a command" },
	{ "super", "is the server's choice" },
	{ "write-devices", "writes to devices" },
	{ "config", "names a path" },
	{ "password-file", "names a path" },
	{ "exclude-from", "names a path" },
	{ "include-from", "names a path" },
	{ "filter", "is not used by privateer" },
	{ "exclude", "is not used by privateer" },
	{ "include", "is not used by privateer" },
};

static const struct {
	char letter;
	const char *why;
} rsync_short_refused[] = {
	{ 's', "-s (--protect-args) hides arguments from this check" },
	{ 'L', "-L (--copy-links) follows symlinks" },
	{ 'k', "-k (--copy-dirlinks) follows symlinks" },
	{ 'K', "-K (--keep-dirlinks) follows symlinks" },
	{ 'D', "-D (--devices --specials) creates device and special files" },
	{ 'e', "-e (--rsh) runs a command" },
	{ 'f', "-f (--filter) is not used by privateer" },
	{ 'F', "-F (filter rules) is not used by privateer" },
	{ 'T', "-T (--temp-dir) names a path" },
	{ 'P', "-P (--partial --progress) is the client's" },
	{ 'a', "-a implies -D; send -rlptgo" },
	{ 'h', "-h is the client's" },
};

void
rsync_words_free(char **words, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(words[i]);
	free(words);
}

int
rsync_split(const char *command, char ***wordsp, size_t *np, char **cause)
{
	char **words = NULL, *cur = NULL;
	size_t n = 0, len = 0, clen;
	const char *p;
	int in_word = 0;

	*wordsp = NULL;
	*np = 0;
	clen = strlen(command);
	if (clen == 0 || clen > RSYNC_COMMAND_MAX) {
		set_cause(cause, "the command is empty or longer than %d bytes",
		    RSYNC_COMMAND_MAX);
		return -1;
	}
	cur = xmalloc(clen + 1);
	for (p = command;; p++) {
		if (*p == '\0' || *p == ' ' || *p == '\t') {
			if (in_word) {
				if (n == RSYNC_MAX_ARGS) {
					set_cause(cause, "more than %d words",
					    RSYNC_MAX_ARGS);
					goto fail;
				}
				cur[len] = '\0';
				words = xreallocarray(words, n + 1,
				    sizeof *words);
				words[n++] = xstrdup(cur);
				len = 0;
				in_word = 0;
			}
			if (*p == '\0')
				break;
			continue;
		}
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			set_cause(cause, "the command contains a control "
			    "character");
			goto fail;
		}
		if (*p == '\\') {
			p++;
			if (*p == '\0' || (unsigned char)*p < 0x20 ||
			    *p == 0x7f) {
				set_cause(cause, "the command ends in a "
				    "backslash or escapes a control character");
				goto fail;
			}
		} else if (strchr("'\"`$;&|<>(){}*?!~#", *p) != NULL) {
			set_cause(cause, "the command contains the shell "
			    "character '%c'; no shell runs it", *p);
			goto fail;
		}
		cur[len++] = *p;
		in_word = 1;
	}
	free(cur);
	*wordsp = words;
	*np = n;
	return 0;
fail:
	free(cur);
	rsync_words_free(words, n);
	return -1;
}

static int
rsync_safe_word(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && strchr(".,:_+=-", *s) == NULL)
			return 0;
	}
	return 1;
}

static int
rsync_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return 0;
	}
	return 1;
}

/* A cluster like -logtprze.iLsfxCIvu or -B1024. */
static int
rsync_short(const char *arg, char **cause)
{
	const char *p;
	size_t i;

	if (arg[1] == '\0') {
		set_cause(cause, "a lone \"-\" is not an option");
		return -1;
	}
	if (strchr(RSYNC_SHORT_NUM, arg[1]) != NULL) {
		if (!rsync_number(arg + 2)) {
			set_cause(cause, "option %.32s needs a number", arg);
			return -1;
		}
		return 0;
	}
	for (p = arg + 1; *p != '\0'; p++) {
		if (strchr(RSYNC_SHORT, *p) != NULL)
			continue;
		/* rsync's capability tail: e<digits>.<letters> */
		if (*p == 'e') {
			const char *q = p + 1;
			while (isdigit((unsigned char)*q))
				q++;
			if (*q == '.') {
				for (q++; isalpha((unsigned char)*q); q++)
					;
				if (*q == '\0')
					return 0;
			}
		}
		for (i = 0; i < sizeof rsync_short_refused /
		    sizeof rsync_short_refused[0]; i++) {
			if (rsync_short_refused[i].letter == *p) {
				set_cause(cause, "option %s is refused",
				    rsync_short_refused[i].why);
				return -1;
			}
		}
		set_cause(cause, "option -%c (in %.32s) is not allowed", *p,
		    arg);
		return -1;
	}
	if (arg[1] == '\0') {
		set_cause(cause, "a lone \"-\" is not an option");
		return -1;
	}
	return 0;
}

static int
rsync_long_opt(const char *arg, char **cause)
{
	const char *name = arg + 2, *eq, *value;
	char buf[RSYNC_NAME_MAX + 1];
	size_t i, len;

	eq = strchr(name, '=');
	len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	if (len == 0 || len > RSYNC_NAME_MAX) {
		set_cause(cause, "option %.40s is not allowed", arg);
		return -1;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	value = eq != NULL ? eq + 1 : NULL;
	for (i = 0; i < sizeof rsync_refused / sizeof rsync_refused[0]; i++) {
		if (strcmp(buf, rsync_refused[i].name) == 0) {
			set_cause(cause, "option --%s is refused: it %s", buf,
			    rsync_refused[i].why);
			return -1;
		}
	}
	for (i = 0; i < sizeof rsync_long / sizeof rsync_long[0]; i++) {
		if (strcmp(buf, rsync_long[i].name) != 0)
			continue;
		switch (rsync_long[i].kind) {
		case OPT_FLAG:
			if (value != NULL) {
				set_cause(cause, "option --%s takes no value",
				    buf);
				return -1;
			}
			return 0;
		case OPT_NUM:
			if (value == NULL || !rsync_number(value)) {
				set_cause(cause, "option --%s needs =NUMBER",
				    buf);
				return -1;
			}
			return 0;
		case OPT_WORD:
			if (value == NULL || !rsync_safe_word(value) ||
			    strlen(value) > 64) {
				set_cause(cause, "option --%s needs =VALUE of "
				    "letters, digits and .,:_+=-", buf);
				return -1;
			}
			return 0;
		}
	}
	set_cause(cause, "option --%s is not allowed", buf);
	return -1;
}

static int
rsync_name(const char *what, const char *s, char **cause)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > RSYNC_NAME_MAX || !isalnum((unsigned char)*s)) {
		set_cause(cause, "path: %s \"%.64s\" is not a name", what, s);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("_.-", s[i]) == NULL) {
			set_cause(cause, "path: %s \"%.64s\" is not a name",
			    what, s);
			return -1;
		}
	}
	if (strstr(s, "..") != NULL) {
		set_cause(cause, "path: %s \"%.64s\" contains \"..\"", what, s);
		return -1;
	}
	return 0;
}

/*
 * PUSH: VOLUME[/]. PULL: SOURCE/VOLUME/SNAPSHOT[/]. LIST: SOURCE/VOLUME[/].
 */
static int
rsync_path(struct rsync_request *r, int sender, int list_only,
    const char *arg, char **cause)
{
	char *copy, *parts[4], *save = NULL, *tok;
	size_t n = 0;
	int rc = -1;

	if (*arg == '/') {
		set_cause(cause, "path \"%.64s\" is absolute; paths name "
		    "VOLUME or SOURCE/VOLUME/SNAPSHOT", arg);
		return -1;
	}
	copy = xstrdup(arg);
	for (tok = strtok_r(copy, "/", &save); tok != NULL;
	    tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, "..") == 0 || strcmp(tok, ".") == 0) {
			set_cause(cause, "path \"%.64s\" contains \"%s\"", arg,
			    tok);
			goto out;
		}
		if (n == 3) {
			n++;
			break;
		}
		parts[n++] = tok;
	}
	if (!sender) {
		if (n != 1 || rsync_name("volume", parts[0], cause) != 0) {
			if (n != 1)
				set_cause(cause, "path \"%.64s\": a backup "
				    "names only VOLUME", arg);
			goto out;
		}
		r->kind = RSYNC_PUSH;
		r->volume = xstrdup(parts[0]);
		rc = 0;
		goto out;
	}
	if (list_only && n == 2) {
		r->kind = RSYNC_LIST;
	} else if (n == 3 && !list_only) {
		r->kind = RSYNC_PULL;
	} else {
		set_cause(cause, "path \"%.64s\": a restore names "
		    "SOURCE/VOLUME/SNAPSHOT, a listing SOURCE/VOLUME/", arg);
		goto out;
	}
	if (rsync_name("source", parts[0], cause) != 0 ||
	    rsync_name("volume", parts[1], cause) != 0 ||
	    (n == 3 && rsync_name("snapshot", parts[2], cause) != 0))
		goto out;
	r->source = xstrdup(parts[0]);
	r->volume = xstrdup(parts[1]);
	if (n == 3)
		r->snapshot = xstrdup(parts[2]);
	rc = 0;
out:
	free(copy);
	return rc;
}

void
rsync_request_free(struct rsync_request *r)
{
	rsync_words_free(r->opts, r->nopts);
	free(r->source);
	free(r->volume);
	free(r->snapshot);
	memset(r, 0, sizeof *r);
}

/* The --delete options a push into a private copy may carry. */
static int
rsync_copy_delete(const char *opt)
{
	return strcmp(opt, "--delete") == 0 ||
	    strcmp(opt, "--delete-during") == 0 ||
	    strcmp(opt, "--delete-delay") == 0 ||
	    strcmp(opt, "--delete-after") == 0 ||
	    strcmp(opt, "--delete-before") == 0;
}

int
rsync_parse(const char *command, struct rsync_request *r, char **cause)
{
	return rsync_parse_for(command, 0, r, cause);
}

int
rsync_parse_for(const char *command, int cow, struct rsync_request *r,
    char **cause)
{
	char **w = NULL, *tail, *flags;
	size_t n = 0, i;
	int sender = 0, list_only = 0, dot = 0, rc = -1, recursive = 0;
	int inplace = 0;
	const char *filters = NULL;

	memset(r, 0, sizeof *r);
	if (rsync_split(command, &w, &n, cause) != 0)
		return -1;
	if (n < 2 || strcmp(w[0], "rsync") != 0 ||
	    strcmp(w[1], "--server") != 0) {
		set_cause(cause, "only \"rsync --server ...\" is accepted");
		goto out;
	}
	i = 2;
	if (i < n && strcmp(w[i], "--sender") == 0) {
		sender = 1;
		i++;
	}
	for (; i < n; i++) {
		if (strcmp(w[i], ".") == 0) {
			dot = 1;
			i++;
			break;
		}
		if (strcmp(w[i], "--") == 0) {
			set_cause(cause, "\"--\" before the \".\" argument is "
			    "not accepted");
			goto out;
		}
		if (strncmp(w[i], "--", 2) == 0) {
			if (strcmp(w[i], "--sender") == 0) {
				set_cause(cause, "--sender must come right "
				    "after --server");
				goto out;
			}
			if (rsync_long_opt(w[i], cause) != 0)
				goto out;
			if (strcmp(w[i], "--list-only") == 0)
				list_only = 1;
			if (strcmp(w[i], "--recursive") == 0)
				recursive = 1;
			if (strcmp(w[i], "--dry-run") == 0)
				r->dry_run = 1;
			if (cow && rsync_copy_delete(w[i]))
				r->delete = 1;
			else if (filters == NULL &&
			    strncmp(w[i], "--delete", 8) == 0)
				filters = w[i];
			if (strcmp(w[i], "--inplace") == 0)
				inplace = 1;
		} else if (w[i][0] == '-') {
			if (rsync_short(w[i], cause) != 0)
				goto out;
			/* Letters before rsync's "e..." capability tail. */
			tail = strchr(w[i], 'e');
			flags = xstrndup(w[i], tail != NULL ?
			    (size_t)(tail - w[i]) : strlen(w[i]));
			if (strchr(flags, 'r') != NULL)
				recursive = 1;
			if (strchr(flags, 'n') != NULL)
				r->dry_run = 1;
			if (strchr(flags, 'A') != NULL)
				r->acls = 1;
			if (strchr(flags, 'X') != NULL)
				r->xattrs = 1;
			if (filters == NULL && strchr(flags, 'm') != NULL)
				filters = "-m (--prune-empty-dirs)";
			free(flags);
		} else {
			set_cause(cause, "\"%.64s\" comes before the \".\" "
			    "argument", w[i]);
			goto out;
		}
		r->opts = xreallocarray(r->opts, r->nopts + 1,
		    sizeof *r->opts);
		r->opts[r->nopts++] = xstrdup(w[i]);
	}
	if (!dot) {
		set_cause(cause, "no \".\" argument: not an rsync server "
		    "command line");
		goto out;
	}
	if (n - i != 1) {
		set_cause(cause, "exactly one path must follow \".\" (got "
		    "%zu)", n - i);
		goto out;
	}
	if (list_only && recursive) {
		set_cause(cause, "a listing may not be recursive");
		goto out;
	}
	if (list_only && !sender) {
		set_cause(cause, "--list-only is only for reading");
		goto out;
	}
	/*
	 * A backup fills a new, empty directory, so there is nothing to
	 * delete or prune; and with either, the receiving server would read
	 * filter rules from the client, whose merge-file rules can name any
	 * file on the server.
	 */
	/*
	 * In place, the receiver would write into files a new snapshot
	 * shares with the earlier ones. A restore's receiver is the client,
	 * writing into an empty directory; the server only reads.
	 */
	/*
	 * A copy-on-write store gives each push a private copy of latest to
	 * rewrite (snapshot.h): there --inplace and --delete touch nothing
	 * else, and the server confines the filter rules --delete brings
	 * (--confine-root).
	 */
	if (!sender && inplace && !cow) {
		set_cause(cause, "option --inplace is refused on a backup: it "
		    "writes into existing files in place, and a new snapshot "
		    "shares its unchanged files with the earlier ones");
		goto out;
	}
	if (sender)
		r->delete = 0;
	r->inplace = inplace && !sender;
	if (!sender && filters != NULL) {
		set_cause(cause, "%.40s is refused on a backup: a backup fills "
		    "a new directory, and the option would have the server read "
		    "the client's filter rules", filters);
		goto out;
	}
	if (rsync_path(r, sender, list_only, w[i], cause) != 0)
		goto out;
	rc = 0;
out:
	rsync_words_free(w, n);
	if (rc != 0)
		rsync_request_free(r);
	return rc;
}

int
rsync_is_store(const char *command)
{
	return strcmp(command, RSYNC_STORE_COMMAND) == 0;
}

/* Whether command is name, alone or followed by its arguments. */
static int
rsync_is_command(const char *command, const char *name)
{
	size_t n = strlen(name);

	return strncmp(command, name, n) == 0 &&
	    (command[n] == ' ' || command[n] == '\0');
}

int
rsync_is_export(const char *command)
{
	return rsync_is_command(command, RSYNC_EXPORT_COMMAND);
}

void
rsync_export_free(struct rsync_export *e)
{
	free(e->source);
	free(e->volume);
	free(e->snapshot);
	free(e->compress);
	memset(e, 0, sizeof *e);
}

int
rsync_parse_export(const char *command, struct rsync_export *e,
    char **cause)
{
	char **w = NULL;
	size_t n = 0;
	int rc = -1;

	memset(e, 0, sizeof *e);
	if (strlen(command) > RSYNC_COMMAND_MAX) {
		set_cause(cause, "command longer than %d bytes",
		    RSYNC_COMMAND_MAX);
		return -1;
	}
	if (rsync_split(command, &w, &n, cause) != 0)
		return -1;
	if (n != 5 || strcmp(w[0], RSYNC_EXPORT_COMMAND) != 0) {
		set_cause(cause, "usage: %s SOURCE VOLUME SNAPSHOT "
		    "none|gzip|zstd", RSYNC_EXPORT_COMMAND);
		goto out;
	}
	if (rsync_name("source", w[1], cause) != 0 ||
	    rsync_name("volume", w[2], cause) != 0 ||
	    rsync_name("snapshot", w[3], cause) != 0)
		goto out;
	if (strcmp(w[4], "none") != 0 && strcmp(w[4], "gzip") != 0 &&
	    strcmp(w[4], "zstd") != 0) {
		set_cause(cause, "compression \"%.16s\" is not none, gzip or "
		    "zstd", w[4]);
		goto out;
	}
	e->source = xstrdup(w[1]);
	e->volume = xstrdup(w[2]);
	e->snapshot = xstrdup(w[3]);
	e->compress = xstrdup(w[4]);
	rc = 0;
out:
	rsync_words_free(w, n);
	return rc;
}

int
rsync_is_verify(const char *command)
{
	return rsync_is_command(command, RSYNC_VERIFY_COMMAND);
}

void
rsync_verify_free(struct rsync_verify *v)
{
	free(v->source);
	free(v->volume);
	free(v->snapshot);
	memset(v, 0, sizeof *v);
}

int
rsync_parse_verify(const char *command, struct rsync_verify *v, char **cause)
{
	char **w = NULL;
	size_t n = 0;
	int rc = -1;

	memset(v, 0, sizeof *v);
	if (strlen(command) > RSYNC_COMMAND_MAX) {
		set_cause(cause, "command longer than %d bytes",
		    RSYNC_COMMAND_MAX);
		return -1;
	}
	if (rsync_split(command, &w, &n, cause) != 0)
		return -1;
	if ((n != 4 && n != 5) || strcmp(w[0], RSYNC_VERIFY_COMMAND) != 0 ||
	    (n == 5 && strcmp(w[4], "manifest") != 0)) {
		set_cause(cause, "usage: %s SOURCE VOLUME ID|latest|all "
		    "[manifest]", RSYNC_VERIFY_COMMAND);
		goto out;
	}
	if (rsync_name("source", w[1], cause) != 0 ||
	    rsync_name("volume", w[2], cause) != 0 ||
	    rsync_name("snapshot", w[3], cause) != 0)
		goto out;
	if (n == 5 && strcmp(w[3], "all") == 0) {
		set_cause(cause, "%s: one snapshot's manifest at a time",
		    RSYNC_VERIFY_COMMAND);
		goto out;
	}
	v->source = xstrdup(w[1]);
	v->volume = xstrdup(w[2]);
	v->snapshot = xstrdup(w[3]);
	v->manifest = n == 5;
	rc = 0;
out:
	rsync_words_free(w, n);
	return rc;
}
