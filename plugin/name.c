/*
 * name: every name that ends up in a path is checked here, so no caller
 * builds a path from something that could be "..", contain "/", or hide a
 * control character in a log line.
 */
#include "name.h"

#include <string.h>

#include "util.h"

static int
name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static int
name_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
name_check(const char *what, const char *name, size_t max, int no_dotdot,
    char **cause)
{
	size_t i, len;
	unsigned char c;

	if (name == NULL || *name == '\0') {
		set_cause(cause, "%s is empty", what);
		return -1;
	}
	len = strlen(name);
	if (len > max) {
		set_cause(cause, "%s is %zu characters long (at most %zu)",
		    what, len, max);
		return -1;
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f) {
			set_cause(cause, "%s contains a control character "
			    "(0x%02x) at position %zu", what, c, i + 1);
			return -1;
		}
		if (!name_char_ok(c)) {
			if (c < 0x80)
				set_cause(cause, "%s \"%s\" contains '%c'; "
				    "allowed are letters, digits, '_', '.' and "
				    "'-'", what, name, c);
			else
				set_cause(cause, "%s contains the non-ASCII "
				    "byte 0x%02x at position %zu; allowed are "
				    "letters, digits, '_', '.' and '-'", what, c,
				    i + 1);
			return -1;
		}
	}
	if (!name_alnum((unsigned char)name[0])) {
		set_cause(cause, "%s \"%s\" must start with a letter or digit",
		    what, name);
		return -1;
	}
	if (no_dotdot && strstr(name, "..") != NULL) {
		set_cause(cause, "%s \"%s\" contains \"..\"", what, name);
		return -1;
	}
	return 0;
}

int
name_volume_check(const char *name, char **cause)
{
	return name_check("volume name", name, NAME_VOLUME_MAX, 1, cause);
}

int
name_safe_check(const char *what, const char *name, char **cause)
{
	return name_check(what, name, NAME_SAFE_MAX, 0, cause);
}
