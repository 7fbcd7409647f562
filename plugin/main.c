/*
 * main: one binary, two roles — `privateer plugin` is the daemon that runs
 * inside the managed plugin, anything else is the host CLI.
 */
#include <string.h>

#include "cli.h"
#include "plugin.h"

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "plugin") == 0)
		return plugin_main(argc - 1, argv + 1);
	return cli_main(argc, argv);
}
