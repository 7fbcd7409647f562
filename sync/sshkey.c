/*
 * sshkey: see sshkey.h.
 */
#include "sshkey.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

ssh_key
sshkey_parse_public(const char *line)
{
	char *copy = xstrdup(line), *type, *b64, *save = NULL;
	ssh_key key = NULL;

	type = strtok_r(copy, " \t\r\n", &save);
	b64 = type != NULL ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	if (b64 == NULL || ssh_pki_import_pubkey_base64(b64,
	    ssh_key_type_from_name(type), &key) != SSH_OK)
		key = NULL;
	else if (strcmp(ssh_key_type_to_char(ssh_key_type(key)), type) != 0) {
		ssh_key_free(key);
		key = NULL;
	}
	free(copy);
	return key;
}

char *
sshkey_fingerprint(ssh_key key)
{
	unsigned char *hash = NULL;
	size_t hlen;
	char *hex, *out;

	if (key == NULL || ssh_get_publickey_hash(key,
	    SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != SSH_OK)
		return xstrdup("?");
	hex = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	out = xstrdup(hex != NULL ? hex : "?");
	ssh_string_free_char(hex);
	ssh_clean_pubkey_hash(&hash);
	return out;
}

void
sshkey_keepalive(int fd)
{
	int on = 1, idle = 30, intvl = 10, cnt = 3;

	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}
