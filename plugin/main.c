/*
 * main: one binary, five roles — `privateer plugin` is the daemon that
 * runs inside the managed plugin, `privateer transport` is the ssh
 * transport the plugin's rsync runs, `privateer pack` is the child that
 * writes or reads a tar file for it, `privateer verify-snapshots` the
 * child a server runs to check snapshots for a client, anything else is
 * the host CLI.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pack.h"
#include "plugin.h"
#include "transport.h"
#include "verify.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define MAIN_LEAK_CHECK() __lsan_do_leak_check()
#else
#define MAIN_LEAK_CHECK() do { } while (0)
#endif

int
main(int argc, char **argv)
{
	/*
	 * The daemon ends without exit()'s handlers: OpenSSL's (and
	 * libcurl's) cleanup would free what a thread still at work uses
	 * (a server's work after a backup, cut short by the stop, hashing
	 * for a manifest), and crash it. What must be on disk was synced
	 * by the orderly stop; stdio is flushed here. (A sanitizer build
	 * still looks for leaks, which exit() would have done.)
	 */
	if (argc >= 2 && strcmp(argv[1], "plugin") == 0) {
		int rc = plugin_main(argc - 1, argv + 1);

		MAIN_LEAK_CHECK();
		fflush(NULL);
		_exit(rc);
	}
	if (argc >= 2 && strcmp(argv[1], "transport") == 0)
		return transport_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "pack") == 0)
		return pack_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "verify-snapshots") == 0)
		return verify_snapshots_main(argc - 1, argv + 1);
	return cli_main(argc, argv);
}
