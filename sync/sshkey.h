/*
 * sshkey: small libssh helpers shared by the server and the transport —
 * public key lines, fingerprints, TCP keepalive on an ssh socket.
 */
#ifndef PRIVATEER_SSHKEY_H
#define PRIVATEER_SSHKEY_H

#include <libssh/libssh.h>

/* "ssh-ed25519 AAAA... [comment]" -> a key (caller frees), or NULL when
 * it does not decode or its type is not the one the line names. */
ssh_key sshkey_parse_public(const char *line);
/* "SHA256:..." of key; caller frees. */
char *sshkey_fingerprint(ssh_key key);
/* Keepalive probes so a vanished peer is noticed within about a minute. */
void sshkey_keepalive(int fd);

#endif
