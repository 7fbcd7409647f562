/*
 * test_config: privateer.json as PRODUCT.md §2 and §3 define it. Every file
 * in example/ must load with the machines, volumes, ports and jobs it
 * describes; privateer2's helper-container fields must load without a
 * warning while a truly unknown field is warned about by its path. The
 * Vault prefix loses privateer2's leading "/secret" (and only that), the
 * mount defaults to "secret", and the key store defaults to Vault when a
 * vault section exists and to "<config dir>/keys" otherwise, with relative
 * keys.path resolved against the file's own directory. Each validation
 * rule is checked both ways: a valid document passes and its invalid twin
 * fails with a message naming the field path and the offending value; all
 * errors of a document are reported at once, one per line even when a
 * value holds a newline. config_identity, config_check_identity,
 * config_role and the lookups close the module.
 *
 * Documents are written with single quotes and converted (dq()), so the
 * JSON stays readable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "name.h"
#include "util.h"

/* The tests' data directory: CMake may say; else beside tests/unit/. */
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR test_data_dir()
static const char *
test_data_dir(void)
{
	static char dir[4096];
	const char *file = __FILE__, *p, *unit = NULL;

	if (dir[0] != '\0')
		return dir;
	for (p = strstr(file, "unit/"); p != NULL; p = strstr(p + 1, "unit/"))
		unit = p;
	if (unit == NULL)
		snprintf(dir, sizeof dir, "../data");
	else
		snprintf(dir, sizeof dir, "%.*sdata", (int)(unit - file), file);
	return dir;
}
#endif

#define BASE_DIR "/etc/privateer"

/* A valid fleet: one server, one client with a job, two volumes. */
#define SERVERS "'servers': [{'name': 'alice', " \
	"'hostname': 'alice.example.com', 'port': 10022}]"
#define CLIENTS "'clients': [{'name': 'bob', 'backup': ['data'], " \
	"'schedule': {'jobs': [{'server': 'alice', 'volume': 'data', " \
	"'schedule': '@daily'}]}}]"
#define VOLUMES "'volumes': [{'name': 'data'}, " \
	"{'name': 'scratch', 'local': true}]"
#define BASE SERVERS ", " CLIENTS ", " VOLUMES
#define VAULT "'vault': {'url': 'https://vault.example.com:8200', " \
	"'prefix': '/secret/privateer'}"

/* s with every ' turned into "; caller frees. */
static char *
dq(const char *s)
{
	char *out = xstrdup(s), *p;

	for (p = out; *p != '\0'; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return out;
}

static void
assert_mentions(const char *cause, const char *needle)
{
	if (cause == NULL)
		fail_msg("no cause set (expected one mentioning \"%s\")",
		    needle);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, needle);
}

static size_t
count_lines(const char *s)
{
	size_t n = 1;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* json (single-quoted) must parse; the caller frees the config. */
static struct config *
parse_ok(const char *json)
{
	struct config *cfg;
	char *text = dq(json), *cause = NULL;

	cfg = config_parse(text, strlen(text), BASE_DIR, &cause);
	if (cfg == NULL)
		fail_msg("refused: %s\n--- document:\n%s", cause, text);
	assert_null(cause);
	free(text);
	return cfg;
}

/* json must parse without a warning. */
static void
valid(const char *json)
{
	struct config *cfg = parse_ok(json);

	if (cfg->nwarnings != 0)
		fail_msg("warning \"%s\" for %s", cfg->warnings[0], json);
	config_free(cfg);
}

/*
 * json must be refused with a cause of nlines lines (0: any number)
 * containing every needle (a NULL-terminated list).
 */
static void
refused(const char *json, size_t nlines, ...)
{
	struct config *cfg;
	char *text = dq(json), *cause = NULL;
	const char *needle;
	va_list ap;

	cfg = config_parse(text, strlen(text), BASE_DIR, &cause);
	if (cfg != NULL)
		fail_msg("accepted: %s", text);
	if (cause == NULL)
		fail_msg("refused without a cause: %s", text);
	va_start(ap, nlines);
	while ((needle = va_arg(ap, const char *)) != NULL) {
		if (strstr(cause, needle) == NULL) {
			va_end(ap);
			fail_msg("cause \"%s\" does not mention \"%s\"\n"
			    "--- document:\n%s", cause, needle, text);
		}
	}
	va_end(ap);
	if (nlines != 0 && count_lines(cause) != nlines)
		fail_msg("%zu errors, expected %zu:\n%s", count_lines(cause),
		    nlines, cause);
	free(cause);
	free(text);
}

/* A fresh temporary directory (caller removes and frees). */
static char *
make_tmpdir(void)
{
	char *dir = xstrdup("/tmp/test_config.XXXXXX"), *real;

	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	/* /tmp may itself be a symlink; config_load resolves it. */
	real = realpath(dir, NULL);
	assert_non_null(real);
	free(dir);
	return real;
}

static void
write_text(const char *path, const char *text)
{
	char *cause = NULL;

	if (write_file_atomic(path, text, strlen(text), 0644, &cause) != 0)
		fail_msg("%s", cause);
}

static void
cleanup_tmpdir(char *dir)
{
	assert_int_equal(remove_tree(dir, NULL), 0);
	free(dir);
}

static char *
example_dir(void)
{
	char *rel = xasprintf("%s/../../example", TEST_DATA_DIR), *real;

	real = realpath(rel, NULL);
	if (real == NULL)
		fail_msg("no example directory at %s", rel);
	free(rel);
	return real;
}

static struct config *
load_example(const char *name)
{
	struct config *cfg;
	char *dir = example_dir(), *path, *cause = NULL;

	path = xasprintf("%s/%s", dir, name);
	cfg = config_load(path, &cause);
	if (cfg == NULL)
		fail_msg("%s", cause);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->dir, dir);
	if (cfg->nwarnings != 0)
		fail_msg("%s: warning \"%s\"", name, cfg->warnings[0]);
	free(path);
	free(dir);
	return cfg;
}

static void
assert_server(const struct config *cfg, size_t i, const char *name,
    const char *hostname, int port)
{
	assert_true(i < cfg->nservers);
	assert_string_equal(cfg->servers[i].name, name);
	assert_string_equal(cfg->servers[i].hostname, hostname);
	assert_int_equal(cfg->servers[i].port, port);
}

static void
assert_volume(const struct config *cfg, size_t i, const char *name,
    int local)
{
	assert_true(i < cfg->nvolumes);
	assert_string_equal(cfg->volumes[i].name, name);
	assert_int_equal(cfg->volumes[i].local, local);
}

static void
assert_job(const struct config_job *j, const char *server,
    const char *volume, const char *schedule)
{
	assert_string_equal(j->server, server);
	assert_string_equal(j->volume, volume);
	assert_string_equal(j->schedule, schedule);
}

/* Every example loads, without warnings: a new one is checked too. */
static void
test_examples_all_load(void **state)
{
	char *dir = example_dir(), *path, *cause = NULL;
	struct config *cfg;
	struct dirent *de;
	size_t len, n = 0;
	DIR *d;

	(void)state;
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		cfg = config_load(path, &cause);
		if (cfg == NULL)
			fail_msg("%s", cause);
		if (cfg->nwarnings != 0)
			fail_msg("%s: %s", path, cfg->warnings[0]);
		assert_true(cfg->nservers > 0);
		assert_true(cfg->nclients > 0);
		assert_true(cfg->nvolumes > 0);
		config_free(cfg);
		free(path);
		n++;
	}
	closedir(d);
	assert_true(n >= 6);
	free(dir);
}

static void
test_example_privateer(void **state)
{
	struct config *cfg = load_example("privateer.json");
	const struct config_client *c;
	char *keys;

	(void)state;
	assert_int_equal(cfg->nservers, 1);
	assert_server(cfg, 0, "alice", "127.0.0.1", 10022);
	assert_int_equal(cfg->nclients, 2);
	c = &cfg->clients[0];
	assert_string_equal(c->name, "bob");
	assert_int_equal(c->nbackup, 1);
	assert_string_equal(c->backup[0], "user_data");
	assert_int_equal(c->njobs, 1);
	assert_job(&c->jobs[0], "alice", "user_data", "30 2 * * *");
	assert_true(c->jobs[0].cron.minutes == UINT64_C(1) << 30);
	assert_true(c->jobs[0].cron.hours == UINT32_C(1) << 2);
	assert_string_equal(cfg->clients[1].name, "carol");
	assert_int_equal(cfg->clients[1].nbackup, 0);
	assert_int_equal(cfg->clients[1].njobs, 0);
	assert_int_equal(cfg->nvolumes, 2);
	assert_volume(cfg, 0, "user_data", 0);
	assert_volume(cfg, 1, "barman", 1);
	assert_int_equal(cfg->has_vault, 0);
	assert_int_equal(cfg->store, CONFIG_STORE_FILE);
	keys = xasprintf("%s/keys", cfg->dir);
	assert_string_equal(cfg->store_path, keys);
	free(keys);
	assert_int_equal(cfg->retention.set, 1);
	assert_int_equal(cfg->retention.hourly, 24);
	assert_int_equal(cfg->retention.daily, 7);
	assert_int_equal(cfg->retention.weekly, 4);
	assert_int_equal(cfg->retention.monthly, 12);
	config_free(cfg);
}

static void
test_example_simple(void **state)
{
	struct config *cfg = load_example("simple.json");

	(void)state;
	assert_int_equal(cfg->nservers, 1);
	assert_server(cfg, 0, "alice", "backup.example.org", 10022);
	assert_int_equal(cfg->nclients, 1);
	assert_string_equal(cfg->clients[0].name, "bob");
	assert_int_equal(cfg->clients[0].nbackup, 1);
	assert_string_equal(cfg->clients[0].backup[0], "uploads");
	assert_int_equal(cfg->clients[0].njobs, 0);
	assert_int_equal(cfg->nvolumes, 1);
	assert_volume(cfg, 0, "uploads", 0);
	assert_int_equal(cfg->has_vault, 1);
	assert_string_equal(cfg->vault.url, "http://127.0.0.1:8200");
	assert_string_equal(cfg->vault.prefix, "privateer");
	assert_string_equal(cfg->vault.mount, "secret");
	assert_null(cfg->vault.token);
	assert_int_equal(cfg->vault.kv_version, 0);
	assert_int_equal(cfg->store, CONFIG_STORE_VAULT);
	assert_null(cfg->store_path);
	assert_int_equal(cfg->retention.set, 0);
	config_free(cfg);
}

static void
test_example_local(void **state)
{
	struct config *cfg = load_example("local.json");

	(void)state;
	assert_int_equal(cfg->nservers, 1);
	assert_server(cfg, 0, "alice", "backup.example.org", 10022);
	assert_int_equal(cfg->nclients, 1);
	assert_string_equal(cfg->clients[0].name, "bob");
	assert_string_equal(cfg->clients[0].backup[0], "uploads");
	assert_int_equal(cfg->nvolumes, 2);
	assert_volume(cfg, 0, "uploads", 0);
	assert_volume(cfg, 1, "pg_archive", 1);
	assert_int_equal(cfg->store, CONFIG_STORE_VAULT);
	config_free(cfg);
}

static void
test_example_complex(void **state)
{
	struct config *cfg = load_example("complex.json");

	(void)state;
	assert_int_equal(cfg->nservers, 2);
	assert_server(cfg, 0, "alice", "backup.example.org", 10022);
	assert_server(cfg, 1, "carol", "backup.example.org", 10022);
	assert_int_equal(cfg->nclients, 2);
	assert_string_equal(cfg->clients[0].name, "bob");
	assert_int_equal(cfg->clients[0].nbackup, 1);
	assert_string_equal(cfg->clients[0].backup[0], "uploads");
	assert_string_equal(cfg->clients[1].name, "dan");
	assert_int_equal(cfg->clients[1].nbackup, 0);
	assert_int_equal(cfg->nvolumes, 2);
	assert_volume(cfg, 0, "uploads", 0);
	assert_volume(cfg, 1, "pg_archive", 1);
	assert_string_equal(cfg->vault.prefix, "privateer");
	config_free(cfg);
}

static void
test_example_schedule(void **state)
{
	struct config *cfg = load_example("schedule.json");
	const struct config_client *c;

	(void)state;
	assert_int_equal(cfg->nservers, 1);
	assert_server(cfg, 0, "alice", "backup.example.org", 10022);
	assert_int_equal(cfg->nclients, 1);
	c = &cfg->clients[0];
	assert_string_equal(c->name, "bob");
	assert_int_equal(c->nbackup, 2);
	assert_string_equal(c->backup[0], "uploads");
	assert_string_equal(c->backup[1], "pgdata");
	assert_int_equal(c->njobs, 2);
	assert_job(&c->jobs[0], "alice", "uploads", "@daily");
	assert_job(&c->jobs[1], "alice", "pgdata", "@weekly");
	/* @daily: 00:00 every day; @weekly: 00:00 on Sunday. */
	assert_true(c->jobs[0].cron.minutes == 1);
	assert_true(c->jobs[0].cron.hours == 1);
	assert_true(c->jobs[1].cron.wdays == 1);
	assert_int_equal(cfg->nvolumes, 2);
	assert_volume(cfg, 0, "uploads", 0);
	assert_volume(cfg, 1, "pgdata", 0);
	config_free(cfg);
}

static void
test_example_multi_server(void **state)
{
	struct config *cfg = load_example("multi-server.json");
	static const char *const clients[] = { "prod1", "prod2", "analysis",
	    "staging" };
	size_t i;

	(void)state;
	assert_int_equal(cfg->nservers, 2);
	assert_server(cfg, 0, "vault-east", "east.backup.example.org", 10022);
	assert_server(cfg, 1, "vault-west", "west.backup.example.org", 10022);
	assert_int_equal(cfg->nclients, 4);
	for (i = 0; i < 4; i++)
		assert_string_equal(cfg->clients[i].name, clients[i]);
	assert_int_equal(cfg->clients[0].njobs, 0);
	assert_int_equal(cfg->clients[1].njobs, 1);
	assert_job(&cfg->clients[1].jobs[0], "vault-west", "reports",
	    "@daily");
	assert_int_equal(cfg->clients[2].nbackup, 0);
	assert_int_equal(cfg->nvolumes, 2);
	assert_volume(cfg, 0, "reports", 0);
	assert_volume(cfg, 1, "wal_restore", 1);
	assert_string_equal(cfg->vault.url, "https://vault.example.org:8200");
	assert_string_equal(cfg->vault.prefix, "ops/privateer");
	config_free(cfg);
}

/* The smallest useful document, field by field. */
static void
test_base_document(void **state)
{
	struct config *cfg = parse_ok("{" BASE "}");

	(void)state;
	assert_null(cfg->path);
	assert_string_equal(cfg->dir, BASE_DIR);
	assert_server(cfg, 0, "alice", "alice.example.com", 10022);
	assert_int_equal(cfg->nclients, 1);
	assert_int_equal(cfg->clients[0].njobs, 1);
	assert_job(&cfg->clients[0].jobs[0], "alice", "data", "@daily");
	assert_volume(cfg, 1, "scratch", 1);
	assert_int_equal(cfg->has_vault, 0);
	assert_int_equal(cfg->nwarnings, 0);
	config_free(cfg);
}

/* privateer2's helper-container fields load silently (PRODUCT.md §2). */
static void
test_privateer2_fields(void **state)
{
	(void)state;
	valid("{'servers': [{'name': 'alice', 'hostname': 'h', 'port': 22, "
	    "'key_volume': 'privateer_keys', 'data_volume': 'privateer_data', "
	    "'container': 'privateer_server'}], "
	    "'clients': [{'name': 'bob', 'backup': ['data'], "
	    "'restore': ['data'], 'key_volume': 'privateer_keys', "
	    "'schedule': {'port': 8080, 'container': 'privateer_scheduler', "
	    "'jobs': [{'server': 'alice', 'volume': 'data', "
	    "'schedule': '@daily'}]}}], "
	    VOLUMES ", " VAULT ", 'tag': 'docker'}");
}

static void
assert_warning(const struct config *cfg, const char *expect)
{
	size_t i;

	for (i = 0; i < cfg->nwarnings; i++) {
		if (strcmp(cfg->warnings[i], expect) == 0)
			return;
	}
	fail_msg("no warning \"%s\" (%zu warnings%s%s)", expect,
	    cfg->nwarnings, cfg->nwarnings > 0 ? ", first: " : "",
	    cfg->nwarnings > 0 ? cfg->warnings[0] : "");
}

static void
test_unknown_fields_warn(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("{'servers': [{'name': 'alice', 'hostname': 'h', "
	    "'port': 22, 'colour': 'red'}], "
	    "'clients': [{'name': 'bob', 'backup': ['data'], 'colour': 1, "
	    "'schedule': {'colour': 1, 'jobs': [{'server': 'alice', "
	    "'volume': 'data', 'schedule': '@daily', 'colour': 1}]}}], "
	    "'volumes': [{'name': 'data', 'colour': 1}], "
	    "'vault': {'colour': 1}, 'keys': {'store': 'vault', 'colour': 1}, "
	    "'store': {'colour': 1}, 'retention': {'daily': 1}, 'colour': 1}");
	assert_warning(cfg, "servers[0].colour: unknown field, ignored");
	assert_warning(cfg, "clients[0].colour: unknown field, ignored");
	assert_warning(cfg, "clients[0].schedule.colour: unknown field, "
	    "ignored");
	assert_warning(cfg, "clients[0].schedule.jobs[0].colour: unknown "
	    "field, ignored");
	assert_warning(cfg, "volumes[0].colour: unknown field, ignored");
	assert_warning(cfg, "vault.colour: unknown field, ignored");
	assert_warning(cfg, "keys.colour: unknown field, ignored");
	/* Except in retention (test_retention): there a typo is an error. */
	assert_warning(cfg, "store.colour: unknown field, ignored");
	assert_warning(cfg, "colour: unknown field, ignored");
	assert_int_equal(cfg->nwarnings, 9);
	config_free(cfg);

	/* Ignored names are ignored only where privateer2 had them. */
	cfg = parse_ok("{" SERVERS ", 'clients': [{'name': 'bob', "
	    "'container': 'x', 'data_volume': 'y'}], 'volumes': "
	    "[{'name': 'data', 'key_volume': 'z'}], 'port': 1}");
	assert_warning(cfg, "clients[0].container: unknown field, ignored");
	assert_warning(cfg, "clients[0].data_volume: unknown field, ignored");
	assert_warning(cfg, "volumes[0].key_volume: unknown field, ignored");
	assert_warning(cfg, "port: unknown field, ignored");
	assert_int_equal(cfg->nwarnings, 4);
	config_free(cfg);
}

static void
prefix_is(const char *prefix, const char *expect)
{
	struct config *cfg;
	char *json;

	json = xasprintf("{" BASE ", 'vault': {'prefix': '%s'}}", prefix);
	cfg = parse_ok(json);
	if (strcmp(cfg->vault.prefix, expect) != 0)
		fail_msg("prefix \"%s\" became \"%s\", expected \"%s\"", prefix,
		    cfg->vault.prefix, expect);
	config_free(cfg);
	free(json);
}

static void
test_vault_prefix(void **state)
{
	(void)state;
	prefix_is("/secret/privateer", "privateer");
	prefix_is("/secret/vimc/privateer", "vimc/privateer");
	prefix_is("privateer", "privateer");
	prefix_is("/secretive/x", "secretive/x");
	prefix_is("/secrets/privateer", "secrets/privateer");
	prefix_is("/privateer/", "privateer");
	prefix_is("vimc/privateer/", "vimc/privateer");
	prefix_is("/secret/privateer/", "privateer");
}

static void
test_vault_defaults(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("{" BASE ", 'vault': {}}");
	assert_int_equal(cfg->has_vault, 1);
	assert_null(cfg->vault.url);
	assert_string_equal(cfg->vault.mount, "secret");
	assert_string_equal(cfg->vault.prefix, "privateer");
	assert_null(cfg->vault.token);
	assert_int_equal(cfg->vault.kv_version, 0);
	assert_int_equal(cfg->store, CONFIG_STORE_VAULT);
	config_free(cfg);

	cfg = parse_ok("{" BASE ", 'vault': {'url': 'http://127.0.0.1:8200', "
	    "'mount': 'kv', 'prefix': 'fleet/privateer', "
	    "'token': '$VAULT_TOKEN', 'kv_version': 2}}");
	assert_string_equal(cfg->vault.url, "http://127.0.0.1:8200");
	assert_string_equal(cfg->vault.mount, "kv");
	assert_string_equal(cfg->vault.prefix, "fleet/privateer");
	assert_string_equal(cfg->vault.token, "$VAULT_TOKEN");
	assert_int_equal(cfg->vault.kv_version, 2);
	config_free(cfg);

	/* null is the same as absent. */
	cfg = parse_ok("{" BASE ", 'vault': null, 'keys': null, "
	    "'retention': null}");
	assert_int_equal(cfg->has_vault, 0);
	assert_int_equal(cfg->store, CONFIG_STORE_FILE);
	assert_int_equal(cfg->retention.set, 0);
	config_free(cfg);
}

static void
test_keys_store_default(void **state)
{
	struct config *cfg;

	(void)state;
	/* A vault section: keys live in Vault. */
	cfg = parse_ok("{" BASE ", " VAULT "}");
	assert_int_equal(cfg->store, CONFIG_STORE_VAULT);
	assert_null(cfg->store_path);
	config_free(cfg);
	/* None: files beside privateer.json. */
	cfg = parse_ok("{" BASE "}");
	assert_int_equal(cfg->store, CONFIG_STORE_FILE);
	assert_string_equal(cfg->store_path, BASE_DIR "/keys");
	config_free(cfg);
	/* Explicitly files, even with a vault section. */
	cfg = parse_ok("{" BASE ", " VAULT ", 'keys': {'store': 'file'}}");
	assert_int_equal(cfg->store, CONFIG_STORE_FILE);
	assert_string_equal(cfg->store_path, BASE_DIR "/keys");
	config_free(cfg);
	cfg = parse_ok("{" BASE ", " VAULT ", 'keys': {'store': 'vault'}}");
	assert_int_equal(cfg->store, CONFIG_STORE_VAULT);
	config_free(cfg);
	/* Relative to the config's directory; absolute kept. */
	cfg = parse_ok("{" BASE ", 'keys': {'store': 'file', "
	    "'path': 'secrets/keys'}}");
	assert_string_equal(cfg->store_path, BASE_DIR "/secrets/keys");
	config_free(cfg);
	cfg = parse_ok("{" BASE ", 'keys': {'store': 'file', "
	    "'path': '/var/lib/privateer/keys'}}");
	assert_string_equal(cfg->store_path, "/var/lib/privateer/keys");
	config_free(cfg);
}

static void
test_keys_store_refused(void **state)
{
	(void)state;
	refused("{" BASE ", " VAULT ", 'keys': {'store': 's3'}}", 1,
	    "keys.store: \"s3\" is not vault or file", NULL);
	refused("{" BASE ", 'keys': {'store': 'Vault'}}", 1,
	    "keys.store: \"Vault\" is not vault or file", NULL);
	refused("{" BASE ", 'keys': {'store': 'vault'}}", 1,
	    "keys.store: vault needs a \"vault\" section", NULL);
	refused("{" BASE ", 'keys': {'path': 'k'}}", 1,
	    "keys.store: missing", NULL);
	refused("{" BASE ", 'keys': {'store': 1}}", 1,
	    "keys.store: must be a string", NULL);
	refused("{" BASE ", " VAULT ", 'keys': {'store': 'vault', "
	    "'path': 'k'}}", 1, "keys.path: only for the file store", NULL);
	refused("{" BASE ", 'keys': {'store': 'file', 'path': ''}}", 1,
	    "keys.path: empty", NULL);
	refused("{" BASE ", 'keys': {'store': 'file', 'path': 7}}", 1,
	    "keys.path: must be a string", NULL);
	refused("{" BASE ", 'keys': 'file'}", 1, "keys: must be an object",
	    NULL);
}

/* config_load: relative keys.path against the file's own directory. */
static void
test_load_keys_path(void **state)
{
	char *tmp = make_tmpdir(), *sub, *path, *cause = NULL, *expect;
	char cwd[PATH_MAX];
	struct config *cfg;

	(void)state;
	sub = xasprintf("%s/etc", tmp);
	assert_int_equal(mkdir(sub, 0755), 0);
	path = xasprintf("%s/privateer.json", sub);
	write_text(path, "{\"servers\": [], \"clients\": [], \"volumes\": [], "
	    "\"keys\": {\"store\": \"file\", \"path\": \"state/keys\"}}");
	cfg = config_load(path, &cause);
	assert_non_null(cfg);
	expect = xasprintf("%s/state/keys", sub);
	assert_string_equal(cfg->store_path, expect);
	assert_string_equal(cfg->dir, sub);
	config_free(cfg);
	free(expect);

	/* Loaded through a relative path, store_path is still absolute. */
	write_text(path, "{\"servers\": [], \"clients\": [], \"volumes\": []}");
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(tmp), 0);
	cfg = config_load("etc/privateer.json", &cause);
	assert_int_equal(chdir(cwd), 0);
	if (cfg == NULL)
		fail_msg("%s", cause);
	expect = xasprintf("%s/keys", sub);
	assert_string_equal(cfg->store_path, expect);
	assert_string_equal(cfg->path, "etc/privateer.json");
	config_free(cfg);
	free(expect);

	write_text(path, "{\"servers\": [], \"clients\": [], \"volumes\": [], "
	    "\"keys\": {\"store\": \"file\", \"path\": \"/srv/keys\"}}");
	cfg = config_load(path, &cause);
	assert_non_null(cfg);
	assert_string_equal(cfg->store_path, "/srv/keys");
	config_free(cfg);

	free(path);
	free(sub);
	cleanup_tmpdir(tmp);
}

static void
test_load_errors(void **state)
{
	char *tmp = make_tmpdir(), *path, *cause = NULL, *big;
	struct config *cfg;

	(void)state;
	path = xasprintf("%s/privateer.json", tmp);
	assert_null(config_load(path, &cause));
	assert_mentions(cause, path);
	assert_mentions(cause, strerror(ENOENT));
	free(cause);

	/* Errors are prefixed with the file's name. */
	write_text(path, "{\"servers\": [{\"name\": \"alice\", \"hostname\": "
	    "\"h\", \"port\": 0}], \"clients\": [], \"volumes\": []}");
	assert_null(config_load(path, &cause));
	assert_mentions(cause, path);
	assert_mentions(cause, "servers[0].port: 0 is outside 1-65535");
	free(cause);

	/* More than 1 MiB is refused before parsing. */
	big = xmalloc(CONFIG_MAX_BYTES + 2);
	memset(big, ' ', CONFIG_MAX_BYTES + 1);
	big[0] = '{';
	big[CONFIG_MAX_BYTES] = '}';
	big[CONFIG_MAX_BYTES + 1] = '\0';
	write_text(path, big);
	assert_null(config_load(path, &cause));
	assert_mentions(cause, "larger than 1 MiB");
	free(cause);
	/* Exactly 1 MiB is read (and then judged on its content). */
	big[CONFIG_MAX_BYTES - 1] = '}';
	big[CONFIG_MAX_BYTES] = '\0';
	write_text(path, big);
	cfg = config_load(path, &cause);
	assert_null(cfg);
	assert_mentions(cause, "servers: missing");
	free(cause);
	free(big);

	free(path);
	cleanup_tmpdir(tmp);
}

static void
test_duplicate_servers(void **state)
{
	(void)state;
	valid("{'servers': [{'name': 'alice', 'hostname': 'h', 'port': 1}, "
	    "{'name': 'carol', 'hostname': 'h', 'port': 1}], "
	    CLIENTS ", " VOLUMES "}");
	refused("{'servers': [{'name': 'alice', 'hostname': 'h', 'port': 1}, "
	    "{'name': 'carol', 'hostname': 'h', 'port': 1}, "
	    "{'name': 'alice', 'hostname': 'h2', 'port': 2}], "
	    CLIENTS ", " VOLUMES "}", 1,
	    "servers[2].name: \"alice\" is also servers[0]", NULL);
}

static void
test_duplicate_clients(void **state)
{
	(void)state;
	valid("{" SERVERS ", 'clients': [{'name': 'bob'}, {'name': 'dan'}], "
	    VOLUMES "}");
	refused("{" SERVERS ", 'clients': [{'name': 'bob'}, {'name': 'bob'}], "
	    VOLUMES "}", 1, "clients[1].name: \"bob\" is also clients[0]",
	    NULL);
}

static void
test_client_and_server(void **state)
{
	(void)state;
	refused("{" SERVERS ", 'clients': [{'name': 'bob'}, "
	    "{'name': 'alice'}], " VOLUMES "}", 1,
	    "clients[1].name: \"alice\" is also a server (servers[0])", NULL);
}

static void
test_backup_not_in_volumes(void **state)
{
	(void)state;
	valid("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data']}], " VOLUMES "}");
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data', 'x']}], " VOLUMES "}", 1,
	    "clients[0].backup[1]: volume \"x\" is not in volumes", NULL);
}

static void
test_backup_local(void **state)
{
	(void)state;
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data', 'scratch']}], " VOLUMES "}", 1,
	    "clients[0].backup[1]: volume \"scratch\" is local", NULL);
	/* "local": false is the default, and explicit false is fine. */
	valid("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data']}], 'volumes': [{'name': 'data', 'local': false}]}");
}

static void
test_backup_twice(void **state)
{
	(void)state;
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data', 'data']}], " VOLUMES "}", 1,
	    "clients[0].backup[1]: volume \"data\" is listed twice", NULL);
	/* Two clients may back up the same volume. */
	valid("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data']}, {'name': 'dan', 'backup': ['data']}], " VOLUMES "}");
}

static void
test_duplicate_volumes(void **state)
{
	(void)state;
	refused("{" SERVERS ", " CLIENTS ", 'volumes': [{'name': 'data'}, "
	    "{'name': 'data', 'local': true}]}", 1,
	    "volumes[1].name: \"data\" is also volumes[0]", NULL);
}

static void
test_job_unknown_server(void **state)
{
	(void)state;
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'alice', 'volume': "
	    "'data', 'schedule': '@daily'}, {'server': 'zoe', 'volume': "
	    "'data', 'schedule': '@daily'}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[1].server: \"zoe\" is not in servers",
	    NULL);
	/* A client is not a server. */
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'bob', 'volume': "
	    "'data', 'schedule': '@daily'}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].server: \"bob\" is not in servers",
	    NULL);
}

static void
test_job_volume_not_backed_up(void **state)
{
	(void)state;
	/* In volumes, and backed up by another client, but not by bob. */
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'alice', 'volume': "
	    "'other', 'schedule': '@daily'}]}}, {'name': 'dan', 'backup': "
	    "['other']}], 'volumes': [{'name': 'data'}, {'name': 'other'}]}",
	    1, "clients[0].schedule.jobs[0].volume: \"other\" is not in this "
	    "client's backup list", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'schedule': "
	    "{'jobs': [{'server': 'alice', 'volume': 'data', "
	    "'schedule': '@daily'}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].volume: \"data\" is not in this "
	    "client's backup list", NULL);
}

static void
test_job_cron(void **state)
{
	static const char *const good[] = { "@daily", "@hourly", "*/15 * * * *",
	    "0 3 * * mon-fri", "30 2 1,15 * *" };
	char *json;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof *good; i++) {
		json = xasprintf("{" SERVERS ", 'clients': [{'name': 'bob', "
		    "'backup': ['data'], 'schedule': {'jobs': [{'server': "
		    "'alice', 'volume': 'data', 'schedule': '%s'}]}}], "
		    VOLUMES "}", good[i]);
		valid(json);
		free(json);
	}
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'alice', 'volume': "
	    "'data', 'schedule': '61 * * * *'}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].schedule: ", "\"61\"", "minute",
	    NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'alice', 'volume': "
	    "'data', 'schedule': '@often'}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].schedule: ", "\"@often\"", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'alice', 'volume': "
	    "'data', 'schedule': '* * *'}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].schedule: ", "\"* * *\"", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'alice', 'volume': "
	    "'data', 'schedule': ''}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].schedule: ", "empty", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'alice', 'volume': "
	    "'data'}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].schedule: missing", NULL);
}

static void
port_refused(const char *port, const char *needle)
{
	char *json;

	json = xasprintf("{'servers': [{'name': 'alice', "
	    "'hostname': 'h'%s%s}], 'clients': [], 'volumes': []}",
	    port != NULL ? ", 'port': " : "", port != NULL ? port : "");
	refused(json, 1, needle, NULL);
	free(json);
}

static void
test_ports(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("{'servers': [{'name': 'a', 'hostname': 'h', "
	    "'port': 1}, {'name': 'b', 'hostname': 'h', 'port': 65535}], "
	    "'clients': [], 'volumes': []}");
	assert_int_equal(cfg->servers[0].port, 1);
	assert_int_equal(cfg->servers[1].port, 65535);
	config_free(cfg);
	port_refused("0", "servers[0].port: 0 is outside 1-65535");
	port_refused("65536", "servers[0].port: 65536 is outside 1-65535");
	port_refused("-22", "servers[0].port: -22 is outside 1-65535");
	port_refused("4294967318",
	    "servers[0].port: 4294967318 is outside 1-65535");
	port_refused("'10022'", "servers[0].port: must be an integer");
	port_refused("22.0", "servers[0].port: must be an integer");
	port_refused("true", "servers[0].port: must be an integer");
	port_refused(NULL, "servers[0].port: missing");
	port_refused("null", "servers[0].port: missing");
}

static void
test_hostnames(void **state)
{
	(void)state;
	valid("{'servers': [{'name': 'a', 'hostname': '10.0.0.1', 'port': 1}, "
	    "{'name': 'b', 'hostname': 'backup-1.example.org', 'port': 1}], "
	    "'clients': [], 'volumes': []}");
	refused("{'servers': [{'name': 'a', 'hostname': 'two words', "
	    "'port': 1}], 'clients': [], 'volumes': []}", 1,
	    "servers[0].hostname: \"two words\" is not a host name", NULL);
	refused("{'servers': [{'name': 'a', 'hostname': 'root@h', "
	    "'port': 1}], 'clients': [], 'volumes': []}", 1,
	    "servers[0].hostname: \"root@h\" is not a host name", NULL);
	refused("{'servers': [{'name': 'a', 'hostname': '', 'port': 1}], "
	    "'clients': [], 'volumes': []}", 1,
	    "servers[0].hostname: \"\" is not a host name", NULL);
	refused("{'servers': [{'name': 'a', 'port': 1}], 'clients': [], "
	    "'volumes': []}", 1, "servers[0].hostname: missing", NULL);
}

/*
 * name (a machine or volume name) must be refused wherever names appear,
 * with a message naming the field and containing needle.
 */
static void
name_refused(const char *name, const char *needle)
{
	char *json;

	json = xasprintf("{'servers': [{'name': '%s', 'hostname': 'h', "
	    "'port': 1}], 'clients': [], 'volumes': []}", name);
	refused(json, 1, "servers[0].name: server name ", needle, NULL);
	free(json);

	json = xasprintf("{'servers': [], 'clients': [{'name': '%s'}], "
	    "'volumes': []}", name);
	refused(json, 1, "clients[0].name: client name ", needle, NULL);
	free(json);

	json = xasprintf("{'servers': [], 'clients': [], 'volumes': "
	    "[{'name': 'ok'}, {'name': '%s'}]}", name);
	refused(json, 1, "volumes[1].name: volume name ", needle, NULL);
	free(json);

	json = xasprintf("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': '%s', 'volume': "
	    "'data', 'schedule': '@daily'}]}}], " VOLUMES "}", name);
	refused(json, 1, "clients[0].schedule.jobs[0].server: server name ",
	    needle, NULL);
	free(json);
}

static void
test_names(void **state)
{
	char long_name[NAME_SAFE_MAX + 2];
	char *json;

	(void)state;
	valid("{'servers': [{'name': 'a', 'hostname': 'h', 'port': 1}, "
	    "{'name': 'Backup-2.east_1', 'hostname': 'h', 'port': 1}], "
	    "'clients': [{'name': '0bob'}], 'volumes': [{'name': 'x.y-z_0'}]}");
	name_refused("a/b", "contains '/'");
	name_refused("..", "must start with a letter or digit");
	name_refused(".x", "must start with a letter or digit");
	name_refused("-x", "must start with a letter or digit");
	name_refused("a b", "contains ' '");
	name_refused("", "is empty");
	memset(long_name, 'n', NAME_SAFE_MAX + 1);
	long_name[NAME_SAFE_MAX + 1] = '\0';
	name_refused(long_name, "is 65 characters long (at most 64)");
	/* 64 is fine. */
	long_name[NAME_SAFE_MAX] = '\0';
	json = xasprintf("{'servers': [{'name': '%s', 'hostname': 'h', "
	    "'port': 1}], 'clients': [], 'volumes': []}", long_name);
	valid(json);
	free(json);
	refused("{'servers': [{'name': 7, 'hostname': 'h', 'port': 1}], "
	    "'clients': [], 'volumes': []}", 1,
	    "servers[0].name: must be a string", NULL);
	refused("{'servers': [{'hostname': 'h', 'port': 1}], "
	    "'clients': [], 'volumes': []}", 1, "servers[0].name: missing",
	    NULL);
	refused("{'servers': [], 'clients': [{'name': 'bob', "
	    "'backup': ['x']}], 'volumes': [{'name': 'x', 'local': 'yes'}]}", 1,
	    "volumes[0].local: must be true or false", NULL);
}

static void
test_missing_arrays(void **state)
{
	(void)state;
	refused("{}", 3, "servers: missing", "clients: missing",
	    "volumes: missing", NULL);
	refused("{" CLIENTS ", " VOLUMES "}", 0, "servers: missing", NULL);
	refused("{" SERVERS ", " VOLUMES "}", 1, "clients: missing", NULL);
	refused("{" SERVERS ", " CLIENTS "}", 0, "volumes: missing", NULL);
	refused("{'servers': null, 'clients': [], 'volumes': []}", 1,
	    "servers: missing", NULL);
	/* Empty arrays are allowed: a fleet being set up. */
	valid("{'servers': [], 'clients': [], 'volumes': []}");
}

static void
test_wrong_types(void **state)
{
	(void)state;
	refused("{'servers': 'alice', 'clients': [], 'volumes': []}", 1,
	    "servers: must be an array", NULL);
	refused("{'servers': [], 'clients': {}, 'volumes': []}", 1,
	    "clients: must be an array", NULL);
	refused("{'servers': [], 'clients': [], 'volumes': 3}", 1,
	    "volumes: must be an array", NULL);
	refused("{'servers': ['alice'], 'clients': [], 'volumes': []}", 1,
	    "servers[0]: must be an object", NULL);
	refused("{'servers': [], 'clients': [{'name': 'bob'}, 2], "
	    "'volumes': []}", 1, "clients[1]: must be an object", NULL);
	refused("{'servers': [], 'clients': [], 'volumes': ['data']}", 1,
	    "volumes[0]: must be an object", NULL);
	refused("{'servers': [{'name': 'alice', 'hostname': ['h'], "
	    "'port': 1}], 'clients': [], 'volumes': []}", 1,
	    "servers[0].hostname: must be a string", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "'data'}], " VOLUMES "}", 1, "clients[0].backup: must be an array",
	    NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data', 5]}], " VOLUMES "}", 1,
	    "clients[0].backup[1]: must be a string", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'schedule': "
	    "[]}], " VOLUMES "}", 1, "clients[0].schedule: must be an object",
	    NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'schedule': "
	    "{}}], " VOLUMES "}", 1, "clients[0].schedule.jobs: missing",
	    NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'schedule': "
	    "{'jobs': {}}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs: must be an array", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'schedule': "
	    "{'jobs': ['@daily']}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0]: must be an object", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': 'alice', 'volume': "
	    "'data', 'schedule': 5}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].schedule: must be a string", NULL);
	refused("{" SERVERS ", 'clients': [{'name': 'bob', 'backup': "
	    "['data'], 'schedule': {'jobs': [{'server': ['alice'], 'volume': "
	    "'data', 'schedule': '@daily'}]}}], " VOLUMES "}", 1,
	    "clients[0].schedule.jobs[0].server: must be a string", NULL);
	refused("{" BASE ", 'vault': 'https://vault'}", 1,
	    "vault: must be an object", NULL);
	refused("{" BASE ", 'vault': {'url': 8200}}", 1,
	    "vault.url: must be a string", NULL);
	refused("{" BASE ", 'vault': {'prefix': ['a']}}", 1,
	    "vault.prefix: must be a string", NULL);
	refused("{" BASE ", 'vault': {'token': 1}}", 1,
	    "vault.token: must be a string", NULL);
	refused("{" BASE ", 'vault': {'kv_version': '2'}}", 1,
	    "vault.kv_version: must be an integer", NULL);
	refused("{" BASE ", 'retention': [24, 7]}", 1,
	    "retention: must be an object", NULL);
}

static void
test_vault_url(void **state)
{
	(void)state;
	valid("{" BASE ", 'vault': {'url': 'http://127.0.0.1:8200'}}");
	valid("{" BASE ", 'vault': {'url': 'https://vault.example.com'}}");
	refused("{" BASE ", 'vault': {'url': 'ftp://vault.example.com'}}", 1,
	    "vault.url: \"ftp://vault.example.com\" is not an http:// or "
	    "https:// URL", NULL);
	refused("{" BASE ", 'vault': {'url': 'vault.example.com:8200'}}", 1,
	    "vault.url: \"vault.example.com:8200\"", NULL);
	refused("{" BASE ", 'vault': {'url': ''}}", 1, "vault.url: \"\"",
	    NULL);
}

static void
test_vault_kv_version(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("{" BASE ", 'vault': {'kv_version': 1}}");
	assert_int_equal(cfg->vault.kv_version, 1);
	config_free(cfg);
	refused("{" BASE ", 'vault': {'kv_version': 3}}", 1,
	    "vault.kv_version: 3 is outside 1-2", NULL);
	refused("{" BASE ", 'vault': {'kv_version': 2.0}}", 1,
	    "vault.kv_version: must be an integer", NULL);
}

static void
test_vault_mount_and_prefix_refused(void **state)
{
	(void)state;
	refused("{" BASE ", 'vault': {'mount': 'a/b'}}", 1,
	    "vault.mount: \"a/b\" is not a mount name", NULL);
	refused("{" BASE ", 'vault': {'mount': ''}}", 1,
	    "vault.mount: \"\" is not a mount name", NULL);
	refused("{" BASE ", 'vault': {'prefix': '/secret/../sys'}}", 1,
	    "vault.prefix: \"/secret/../sys\" is not a plain path", NULL);
	refused("{" BASE ", 'vault': {'prefix': 'a?b'}}", 1,
	    "vault.prefix: \"a?b\" is not a plain path", NULL);
}

static void
test_retention(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("{" BASE ", 'retention': {'daily': 7}}");
	assert_int_equal(cfg->retention.set, 1);
	assert_int_equal(cfg->retention.daily, 7);
	assert_int_equal(cfg->retention.hourly, 0);
	assert_int_equal(cfg->retention.monthly, 0);
	config_free(cfg);
	cfg = parse_ok("{" BASE ", 'retention': {'hourly': 0, 'daily': 0, "
	    "'weekly': 0, 'monthly': 100000}}");
	assert_int_equal(cfg->retention.set, 1);
	assert_int_equal(cfg->retention.monthly, 100000);
	config_free(cfg);
	refused("{" BASE ", 'retention': {'hourly': -1}}", 1,
	    "retention.hourly: -1 is outside 0-100000", NULL);
	refused("{" BASE ", 'retention': {'daily': 1.5}}", 1,
	    "retention.daily: must be an integer", NULL);
	refused("{" BASE ", 'retention': {'weekly': '4'}}", 1,
	    "retention.weekly: must be an integer", NULL);
	refused("{" BASE ", 'retention': {'monthly': 100001}}", 1,
	    "retention.monthly: 100001 is outside 0-100000", NULL);
	cfg = parse_ok("{" BASE ", 'retention': {'last': 5, 'daily': 7}}");
	assert_int_equal(cfg->retention.last, 5);
	assert_int_equal(cfg->retention.daily, 7);
	config_free(cfg);
	refused("{" BASE ", 'retention': {'last': -2}}", 1,
	    "retention.last: -2 is outside 0-100000", NULL);
	/* A typo must never become "keep only the latest". */
	refused("{" BASE ", 'retention': {'hourley': 24}}", 1,
	    "retention.hourley: unknown (known: last, hourly, daily, weekly, "
	    "monthly)", NULL);
	refused("{" BASE ", 'retention': {'daily': 7, 'keep-last': 3}}", 1,
	    "retention.keep-last: unknown", NULL);
}

static void
test_store(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("{" BASE "}");
	assert_int_equal(cfg->snapstore.compress, 1);
	config_free(cfg);
	cfg = parse_ok("{" BASE ", 'store': {'compression': 'none'}}");
	assert_int_equal(cfg->snapstore.compress, 0);
	config_free(cfg);
	cfg = parse_ok("{" BASE ", 'store': {'compression': 'zstd'}}");
	assert_int_equal(cfg->snapstore.compress, 1);
	config_free(cfg);
	refused("{" BASE ", 'store': {'compression': 'lzo'}}", 1,
	    "store.compression: \"lzo\" is not zstd or none", NULL);
	refused("{" BASE ", 'store': 'btrfs'}", 1, "store: must be an object",
	    NULL);
}

static void
test_malformed_json(void **state)
{
	(void)state;
	refused("{\n  'servers': [\n  }\n", 1, "line 3 column 3",
	    "unexpected token", NULL);
	refused("{'servers': [], 'clients': [], 'volumes': []", 1, "line 1",
	    "column", NULL);
	refused("", 1, "line 1 column 0", NULL);
	refused("{'servers': [], 'clients': [], 'volumes': [],}", 1, "line 1",
	    NULL);
}

static void
test_not_object(void **state)
{
	(void)state;
	refused("[]", 1, "must be a JSON object", NULL);
	refused("[" BASE "]", 0, NULL);
	refused("'privateer'", 1, "line 1", NULL);
	refused("42", 1, "line 1", NULL);
}

static void
test_duplicate_keys(void **state)
{
	(void)state;
	refused("{'servers': [], 'servers': [], 'clients': [], "
	    "'volumes': []}", 1, "duplicate object key", "line 1", NULL);
	refused("{'servers': [{'name': 'alice', 'hostname': 'h', 'port': 1, "
	    "'port': 2}], 'clients': [], 'volumes': []}", 1,
	    "duplicate object key", NULL);
}

/* Three independent errors, three lines. */
static void
test_all_errors_at_once(void **state)
{
	(void)state;
	refused("{'servers': [{'name': 'alice', 'hostname': 'h', "
	    "'port': 0}], 'clients': [{'name': 'bob', 'backup': ['x']}], "
	    "'volumes': [], 'vault': {'url': 'ftp://v'}}", 3,
	    "servers[0].port: 0 is outside 1-65535",
	    "clients[0].backup[0]: volume \"x\" is not in volumes",
	    "vault.url: \"ftp://v\" is not an http:// or https:// URL", NULL);
	/* And across kinds: type, name, cross-reference, retention. */
	refused("{'servers': 'alice', 'clients': [{'name': '../x'}, "
	    "{'name': 'bob', 'backup': ['data', 'data']}], " VOLUMES ", "
	    "'retention': {'daily': -7}}", 4,
	    "servers: must be an array",
	    "clients[0].name: client name ", "contains '/'",
	    "clients[1].backup[1]: volume \"data\" is listed twice",
	    "retention.daily: -7 is outside", NULL);
}

/*
 * The cause holds one error per line (config.h), so an offending value
 * with a newline in it must not add a line: a crafted value could
 * otherwise forge errors in logs and in Docker's Err field.
 */
static void
test_error_values_one_line(void **state)
{
	static const char *const docs[] = {
		"{" BASE ", 'vault': {'url': 'ftp://v\\nforged: error'}}",
		"{" BASE ", 'vault': {'mount': 'a/b\\nforged: error'}}",
		"{" BASE ", 'vault': {'prefix': 'a?\\nforged: error'}}",
		"{" BASE ", 'keys': {'store': 's3\\nforged: error'}}",
		"{'servers': [{'name': 'a', 'hostname': 'h\\nforged: error', "
		    "'port': 1}], 'clients': [], 'volumes': []}",
		"{" SERVERS ", 'clients': [{'name': 'bob', 'backup': ['data'], "
		    "'schedule': {'jobs': [{'server': 'alice', "
		    "'volume': 'data', 'schedule': '@x\\nforged: error'}]}}], "
		    VOLUMES "}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof docs / sizeof *docs; i++)
		refused(docs[i], 1, NULL);
}

static void
test_identity_as(void **state)
{
	char *tmp = make_tmpdir(), *path, *name, *cause = NULL;

	(void)state;
	path = xasprintf("%s/" CONFIG_IDENTITY_FILE, tmp);
	write_text(path, "alice\n");
	/* --as wins over the file. */
	name = config_identity(tmp, "bob", &cause);
	assert_non_null(name);
	assert_string_equal(name, "bob");
	free(name);
	/* An empty --as is no --as. */
	name = config_identity(tmp, "", &cause);
	assert_non_null(name);
	assert_string_equal(name, "alice");
	free(name);
	/* An unsafe --as is refused, file or no file. */
	assert_null(config_identity(tmp, "../bob", &cause));
	assert_mentions(cause, "machine name");
	assert_mentions(cause, "contains '/'");
	free(cause);
	free(path);
	cleanup_tmpdir(tmp);
}

static void
identity_file_is(const char *dir, const char *path, const char *text,
    const char *expect)
{
	char *name, *cause = NULL;

	write_text(path, text);
	name = config_identity(dir, NULL, &cause);
	if (name == NULL)
		fail_msg("identity file \"%s\" refused: %s", text, cause);
	assert_string_equal(name, expect);
	free(name);
}

static void
identity_file_refused(const char *dir, const char *path, const char *text,
    const char *needle)
{
	char *cause = NULL;

	write_text(path, text);
	if (config_identity(dir, NULL, &cause) != NULL)
		fail_msg("identity file \"%s\" accepted", text);
	assert_mentions(cause, path);
	assert_mentions(cause, needle);
	free(cause);
}

static void
test_identity_file(void **state)
{
	char *tmp = make_tmpdir(), *path, *cause = NULL;

	(void)state;
	path = xasprintf("%s/" CONFIG_IDENTITY_FILE, tmp);
	identity_file_is(tmp, path, "alice\n", "alice");
	identity_file_is(tmp, path, "alice", "alice");
	identity_file_is(tmp, path, "alice\r\n", "alice");
	identity_file_is(tmp, path, "alice\nbob\n", "alice");
	identity_file_refused(tmp, path, "", "is empty");
	identity_file_refused(tmp, path, "\nalice\n", "is empty");
	identity_file_refused(tmp, path, "../alice\n", "contains '/'");
	identity_file_refused(tmp, path, "alice smith\n", "contains ' '");

	/* No file: say how to name the machine. */
	assert_int_equal(unlink(path), 0);
	assert_null(config_identity(tmp, NULL, &cause));
	assert_mentions(cause, "--as");
	assert_mentions(cause, path);
	free(cause);
	free(path);
	cleanup_tmpdir(tmp);
}

static void
test_check_identity_and_role(void **state)
{
	struct config *cfg;
	char *cause = NULL;

	(void)state;
	cfg = parse_ok("{'servers': [{'name': 'alice', 'hostname': 'h', "
	    "'port': 1}, {'name': 'carol', 'hostname': 'h', 'port': 1}], "
	    "'clients': [{'name': 'bob'}, {'name': 'dan'}], 'volumes': "
	    "[{'name': 'data'}]}");
	assert_int_equal(config_check_identity(cfg, "alice", &cause), 0);
	assert_int_equal(config_check_identity(cfg, "dan", &cause), 0);
	assert_null(cause);
	assert_int_equal(config_check_identity(cfg, "zoe", &cause), -1);
	assert_mentions(cause, "\"zoe\" is neither a server nor a client");
	assert_mentions(cause, "machines: alice, carol, bob, dan");
	free(cause);
	cause = NULL;

	assert_int_equal(config_role(cfg, "alice"), CONFIG_ROLE_SERVER);
	assert_int_equal(config_role(cfg, "carol"), CONFIG_ROLE_SERVER);
	assert_int_equal(config_role(cfg, "bob"), CONFIG_ROLE_CLIENT);
	assert_int_equal(config_role(cfg, "dan"), CONFIG_ROLE_CLIENT);
	assert_int_equal(config_role(cfg, "zoe"), CONFIG_ROLE_NONE);
	assert_int_equal(config_role(cfg, "data"), CONFIG_ROLE_NONE);
	assert_int_equal(config_role(cfg, ""), CONFIG_ROLE_NONE);

	assert_ptr_equal(config_server(cfg, "carol"), &cfg->servers[1]);
	assert_null(config_server(cfg, "bob"));
	assert_ptr_equal(config_client(cfg, "dan"), &cfg->clients[1]);
	assert_null(config_client(cfg, "alice"));
	assert_ptr_equal(config_volume(cfg, "data"), &cfg->volumes[0]);
	assert_null(config_volume(cfg, "alice"));
	config_free(cfg);

	/* The file's name appears when the config came from a file. */
	cfg = load_example("privateer.json");
	assert_int_equal(config_check_identity(cfg, "zoe", &cause), -1);
	assert_mentions(cause, cfg->path);
	assert_mentions(cause, "machines: alice, bob, carol");
	free(cause);
	config_free(cfg);
	config_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples_all_load),
		cmocka_unit_test(test_example_privateer),
		cmocka_unit_test(test_example_simple),
		cmocka_unit_test(test_example_local),
		cmocka_unit_test(test_example_complex),
		cmocka_unit_test(test_example_schedule),
		cmocka_unit_test(test_example_multi_server),
		cmocka_unit_test(test_base_document),
		cmocka_unit_test(test_privateer2_fields),
		cmocka_unit_test(test_unknown_fields_warn),
		cmocka_unit_test(test_vault_prefix),
		cmocka_unit_test(test_vault_defaults),
		cmocka_unit_test(test_keys_store_default),
		cmocka_unit_test(test_keys_store_refused),
		cmocka_unit_test(test_load_keys_path),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_duplicate_servers),
		cmocka_unit_test(test_duplicate_clients),
		cmocka_unit_test(test_client_and_server),
		cmocka_unit_test(test_backup_not_in_volumes),
		cmocka_unit_test(test_backup_local),
		cmocka_unit_test(test_backup_twice),
		cmocka_unit_test(test_duplicate_volumes),
		cmocka_unit_test(test_job_unknown_server),
		cmocka_unit_test(test_job_volume_not_backed_up),
		cmocka_unit_test(test_job_cron),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_hostnames),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_missing_arrays),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_vault_url),
		cmocka_unit_test(test_vault_kv_version),
		cmocka_unit_test(test_vault_mount_and_prefix_refused),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_all_errors_at_once),
		cmocka_unit_test(test_error_values_one_line),
		cmocka_unit_test(test_identity_as),
		cmocka_unit_test(test_identity_file),
		cmocka_unit_test(test_check_identity_and_role),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
