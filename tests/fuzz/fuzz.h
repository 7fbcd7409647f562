/*
 * fuzz: what the libFuzzer targets of tests/fuzz share. An input is bytes,
 * not a string: fuzz_str copies it NUL-terminated (an embedded NUL then
 * ends the C string early, as it would for a caller that got it from
 * jansson or libmicrohttpd). fuzz_check_cause enforces the house contract
 * every parser here follows: 0 with no cause, or -1 with one; anything
 * else aborts, which libFuzzer reports as a crash with the input saved.
 * fuzz_tempdir makes the scratch directories of the targets that need
 * one, under $TMPDIR, which run.sh points at a directory it removes.
 */
#ifndef PRIVATEER_FUZZ_H
#define PRIVATEER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* data as a NUL-terminated string; caller frees. */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A new private directory under $TMPDIR (or /tmp); caller frees. */
static inline char *
fuzz_tempdir(const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (asprintf(&dir, "%s/%s.XXXXXX", tmp, prefix) < 0 ||
	    mkdtemp(dir) == NULL) {
		perror("fuzz_tempdir");
		abort();
	}
	return dir;
}

/* Frees *cause after checking it agrees with rc. */
static inline void
fuzz_check_cause(const char *what, int rc, char **cause)
{
	if ((rc == 0 && *cause != NULL) || (rc == -1 && *cause == NULL) ||
	    (rc != 0 && rc != -1)) {
		fprintf(stderr, "%s returned %d with cause %s\n", what, rc,
		    *cause != NULL ? *cause : "(none)");
		abort();
	}
	free(*cause);
	*cause = NULL;
}

#endif
