/*
 * config: privateer.json — the fleet (servers, clients, volumes), where the
 * keys live (vault or file), the retention policy, notification targets
 * and the verify schedule (config_notify.c) — loaded with jansson
 * into typed structures and validated as PRODUCT.md §2 says. privateer2's
 * files load unchanged: its helper-container fields are accepted and
 * ignored, and a leading "/secret" is stripped from vault.prefix as
 * privateer2 did (its Vault client assumed the mount "secret").
 */
#ifndef PRIVATEER_CONFIG_H
#define PRIVATEER_CONFIG_H

#include <stddef.h>

#include "cron.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_FILE "privateer.json"
#define CONFIG_IDENTITY_FILE ".privateer_identity"

struct config_server {
	char *name;
	char *hostname;
	int port;
};

struct config_job {
	char *server;
	char *volume;
	char *schedule;
	struct cron cron;
};

struct config_client {
	char *name;
	char **backup;
	size_t nbackup;
	struct config_job *jobs;
	size_t njobs;
};

struct config_volume {
	char *name;
	int local;
	long long max_age;	/* seconds; 0 when not given */
};

/* What a notification is about (PRODUCT.md §11); bits of events. */
#define CONFIG_EV_FAILURE	0x01
#define CONFIG_EV_RECOVERY	0x02
#define CONFIG_EV_STALE		0x04
#define CONFIG_EV_VERIFY	0x08
#define CONFIG_EV_SUCCESS	0x10
#define CONFIG_EV_DEFAULT	(CONFIG_EV_FAILURE | CONFIG_EV_RECOVERY | \
				 CONFIG_EV_STALE | CONFIG_EV_VERIFY)

/*
 * A "notify" target. url and password as written: a literal, "$ENVVAR" or
 * a key store reference "secret:NAME#FIELD" (config_secret_ref).
 */
struct config_notify {
	char *type;		/* "webhook", "email" or "ping" */
	char *url;
	char *format;		/* webhook: "json" or "slack" */
	char *from;		/* email */
	char **to;
	size_t nto;
	char *user;
	char *password;
	unsigned events;	/* CONFIG_EV_* */
};

enum config_store { CONFIG_STORE_VAULT, CONFIG_STORE_FILE };

struct config_vault {
	char *url;		/* NULL if not given */
	char *mount;		/* KV mount, default "secret" */
	char *prefix;		/* path under the mount, no leading/trailing '/' */
	char *token;		/* as written: a literal or "$ENVVAR"; may be NULL */
	int kv_version;		/* 1, 2, or 0 to detect from the mount */
};

struct config_retention {
	int last;				/* the newest N */
	int hourly, daily, weekly, monthly;	/* 0 = keep none of that kind */
	int set;				/* 0 when absent: keep all */
};

/* "store": how a server keeps snapshots (not the key store). */
struct config_snapstore {
	int compress;		/* btrfs: zstd on new snapshots (default) */
};

struct config {
	char *path;		/* the file loaded */
	char *dir;		/* its directory: base for relative paths */
	struct config_server *servers;
	size_t nservers;
	struct config_client *clients;
	size_t nclients;
	struct config_volume *volumes;
	size_t nvolumes;
	int has_vault;
	struct config_vault vault;
	enum config_store store;
	char *store_path;	/* file store directory, absolute */
	struct config_retention retention;
	struct config_snapstore snapstore;
	struct config_notify *notify;
	size_t nnotify;
	char *verify_schedule;	/* "verify": {"schedule"}; NULL if none */
	struct cron verify_cron;
	char **warnings;	/* unknown fields, ignored */
	size_t nwarnings;
};

enum config_role { CONFIG_ROLE_NONE, CONFIG_ROLE_SERVER, CONFIG_ROLE_CLIENT };

/*
 * Parses and validates a document; dir is the base for relative paths.
 * NULL with *cause (caller frees) holding every error, one per line, each
 * naming the field path and the offending value.
 */
struct config *config_parse(const char *text, size_t len, const char *dir,
    char **cause);
/* Reads path (at most CONFIG_MAX_BYTES) and parses it. */
struct config *config_load(const char *path, char **cause);
void config_free(struct config *);

const struct config_server *config_server(const struct config *,
    const char *name);
const struct config_client *config_client(const struct config *,
    const char *name);
const struct config_volume *config_volume(const struct config *,
    const char *name);
/* The bit of an event name ("failure"...), or 0. */
unsigned config_event_bit(const char *name);
/* The name of one CONFIG_EV_* bit. */
const char *config_event_name(unsigned bit);
/* A notify target's field that names a secret in the key store. */
#define CONFIG_SECRET_PREFIX	"secret:"
/*
 * Whether s is a key store reference, "secret:NAME#FIELD" or "secret:NAME"
 * (field dflt): 1, with copies in *name and *field if they are not NULL
 * (caller frees); 0 when s is not a reference; -1 when it starts with
 * "secret:" but NAME (segments of [A-Za-z0-9._-] joined by '/', no "." or
 * "..") or FIELD ([A-Za-z0-9._-]) is not valid.
 */
int config_secret_ref(const char *s, const char *dflt, char **name,
    char **field);

enum config_role config_role(const struct config *, const char *name);
/*
 * This machine's name for the CLI: as_name if given, else the first line of
 * .privateer_identity in dir. NULL with *cause if neither; caller frees.
 */
char *config_identity(const char *dir, const char *as_name, char **cause);
/* Checks that name is a server or client of cfg; -1 with *cause if not. */
int config_check_identity(const struct config *, const char *name,
    char **cause);

#endif
