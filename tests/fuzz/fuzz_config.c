/*
 * fuzz_config: privateer.json through config_parse, as config_load would
 * pass it (at most CONFIG_MAX_BYTES; the text needs no NUL). The base
 * directory for relative paths is a fixed absolute one, so nothing is
 * looked up on disk. On success the lookups run over what was parsed
 * (config_server, config_client, config_volume, config_role) and every
 * name in the result is checked again as a path component.
 */
#include "config.h"
#include "fuzz.h"
#include "name.h"

static void
fuzz_config_name(const char *what, const char *name)
{
	char *cause = NULL;

	if (name == NULL || name_safe_check(what, name, &cause) != 0) {
		fprintf(stderr, "config_parse accepted %s \"%s\": %s\n", what,
		    name != NULL ? name : "(null)",
		    cause != NULL ? cause : "");
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char *cause = NULL;
	size_t i, j;

	if (size > CONFIG_MAX_BYTES)
		return 0;
	cfg = config_parse((const char *)data, size, "/etc/privateer",
	    &cause);
	fuzz_check_cause("config_parse", cfg != NULL ? 0 : -1, &cause);
	if (cfg == NULL)
		return 0;
	for (i = 0; i < cfg->nservers; i++) {
		fuzz_config_name("server", cfg->servers[i].name);
		if (config_server(cfg, cfg->servers[i].name) == NULL ||
		    config_role(cfg, cfg->servers[i].name) ==
		    CONFIG_ROLE_NONE)
			abort();
		if (cfg->servers[i].port < 1 || cfg->servers[i].port > 65535)
			abort();
	}
	for (i = 0; i < cfg->nclients; i++) {
		fuzz_config_name("client", cfg->clients[i].name);
		if (config_client(cfg, cfg->clients[i].name) == NULL)
			abort();
		for (j = 0; j < cfg->clients[i].nbackup; j++)
			if (cfg->clients[i].backup[j] == NULL)
				abort();
		(void)config_check_identity(cfg, cfg->clients[i].name,
		    &cause);
		free(cause);
		cause = NULL;
	}
	for (i = 0; i < cfg->nvolumes; i++) {
		fuzz_config_name("volume", cfg->volumes[i].name);
		if (config_volume(cfg, cfg->volumes[i].name) == NULL)
			abort();
	}
	(void)config_role(cfg, "nobody-at-all");
	config_free(cfg);
	return 0;
}
