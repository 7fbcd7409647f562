/*
 * keystore: where machines' keypairs live, behind one small interface with
 * two backends: "file" (a private directory, for single hosts and demos)
 * and "vault" (HashiCorp Vault KV v1 or v2, privateer2's layout: one secret
 * per machine at <prefix>/<name>).
 */
#ifndef PRIVATEER_KEYSTORE_H
#define PRIVATEER_KEYSTORE_H

#include "keypair.h"

struct keystore;

struct keystore_ops {
	/* Reads name's keypair; with need_private 0 only the public half. */
	int (*get)(struct keystore *, const char *name, int need_private,
	    struct keypair *out, char **cause);
	/* Writes name's keypair; *replaced is 1 if one existed before. */
	int (*put)(struct keystore *, const char *name,
	    const struct keypair *, int *replaced, char **cause);
	/*
	 * Reads the string field of any secret name (a notification
	 * target's password, say) into *value: caller wipes and frees.
	 */
	int (*field)(struct keystore *, const char *name, const char *field,
	    char **value, char **cause);
	void (*close)(struct keystore *);
};

struct keystore {
	const struct keystore_ops *ops;
	char *where;		/* "file store /etc/privateer/keys", ... */
	void *impl;
};

int keystore_get(struct keystore *, const char *name, int need_private,
    struct keypair *out, char **cause);
int keystore_put(struct keystore *, const char *name,
    const struct keypair *, int *replaced, char **cause);
/*
 * The string field of secret name (not a keypair: any secret at
 * <prefix>/<name>) in *value, which the caller wipes and frees; 0, or -1
 * with *cause, which names the secret and field but never holds a value.
 */
int keystore_field(struct keystore *, const char *name, const char *field,
    char **value, char **cause);
void keystore_close(struct keystore *);
/*
 * For backends: field of a secret's data object, a non-empty string of at
 * most KEYPAIR_FIELD_MAX bytes, copied into *value. what names the secret.
 */
int keystore_data_field(const json_t *data, const char *what,
    const char *field, char **value, char **cause);

/*
 * The file store in dir: <dir>/<name> holds the secret as JSON, mode 0600,
 * in a directory of mode 0700 (created by put when missing). A key file or
 * directory that others can read is refused.
 */
struct keystore *keystore_file_open(const char *dir, char **cause);

struct vault_settings {
	const char *addr;	/* https://vault.example.com:8200 */
	const char *mount;	/* KV mount, e.g. "secret" */
	const char *prefix;	/* path under the mount, e.g. "privateer" */
	int kv_version;		/* 1, 2, or 0 to ask Vault */
	const char *token;	/* NULL to log in with AppRole */
	const char *role_id;
	const char *secret_id;
	const char *cacert;	/* CA file for https, or NULL */
	const char *name_space;	/* X-Vault-Namespace, or NULL */
	long timeout_ms;	/* per request; 0 = 10 s */
};

/*
 * A Vault store; logs in (AppRole) and detects the KV version lazily, on
 * first use. The settings' strings are copied; secrets are wiped on close.
 */
struct keystore *keystore_vault_open(const struct vault_settings *,
    char **cause);

#endif
