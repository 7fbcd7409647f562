/*
 * cli: the host command line (`privateer COMMAND`), talking to the local
 * plugin over its socket.
 */
#ifndef PRIVATEER_CLI_H
#define PRIVATEER_CLI_H

/* Returns the exit status: 0 success, 1 failure, 2 usage error. */
int cli_main(int argc, char **argv);

#endif
