/*
 * fuzz_keyfile: a machine's key as the file key store reads it — the input
 * is written as <dir>/m (mode 0600, in a private directory made once) and
 * read back with keystore_get, needing the private half and not; what
 * loads is then checked as keys.c would (keypair_check) and fingerprinted.
 * This is keypair_from_json's JSON decoding and libssh's parsing of both
 * halves, fed from outside. The file store caps a file at 64 KiB.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "keypair.h"
#include "keystore.h"
#include "util.h"

static char *fuzz_keyfile_dir;
static char *fuzz_keyfile_path;
static struct keystore *fuzz_keyfile_ks;

static void
fuzz_keyfile_cleanup(void)
{
	if (fuzz_keyfile_ks != NULL)
		keystore_close(fuzz_keyfile_ks);
	if (fuzz_keyfile_path != NULL) {
		unlink(fuzz_keyfile_path);
		free(fuzz_keyfile_path);
	}
	rmdir(fuzz_keyfile_dir);
	free(fuzz_keyfile_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *cause = NULL;

	(void)argc;
	(void)argv;
	fuzz_keyfile_dir = fuzz_tempdir("fuzz_keyfile");
	fuzz_keyfile_path = xasprintf("%s/m", fuzz_keyfile_dir);
	atexit(fuzz_keyfile_cleanup);
	fuzz_keyfile_ks = keystore_file_open(fuzz_keyfile_dir, &cause);
	if (fuzz_keyfile_ks == NULL) {
		fprintf(stderr, "keystore_file_open: %s\n", cause);
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keypair kp;
	char *cause = NULL, *fp;
	int fd, rc, need;

	if (size > 80 * 1024)
		return 0;
	fd = open(fuzz_keyfile_path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, data, size) != 0 || close(fd) != 0)
		abort();
	for (need = 0; need <= 1; need++) {
		memset(&kp, 0, sizeof kp);
		rc = keystore_get(fuzz_keyfile_ks, "m", need, &kp, &cause);
		fuzz_check_cause("keystore_get", rc, &cause);
		if (rc != 0)
			continue;
		if (kp.public_key == NULL ||
		    (need && kp.private_key == NULL) ||
		    (!need && kp.private_key != NULL))
			abort();
		rc = keypair_check(&kp, "key file m", &cause);
		fuzz_check_cause("keypair_check", rc, &cause);
		fp = keypair_fingerprint(kp.public_key);
		if (rc == 0 && fp == NULL)
			abort();
		free(fp);
		keypair_wipe(&kp);
	}
	return 0;
}
