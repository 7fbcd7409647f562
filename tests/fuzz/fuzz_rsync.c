/*
 * fuzz_rsync: the exec command a replication client sends, as the ssh
 * server checks it — rsync_split, rsync_parse, rsync_parse_for with a
 * hard-link store (cow 0) and a copy-on-write one (cow 1), and the two
 * other commands (rsync_is_store, rsync_is_export, rsync_parse_export).
 * The input is the command; what ssh_server.c would see is its C string
 * (an embedded NUL ends it). Beyond not crashing: an accepted request's
 * names are safe path components, cow 0 never accepts --inplace or
 * --delete on a push, and anything cow 0 accepts cow 1 accepts too.
 */
#include "fuzz.h"
#include "rsync_argv.h"

static void
fuzz_rsync_component(const char *cmd, const char *what, const char *s)
{
	if (s == NULL)
		return;
	if (*s == '\0' || strchr(s, '/') != NULL || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0) {
		fprintf(stderr, "\"%s\": %s \"%s\" accepted\n", cmd, what, s);
		abort();
	}
}

static void
fuzz_rsync_request(const char *cmd, const struct rsync_request *r, int cow)
{
	size_t i;

	fuzz_rsync_component(cmd, "source", r->source);
	fuzz_rsync_component(cmd, "volume", r->volume);
	fuzz_rsync_component(cmd, "snapshot", r->snapshot);
	if (r->volume == NULL) {
		fprintf(stderr, "\"%s\": accepted without a volume\n", cmd);
		abort();
	}
	if (!cow && r->kind == RSYNC_PUSH && (r->inplace || r->delete)) {
		fprintf(stderr, "\"%s\": in-place push on a hard-link store\n",
		    cmd);
		abort();
	}
	for (i = 0; i < r->nopts; i++) {
		if (r->opts[i] == NULL) {
			fprintf(stderr, "\"%s\": option %zu is NULL\n", cmd, i);
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rsync_request req;
	struct rsync_export ex;
	char *cmd, *cause = NULL, **words = NULL;
	size_t n = 0, i;
	int rc, cow, ok[2];

	if (size > RSYNC_COMMAND_MAX + 16)
		return 0;
	cmd = fuzz_str(data, size);

	rc = rsync_split(cmd, &words, &n, &cause);
	fuzz_check_cause("rsync_split", rc, &cause);
	if (rc == 0) {
		for (i = 0; i < n; i++)
			if (words[i] == NULL)
				abort();
		rsync_words_free(words, n);
	}

	rc = rsync_parse(cmd, &req, &cause);
	fuzz_check_cause("rsync_parse", rc, &cause);
	if (rc == 0) {
		fuzz_rsync_request(cmd, &req, 0);
		rsync_request_free(&req);
	}
	for (cow = 0; cow <= 1; cow++) {
		rc = rsync_parse_for(cmd, cow, &req, &cause);
		fuzz_check_cause("rsync_parse_for", rc, &cause);
		ok[cow] = rc == 0;
		if (rc == 0) {
			fuzz_rsync_request(cmd, &req, cow);
			rsync_request_free(&req);
		}
	}
	if (ok[0] && !ok[1]) {
		fprintf(stderr, "\"%s\": accepted for a hard-link store, "
		    "refused for a copy-on-write one\n", cmd);
		abort();
	}

	(void)rsync_is_store(cmd);
	(void)rsync_is_export(cmd);
	rc = rsync_parse_export(cmd, &ex, &cause);
	fuzz_check_cause("rsync_parse_export", rc, &cause);
	if (rc == 0) {
		fuzz_rsync_component(cmd, "source", ex.source);
		fuzz_rsync_component(cmd, "volume", ex.volume);
		fuzz_rsync_component(cmd, "snapshot", ex.snapshot);
		if (ex.compress == NULL)
			abort();
		rsync_export_free(&ex);
	}
	free(cmd);
	return 0;
}
