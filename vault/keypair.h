/*
 * keypair: a machine's ssh keypair as privateer2 stores it — a secret with
 * fields "private" (an OpenSSH private key, or PKCS#8 PEM for RSA keys that
 * privateer2 made) and "public" (an authorized_keys line). Generation
 * (ed25519), encoding, and checking that the two halves belong together,
 * with libssh. Private key text is wiped from memory when freed.
 */
#ifndef PRIVATEER_KEYPAIR_H
#define PRIVATEER_KEYPAIR_H

#include <jansson.h>

#define KEYPAIR_FIELD_MAX (16 * 1024)

struct keypair {
	char *private_key;	/* may be NULL when only the public half is known */
	char *public_key;	/* "ssh-ed25519 AAAA..." */
};

/* A new ed25519 keypair; 0, or -1 with *cause. Free with keypair_wipe. */
int keypair_generate(struct keypair *out, char **cause);
/* Wipes and frees both halves; the struct is then empty. */
void keypair_wipe(struct keypair *);
/*
 * From a secret's data object {"private": ..., "public": ...}. what names
 * the secret in messages. With need_private 0 the private half is not kept.
 */
int keypair_from_json(const json_t *data, const char *what, int need_private,
    struct keypair *out, char **cause);
/* {"private": ..., "public": ...} with the halves that are set; caller
 * owns (and should wipe, see keypair_json_wipe). */
json_t *keypair_to_json(const struct keypair *);
/* Overwrites the string values of a secret object before it is freed. */
void keypair_json_wipe(json_t *);
/*
 * Checks that the public line parses and, when the private half is
 * present, that it parses and matches. 0, or -1 with *cause.
 */
int keypair_check(const struct keypair *, const char *what, char **cause);
/* "ssh-ed25519 SHA256:..." for display; caller frees; NULL on bad key. */
char *keypair_fingerprint(const char *public_key);

#endif
