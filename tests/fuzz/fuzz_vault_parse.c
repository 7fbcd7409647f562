/*
 * fuzz_vault_parse: Vault's answers as vault.c hands them to vault_parse —
 * a body of any bytes, decoded by every parser (errors, a KV v1 and v2
 * read, the mount's version, an AppRole login). The input is the body. The
 * checks: the cause contract, a parsed version is 1 or 2, a token is
 * non-empty, a secret's data is an object (or NULL: a deleted v2 version).
 */
#include <jansson.h>

#include "fuzz.h"
#include "vault_parse.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	char *s, *cause = NULL, *token = NULL;
	json_t *secret = NULL;
	long version = -1;
	int rc, kv, mv = 0;

	if (size > 256 * 1024)
		return 0;
	s = vault_parse_errors(body, size);
	if (s == NULL)
		abort();
	free(s);
	for (kv = 1; kv <= 2; kv++) {
		rc = vault_parse_secret(kv, body, size, &secret, &version,
		    &cause);
		fuzz_check_cause("vault_parse_secret", rc, &cause);
		if (rc == 0) {
			if ((secret != NULL && !json_is_object(secret)) ||
			    (kv == 1 && (secret == NULL || version != 0))) {
				fprintf(stderr, "kv%d: bad secret\n", kv);
				abort();
			}
			json_decref(secret);
			secret = NULL;
		}
	}
	rc = vault_parse_mount_version(body, size, &mv, &cause);
	fuzz_check_cause("vault_parse_mount_version", rc, &cause);
	if (rc == 0 && mv != 1 && mv != 2) {
		fprintf(stderr, "mount version %d\n", mv);
		abort();
	}
	rc = vault_parse_login(body, size, &token, &cause);
	fuzz_check_cause("vault_parse_login", rc, &cause);
	if (rc == 0) {
		if (token == NULL || *token == '\0')
			abort();
		free(token);
	}
	return 0;
}
