/*
 * transport: the client end of the ssh transport, run by the local rsync
 * as its remote shell (`rsync -e "privateer transport --secrets-fd N ..."`).
 * It connects with libssh, refuses a server whose host key is not the
 * pinned one, authenticates with the machine's key, runs the remote
 * command and relays rsync's stdio over the channel. The private key and
 * the pinned host key arrive as JSON on an inherited descriptor, never in
 * argv, the environment or a file. Exit status: the remote command's, or
 * 255 with the reason on stderr when the transport fails.
 */
#ifndef PRIVATEER_TRANSPORT_H
#define PRIVATEER_TRANSPORT_H

#define TRANSPORT_SECRETS_MAX (64 * 1024)

/* `privateer transport ...`; returns the exit status. */
int transport_main(int argc, char **argv);

#endif
