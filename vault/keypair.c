/*
 * keypair: libssh does the key work (ssh_pki_*); this module only moves
 * text in and out and makes sure private key bytes do not linger.
 */
#include "keypair.h"

#include <libssh/libssh.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static char *
keypair_dup_wipe(char *s)
{
	char *copy = xstrdup(s);

	explicit_bzero(s, strlen(s));
	ssh_string_free_char(s);
	return copy;
}

void
keypair_wipe(struct keypair *kp)
{
	if (kp->private_key != NULL) {
		explicit_bzero(kp->private_key, strlen(kp->private_key));
		free(kp->private_key);
	}
	free(kp->public_key);
	kp->private_key = NULL;
	kp->public_key = NULL;
}

/* "type base64 [comment]" -> an ssh_key; NULL with *cause. */
static ssh_key
keypair_parse_public(const char *line, const char *what, char **cause)
{
	char *copy, *type, *b64, *save = NULL;
	enum ssh_keytypes_e kt;
	ssh_key key = NULL;

	copy = xstrdup(line);
	type = strtok_r(copy, " \t\r\n", &save);
	b64 = type != NULL ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	if (type == NULL || b64 == NULL) {
		set_cause(cause, "%s: public key is not an \"ssh-TYPE BASE64\" "
		    "line", what);
		goto out;
	}
	kt = ssh_key_type_from_name(type);
	if (kt == SSH_KEYTYPE_UNKNOWN) {
		set_cause(cause, "%s: unknown public key type \"%.32s\"", what,
		    type);
		goto out;
	}
	if (ssh_pki_import_pubkey_base64(b64, kt, &key) != SSH_OK) {
		set_cause(cause, "%s: public key does not decode", what);
		key = NULL;
	} else if (strcmp(ssh_key_type_to_char(ssh_key_type(key)),
	    type) != 0) {
		set_cause(cause, "%s: the key is of type %s, not %.32s", what,
		    ssh_key_type_to_char(ssh_key_type(key)), type);
		ssh_key_free(key);
		key = NULL;
	}
out:
	free(copy);
	return key;
}

int
keypair_generate(struct keypair *out, char **cause)
{
	ssh_key key = NULL;
	char *priv = NULL, *pub = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
		set_cause(cause, "cannot generate an ed25519 key");
		return -1;
	}
	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL,
	    &priv) != SSH_OK || ssh_pki_export_pubkey_base64(key,
	    &pub) != SSH_OK) {
		set_cause(cause, "cannot export the new key");
		goto out;
	}
	out->private_key = keypair_dup_wipe(priv);
	priv = NULL;
	out->public_key = xasprintf("%s %s",
	    ssh_key_type_to_char(ssh_key_type(key)), pub);
	rc = 0;
out:
	if (priv != NULL) {
		explicit_bzero(priv, strlen(priv));
		ssh_string_free_char(priv);
	}
	if (pub != NULL)
		ssh_string_free_char(pub);
	ssh_key_free(key);
	return rc;
}

static int
keypair_field(const json_t *data, const char *field, const char *what,
    int required, char **out, char **cause)
{
	json_t *v = json_object_get(data, field);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		set_cause(cause, "%s: the secret has no \"%s\" field", what,
		    field);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > KEYPAIR_FIELD_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		set_cause(cause, "%s: field \"%s\" is not a key", what, field);
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

int
keypair_from_json(const json_t *data, const char *what, int need_private,
    struct keypair *out, char **cause)
{
	memset(out, 0, sizeof *out);
	if (!json_is_object(data)) {
		set_cause(cause, "%s: the secret is not an object", what);
		return -1;
	}
	if (keypair_field(data, "public", what, 1, &out->public_key,
	    cause) != 0)
		return -1;
	if (need_private && keypair_field(data, "private", what, 1,
	    &out->private_key, cause) != 0) {
		keypair_wipe(out);
		return -1;
	}
	return 0;
}

json_t *
keypair_to_json(const struct keypair *kp)
{
	json_t *j = json_object();

	if (kp->private_key != NULL)
		json_object_set_new(j, "private",
		    json_string(kp->private_key));
	if (kp->public_key != NULL)
		json_object_set_new(j, "public", json_string(kp->public_key));
	return j;
}

void
keypair_json_wipe(json_t *j)
{
	const char *key;
	json_t *v;

	if (!json_is_object(j))
		return;
	json_object_foreach(j, key, v) {
		if (json_is_string(v))
			explicit_bzero((char *)json_string_value(v),
			    json_string_length(v));
		else if (json_is_object(v))
			keypair_json_wipe(v);
	}
}

int
keypair_check(const struct keypair *kp, const char *what, char **cause)
{
	ssh_key pub, priv = NULL;
	int rc = -1;

	pub = keypair_parse_public(kp->public_key, what, cause);
	if (pub == NULL)
		return -1;
	if (kp->private_key == NULL) {
		ssh_key_free(pub);
		return 0;
	}
	if (ssh_pki_import_privkey_base64(kp->private_key, NULL, NULL, NULL,
	    &priv) != SSH_OK) {
		set_cause(cause, "%s: the private key does not decode (expected "
		    "an OpenSSH or PEM private key without passphrase)", what);
		priv = NULL;
		goto out;
	}
	if (ssh_key_cmp(priv, pub, SSH_KEY_CMP_PUBLIC) != 0) {
		set_cause(cause, "%s: the public key does not belong to the "
		    "private key", what);
		goto out;
	}
	rc = 0;
out:
	ssh_key_free(priv);
	ssh_key_free(pub);
	return rc;
}

char *
keypair_fingerprint(const char *public_key)
{
	unsigned char *hash = NULL;
	char *hex, *out;
	size_t hlen;
	ssh_key key;

	key = keypair_parse_public(public_key, "key", NULL);
	if (key == NULL)
		return NULL;
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) != SSH_OK) {
		ssh_key_free(key);
		return NULL;
	}
	hex = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	out = xasprintf("%s %s", ssh_key_type_to_char(ssh_key_type(key)),
	    hex != NULL ? hex : "?");
	ssh_string_free_char(hex);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return out;
}
