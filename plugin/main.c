/*
 * main: one binary, five roles — `privateer plugin` is the daemon that
 * runs inside the managed plugin, `privateer transport` is the ssh
 * transport the plugin's rsync runs, `privateer pack` is the child that
 * writes or reads a tar file for it, `privateer verify-snapshots` the
 * child a server runs to check snapshots for a client, anything else is
 * the host CLI.
 */
#include <string.h>

#include "cli.h"
#include "pack.h"
#include "plugin.h"
#include "transport.h"
#include "verify.h"

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "plugin") == 0)
		return plugin_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "transport") == 0)
		return transport_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "pack") == 0)
		return pack_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "verify-snapshots") == 0)
		return verify_snapshots_main(argc - 1, argv + 1);
	return cli_main(argc, argv);
}
