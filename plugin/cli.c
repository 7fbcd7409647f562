/*
 * cli: command dispatch. Each command is a row of cli_commands; the
 * replication, key and archive commands join as their modules land.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

struct cli_command {
	const char *name;
	const char *usage;
	int (*run)(int argc, char **argv);
};

static int cli_version(int, char **);
static int cli_help(int, char **);

static const struct cli_command cli_commands[] = {
	{ "plugin", "plugin [--socket PATH] [--state DIR] [--mount-root DIR]",
	    NULL },
	{ "version", "version", cli_version },
	{ "help", "help", cli_help },
};
#define CLI_NCOMMANDS (sizeof cli_commands / sizeof cli_commands[0])

static void
cli_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: privateer COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < CLI_NCOMMANDS; i++)
		fprintf(f, "  privateer %s\n", cli_commands[i].usage);
}

static int
cli_version(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		cli_usage(stderr);
		return 2;
	}
	printf("privateer %s\n", PRIVATEER_VERSION);
	return 0;
}

static int
cli_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_usage(stdout);
	return 0;
}

int
cli_main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		cli_usage(stderr);
		return 2;
	}
	for (i = 0; i < CLI_NCOMMANDS; i++) {
		if (strcmp(argv[1], cli_commands[i].name) == 0 &&
		    cli_commands[i].run != NULL)
			return cli_commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "privateer: unknown command \"%s\"\n", argv[1]);
	cli_usage(stderr);
	return 2;
}
