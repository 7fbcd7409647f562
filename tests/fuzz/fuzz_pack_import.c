/*
 * fuzz_pack_import: pack_import, the tar import path, called directly (the
 * plugin runs it in a child, `privateer pack import`; here it is the
 * function that must hold). The input is the archive, in a memfd; each
 * input is extracted into a fresh, empty directory <scratch>/d on tmpfs,
 * which is then removed.
 *
 * The fuzzer runs as root on a shared machine, so an entry that escaped
 * pack.c's checks must not reach the real filesystem. At start the
 * process enters its own mount namespace (private propagation) where every
 * mount is read-only except the directories libFuzzer writes (its corpus,
 * artifacts, the working directory), other people's mounts under /tmp are
 * detached (so this process never keeps their filesystems busy), and the
 * scratch directory is a tmpfs of its own (FUZZ_PACK_TMPFS) over /dev/shm,
 * seen by this process only and gone with it; its size also bounds what a
 * compressed archive can unpack to. That also gives the oracle: after every
 * input the scratch directory holds nothing but d, and no error may be
 * EROFS (a write outside d that the read-only mounts stopped). Without
 * the privilege to do this the target refuses to run, unless
 * FUZZ_PACK_UNSAFE=1 (then only the scratch check protects you).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fuzz.h"
#include "pack.h"
#include "util.h"

#define FUZZ_PACK_MAX_RW 8

#define FUZZ_PACK_TMPFS "size=256m,mode=0700"

static char fuzz_pack_root[] = "/dev/shm/fuzz_pack.XXXXXX";
static char *fuzz_pack_dir;
static int fuzz_pack_sandboxed;
static int fuzz_pack_memfd = -1;
static int fuzz_pack_cwd = -1;	/* libFuzzer's, restored after each input */

static void
fuzz_pack_cleanup(void)
{
	if (!fuzz_pack_sandboxed)	/* else the tmpfs goes with us */
		remove_tree(fuzz_pack_root, NULL);
	free(fuzz_pack_dir);
}

/* A directory that stays writable: bind-mounted onto itself. */
static int
fuzz_pack_keep_rw(const char *dir, char **kept, size_t *nkept)
{
	char *real;

	if (*nkept == FUZZ_PACK_MAX_RW)
		return -1;
	if ((real = realpath(dir, NULL)) == NULL)
		return 0;	/* libFuzzer will say */
	if (strcmp(real, "/") == 0) {	/* never the whole filesystem */
		free(real);
		return 0;
	}
	if (mount(real, real, NULL, MS_BIND, NULL) != 0) {
		fprintf(stderr, "bind %s: %s\n", real, strerror(errno));
		free(real);
		return -1;
	}
	kept[(*nkept)++] = real;
	return 0;
}

static unsigned long
fuzz_pack_flags(const char *mp)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(mp, &sv) != 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

/* Everything read-only but kept[], in a mount namespace of our own. */
static int
fuzz_pack_sandbox(int argc, char **argv)
{
	char *kept[FUZZ_PACK_MAX_RW], line[8192], mp[4096], *slash;
	struct statvfs sv;
	size_t nkept = 0, i;
	FILE *f;
	int k, rc = -1, skip;

	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fprintf(stderr, "mount namespace: %s\n", strerror(errno));
		return -1;
	}
	if (fuzz_pack_keep_rw(".", kept, &nkept) != 0)
		goto out;
	/* Our working directory is still on the old mount: step onto the
	 * new one, or relative paths would meet the read-only one. */
	if (nkept == 1 && chdir(kept[0]) != 0)
		goto out;
	for (k = 1; k < argc; k++) {
		if (argv[k][0] != '-') {	/* a corpus directory */
			if (fuzz_pack_keep_rw(argv[k], kept, &nkept) != 0)
				goto out;
		} else if (strncmp(argv[k], "-artifact_prefix=", 17) == 0) {
			snprintf(mp, sizeof mp, "%s", argv[k] + 17);
			if ((slash = strrchr(mp, '/')) != NULL) {
				slash[1] = '\0';
				if (fuzz_pack_keep_rw(mp, kept, &nkept) != 0)
					goto out;
			}
		}
	}
	/* Deepest first does not matter for remounts; detach /tmp's. */
	if ((f = fopen("/proc/self/mountinfo", "r")) == NULL)
		goto out;
	while (fgets(line, sizeof line, f) != NULL) {
		/* id parent major:minor root MOUNTPOINT ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		for (skip = 0, i = 0; i < nkept; i++)
			if (strcmp(mp, kept[i]) == 0)
				skip = 1;
		if (skip)
			continue;
		if (strncmp(mp, "/tmp/", 5) == 0) {
			(void)umount2(mp, MNT_DETACH);
			continue;
		}
		if (mount(NULL, mp, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
		    fuzz_pack_flags(mp), NULL) != 0 && errno != ENOENT &&
		    errno != EINVAL) {
			fprintf(stderr, "read-only %s: %s\n", mp,
			    strerror(errno));
			fclose(f);
			goto out;
		}
	}
	fclose(f);
	if (statvfs("/", &sv) != 0 || !(sv.f_flag & ST_RDONLY) ||
	    statvfs("/proc/sys", &sv) != 0 || !(sv.f_flag & ST_RDONLY)) {
		fprintf(stderr, "/ or /proc/sys is still writable\n");
		goto out;
	}
	if (mount("fuzz_pack", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
	    FUZZ_PACK_TMPFS) != 0) {
		fprintf(stderr, "tmpfs on /dev/shm: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < nkept; i++)
		free(kept[i]);
	return rc;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *unsafe = getenv("FUZZ_PACK_UNSAFE");

	fuzz_pack_sandboxed = fuzz_pack_sandbox(*argc, *argv) == 0;
	if (!fuzz_pack_sandboxed && (unsafe == NULL ||
	    strcmp(unsafe, "1") != 0)) {
		fprintf(stderr, "fuzz_pack_import: cannot make the filesystem "
		    "read-only around the import (needs root); refusing to "
		    "extract fuzzed archives (FUZZ_PACK_UNSAFE=1 to do it "
		    "anyway)\n");
		exit(1);
	}
	if (mkdtemp(fuzz_pack_root) == NULL)
		abort();
	fuzz_pack_dir = xasprintf("%s/d", fuzz_pack_root);
	atexit(fuzz_pack_cleanup);
	fuzz_pack_memfd = memfd_create("archive", MFD_CLOEXEC);
	fuzz_pack_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fuzz_pack_memfd < 0 || fuzz_pack_cwd < 0)
		abort();
	return 0;
}

/* Nothing but the import directory may appear in the scratch root. */
static void
fuzz_pack_check_root(void)
{
	struct dirent *de;
	DIR *d;

	d = opendir(fuzz_pack_root);
	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "d") == 0)
			continue;
		fprintf(stderr, "the import wrote \"%s\" outside its "
		    "directory\n", de->d_name);
		abort();
	}
	closedir(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pack_stats st;
	char *cause = NULL;
	int rc;

	if (size > 1024 * 1024)
		return 0;
	if (ftruncate(fuzz_pack_memfd, 0) != 0 ||
	    pwrite(fuzz_pack_memfd, data, size, 0) != (ssize_t)size ||
	    lseek(fuzz_pack_memfd, 0, SEEK_SET) != 0)
		abort();
	if (mkdir(fuzz_pack_dir, 0755) != 0)
		abort();
	rc = pack_import(fuzz_pack_memfd, fuzz_pack_dir, &st, &cause);
	/* (Unless the archive itself spells it, in a name.) */
	if (rc != 0 && cause != NULL &&
	    strstr(cause, strerror(EROFS)) != NULL &&
	    memmem(data, size, "Read-only", 9) == NULL) {
		fprintf(stderr, "the import wrote outside its directory: "
		    "%s\n", cause);
		abort();
	}
	fuzz_check_cause("pack_import", rc, &cause);
	/* pack_import works from inside the directory. */
	if (fchdir(fuzz_pack_cwd) != 0)
		abort();
	fuzz_pack_check_root();
	if (remove_tree(fuzz_pack_dir, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		abort();
	}
	return 0;
}
