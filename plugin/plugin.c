/*
 * plugin: start-up and the signal loop. All signals are blocked in every
 * thread and taken synchronously here with sigwait(), so no handler ever
 * runs inside libmicrohttpd or a registry operation. As the plugin
 * container's PID 1 the default actions would be ignored anyway.
 */
#include "plugin.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <curl/curl.h>

#include "api.h"
#include "fleet.h"
#include "http.h"
#include "jobs.h"
#include "notify.h"
#include "ops.h"
#include "schedule.h"
#include "log.h"
#include "util.h"
#include "volume.h"
#include "watch.h"

static int
plugin_serve(void *arg, const char *method, const char *url,
    const char *body, size_t len, char **out, const char **ctype,
    struct http_stream *stream)
{
	return api_handle_stream(arg, method, url, body, len, out, ctype,
	    stream);
}

static void
plugin_usage(void)
{
	fprintf(stderr, "usage: privateer plugin [--socket PATH] "
	    "[--state DIR] [--mount-root DIR]\n");
}

int
plugin_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'd' },
		{ "mount-root", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_path = PLUGIN_SOCKET, *state = PLUGIN_STATE_DIR;
	const char *mount_root = PLUGIN_MOUNT_ROOT, *level, *config_path, *env;
	char *sched_file, *path;
	struct notify *notify;
	struct watch *watch;
	json_t *pending, *item;
	size_t i;
	struct fleet_options fo;
	struct api_ctx ctx;
	struct vol_registry *reg;
	struct http_server *srv;
	char *cause = NULL;
	sigset_t set;
	int c, sig;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_path = optarg;
			break;
		case 'd':
			state = optarg;
			break;
		case 'm':
			mount_root = optarg;
			break;
		case 'h':
			plugin_usage();
			return 0;
		default:
			plugin_usage();
			return 2;
		}
	}
	if (optind != argc) {
		plugin_usage();
		return 2;
	}
	level = getenv("PRIVATEER_LOG_LEVEL");
	if (level != NULL && *level != '\0' && log_set_level(level) != 0)
		log_warn("PRIVATEER_LOG_LEVEL=%s is not one of error, warn, "
		    "info, debug; using info", level);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	/* Private keys and tokens live in this process: no core dumps. */
	{
		struct rlimit rl = { 0, 0 };
		setrlimit(RLIMIT_CORE, &rl);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	}
	/*
	 * libcurl (with OpenSSL, which it initialises) is needed only for
	 * Vault and notifications: a libcurl whose global init is
	 * thread-safe (7.84+) does it at the first curl_easy_init, and a
	 * plugin without them stays smaller (12.1 against 13.7 MiB
	 * idle with its configuration loaded, measured 2026-12-05). An older one is initialised here.
	 */
	if ((curl_version_info(CURLVERSION_NOW)->features &
	    CURL_VERSION_THREADSAFE) == 0)
		curl_global_init(CURL_GLOBAL_DEFAULT);

	log_info("privateer %s starting (state %s, mounts under %s)",
	    PRIVATEER_VERSION, state, mount_root);
	reg = vol_open(state, mount_root, &vol_os_linux, &cause);
	if (reg == NULL) {
		log_error("cannot open the volume registry: %s", cause);
		free(cause);
		return 1;
	}
	config_path = getenv("PRIVATEER_CONFIG");
	if (config_path == NULL || *config_path == '\0')
		config_path = PLUGIN_CONFIG;
	ctx.reg = reg;
	memset(&fo, 0, sizeof fo);
	fo.config_path = config_path;
	fo.identity = getenv("PRIVATEER_NAME");
	fo.state_dir = state;
	fo.listen_address = getenv("PRIVATEER_LISTEN_ADDRESS");
	fo.rsync = PLUGIN_RSYNC;
	path = xasprintf("%s/notify.json", state);
	env = getenv("PRIVATEER_NOTIFY_RETRY_MS");
	notify = notify_start(path, NULL, env != NULL ? atoi(env) : 0);
	free(path);
	fo.notify = notify;
	ctx.fleet = fleet_start(&fo);
	env = getenv("PRIVATEER_RETRY_SECONDS");
	ctx.jobs = jobs_start(reg, ctx.fleet, 2, env != NULL ? atoi(env) : 0);
	env = getenv("PRIVATEER_RESTORE_WAIT");
	if (env != NULL && *env != '\0')
		vol_set_restore_wait(reg, atoi(env));
	/* Restores cut short by a restart start over. */
	pending = vol_pending_restores(reg);
	json_array_foreach(pending, i, item)
		ops_restore_spawn(ctx.fleet, reg, json_string_value(item));
	json_decref(pending);
	sched_file = xasprintf("%s/schedule.json", state);
	ctx.sched = schedule_start(reg, ctx.fleet, ctx.jobs, sched_file);
	free(sched_file);
	env = getenv("PRIVATEER_WATCH_SECONDS");
	watch = watch_start(reg, ctx.fleet, env != NULL ? atoi(env) : 0);
	srv = http_start(socket_path, API_BODY_MAX, plugin_serve, &ctx,
	    &cause);
	if (srv == NULL) {
		log_error("%s", cause);
		free(cause);
		watch_stop(watch);
		schedule_stop(ctx.sched);
		jobs_stop(ctx.jobs);
		fleet_stop(ctx.fleet);
		notify_stop(notify);
		vol_close(reg);
		return 1;
	}
	http_set_upload(srv, api_upload_open);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: reloading configuration and keys");
			fleet_request_reload(ctx.fleet);
			continue;
		}
		log_info("signal %d: shutting down", sig);
		break;
	}
	http_stop(srv);
	watch_stop(watch);
	schedule_stop(ctx.sched);
	jobs_stop(ctx.jobs);
	fleet_stop(ctx.fleet);
	notify_stop(notify);
	vol_close(reg);
	return 0;
}
