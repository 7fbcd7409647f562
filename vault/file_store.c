/*
 * file_store: the file key store. Permissions are checked on every read
 * (as ssh does for private keys): a key readable by anyone but its owner is
 * treated as compromised and refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keystore.h"
#include "util.h"

#define FILE_STORE_MAX (64 * 1024)

struct file_store {
	char *dir;
};

/*
 * The secret of name as JSON in *doc (caller wipes with
 * keypair_json_wipe and frees); key says whether it is a machine's
 * keypair, for the advice given when it is missing or exposed.
 */
static int
file_store_read(struct file_store *fs, const char *name, int key,
    json_t **doc, char **cause)
{
	char *path, *text = NULL;
	struct stat st;
	json_error_t jerr;
	ssize_t n;
	int fd = -1, rc = -1;

	*doc = NULL;
	path = xasprintf("%s/%s", fs->dir, name);
	if (stat(fs->dir, &st) == 0 && (st.st_mode & 077) != 0) {
		set_cause(cause, "key directory %s is accessible by others "
		    "(mode %04o); chmod 700 %s", fs->dir,
		    (unsigned)(st.st_mode & 07777), fs->dir);
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			set_cause(cause, key ? "no key for %s at %s — run "
			    "privateer keygen %s" : "no secret %s at %s", name,
			    path, name);
		else
			set_cause(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		set_cause(cause, "%s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		set_cause(cause, "%s is readable by others (mode %04o); refusing "
		    "it — chmod 600 %s, and %s %s", path,
		    (unsigned)(st.st_mode & 07777), path, key ? "rotate the "
		    "key with privateer keygen" : "change the secret", name);
		goto out;
	}
	if (st.st_size > FILE_STORE_MAX) {
		set_cause(cause, "%s is larger than %d bytes", path,
		    FILE_STORE_MAX);
		goto out;
	}
	text = xcalloc(1, (size_t)st.st_size + 1);
	n = read(fd, text, (size_t)st.st_size);
	if (n != st.st_size) {
		set_cause(cause, "reading %s: %s", path,
		    n < 0 ? strerror(errno) : "short read");
		goto out;
	}
	/* Not jansson's error text: it can quote the secret. */
	*doc = json_loadb(text, (size_t)n, 0, &jerr);
	if (*doc == NULL) {
		set_cause(cause, "%s: not JSON (line %d)", path, jerr.line);
		goto out;
	}
	rc = 0;
out:
	if (text != NULL) {
		explicit_bzero(text, (size_t)st.st_size);
		free(text);
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static int
file_store_get(struct keystore *ks, const char *name, int need_private,
    struct keypair *out, char **cause)
{
	struct file_store *fs = ks->impl;
	char *what;
	json_t *doc;
	int rc;

	if (file_store_read(fs, name, 1, &doc, cause) != 0)
		return -1;
	what = xasprintf("key file %s/%s", fs->dir, name);
	rc = keypair_from_json(doc, what, need_private, out, cause);
	keypair_json_wipe(doc);
	json_decref(doc);
	free(what);
	return rc;
}

static int
file_store_field(struct keystore *ks, const char *name, const char *field,
    char **value, char **cause)
{
	struct file_store *fs = ks->impl;
	char *what;
	json_t *doc;
	int rc;

	if (file_store_read(fs, name, 0, &doc, cause) != 0)
		return -1;
	what = xasprintf("secret file %s/%s", fs->dir, name);
	rc = keystore_data_field(doc, what, field, value, cause);
	keypair_json_wipe(doc);
	json_decref(doc);
	free(what);
	return rc;
}

static int
file_store_put(struct keystore *ks, const char *name,
    const struct keypair *kp, int *replaced, char **cause)
{
	struct file_store *fs = ks->impl;
	struct stat st;
	char *path, *text;
	json_t *doc;
	int rc;

	if (mkdir(fs->dir, 0700) != 0 && errno != EEXIST) {
		set_cause(cause, "creating %s: %s", fs->dir, strerror(errno));
		return -1;
	}
	if (stat(fs->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		set_cause(cause, "%s is not a directory", fs->dir);
		return -1;
	}
	if ((st.st_mode & 077) != 0 && chmod(fs->dir, 0700) != 0) {
		set_cause(cause, "chmod 700 %s: %s", fs->dir, strerror(errno));
		return -1;
	}
	path = xasprintf("%s/%s", fs->dir, name);
	*replaced = access(path, F_OK) == 0;
	doc = keypair_to_json(kp);
	text = json_dumps(doc, JSON_INDENT(2));
	keypair_json_wipe(doc);
	json_decref(doc);
	rc = write_file_atomic(path, text, strlen(text), 0600, cause);
	explicit_bzero(text, strlen(text));
	free(text);
	free(path);
	return rc;
}

static void
file_store_close(struct keystore *ks)
{
	struct file_store *fs = ks->impl;

	free(fs->dir);
	free(fs);
}

static const struct keystore_ops file_store_ops = {
	file_store_get,
	file_store_put,
	file_store_field,
	file_store_close,
};

struct keystore *
keystore_file_open(const char *dir, char **cause)
{
	struct keystore *ks;
	struct file_store *fs;

	if (dir == NULL || *dir != '/') {
		set_cause(cause, "file key store path must be absolute");
		return NULL;
	}
	fs = xcalloc(1, sizeof *fs);
	fs->dir = xstrdup(dir);
	ks = xcalloc(1, sizeof *ks);
	ks->ops = &file_store_ops;
	ks->impl = fs;
	ks->where = xasprintf("file store %s", dir);
	return ks;
}
