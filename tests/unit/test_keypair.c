/*
 * test_keypair: machines' ssh keypairs. keypair_generate must give an
 * OpenSSH ed25519 private key and a matching "ssh-ed25519 " line, and
 * keypair_check must accept it and refuse a public half from another key,
 * garbage, unknown types, bad base64 and an undecodable private key, each
 * with a cause naming the secret. privateer2's RSA keys (PKCS#8 PEM from
 * `openssl genpkey`, public line from `ssh-keygen -y`, both run here with
 * fork and execv) must be accepted. The JSON secret form ({"private",
 * "public"}) is checked for missing, mistyped, empty and over-long fields
 * and a round trip; wiping and fingerprints (cross-checked against
 * `ssh-keygen -l` when it exists) complete the module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <libssh/libssh.h>

#include "keypair.h"
#include "util.h"

#define OPENSSH_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define PKCS8_BEGIN "-----BEGIN PRIVATE KEY-----"

static void
assert_mentions(const char *cause, const char *needle)
{
	if (cause == NULL)
		fail_msg("no cause set (expected one mentioning \"%s\")",
		    needle);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, needle);
}

static int
starts_with(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static struct keypair
generate(void)
{
	struct keypair kp;
	char *cause = NULL;

	if (keypair_generate(&kp, &cause) != 0)
		fail_msg("keypair_generate: %s", cause);
	return kp;
}

/* keypair_check must refuse kp with a cause containing needle. */
static void
check_refused(const struct keypair *kp, const char *needle)
{
	char *cause = NULL;

	if (keypair_check(kp, "secret privateer/alice", &cause) != -1)
		fail_msg("keypair_check accepted public \"%s\"",
		    kp->public_key);
	assert_mentions(cause, "secret privateer/alice");
	assert_mentions(cause, needle);
	free(cause);
}

/* An executable called name on $PATH (caller frees), or NULL. */
static char *
find_program(const char *name)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *full;

	copy = xstrdup(path != NULL && *path != '\0' ? path :
	    "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		full = xasprintf("%s/%s", dir, name);
		if (access(full, X_OK) == 0) {
			free(copy);
			return full;
		}
		free(full);
	}
	free(copy);
	return NULL;
}

/*
 * Runs argv (argv[0] an absolute path) with stdout into out (or
 * /dev/null); its exit status, or -1 if it could not run or was killed.
 * Its stderr is shown only when it fails. fork and execv rather than
 * posix_spawn: sync/spawn.h, on the include path of everything linked with
 * privateer_core, hides <spawn.h>.
 */
static int
run(char *const argv[], const char *out)
{
	FILE *err;
	char buf[512];
	pid_t pid, w = -1;
	int fd, status = 0, rc = -1;
	size_t n;

	fd = open(out != NULL ? out : "/dev/null",
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		print_error("cannot open %s: %s\n", out, strerror(errno));
		return -1;
	}
	if ((err = tmpfile()) == NULL) {
		close(fd);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		if (dup2(fd, STDOUT_FILENO) < 0 ||
		    dup2(fileno(err), STDERR_FILENO) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd);
	if (pid > 0) {
		while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
		if (w == pid && WIFEXITED(status))
			rc = WEXITSTATUS(status);
	}
	if (rc != 0) {
		print_error("%s exited with %d:\n", argv[0], rc);
		rewind(err);
		while ((n = fread(buf, 1, sizeof buf, err)) > 0)
			print_error("%.*s", (int)n, buf);
	}
	fclose(err);
	return rc;
}

static char *
read_text(const char *path)
{
	char *text = read_file_capped(path, 1024 * 1024, NULL);

	if (text == NULL)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	return text;
}

static char *
make_tmpdir(void)
{
	char *dir = xstrdup("/tmp/test_keypair.XXXXXX");

	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	return dir;
}

static void
test_generate_format(void **state)
{
	struct keypair kp = generate(), kp2 = generate();
	const char *b64;

	(void)state;
	assert_true(starts_with(kp.private_key, OPENSSH_BEGIN));
	assert_non_null(strstr(kp.private_key,
	    "-----END OPENSSH PRIVATE KEY-----"));
	assert_true(starts_with(kp.public_key, "ssh-ed25519 "));
	/* One line: type, base64 of the 51-byte ed25519 blob, no newline. */
	b64 = kp.public_key + strlen("ssh-ed25519 ");
	assert_int_equal(strlen(b64), 68);
	assert_true(starts_with(b64, "AAAAC3NzaC1lZDI1NTE5AAAAI"));
	assert_null(strpbrk(kp.public_key, "\r\n"));
	/* Two keys are two keys. */
	assert_string_not_equal(kp.public_key, kp2.public_key);
	assert_string_not_equal(kp.private_key, kp2.private_key);
	keypair_wipe(&kp);
	keypair_wipe(&kp2);
}

static void
test_check_generated(void **state)
{
	struct keypair kp = generate(), pub_only;
	char *cause = NULL, *line;

	(void)state;
	assert_int_equal(keypair_check(&kp, "alice", &cause), 0);
	assert_null(cause);
	/* Only the public half: it must parse, nothing to match. */
	pub_only.private_key = NULL;
	pub_only.public_key = kp.public_key;
	assert_int_equal(keypair_check(&pub_only, "alice", &cause), 0);
	assert_null(cause);
	/* An authorized_keys line may carry a comment and a newline. */
	line = xasprintf("%s root@alice\n", kp.public_key);
	pub_only.public_key = line;
	assert_int_equal(keypair_check(&pub_only, "alice", &cause), 0);
	pub_only.private_key = kp.private_key;
	assert_int_equal(keypair_check(&pub_only, "alice", &cause), 0);
	assert_null(cause);
	free(line);
	keypair_wipe(&kp);
}

static void
test_check_other_key(void **state)
{
	struct keypair a = generate(), b = generate(), mixed;

	(void)state;
	mixed.private_key = a.private_key;
	mixed.public_key = b.public_key;
	check_refused(&mixed, "does not belong");
	keypair_wipe(&a);
	keypair_wipe(&b);
}

static void
test_check_bad_public(void **state)
{
	struct keypair kp = generate(), bad;
	char *b64, *s;

	(void)state;
	b64 = kp.public_key + strlen("ssh-ed25519 ");
	bad.private_key = NULL;

	bad.public_key = "garbage";
	check_refused(&bad, "not an \"ssh-TYPE BASE64\" line");
	bad.public_key = "";
	check_refused(&bad, "not an \"ssh-TYPE BASE64\" line");
	bad.public_key = "   \n";
	check_refused(&bad, "not an \"ssh-TYPE BASE64\" line");

	s = xasprintf("ssh-foo %s", b64);
	bad.public_key = s;
	check_refused(&bad, "unknown public key type \"ssh-foo\"");
	free(s);

	bad.public_key = "ssh-ed25519 !!!not*base64!!!";
	check_refused(&bad, "does not decode");
	bad.public_key = "ssh-ed25519 AAAA";
	check_refused(&bad, "does not decode");
	/* Truncated blob: valid base64, too short for an ed25519 key. */
	s = xasprintf("ssh-ed25519 %.24s", b64);
	bad.public_key = s;
	check_refused(&bad, "does not decode");
	free(s);

	/* And with the private half present, the public line still counts. */
	bad.private_key = kp.private_key;
	bad.public_key = "ssh-ed25519 !!!";
	check_refused(&bad, "does not decode");
	keypair_wipe(&kp);
}

static void
test_check_bad_private(void **state)
{
	struct keypair kp = generate(), bad;
	char *truncated;

	(void)state;
	bad.public_key = kp.public_key;
	bad.private_key = "garbage";
	check_refused(&bad, "private key does not decode");
	bad.private_key = OPENSSH_BEGIN "\nAAAA\n"
	    "-----END OPENSSH PRIVATE KEY-----\n";
	check_refused(&bad, "private key does not decode");
	truncated = xstrndup(kp.private_key, strlen(kp.private_key) / 2);
	bad.private_key = truncated;
	check_refused(&bad, "private key does not decode");
	free(truncated);
	keypair_wipe(&kp);
}

/*
 * privateer2 stored RSA keys: PKCS#8 PEM private keys from Python's
 * cryptography and "ssh-rsa AAAA..." public lines. Made here with openssl
 * and ssh-keygen (or libssh when ssh-keygen is missing).
 */
static void
test_rsa_privateer2(void **state)
{
	char *openssl, *sshkeygen, *dir, *keyfile, *pubfile, *cause = NULL;
	char *fp, *priv, *pub = NULL, *b64 = NULL;
	struct keypair kp, ed = generate(), mixed;
	ssh_key key = NULL;
	json_t *j;
	size_t n;

	(void)state;
	openssl = find_program("openssl");
	if (openssl == NULL) {
		keypair_wipe(&ed);
		print_message("openssl is not installed: RSA keys untested\n");
		skip();
	}
	dir = make_tmpdir();
	keyfile = xasprintf("%s/id_rsa", dir);
	pubfile = xasprintf("%s/id_rsa.pub", dir);
	{
		char *argv[] = { openssl, "genpkey", "-algorithm", "RSA",
		    "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyfile, NULL };

		assert_int_equal(run(argv, NULL), 0);
	}
	assert_int_equal(chmod(keyfile, 0600), 0);
	priv = read_text(keyfile);
	assert_true(starts_with(priv, PKCS8_BEGIN));

	sshkeygen = find_program("ssh-keygen");
	if (sshkeygen != NULL) {
		char *argv[] = { sshkeygen, "-y", "-f", keyfile, NULL };

		assert_int_equal(run(argv, pubfile), 0);
		pub = read_text(pubfile);
		n = strcspn(pub, "\r\n");
		pub[n] = '\0';
	} else {
		assert_int_equal(ssh_pki_import_privkey_base64(priv, NULL,
		    NULL, NULL, &key), SSH_OK);
		assert_int_equal(ssh_pki_export_pubkey_base64(key, &b64),
		    SSH_OK);
		pub = xasprintf("ssh-rsa %s", b64);
		ssh_string_free_char(b64);
		ssh_key_free(key);
	}
	assert_true(starts_with(pub, "ssh-rsa AAAAB3NzaC1yc2E"));

	kp.private_key = priv;
	kp.public_key = pub;
	if (keypair_check(&kp, "bob", &cause) != 0)
		fail_msg("privateer2's RSA keypair refused: %s", cause);
	fp = keypair_fingerprint(pub);
	assert_true(starts_with(fp, "ssh-rsa SHA256:"));
	free(fp);

	/* As privateer2 stored it, through the JSON form. */
	j = json_pack("{s:s, s:s}", "private", priv, "public", pub);
	assert_int_equal(keypair_from_json(j, "bob", 1, &kp, &cause), 0);
	assert_string_equal(kp.private_key, priv);
	assert_int_equal(keypair_check(&kp, "bob", &cause), 0);
	keypair_wipe(&kp);
	json_decref(j);

	/* RSA private half, ed25519 public half: not a pair. */
	mixed.private_key = priv;
	mixed.public_key = ed.public_key;
	check_refused(&mixed, "does not belong");
	mixed.private_key = ed.private_key;
	mixed.public_key = pub;
	check_refused(&mixed, "does not belong");

	assert_int_equal(remove_tree(dir, NULL), 0);
	keypair_wipe(&ed);
	free(priv);
	free(pub);
	free(keyfile);
	free(pubfile);
	free(dir);
	free(sshkeygen);
	free(openssl);
}

static void
from_json_refused(json_t *j, int need_private, const char *needle)
{
	struct keypair kp;
	char *cause = NULL;

	memset(&kp, 0xa5, sizeof kp);
	if (keypair_from_json(j, "secret privateer/bob", need_private, &kp,
	    &cause) != -1)
		fail_msg("keypair_from_json accepted it");
	assert_null(kp.private_key);
	assert_null(kp.public_key);
	assert_mentions(cause, "secret privateer/bob");
	assert_mentions(cause, needle);
	free(cause);
	json_decref(j);
}

static void
test_from_json(void **state)
{
	struct keypair kp;
	char *cause = NULL;
	json_t *j;

	(void)state;
	j = json_pack("{s:s, s:s, s:s}", "private", "PRIV", "public", "PUB",
	    "extra", "ignored");
	assert_int_equal(keypair_from_json(j, "x", 1, &kp, &cause), 0);
	assert_string_equal(kp.private_key, "PRIV");
	assert_string_equal(kp.public_key, "PUB");
	keypair_wipe(&kp);
	/* need_private 0: the private half is not kept even if present. */
	assert_int_equal(keypair_from_json(j, "x", 0, &kp, &cause), 0);
	assert_null(kp.private_key);
	assert_string_equal(kp.public_key, "PUB");
	keypair_wipe(&kp);
	json_decref(j);
	/* ... nor needed. */
	j = json_pack("{s:s}", "public", "PUB");
	assert_int_equal(keypair_from_json(j, "x", 0, &kp, &cause), 0);
	assert_null(kp.private_key);
	assert_string_equal(kp.public_key, "PUB");
	keypair_wipe(&kp);
	assert_null(cause);

	from_json_refused(j, 1, "no \"private\" field");
	from_json_refused(json_pack("{s:s}", "private", "PRIV"), 1,
	    "no \"public\" field");
	from_json_refused(json_pack("{s:s}", "private", "PRIV"), 0,
	    "no \"public\" field");
	from_json_refused(json_pack("{s:s, s:n}", "private", "PRIV",
	    "public"), 1, "no \"public\" field");
	from_json_refused(json_object(), 1, "no \"public\" field");
	from_json_refused(json_pack("[s, s]", "PRIV", "PUB"), 1,
	    "not an object");
	from_json_refused(json_string("PUB"), 0, "not an object");
}

static void
test_from_json_bad_fields(void **state)
{
	char *big;

	(void)state;
	from_json_refused(json_pack("{s:s, s:i}", "private", "PRIV", "public",
	    42), 1, "field \"public\" is not a key");
	from_json_refused(json_pack("{s:[], s:s}", "private", "public",
	    "PUB"), 1, "field \"private\" is not a key");
	from_json_refused(json_pack("{s:s, s:s}", "private", "PRIV", "public",
	    ""), 1, "field \"public\" is not a key");
	from_json_refused(json_pack("{s:s, s:s}", "private", "", "public",
	    "PUB"), 1, "field \"private\" is not a key");
	from_json_refused(json_pack("{s:s, s:b}", "private", "PRIV",
	    "public", 1), 0, "field \"public\" is not a key");
	/* An embedded NUL would silently shorten the key. */
	from_json_refused(json_pack("{s:s, s:s%}", "private", "PRIV",
	    "public", "PUB\0X", (size_t)5), 1, "field \"public\" is not a key");

	big = xmalloc(KEYPAIR_FIELD_MAX + 2);
	memset(big, 'k', KEYPAIR_FIELD_MAX + 1);
	big[KEYPAIR_FIELD_MAX + 1] = '\0';
	from_json_refused(json_pack("{s:s, s:s}", "private", big, "public",
	    "PUB"), 1, "field \"private\" is not a key");
	from_json_refused(json_pack("{s:s, s:s}", "private", "PRIV",
	    "public", big), 0, "field \"public\" is not a key");
	/* Exactly at the limit is fine. */
	{
		struct keypair kp;
		char *cause = NULL;
		json_t *j;

		big[KEYPAIR_FIELD_MAX] = '\0';
		j = json_pack("{s:s, s:s}", "private", big, "public", "PUB");
		assert_int_equal(keypair_from_json(j, "x", 1, &kp, &cause), 0);
		assert_int_equal(strlen(kp.private_key), KEYPAIR_FIELD_MAX);
		keypair_wipe(&kp);
		json_decref(j);
	}
	free(big);
}

static void
test_to_json_round_trip(void **state)
{
	struct keypair kp = generate(), back;
	char *text, *cause = NULL;
	json_t *j, *again;

	(void)state;
	j = keypair_to_json(&kp);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(j, "private")),
	    kp.private_key);
	assert_string_equal(json_string_value(json_object_get(j, "public")),
	    kp.public_key);
	/* Through text, as the stores write it. */
	text = json_dumps(j, JSON_INDENT(2));
	again = json_loads(text, 0, NULL);
	assert_non_null(again);
	assert_int_equal(keypair_from_json(again, "alice", 1, &back, &cause),
	    0);
	assert_string_equal(back.private_key, kp.private_key);
	assert_string_equal(back.public_key, kp.public_key);
	assert_int_equal(keypair_check(&back, "alice", &cause), 0);
	keypair_wipe(&back);
	explicit_bzero(text, strlen(text));
	free(text);
	json_decref(again);

	/* keypair_json_wipe zeroes the values in place. */
	keypair_json_wipe(j);
	{
		const json_t *v = json_object_get(j, "private");
		const char *p = json_string_value(v);
		size_t i, n = json_string_length(v);

		assert_true(n > 100);
		for (i = 0; i < n; i++)
			assert_int_equal(p[i], 0);
	}
	json_decref(j);
	keypair_json_wipe(NULL);
	keypair_wipe(&kp);
}

static void
test_json_wipe_nested(void **state)
{
	json_t *j;
	const char *inner, *outer;

	(void)state;
	j = json_pack("{s:s, s:{s:s}, s:i}", "a", "secret-a", "data", "b",
	    "secret-b", "n", 5);
	keypair_json_wipe(j);
	outer = json_string_value(json_object_get(j, "a"));
	inner = json_string_value(json_object_get(json_object_get(j, "data"),
	    "b"));
	assert_int_equal(outer[0], 0);
	assert_int_equal(memcmp(outer, "\0\0\0\0\0\0\0\0", 8), 0);
	assert_int_equal(memcmp(inner, "\0\0\0\0\0\0\0\0", 8), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "n")), 5);
	json_decref(j);
}

static void
test_wipe(void **state)
{
	struct keypair kp = generate(), empty = { NULL, NULL };

	(void)state;
	keypair_wipe(&kp);
	assert_null(kp.private_key);
	assert_null(kp.public_key);
	/* Twice, and on an empty or public-only struct: harmless. */
	keypair_wipe(&kp);
	keypair_wipe(&empty);
	assert_null(empty.private_key);
	kp.private_key = NULL;
	kp.public_key = xstrdup("ssh-ed25519 AAAA");
	keypair_wipe(&kp);
	assert_null(kp.public_key);
}

static void
test_fingerprint(void **state)
{
	struct keypair a = generate(), b = generate();
	char *fa, *fa2, *fb, *line, *sshkeygen, *dir, *pubfile, *outfile;
	char *out;
	const char *h;

	(void)state;
	fa = keypair_fingerprint(a.public_key);
	fb = keypair_fingerprint(b.public_key);
	assert_non_null(fa);
	assert_non_null(fb);
	assert_true(starts_with(fa, "ssh-ed25519 SHA256:"));
	/* SHA-256 in unpadded base64: 43 characters. */
	h = fa + strlen("ssh-ed25519 SHA256:");
	assert_int_equal(strlen(h), 43);
	assert_int_equal(strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno"
	    "pqrstuvwxyz0123456789+/"), 43);
	assert_string_not_equal(fa, fb);
	/* A comment does not change it. */
	line = xasprintf("%s alice@example\n", a.public_key);
	fa2 = keypair_fingerprint(line);
	assert_string_equal(fa, fa2);
	free(fa2);
	free(line);

	assert_null(keypair_fingerprint("garbage"));
	assert_null(keypair_fingerprint("ssh-foo AAAA"));
	assert_null(keypair_fingerprint("ssh-ed25519 !!!"));

	/* The same as OpenSSH says, when it is here to ask. */
	sshkeygen = find_program("ssh-keygen");
	if (sshkeygen != NULL) {
		dir = make_tmpdir();
		pubfile = xasprintf("%s/a.pub", dir);
		outfile = xasprintf("%s/a.fp", dir);
		line = xasprintf("%s\n", a.public_key);
		assert_int_equal(write_file_atomic(pubfile, line, strlen(line),
		    0600, NULL), 0);
		{
			char *argv[] = { sshkeygen, "-l", "-E", "sha256", "-f",
			    pubfile, NULL };

			assert_int_equal(run(argv, outfile), 0);
		}
		out = read_text(outfile);
		/* "256 SHA256:... comment (ED25519)" */
		if (strstr(out, h) == NULL || strstr(out, "SHA256:") == NULL)
			fail_msg("ssh-keygen says \"%s\", we say \"%s\"", out,
			    fa);
		assert_int_equal(remove_tree(dir, NULL), 0);
		free(out);
		free(line);
		free(outfile);
		free(pubfile);
		free(dir);
		free(sshkeygen);
	}
	free(fa);
	free(fb);
	keypair_wipe(&a);
	keypair_wipe(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_format),
		cmocka_unit_test(test_check_generated),
		cmocka_unit_test(test_check_other_key),
		cmocka_unit_test(test_check_bad_public),
		cmocka_unit_test(test_check_bad_private),
		cmocka_unit_test(test_rsa_privateer2),
		cmocka_unit_test(test_from_json),
		cmocka_unit_test(test_from_json_bad_fields),
		cmocka_unit_test(test_to_json_round_trip),
		cmocka_unit_test(test_json_wipe_nested),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_fingerprint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
