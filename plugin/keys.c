/*
 * keys: resolution of the Vault settings and the load of a machine's keys.
 * Only the machine's own private key is kept; peers' secrets are read
 * whole (the layout is privateer2's) and their private halves dropped at
 * once.
 */
#include "keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static char *
keys_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? xstrdup(v) : NULL;
}

/* The token from vault.token, the environment or ~/.vault-token. */
static int
keys_token(const struct config *cfg, int cli, char **token, char **cause)
{
	const char *t = cfg->vault.token, *home;
	char *path, *text, *end;

	*token = NULL;
	if (t != NULL && *t == '$') {
		*token = keys_env(t + 1);
		if (*token == NULL) {
			set_cause(cause, "vault.token names $%s, which is not "
			    "set", t + 1);
			return -1;
		}
		return 0;
	}
	if (t != NULL && *t != '\0') {
		*token = xstrdup(t);
		return 0;
	}
	*token = keys_env("VAULT_TOKEN");
	if (*token != NULL || !cli || getenv("VAULT_ROLE_ID") != NULL)
		return 0;
	home = getenv("HOME");
	if (home == NULL || *home == '\0')
		return 0;
	path = xasprintf("%s/.vault-token", home);
	text = read_file_capped(path, 4096, NULL);
	free(path);
	if (text == NULL)
		return 0;
	end = text + strcspn(text, "\r\n");
	*end = '\0';
	if (*text != '\0')
		*token = xstrdup(text);
	explicit_bzero(text, strlen(text));
	free(text);
	return 0;
}

struct keystore *
keys_open(const struct config *cfg, int cli, char **cause)
{
	struct vault_settings set;
	struct keystore *ks;
	char *token = NULL, *addr, *role, *secret, *cacert, *ns, *abs = NULL;

	if (cfg->store == CONFIG_STORE_FILE)
		return keystore_file_open(cfg->store_path, cause);
	if (keys_token(cfg, cli, &token, cause) != 0)
		return NULL;
	addr = keys_env("VAULT_ADDR");
	role = keys_env("VAULT_ROLE_ID");
	secret = keys_env("VAULT_SECRET_ID");
	cacert = keys_env("VAULT_CACERT");
	ns = keys_env("VAULT_NAMESPACE");
	if (cacert != NULL && *cacert != '/')
		abs = xasprintf("%s/%s", cfg->dir, cacert);
	memset(&set, 0, sizeof set);
	set.addr = addr != NULL ? addr : cfg->vault.url;
	set.mount = cfg->vault.mount;
	set.prefix = cfg->vault.prefix;
	set.kv_version = cfg->vault.kv_version;
	set.token = token;
	set.role_id = role;
	set.secret_id = secret;
	set.cacert = abs != NULL ? abs : cacert;
	set.name_space = ns;
	ks = keystore_vault_open(&set, cause);
	if (token != NULL)
		explicit_bzero(token, strlen(token));
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(token);
	free(secret);
	free(addr);
	free(role);
	free(cacert);
	free(abs);
	free(ns);
	return ks;
}

void
keys_free(struct keys *k)
{
	size_t i;

	keypair_wipe(&k->self);
	for (i = 0; i < k->npeers; i++) {
		free(k->peers[i].name);
		free(k->peers[i].public_key);
		free(k->peers[i].error);
	}
	free(k->peers);
	memset(k, 0, sizeof *k);
}

static char *
keys_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

int
keys_copy(const struct keys *from, struct keys *to)
{
	size_t i;

	memset(to, 0, sizeof *to);
	to->self.private_key = keys_dup(from->self.private_key);
	to->self.public_key = keys_dup(from->self.public_key);
	to->peers = xcalloc(from->npeers, sizeof *to->peers);
	for (i = 0; i < from->npeers; i++) {
		to->peers[i].name = xstrdup(from->peers[i].name);
		to->peers[i].public_key = keys_dup(from->peers[i].public_key);
		to->peers[i].error = keys_dup(from->peers[i].error);
	}
	to->npeers = from->npeers;
	return 0;
}

static void
keys_add_peer(struct keys *k, struct keystore *ks, const char *name)
{
	struct keys_peer *p;
	struct keypair kp;
	char *why = NULL;

	k->peers = xreallocarray(k->peers, k->npeers + 1, sizeof *k->peers);
	p = &k->peers[k->npeers++];
	memset(p, 0, sizeof *p);
	p->name = xstrdup(name);
	if (keystore_get(ks, name, 0, &kp, &why) != 0 ||
	    keypair_check(&kp, name, &why) != 0) {
		p->error = why;
		keypair_wipe(&kp);
		return;
	}
	p->public_key = kp.public_key;
	kp.public_key = NULL;
	keypair_wipe(&kp);
}

int
keys_load(const struct config *cfg, const char *identity,
    struct keystore *ks, struct keys *out, char **cause)
{
	enum config_role role;
	size_t i;

	memset(out, 0, sizeof *out);
	if (config_check_identity(cfg, identity, cause) != 0)
		return -1;
	if (keystore_get(ks, identity, 1, &out->self, cause) != 0)
		return -1;
	if (keypair_check(&out->self, identity, cause) != 0) {
		keys_free(out);
		return -1;
	}
	role = config_role(cfg, identity);
	if (role == CONFIG_ROLE_SERVER) {
		for (i = 0; i < cfg->nclients; i++)
			keys_add_peer(out, ks, cfg->clients[i].name);
	} else {
		for (i = 0; i < cfg->nservers; i++)
			keys_add_peer(out, ks, cfg->servers[i].name);
	}
	return 0;
}

size_t
keys_missing(const struct keys *k)
{
	size_t i, n = 0;

	for (i = 0; i < k->npeers; i++)
		n += k->peers[i].public_key == NULL;
	return n;
}

const char *
keys_peer(const struct keys *k, const char *name)
{
	size_t i;

	for (i = 0; i < k->npeers; i++) {
		if (strcmp(k->peers[i].name, name) == 0)
			return k->peers[i].public_key;
	}
	return NULL;
}

int
keys_generate(struct keystore *ks, char *const *names, size_t n, FILE *out,
    char **cause)
{
	struct keypair kp;
	char *fp;
	size_t i;
	int replaced;

	for (i = 0; i < n; i++) {
		if (keypair_generate(&kp, cause) != 0)
			return -1;
		if (keystore_put(ks, names[i], &kp, &replaced, cause) != 0) {
			keypair_wipe(&kp);
			return -1;
		}
		fp = keypair_fingerprint(kp.public_key);
		if (replaced)
			fprintf(out, "rotated the key of %s (%s): the old key "
			    "no longer works; run privateer reload on every "
			    "machine\n", names[i], fp != NULL ? fp : "?");
		else
			fprintf(out, "generated a key for %s (%s)\n",
			    names[i], fp != NULL ? fp : "?");
		free(fp);
		keypair_wipe(&kp);
	}
	return 0;
}
