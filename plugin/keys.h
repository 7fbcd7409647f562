/*
 * keys: this machine's view of the key store — opening the store that
 * privateer.json names (with Vault settings from the file and the
 * environment), loading this machine's keypair and its peers' public keys
 * (a server needs its clients', a client its servers'), and keygen.
 */
#ifndef PRIVATEER_KEYS_H
#define PRIVATEER_KEYS_H

#include <stdio.h>

#include "config.h"
#include "keystore.h"

struct keys_peer {
	char *name;
	char *public_key;	/* NULL when it could not be read */
	char *error;		/* why, when public_key is NULL */
};

struct keys {
	struct keypair self;
	struct keys_peer *peers;
	size_t npeers;
};

/*
 * Opens the store of cfg. Vault token, in order: vault.token (a literal or
 * "$ENVVAR"), VAULT_TOKEN, AppRole (VAULT_ROLE_ID + VAULT_SECRET_ID), and
 * for the CLI (cli 1) ~/.vault-token. VAULT_ADDR overrides vault.url;
 * VAULT_CACERT (relative to the config directory) and VAULT_NAMESPACE are
 * honoured.
 */
struct keystore *keys_open(const struct config *cfg, int cli, char **cause);
/*
 * Loads identity's keypair (checked: both halves parse and match) and its
 * peers' public keys. A missing peer key is recorded in that peer's error,
 * not fatal; a problem with the machine's own key is. 0, or -1 with *cause.
 */
int keys_load(const struct config *, const char *identity, struct keystore *,
    struct keys *out, char **cause);
/* Wipes and frees. */
void keys_free(struct keys *);
/* Deep copy of from into to; 0. */
int keys_copy(const struct keys *from, struct keys *to);
/* Number of peers whose key could not be read. */
size_t keys_missing(const struct keys *);
/* The public key of peer name, or NULL. */
const char *keys_peer(const struct keys *, const char *name);
/*
 * Generates and stores keypairs for names, printing one line each to out
 * (saying when a key was rotated). 0, or -1 with *cause at the first failure.
 */
int keys_generate(struct keystore *, char *const *names, size_t n, FILE *out,
    char **cause);

#endif
