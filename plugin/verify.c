/*
 * verify: reports are text, one line per problem, the same whichever way
 * they are made: a server writes them itself (open_memstream), or its
 * child writes them to the ssh channel for a client. The comparison with
 * a live volume fetches the snapshot's manifest from the server and checks
 * the volume's data directory against it here, leaving out directory
 * mtimes (files coming and going change them).
 */
#include "verify.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fleet.h"
#include "log.h"
#include "manifest.h"
#include "notify.h"
#include "ops_int.h"
#include "snapshot.h"
#include "util.h"
#include "volume.h"

#define VERIFY_REPORT_MAX (16 * 1024 * 1024)
#define VERIFY_MESSAGE_LINES 10

/* The last result per client/volume/server, for /metrics. */
static pthread_mutex_t verify_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *verify_last;

static void
verify_record(const char *source, const char *volume, const char *server,
    long problems)
{
	json_t *per;
	char *key = xasprintf("%s/%s", source, volume);

	pthread_mutex_lock(&verify_lock);
	if (verify_last == NULL)
		verify_last = json_object();
	per = json_object_get(verify_last, key);
	if (per == NULL) {
		per = json_object();
		json_object_set_new(verify_last, key, per);
	}
	json_object_set_new(per, server, json_pack("{s:s, s:s, s:I, s:I}",
	    "client", source, "volume", volume, "problems",
	    (json_int_t)problems, "time", (json_int_t)now_realtime()));
	pthread_mutex_unlock(&verify_lock);
	free(key);
}

json_t *
verify_results(void)
{
	json_t *out;

	pthread_mutex_lock(&verify_lock);
	out = verify_last != NULL ? json_deep_copy(verify_last) :
	    json_object();
	pthread_mutex_unlock(&verify_lock);
	return out;
}

/* The first lines of a report that name problems, for a notification. */
static char *
verify_message(const char *who, long problems, const char *report)
{
	char *s = xasprintf("verification of %s found %ld problem(s)", who,
	    problems), *next, *line;
	const char *p = report, *nl;
	int shown = 0;

	while (p != NULL && *p != '\0' && shown < VERIFY_MESSAGE_LINES) {
		nl = strchr(p, '\n');
		line = nl != NULL ? xstrndup(p, (size_t)(nl - p)) : xstrdup(p);
		if (strstr(line, ": ok (") == NULL &&
		    strstr(line, " problem(s)") == NULL &&
		    strstr(line, ": not checked: ") == NULL) {
			next = xasprintf("%s\n%s", s, line);
			free(s);
			s = next;
			shown++;
		}
		free(line);
		p = nl != NULL ? nl + 1 : NULL;
	}
	return s;
}

/* Verifies source's volume kept here; the report in *report. */
static long
verify_here(const char *root, const char *source, const char *volume,
    const char *which, char **report, char **cause)
{
	size_t len = 0;
	FILE *out;
	long k;

	*report = NULL;
	out = open_memstream(report, &len);
	if (out == NULL)
		fatal("out of memory");
	k = manifest_verify(root, source, volume, which, out, cause);
	fclose(out);
	return k;
}

/* The only client keeping volume under root, or NULL with *cause. */
static char *
verify_server_source(const char *root, const char *volume, char **cause)
{
	struct dirent *de;
	char *found = NULL, *path, *list = xstrdup("");
	struct stat st;
	int n = 0;
	DIR *d;

	if ((d = opendir(root)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			path = xasprintf("%s/%s/%s", root, de->d_name, volume);
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
				char *l = xasprintf("%s%s%s", list, n > 0 ?
				    ", " : "", de->d_name);
				free(list);
				list = l;
				free(found);
				found = xstrdup(de->d_name);
				n++;
			}
			free(path);
		}
		closedir(d);
	}
	if (n != 1) {
		if (n == 0)
			set_cause(cause, "no client's %s is kept here", volume);
		else
			set_cause(cause, "%s is kept here for more than one "
			    "client (%s): give --source", volume, list);
		free(found);
		found = NULL;
	}
	free(list);
	return found;
}

static void
verify_report_line(void *arg, const char *what, const char *path,
    const char *detail)
{
	FILE *out = arg;
	char *clean = utf8_clean(path);

	fprintf(out, "%s: %s (%s)\n", what, clean, detail);
	free(clean);
}

/* --against-volume: the snapshot's manifest from srv, checked here. */
static long
verify_against(struct ops_env *env, struct vol_registry *reg,
    const struct repl_server *srv, const char *source,
    const struct verify_request *req, char **report, char **cause)
{
	struct manifest *m;
	char *text = NULL, *mp = NULL, *data = NULL;
	size_t len = 0;
	FILE *out;
	long k = -1;
	int status;

	if (vol_path(reg, req->volume, &mp, cause) != 0)
		return -1;
	if (mp != NULL) {
		set_cause(cause, "volume %s is mounted: stop its containers "
		    "first (the comparison needs it at rest)", req->volume);
		free(mp);
		return -1;
	}
	if (vol_data_dir(reg, req->volume, &data, cause) != 0)
		return -1;
	if (repl_verify(&env->self, srv, source, req->volume,
	    req->snapshot != NULL ? req->snapshot : "latest", 1,
	    MANIFEST_MAX_BYTES, &text, &status, cause) != 0)
		goto out;
	if (status != 0) {
		set_cause(cause, "%s", *text != '\0' ? text :
		    "the server has no manifest of that snapshot");
		goto out;
	}
	m = manifest_parse(text, strlen(text), cause);
	if (m == NULL)
		goto out;
	*report = NULL;
	out = open_memstream(report, &len);
	if (out == NULL)
		fatal("out of memory");
	k = manifest_check(m, data, MANIFEST_CHECK_NO_DIR_TIMES |
	    MANIFEST_CHECK_UNMUNGE,
	    verify_report_line, out, cause);
	if (k == 0)
		fprintf(out, "volume %s matches %s/%s/%s (%zu entries)\n",
		    req->volume, source, req->volume, req->snapshot != NULL ?
		    req->snapshot : "latest", manifest_entries(m));
	else if (k > 0)
		fprintf(out, "volume %s differs from %s/%s/%s in %ld "
		    "entr%s\n", req->volume, source, req->volume,
		    req->snapshot != NULL ? req->snapshot : "latest", k,
		    k == 1 ? "y" : "ies");
	fclose(out);
	manifest_free(m);
out:
	free(text);
	free(data);
	return k;
}

json_t *
verify_run(struct fleet *f, struct vol_registry *reg,
    const struct verify_request *req, char **cause)
{
	const char *server, *source, *which;
	struct repl_server srv;
	struct ops_env env;
	char *report = NULL, *found = NULL, *msg, *who;
	json_t *j = NULL;
	long k = -1;
	int status;

	which = req->all ? "all" : req->snapshot != NULL ? req->snapshot :
	    "latest";
	if (req->all && req->snapshot != NULL) {
		set_cause(cause, "--snapshot and --all: one or the other");
		return NULL;
	}
	if (ops_env_open(f, &env, 0, cause) != 0)
		return NULL;
	if (config_role(env.st->cfg, env.st->identity) ==
	    CONFIG_ROLE_SERVER) {
		/* A server checks what it keeps, directly. */
		if (req->against_volume) {
			set_cause(cause, "--against-volume compares with a "
			    "client's volume: run it on the client");
			goto out;
		}
		if (req->server != NULL && strcmp(req->server,
		    env.st->identity) != 0) {
			set_cause(cause, "this is the server %s; verify on %s "
			    "itself", env.st->identity, req->server);
			goto out;
		}
		server = env.st->identity;
		source = req->source;
		if (source == NULL) {
			found = verify_server_source(fleet_server_root(f),
			    req->volume, cause);
			if ((source = found) == NULL)
				goto out;
		}
		k = verify_here(fleet_server_root(f), source, req->volume,
		    which, &report, cause);
	} else {
		server = ops_pick_server(&env, req->server, cause);
		if (server == NULL)
			goto out;
		source = req->source;
		if (source == NULL)
			source = env.st->identity;
		if (ops_server(&env, server, &srv, cause) != 0)
			goto out;
		if (req->against_volume) {
			if (req->all) {
				set_cause(cause, "--against-volume compares "
				    "one snapshot: leave out --all");
				goto out;
			}
			k = verify_against(&env, reg, &srv, source, req,
			    &report, cause);
		} else if (repl_verify(&env.self, &srv, source, req->volume,
		    which, 0, VERIFY_REPORT_MAX, &report, &status,
		    cause) == 0) {
			/* The report's lines say what; count them. */
			const char *p;

			k = 0;
			for (p = report; status != 0 && p != NULL &&
			    (p = strstr(p, ": ")) != NULL; p += 2) {
				if (strncmp(p, ": damaged: ", 11) == 0 ||
				    strncmp(p, ": missing: ", 11) == 0 ||
				    strncmp(p, ": changed: ", 11) == 0 ||
				    strncmp(p, ": unexpected: ", 14) == 0)
					k++;
			}
			if (status != 0 && k == 0)
				k = 1;
		}
	}
	if (k < 0)
		goto out;
	if (!req->against_volume) {
		verify_record(source, req->volume, server, k);
		who = xasprintf("%s/%s on %s", source, req->volume, server);
		msg = verify_message(who, k, report);
		(void)notify_verify(fleet_notify(f), req->volume, server,
		    source, k > 0, msg);
		free(msg);
		free(who);
	}
	j = json_pack("{s:s, s:I, s:s, s:s}", "Report", report != NULL ?
	    report : "", "Problems", (json_int_t)k, "Server", server, "Source",
	    source);
out:
	free(report);
	free(found);
	ops_env_close(f, &env);
	return j;
}

void
verify_server_all(struct fleet *f, const char *root, const int *stop)
{
	struct dirent *c, *v;
	char *path, *report, *cause = NULL, *who, *msg;
	struct fleet_state *st;
	DIR *cd, *vd;
	char *me;
	long k;

	st = fleet_acquire_config(f);
	if (st == NULL)
		return;
	me = xstrdup(st->identity);
	fleet_release(f, st);
	if ((cd = opendir(root)) == NULL) {
		free(me);
		return;
	}
	while ((c = readdir(cd)) != NULL) {
		if (c->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", root, c->d_name);
		vd = opendir(path);
		free(path);
		while (vd != NULL && (v = readdir(vd)) != NULL) {
			if (v->d_name[0] == '.')
				continue;
			if (stop != NULL && __atomic_load_n(stop,
			    __ATOMIC_RELAXED))
				break;
			k = verify_here(root, c->d_name, v->d_name, "all",
			    &report, &cause);
			if (k < 0) {
				log_warn("verify %s/%s: %s", c->d_name,
				    v->d_name, cause);
				free(cause);
				cause = NULL;
			} else {
				log_info("verify %s/%s: %ld problem(s)",
				    c->d_name, v->d_name, k);
				verify_record(c->d_name, v->d_name, me, k);
				who = xasprintf("%s/%s on %s", c->d_name,
				    v->d_name, me);
				msg = verify_message(who, k, report);
				(void)notify_verify(fleet_notify(f), v->d_name,
				    me, c->d_name, k > 0, msg);
				free(msg);
				free(who);
			}
			free(report);
		}
		if (vd != NULL)
			closedir(vd);
	}
	closedir(cd);
	free(me);
}

int
verify_snapshots_main(int argc, char **argv)
{
	char *cause = NULL, *text, *path, **ids = NULL;
	const char *id;
	size_t len, n = 0;
	long k;

	if (argc == 6 && strcmp(argv[5], "--manifest") == 0) {
		if (snap_list(argv[1], argv[2], argv[3], &ids, &n,
		    &cause) != 0 || n == 0) {
			fprintf(stderr, "%s\n", cause != NULL ? cause :
			    "no snapshots");
			return 2;
		}
		id = strcmp(argv[4], "latest") == 0 ? ids[n - 1] : argv[4];
		path = manifest_path(argv[1], argv[2], argv[3], id);
		text = read_file_capped(path, MANIFEST_MAX_BYTES, &len);
		free(path);
		snap_list_free(ids, n);
		if (text == NULL) {
			printf("no manifest of %s/%s/%s\n", argv[2], argv[3],
			    argv[4]);
			return 1;
		}
		(void)fwrite(text, 1, len, stdout);
		free(text);
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: privateer verify-snapshots ROOT SOURCE "
		    "VOLUME ID|latest|all [--manifest]\n");
		return 2;
	}
	k = manifest_verify(argv[1], argv[2], argv[3], argv[4], stdout,
	    &cause);
	if (k < 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return 2;
	}
	return k > 0 ? 1 : 0;
}
