/*
 * cli: the host command line. Global options come before the command;
 * each command is a row of cli_commands. Commands that act on the running
 * plugin find its socket through --socket, PRIVATEER_SOCKET, or the Docker
 * daemon's plugin list (the managed plugin's socket is
 * /run/docker/plugins/<plugin id>/privateer.sock).
 */
#include "cli.h"
#include "cli_int.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "util.h"

#define CLI_RESPONSE_MAX (16 * 1024 * 1024)
#define CLI_DOCKER_SOCKET "/var/run/docker.sock"
#define CLI_PLUGIN_SOCKET "privateer.sock"

struct cli_command {
	const char *name;
	const char *usage;
	int (*run)(struct cli *, int argc, char **argv);
};

static int cli_keygen(struct cli *, int, char **);
static int cli_backup(struct cli *, int, char **);
static int cli_restore(struct cli *, int, char **);
static int cli_snapshots(struct cli *, int, char **);
static int cli_status(struct cli *, int, char **);
static int cli_check(struct cli *, int, char **);
static int cli_reload(struct cli *, int, char **);
static int cli_version(struct cli *, int, char **);
static int cli_help(struct cli *, int, char **);

static const struct cli_command cli_commands[] = {
	{ "keygen", "keygen (--all | NAME)", cli_keygen },
	{ "check", "check [--connection]", cli_check },
	{ "backup", "backup VOLUME [--server NAME] [--dry-run]", cli_backup },
	{ "restore", "restore VOLUME [--server S] [--source C] [--snapshot ID] "
	    "[--to-volume NAME] [--dry-run]", cli_restore },
	{ "snapshots", "snapshots VOLUME [--server S] [--source C]",
	    cli_snapshots },
	{ "status", "status [VOLUME] [--json]", cli_status },
	{ "export", "export VOLUME [--source C] [--server S] [--snapshot ID] "
	    "[--to-dir DIR] [--compress zstd|gzip|none]", cli_export },
	{ "import", "import TARFILE VOLUME", cli_import },
	{ "verify", "verify VOLUME [--server S] [--source C] [--snapshot ID|"
	    "--all] [--against-volume]", cli_verify },
	{ "reload", "reload", cli_reload },
	{ "version", "version", cli_version },
	{ "help", "help", cli_help },
	{ "plugin", "plugin [--socket PATH] [--state DIR] [--mount-root DIR]"
	    "   (the daemon, inside the managed plugin)", NULL },
};
#define CLI_NCOMMANDS (sizeof cli_commands / sizeof cli_commands[0])

static void
cli_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: privateer [--config PATH] [--as NAME] "
	    "[--socket PATH] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < CLI_NCOMMANDS; i++)
		fprintf(f, "  %s\n", cli_commands[i].usage);
}

int
cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("privateer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* ---- talking to the plugin and to Docker over Unix sockets ---- */

size_t
cli_buf_write(char *data, size_t size, size_t n, void *arg)
{
	struct cli_buf *b = arg;
	size_t len = size * n;

	if (b->len + len > CLI_RESPONSE_MAX)
		return 0;
	b->data = xreallocarray(b->data, b->len + len + 1, 1);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

/*
 * method url on socket; *status and *out (parsed JSON, caller owns) on an
 * HTTP answer. -1 with *cause if the socket does not answer.
 */
int
cli_http(const char *socket, const char *method, const char *url,
    const json_t *body, long *status, json_t **out, char **cause)
{
	char errbuf[CURL_ERROR_SIZE] = "", *text = NULL;
	struct curl_slist *headers = NULL;
	struct cli_buf buf = { NULL, 0 };
	json_error_t jerr;
	CURLcode code;
	CURL *curl;
	int rc = -1;

	*out = NULL;
	curl = curl_easy_init();
	if (curl == NULL)
		fatal("curl_easy_init failed");
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
		headers = curl_slist_append(headers,
		    "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	}
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cli_buf_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	code = curl_easy_perform(curl);
	if (code != CURLE_OK) {
		set_cause(cause, "%s: %s", socket, *errbuf != '\0' ? errbuf :
		    curl_easy_strerror(code));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	if (buf.len > 0) {
		*out = json_loadb(buf.data, buf.len, 0, &jerr);
		if (*out == NULL) {
			set_cause(cause, "%s answered %s with malformed JSON",
			    socket, url);
			goto out;
		}
	}
	rc = 0;
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(text);
	free(buf.data);
	return rc;
}

const char *
cli_docker_api(char **cause)
{
	const char *host = getenv("DOCKER_HOST");

	if (host != NULL && *host != '\0') {
		if (strncmp(host, "unix://", 7) != 0) {
			set_cause(cause, "DOCKER_HOST=%s is not a unix:// "
			    "socket; give --socket or PRIVATEER_SOCKET", host);
			return NULL;
		}
		return host + 7;
	}
	return CLI_DOCKER_SOCKET;
}

char *
cli_docker_plugin(char **socket, char **cause)
{
	const char *dsock, *name, *sock, *id, *chosen = NULL;
	const char *chosen_name = NULL;
	json_t *plugins = NULL, *p;
	char *result = NULL;
	long status = 0;
	size_t i;

	if (socket != NULL)
		*socket = NULL;
	dsock = cli_docker_api(cause);
	if (dsock == NULL)
		return NULL;
	if (cli_http(dsock, "GET", "http://docker/plugins", NULL, &status,
	    &plugins, cause) != 0)
		return NULL;
	if (status != 200 || !json_is_array(plugins)) {
		set_cause(cause, "the Docker daemon at %s answered %ld to GET "
		    "/plugins", dsock, status);
		goto out;
	}
	json_array_foreach(plugins, i, p) {
		name = json_string_value(json_object_get(p, "Name"));
		id = json_string_value(json_object_get(p, "Id"));
		sock = json_string_value(json_object_get(json_object_get(
		    json_object_get(p, "Config"), "Interface"), "Socket"));
		if (name == NULL || id == NULL || sock == NULL ||
		    strcmp(sock, CLI_PLUGIN_SOCKET) != 0 ||
		    !json_is_true(json_object_get(p, "Enabled")))
			continue;
		if (chosen == NULL || strcmp(name, "privateer:latest") == 0) {
			chosen = id;
			chosen_name = name;
		}
	}
	if (chosen == NULL)
		set_cause(cause, "no enabled privateer plugin in the Docker "
		    "daemon at %s (docker plugin ls)", dsock);
	else {
		result = xstrdup(chosen_name);
		if (socket != NULL)
			*socket = xasprintf("/run/docker/plugins/%s/%s", chosen,
			    CLI_PLUGIN_SOCKET);
	}
out:
	json_decref(plugins);
	return result;
}

char *
cli_socket(const struct cli *cli, char **cause)
{
	const char *env = getenv("PRIVATEER_SOCKET");
	char *socket = NULL, *name;

	if (cli->socket != NULL)
		return xstrdup(cli->socket);
	if (env != NULL && *env != '\0')
		return xstrdup(env);
	name = cli_docker_plugin(&socket, cause);
	free(name);
	return socket;
}

/* POSTs to /Privateer.<op>; *out is the answer (caller owns). */
int
cli_plugin_call(const struct cli *cli, const char *op, const json_t *body,
    json_t **out, char **cause)
{
	char *socket, *url;
	const char *err;
	long status = 0;
	int rc = -1;

	*out = NULL;
	socket = cli_socket(cli, cause);
	if (socket == NULL)
		return -1;
	url = xasprintf("http://privateer/Privateer.%s", op);
	if (cli_http(socket, "POST", url, body, &status, out, cause) != 0)
		goto out;
	if (status != 200) {
		err = json_string_value(json_object_get(*out, "Err"));
		set_cause(cause, "%s", err != NULL ? err : "the plugin failed");
		json_decref(*out);
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	free(url);
	free(socket);
	return rc;
}

/* ---- streamed operations with progress ---- */

struct cli_stream {
	char *line;		/* partial line */
	size_t len;
	json_t *last;		/* the final answer */
	int tty;
	int last_step;		/* plain output: last 10% step printed */
	struct timespec t0;
	int drawn;
};

static void
cli_progress(struct cli_stream *cs, json_t *p)
{
	const char *server = json_string_value(json_object_get(p, "Server"));
	double pct = json_number_value(json_object_get(p, "Percent"));
	double bytes = json_number_value(json_object_get(p, "Bytes"));
	double files = json_number_value(json_object_get(p, "Files"));
	struct timespec now;
	char done[32], rate[32], eta[32], bar[21];
	double secs;
	int i, fill;

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = ts_seconds(&cs->t0, &now);
	cli_bytes(bytes, done, sizeof done);
	cli_bytes(secs > 0 ? bytes / secs : 0, rate, sizeof rate);
	if (pct > 0 && pct < 100 && secs > 0) {
		double left = secs * (100 - pct) / pct;
		snprintf(eta, sizeof eta, "%d:%02d", (int)left / 60,
		    (int)left % 60);
	} else
		snprintf(eta, sizeof eta, "-");
	if (cs->tty) {
		fill = (int)(pct / 5);
		for (i = 0; i < 20; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[20] = '\0';
		fprintf(stderr, "\r%s [%s] %3.0f%% %s, %.0f files, %s/s, ETA %s "
		    "  ", server != NULL ? server : "", bar, pct, done, files,
		    rate, eta);
		cs->drawn = 1;
	} else if ((int)pct / 10 > cs->last_step) {
		cs->last_step = (int)pct / 10;
		printf("%s: %.0f%% (%s, %.0f files, %s/s)\n", server != NULL ?
		    server : "", pct, done, files, rate);
		fflush(stdout);
	}
}

static size_t
cli_stream_write(char *data, size_t size, size_t n, void *arg)
{
	struct cli_stream *cs = arg;
	size_t len = size * n, i;
	json_t *j;

	for (i = 0; i < len; i++) {
		if (data[i] != '\n') {
			if (cs->len >= CLI_RESPONSE_MAX)
				return 0;
			cs->line = xreallocarray(cs->line, cs->len + 2, 1);
			cs->line[cs->len++] = data[i];
			continue;
		}
		j = json_loadb(cs->line != NULL ? cs->line : "", cs->len, 0,
		    NULL);
		cs->len = 0;
		if (j == NULL)
			continue;
		if (json_object_get(j, "Progress") != NULL) {
			cli_progress(cs, json_object_get(j, "Progress"));
			json_decref(j);
		} else {
			json_decref(cs->last);
			cs->last = j;
		}
	}
	return len;
}

/*
 * POSTs body with "Stream": true to /Privateer.<op>, showing progress;
 * *out is the final answer. -1 with *cause if it failed.
 */
static int
cli_stream_call(const struct cli *cli, const char *op, json_t *body,
    json_t **out, char **cause)
{
	char errbuf[CURL_ERROR_SIZE] = "", *socket, *url, *text;
	struct curl_slist *headers = NULL;
	struct cli_stream cs;
	const char *err;
	CURLcode code;
	CURL *curl;
	long status = 0;
	int rc = -1;

	*out = NULL;
	socket = cli_socket(cli, cause);
	if (socket == NULL)
		return -1;
	memset(&cs, 0, sizeof cs);
	cs.tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &cs.t0);
	json_object_set_new(body, "Stream", json_true());
	text = json_dumps(body, JSON_COMPACT);
	url = xasprintf("http://privateer/Privateer.%s", op);
	curl = curl_easy_init();
	if (curl == NULL)
		fatal("curl_easy_init failed");
	headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cli_stream_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &cs);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	code = curl_easy_perform(curl);
	if (cs.drawn)
		fputc('\n', stderr);
	if (code != CURLE_OK) {
		set_cause(cause, "%s: %s", socket, *errbuf != '\0' ? errbuf :
		    curl_easy_strerror(code));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (cs.last == NULL) {
		set_cause(cause, "the plugin sent no answer");
		goto out;
	}
	err = json_string_value(json_object_get(cs.last, "Err"));
	if (status != 200 || (err != NULL && json_object_get(cs.last,
	    "Results") == NULL)) {
		set_cause(cause, "%s", err != NULL ? err : "the plugin failed");
		goto out;
	}
	*out = cs.last;
	cs.last = NULL;
	rc = 0;
out:
	json_decref(cs.last);
	free(cs.line);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(text);
	free(url);
	free(socket);
	return rc;
}

/* ---- configuration for commands that need it ---- */

static struct config *
cli_config(const struct cli *cli, char **cause)
{
	return config_load(cli->config_path, cause);
}

static char *
cli_identity(const struct cli *cli, const struct config *cfg, char **cause)
{
	return config_identity(cfg->dir, cli->as_name, cause);
}

/* ---- commands ---- */

static int
cli_keygen(struct cli *cli, int argc, char **argv)
{
	struct config *cfg;
	struct keystore *ks = NULL;
	char **names = NULL, *cause = NULL;
	size_t n = 0, i;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: privateer keygen (--all | NAME)\n");
		return 2;
	}
	cfg = cli_config(cli, &cause);
	if (cfg == NULL) {
		cli_fail("%s", cause);
		free(cause);
		return 1;
	}
	if (strcmp(argv[1], "--all") == 0) {
		names = xcalloc(cfg->nservers + cfg->nclients, sizeof *names);
		for (i = 0; i < cfg->nservers; i++)
			names[n++] = cfg->servers[i].name;
		for (i = 0; i < cfg->nclients; i++)
			names[n++] = cfg->clients[i].name;
	} else {
		if (config_check_identity(cfg, argv[1], &cause) != 0) {
			cli_fail("keygen: %s", cause);
			goto out;
		}
		names = xcalloc(1, sizeof *names);
		names[n++] = argv[1];
	}
	ks = keys_open(cfg, 1, &cause);
	if (ks == NULL) {
		cli_fail("keygen: %s", cause);
		goto out;
	}
	printf("writing keys to the %s\n", ks->where);
	if (keys_generate(ks, names, n, stdout, &cause) != 0) {
		cli_fail("keygen: %s", cause);
		goto out;
	}
	rc = 0;
out:
	free(cause);
	free(names);
	keystore_close(ks);
	config_free(cfg);
	return rc;
}

static void
cli_check_print_machine(const struct config *cfg, const char *identity)
{
	size_t i, k;
	const char *sep;

	printf("identity: %s (%s)\n", identity,
	    config_role(cfg, identity) == CONFIG_ROLE_SERVER ? "server" :
	    "client");
	printf("servers:");
	for (i = 0; i < cfg->nservers; i++)
		printf("%s %s (%s:%d)", i > 0 ? "," : "",
		    cfg->servers[i].name, cfg->servers[i].hostname,
		    cfg->servers[i].port);
	printf("\nclients:");
	for (i = 0; i < cfg->nclients; i++)
		printf("%s %s", i > 0 ? "," : "", cfg->clients[i].name);
	printf("\nvolumes:");
	for (i = 0; i < cfg->nvolumes; i++) {
		printf("%s %s", i > 0 ? "," : "", cfg->volumes[i].name);
		if (cfg->volumes[i].local) {
			printf(" (local)");
			continue;
		}
		sep = " (backed up by ";
		for (k = 0; k < cfg->nclients; k++) {
			const struct config_client *c = &cfg->clients[k];
			size_t m;
			for (m = 0; m < c->nbackup; m++) {
				if (strcmp(c->backup[m],
				    cfg->volumes[i].name) == 0) {
					printf("%s%s", sep, c->name);
					sep = ", ";
				}
			}
		}
		if (strcmp(sep, ", ") == 0)
			printf(")");
	}
	printf("\n");
}

/* Prints the plugin's own view; returns the number of problems in it. */
static int
cli_check_plugin(const struct cli *cli, const char *identity, int *reached)
{
	json_t *resp = NULL, *fleet, *keys, *peers, *p;
	const char *role, *err, *name;
	char *cause = NULL;
	int problems = 0;
	size_t i;

	*reached = 0;
	if (cli_plugin_call(cli, "Status", NULL, &resp, &cause) != 0) {
		printf("plugin: not reached (%s)\n", cause);
		free(cause);
		return cli->socket != NULL || getenv("PRIVATEER_SOCKET") != NULL;
	}
	*reached = 1;
	fleet = json_object_get(resp, "Fleet");
	role = json_string_value(json_object_get(fleet, "role"));
	name = json_string_value(json_object_get(fleet, "identity"));
	printf("plugin: %s %s, role %s\n",
	    json_string_value(json_object_get(fleet, "config_path")),
	    name != NULL ? name : "(no identity)", role != NULL ? role : "?");
	err = json_string_value(json_object_get(fleet, "config_error"));
	if (err != NULL) {
		printf("  error: %s\n", err);
		problems++;
	}
	if (identity != NULL && name != NULL && strcmp(identity, name) != 0) {
		printf("  error: the plugin runs as %s, this check as %s\n",
		    name, identity);
		problems++;
	}
	keys = json_object_get(fleet, "keys");
	if (keys != NULL) {
		err = json_string_value(json_object_get(keys, "error"));
		if (!json_is_true(json_object_get(keys, "loaded"))) {
			printf("  keys: not loaded: %s\n", err != NULL ? err :
			    "loading");
			problems++;
		} else {
			printf("  keys: %s from the %s\n", json_string_value(
			    json_object_get(keys, "fingerprint")),
			    json_string_value(json_object_get(keys, "store")));
			if (err != NULL)
				printf("  warning: last reload: %s\n", err);
		}
		peers = json_object_get(keys, "peers");
		json_array_foreach(peers, i, p) {
			err = json_string_value(json_object_get(p, "error"));
			if (err != NULL)
				problems++;
			printf("  peer %s: %s\n", json_string_value(
			    json_object_get(p, "name")), err != NULL ? err :
			    json_string_value(json_object_get(p,
			    "fingerprint")));
		}
	} else if (role != NULL && strcmp(role, "standalone") != 0) {
		problems++;
	}
	json_decref(resp);
	return problems;
}

static int cli_check_connections(const struct cli *);

static int
cli_check(struct cli *cli, int argc, char **argv)
{
	struct config *cfg;
	struct keystore *ks = NULL;
	struct keys keys;
	char *cause = NULL, *identity = NULL, *fp;
	size_t i;
	int problems = 0, reached, connection = 0;

	if (argc == 2 && strcmp(argv[1], "--connection") == 0)
		connection = 1;
	else if (argc != 1) {
		fprintf(stderr, "usage: privateer check [--connection]\n");
		return 2;
	}
	memset(&keys, 0, sizeof keys);
	cfg = cli_config(cli, &cause);
	if (cfg == NULL) {
		printf("config: %s\n", cause);
		free(cause);
		problems++;
		goto plugin;
	}
	printf("config: %s (%zu servers, %zu clients, %zu volumes)\n",
	    cfg->path, cfg->nservers, cfg->nclients, cfg->nvolumes);
	for (i = 0; i < cfg->nwarnings; i++)
		printf("  warning: %s\n", cfg->warnings[i]);
	identity = cli_identity(cli, cfg, &cause);
	if (identity == NULL || config_check_identity(cfg, identity,
	    &cause) != 0) {
		printf("identity: %s\n", cause);
		free(cause);
		cause = NULL;
		problems++;
		goto plugin;
	}
	cli_check_print_machine(cfg, identity);
	ks = keys_open(cfg, 1, &cause);
	if (ks == NULL || keys_load(cfg, identity, ks, &keys, &cause) != 0) {
		printf("keys: %s\n", cause);
		free(cause);
		cause = NULL;
		problems++;
		goto plugin;
	}
	fp = keypair_fingerprint(keys.self.public_key);
	printf("keys: %s from the %s (private key matches)\n", fp, ks->where);
	free(fp);
	for (i = 0; i < keys.npeers; i++) {
		if (keys.peers[i].public_key == NULL) {
			printf("  peer %s: %s\n", keys.peers[i].name,
			    keys.peers[i].error);
			problems++;
			continue;
		}
		fp = keypair_fingerprint(keys.peers[i].public_key);
		printf("  peer %s: %s\n", keys.peers[i].name, fp);
		free(fp);
	}
plugin:
	problems += cli_check_plugin(cli, identity, &reached);
	if (connection) {
		if (!reached) {
			printf("connections: not checked: the plugin was not "
			    "reached\n");
			problems++;
		} else
			problems += cli_check_connections(cli);
	}
	keys_free(&keys);
	keystore_close(ks);
	config_free(cfg);
	free(identity);
	if (problems > 0)
		return cli_fail("check: %d problem(s) found", problems);
	printf("ok\n");
	return 0;
}

static double
cli_num(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

static const char *
cli_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* 12345678 -> "11.8 MiB" */
void
cli_bytes(double b, char *buf, size_t len)
{
	const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
}

static int
cli_check_connections(const struct cli *cli)
{
	json_t *resp = NULL, *list, *c;
	char *cause = NULL;
	size_t i;
	int problems = 0;

	if (cli_plugin_call(cli, "Check", NULL, &resp, &cause) != 0) {
		printf("connections: %s\n", cause);
		free(cause);
		return 1;
	}
	list = json_object_get(resp, "Connections");
	json_array_foreach(list, i, c) {
		if (cli_num(c, "Status") == 0)
			printf("connection %s: ok (handshake and rsync in "
			    "%.2f s)\n", cli_str(c, "Server"),
			    cli_num(c, "Seconds"));
		else {
			printf("connection %s: %s\n", cli_str(c, "Server"),
			    cli_str(c, "Error"));
			problems++;
		}
	}
	if (json_array_size(list) == 0) {
		printf("connections: no servers in privateer.json\n");
		problems++;
	}
	json_decref(resp);
	return problems;
}

/* Parses VOLUME and the --key VALUE / --flag options of a command. */
struct cli_opts {
	const char *volume;
	const char *server;
	const char *source;
	const char *snapshot;
	const char *to_volume;
	int dry_run;
};

static int
cli_parse_opts(int argc, char **argv, const char *allowed,
    struct cli_opts *o)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "source", required_argument, NULL, 'c' },
		{ "snapshot", required_argument, NULL, 'n' },
		{ "to-volume", required_argument, NULL, 't' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?' || strchr(allowed, c) == NULL)
			return -1;
		switch (c) {
		case 's':
			o->server = optarg;
			break;
		case 'c':
			o->source = optarg;
			break;
		case 'n':
			o->snapshot = optarg;
			break;
		case 't':
			o->to_volume = optarg;
			break;
		case 'd':
			o->dry_run = 1;
			break;
		}
	}
	if (optind != argc - 1)
		return -1;
	o->volume = argv[optind];
	return 0;
}

static json_t *
cli_opts_json(const struct cli_opts *o)
{
	json_t *j = json_pack("{s:s, s:b}", "Volume", o->volume, "DryRun",
	    o->dry_run);

	if (o->server != NULL)
		json_object_set_new(j, "Server", json_string(o->server));
	if (o->source != NULL)
		json_object_set_new(j, "Source", json_string(o->source));
	if (o->snapshot != NULL)
		json_object_set_new(j, "Snapshot", json_string(o->snapshot));
	if (o->to_volume != NULL)
		json_object_set_new(j, "ToVolume", json_string(o->to_volume));
	return j;
}

static int
cli_backup(struct cli *cli, int argc, char **argv)
{
	struct cli_opts o;
	json_t *req, *resp = NULL, *r;
	char *cause = NULL, sent[32];
	const char *err;
	size_t i;
	int rc = 0;

	if (cli_parse_opts(argc, argv, "sd", &o) != 0) {
		fprintf(stderr, "usage: privateer backup VOLUME [--server NAME] "
		    "[--dry-run]\n");
		return 2;
	}
	req = cli_opts_json(&o);
	if ((o.dry_run ? cli_plugin_call(cli, "Backup", req, &resp, &cause) :
	    cli_stream_call(cli, "Backup", req, &resp, &cause)) != 0) {
		json_decref(req);
		cli_fail("backup: %s", cause);
		free(cause);
		return 1;
	}
	json_decref(req);
	json_array_foreach(json_object_get(resp, "Results"), i, r) {
		if (o.dry_run) {
			printf("would back up %s to %s with:\n  %s\n",
			    cli_str(r, "Path"), cli_str(r, "Server"),
			    cli_str(r, "Command"));
		} else if (cli_num(r, "Status") == 0) {
			cli_bytes(cli_num(r, "BytesSent"), sent, sizeof sent);
			printf("%s -> %s: backed up (%s sent, %.0f files "
			    "changed, %.1f s)\n", o.volume, cli_str(r,
			    "Server"), sent, cli_num(r, "Files"),
			    cli_num(r, "Seconds"));
		} else {
			printf("%s -> %s: failed (exit %.0f): %s\n", o.volume,
			    cli_str(r, "Server"), cli_num(r, "Status"),
			    cli_str(r, "Error"));
		}
	}
	err = json_string_value(json_object_get(resp, "Err"));
	if (err != NULL)
		rc = cli_fail("%s", err);
	json_decref(resp);
	return rc;
}

static int
cli_restore(struct cli *cli, int argc, char **argv)
{
	struct cli_opts o;
	json_t *req, *resp = NULL;
	char *cause = NULL, got[32];

	if (cli_parse_opts(argc, argv, "scntd", &o) != 0) {
		fprintf(stderr, "usage: privateer restore VOLUME [--server S] "
		    "[--source C] [--snapshot ID] [--to-volume NAME] "
		    "[--dry-run]\n");
		return 2;
	}
	req = cli_opts_json(&o);
	if ((o.dry_run ? cli_plugin_call(cli, "Restore", req, &resp, &cause) :
	    cli_stream_call(cli, "Restore", req, &resp, &cause)) != 0) {
		json_decref(req);
		cli_fail("restore: %s", cause);
		free(cause);
		return 1;
	}
	json_decref(req);
	if (o.dry_run)
		printf("would restore %s/%s/%s from %s into volume %s with:\n"
		    "  %s\n", cli_str(resp, "Source"), o.volume,
		    cli_str(resp, "Snapshot"), cli_str(resp, "Server"),
		    cli_str(resp, "Volume"), cli_str(resp, "Command"));
	else {
		cli_bytes(cli_num(resp, "BytesReceived"), got, sizeof got);
		printf("restored %s/%s/%s from %s into volume %s (%s "
		    "received, %.1f s)\n", cli_str(resp, "Source"), o.volume,
		    cli_str(resp, "Snapshot"), cli_str(resp, "Server"),
		    cli_str(resp, "Volume"), got, cli_num(resp, "Seconds"));
	}
	json_decref(resp);
	return 0;
}

static int
cli_snapshots(struct cli *cli, int argc, char **argv)
{
	struct cli_opts o;
	json_t *req, *resp = NULL, *e, *ids, *id;
	char *cause = NULL;
	size_t i, k;
	int problems = 0;

	if (cli_parse_opts(argc, argv, "sc", &o) != 0) {
		fprintf(stderr, "usage: privateer snapshots VOLUME "
		    "[--server S] [--source C]\n");
		return 2;
	}
	req = cli_opts_json(&o);
	if (cli_plugin_call(cli, "Snapshots", req, &resp, &cause) != 0) {
		json_decref(req);
		cli_fail("snapshots: %s", cause);
		free(cause);
		return 1;
	}
	json_decref(req);
	printf("%-16s %-16s %s\n", "SERVER", "SOURCE", "SNAPSHOT");
	json_array_foreach(json_object_get(resp, "Snapshots"), i, e) {
		ids = json_object_get(e, "Snapshots");
		if (ids == NULL) {
			printf("%-16s %-16s error: %s\n", cli_str(e, "Server"),
			    cli_str(e, "Source"), cli_str(e, "Error"));
			problems++;
			continue;
		}
		json_array_foreach(ids, k, id) {
			printf("%-16s %-16s %s%s\n", cli_str(e, "Server"),
			    cli_str(e, "Source"), json_string_value(id),
			    k + 1 == json_array_size(ids) ? " (latest)" : "");
		}
	}
	json_decref(resp);
	return problems > 0 ? cli_fail("snapshots: %d server(s) could not be "
	    "asked", problems) : 0;
}

static void
cli_status_volume(json_t *v)
{
	json_t *st = json_object_get(v, "Status"), *b, *servers, *job;
	const char *server;
	char sent[32];
	size_t i;

	printf("volume %s: %.0f mount(s), %s since the last backup\n",
	    cli_str(v, "Name"), cli_num(st, "mounts"),
	    json_is_true(json_object_get(st, "changed-since-backup")) ?
	    "changed" : "unchanged");
	servers = json_object_get(st, "backup");
	if (json_array_size(servers) > 0) {
		printf("  servers:");
		json_array_foreach(servers, i, b)
			printf(" %s", json_string_value(b));
		printf("%s\n", json_is_true(json_object_get(st,
		    "on-unmount")) ? " (on unmount)" : "");
	}
	if (json_object_get(st, "schedule") != NULL)
		printf("  schedule: %s, next %s (%s)\n", cli_str(st,
		    "schedule"), cli_str(st, "next-run"), cli_str(st,
		    "timezone"));
	json_object_foreach(json_object_get(st, "last-backup"), server, b) {
		cli_bytes(cli_num(b, "bytes_sent"), sent, sizeof sent);
		if (json_object_get(b, "result") != NULL)
			printf("  last to %s: %s at %s (%s sent, %.1f s)%s%s\n",
			    server, cli_str(b, "result"), cli_str(b, "time"),
			    sent, cli_num(b, "duration_seconds"),
			    json_object_get(b, "error") != NULL ? ": " : "",
			    cli_str(b, "error"));
		else
			printf("  never backed up to %s\n", server);
		if (json_is_true(json_object_get(b, "stale")))
			printf("  stale: no successful backup to %s within "
			    "%.0f s (max-age)\n", server, cli_num(b,
			    "max-age"));
	}
	json_array_foreach(json_object_get(st, "jobs"), i, job) {
		if (strcmp(cli_str(job, "state"), "idle") == 0)
			continue;
		printf("  job to %s: %s (%s)%s%s\n", cli_str(job, "server"),
		    cli_str(job, "state"), cli_str(job, "reason"),
		    json_object_get(job, "next_retry") != NULL ? ", next at " :
		    "", cli_str(job, "next_retry"));
	}
}

/* On a server: what each client's backups cost it. */
static void
cli_status_clients(json_t *clients)
{
	const char *client, *volume;
	json_t *c, *v;
	char size[32];

	json_object_foreach(clients, client, c) {
		cli_bytes(cli_num(c, "bytes"), size, sizeof size);
		printf("client %s: %.0f volume(s), %.0f snapshot(s), %s\n",
		    client, (double)json_object_size(json_object_get(c,
		    "volumes")), cli_num(c, "snapshots"), size);
		json_object_foreach(json_object_get(c, "volumes"), volume, v) {
			cli_bytes(cli_num(v, "bytes"), size, sizeof size);
			printf("  %s: %.0f snapshot(s), latest %s, %s%s\n",
			    volume, cli_num(v, "snapshots"), cli_str(v,
			    "latest"), size, json_is_true(json_object_get(v,
			    "stale")) ? ", stale" : "");
		}
	}
}

static int
cli_status(struct cli *cli, int argc, char **argv)
{
	json_t *resp = NULL, *fleet, *v;
	const char *volume = NULL;
	char *cause = NULL, *text;
	size_t i;
	int json = 0, shown = 0, k;

	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else if (argv[k][0] != '-' && volume == NULL)
			volume = argv[k];
		else {
			fprintf(stderr, "usage: privateer status [VOLUME] "
			    "[--json]\n");
			return 2;
		}
	}
	if (cli_plugin_call(cli, "Status", NULL, &resp, &cause) != 0) {
		cli_fail("status: %s", cause);
		free(cause);
		return 1;
	}
	if (json) {
		text = json_dumps(resp, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", text);
		free(text);
		json_decref(resp);
		return 0;
	}
	fleet = json_object_get(resp, "Fleet");
	if (volume == NULL) {
		printf("plugin %s: %s %s, %.0f replication(s) running\n",
		    cli_str(fleet, "version"), cli_str(fleet, "role"),
		    cli_str(fleet, "identity"), cli_num(resp, "InFlight"));
		if (json_object_get(fleet, "ssh_server") != NULL)
			printf("ssh server: %.0f session(s), %.0f refused, "
			    "%.0f active\n", cli_num(json_object_get(fleet,
			    "ssh_server"), "sessions"), cli_num(
			    json_object_get(fleet, "ssh_server"), "refused"),
			    cli_num(json_object_get(fleet, "ssh_server"),
			    "active"));
	}
	json_array_foreach(json_object_get(resp, "Volumes"), i, v) {
		if (volume != NULL && strcmp(cli_str(v, "Name"), volume) != 0)
			continue;
		cli_status_volume(v);
		shown++;
	}
	if (volume == NULL && json_object_get(resp, "Store") != NULL)
		printf("store: %s\n", cli_str(resp, "Store"));
	if (volume == NULL)
		cli_status_clients(json_object_get(resp, "Clients"));
	json_decref(resp);
	if (volume != NULL && shown == 0)
		return cli_fail("status: no such volume: %s", volume);
	return 0;
}

static int
cli_reload(struct cli *cli, int argc, char **argv)
{
	json_t *resp = NULL;
	char *cause = NULL;
	int reached, problems;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: privateer reload\n");
		return 2;
	}
	if (cli_plugin_call(cli, "Reload", NULL, &resp, &cause) != 0) {
		cli_fail("reload: %s", cause);
		free(cause);
		return 1;
	}
	json_decref(resp);
	problems = cli_check_plugin(cli, NULL, &reached);
	return problems > 0 ? cli_fail("reload: %d problem(s) remain",
	    problems) : 0;
}

static int
cli_version(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argv;
	if (argc != 1) {
		cli_usage(stderr);
		return 2;
	}
	printf("privateer %s\n", PRIVATEER_VERSION);
	return 0;
}

static int
cli_help(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	cli_usage(stdout);
	return 0;
}

int
cli_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "as", required_argument, NULL, 'a' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli;
	const char *env;
	size_t i;
	int c, rc;

	memset(&cli, 0, sizeof cli);
	env = getenv("PRIVATEER_CONFIG");
	cli.config_path = env != NULL && *env != '\0' ? env : CONFIG_FILE;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'a':
			cli.as_name = optarg;
			break;
		case 's':
			cli.socket = optarg;
			break;
		case 'h':
			cli_usage(stdout);
			return 0;
		default:
			cli_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		cli_usage(stderr);
		return 2;
	}
	for (i = 0; i < CLI_NCOMMANDS; i++) {
		if (strcmp(argv[optind], cli_commands[i].name) == 0 &&
		    cli_commands[i].run != NULL) {
			curl_global_init(CURL_GLOBAL_DEFAULT);
			optind++;
			/* Commands see their name as argv[0]. */
			rc = cli_commands[i].run(&cli, argc - optind + 1,
			    argv + optind - 1);
			curl_global_cleanup();
			return rc;
		}
	}
	fprintf(stderr, "privateer: unknown command \"%s\"\n", argv[optind]);
	cli_usage(stderr);
	return 2;
}
