/*
 * log: one event per line on stderr (the Docker daemon's log for a managed
 * plugin), with a level filter from PRIVATEER_LOG_LEVEL. Never give it a
 * secret.
 */
#ifndef PRIVATEER_LOG_H
#define PRIVATEER_LOG_H

#include "util.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the threshold from a name (error, warn, info, debug); -1 if unknown. */
int log_set_level(const char *name);
void log_msg(enum log_level, const char *fmt, ...) PRINTFLIKE(2, 3);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
