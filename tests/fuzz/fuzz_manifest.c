/*
 * fuzz_manifest: a manifest as `privateer verify` gets it from a server
 * (the client parses the server's text and compares its own volume with
 * it): manifest_parse, then manifest_check against a small fixed tree
 * (a file, a directory, a symlink, a fifo) made once under $TMPDIR. The
 * parser answers a manifest or NULL with a cause; the check answers the
 * number of problems, each reported with a known kind and a path, or -1
 * with a cause. Paths are the server's word: the check opens them beneath
 * the tree only (openat2 RESOLVE_BENEATH); the tree's sibling "outside"
 * and the symlink d/l to it are there for paths that try to leave, and
 * only entries of the tree itself may be reported "unexpected".
 */
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "manifest.h"

static char *fuzz_tree;

/* Writes text to dir/name, or aborts. */
static void
fuzz_put(const char *dir, const char *name, const char *text)
{
	char *p;
	FILE *f;

	if (asprintf(&p, "%s/%s", dir, name) < 0 ||
	    (f = fopen(p, "w")) == NULL)
		abort();
	fputs(text, f);
	if (fclose(f) != 0)
		abort();
	free(p);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *top, *p;

	(void)argc;
	(void)argv;
	top = fuzz_tempdir("fuzz_manifest");
	if (asprintf(&fuzz_tree, "%s/tree", top) < 0 ||
	    mkdir(fuzz_tree, 0755) != 0)
		abort();
	fuzz_put(top, "outside", "not the volume's\n");
	fuzz_put(fuzz_tree, "a", "alpha\n");
	if (asprintf(&p, "%s/d", fuzz_tree) < 0 || mkdir(p, 0700) != 0)
		abort();
	free(p);
	if (asprintf(&p, "%s/d/l", fuzz_tree) < 0 ||
	    symlink("../outside", p) != 0)
		abort();
	free(p);
	if (asprintf(&p, "%s/d/fifo", fuzz_tree) < 0 || mkfifo(p, 0600) != 0)
		abort();
	free(p);
	free(top);
	return 0;
}

struct fuzz_reports {
	long n;
};

static void
fuzz_report(void *arg, const char *what, const char *path,
    const char *detail)
{
	struct fuzz_reports *r = arg;

	if (what == NULL || path == NULL || detail == NULL ||
	    (strcmp(what, "missing") != 0 && strcmp(what, "changed") != 0 &&
	    strcmp(what, "damaged") != 0 && strcmp(what, "unexpected") != 0)) {
		fprintf(stderr, "manifest_check reported \"%s\" for %s\n",
		    what != NULL ? what : "(null)", path != NULL ? path :
		    "(null)");
		abort();
	}
	/* Only what is in the tree can be found unexpected. */
	if (strcmp(what, "unexpected") == 0 && (strcmp(path, "a") != 0 &&
	    strcmp(path, "d") != 0 && strcmp(path, "d/l") != 0 &&
	    strcmp(path, "d/fifo") != 0)) {
		fprintf(stderr, "unexpected entry %s is not in the tree\n",
		    path);
		abort();
	}
	r->n++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_reports r = { 0 };
	struct manifest *m;
	char *cause = NULL;
	long k;

	if (size > 64 * 1024)
		return 0;
	m = manifest_parse((const char *)data, size, &cause);
	fuzz_check_cause("manifest_parse", m != NULL ? 0 : -1, &cause);
	if (m == NULL)
		return 0;
	k = manifest_check(m, fuzz_tree, MANIFEST_CHECK_NO_DIR_TIMES |
	    MANIFEST_CHECK_UNMUNGE, fuzz_report, &r, &cause);
	fuzz_check_cause("manifest_check", k >= 0 ? 0 : -1, &cause);
	if (k >= 0 && k != r.n) {
		fprintf(stderr, "manifest_check counted %ld, reported %ld\n",
		    k, r.n);
		abort();
	}
	r.n = 0;
	k = manifest_check(m, fuzz_tree, 0, fuzz_report, &r, &cause);
	fuzz_check_cause("manifest_check", k >= 0 ? 0 : -1, &cause);
	if (k >= 0 && k != r.n) {
		fprintf(stderr, "manifest_check counted %ld, reported %ld\n",
		    k, r.n);
		abort();
	}
	manifest_free(m);
	return 0;
}
