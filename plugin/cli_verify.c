/*
 * cli_verify: `privateer verify VOLUME [--server S] [--source C]
 * [--snapshot ID|--all] [--against-volume]` — the plugin does the work
 * (on a server directly, on a client through the replication transport);
 * this prints its report, one line per damaged, missing, changed or
 * unexpected entry, and exits 1 when there is any.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

#define CLI_VERIFY_USAGE "usage: privateer verify VOLUME [--server S] " \
	"[--source C] [--snapshot ID|--all] [--against-volume]\n"

int
cli_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "source", required_argument, NULL, 'c' },
		{ "snapshot", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "against-volume", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *source = NULL, *snapshot = NULL;
	json_t *req, *resp = NULL;
	char *cause = NULL;
	int c, all = 0, against = 0, rc;
	double problems;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'c':
			source = optarg;
			break;
		case 'n':
			snapshot = optarg;
			break;
		case 'a':
			all = 1;
			break;
		case 'v':
			against = 1;
			break;
		default:
			fputs(CLI_VERIFY_USAGE, stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || (all && snapshot != NULL)) {
		fputs(CLI_VERIFY_USAGE, stderr);
		return 2;
	}
	req = json_pack("{s:s, s:b, s:b}", "Volume", argv[optind], "All", all,
	    "AgainstVolume", against);
	if (server != NULL)
		json_object_set_new(req, "Server", json_string(server));
	if (source != NULL)
		json_object_set_new(req, "Source", json_string(source));
	if (snapshot != NULL)
		json_object_set_new(req, "Snapshot", json_string(snapshot));
	rc = cli_plugin_call(cli, "Verify", req, &resp, &cause);
	json_decref(req);
	if (rc != 0) {
		cli_fail("verify: %s", cause);
		free(cause);
		return 1;
	}
	fputs(json_string_value(json_object_get(resp, "Report")) != NULL ?
	    json_string_value(json_object_get(resp, "Report")) : "", stdout);
	problems = json_number_value(json_object_get(resp, "Problems"));
	rc = 0;
	if (problems > 0)
		rc = cli_fail("verify: %.0f damaged, missing or changed "
		    "entr%s in %s/%s on %s", problems, problems == 1 ? "y" :
		    "ies", json_string_value(json_object_get(resp, "Source")),
		    argv[optind], json_string_value(json_object_get(resp,
		    "Server")));
	json_decref(resp);
	return rc;
}
