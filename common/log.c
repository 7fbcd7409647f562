/*
 * log: formats a whole line first and writes it with one write(2), so lines
 * from concurrent request threads never interleave.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level log_threshold = LOG_INFO;
static const char *const log_names[] = { "error", "warn", "info", "debug" };

int
log_set_level(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
		if (strcmp(name, log_names[i]) == 0) {
			log_threshold = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n, m;
	size_t i, len;

	if (level > log_threshold)
		return;
	n = snprintf(line, sizeof line, "%s: ", log_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	len = (size_t)n + (size_t)m;
	if (len > sizeof line - 1)
		len = sizeof line - 1;
	/* One event per line: control characters from causes become spaces. */
	for (i = (size_t)n; i < len; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	}
	line[len++] = '\n';
	(void)write_all(STDERR_FILENO, line, len);
}
