/*
 * test_name: name_volume_check and name_safe_check, the gate every name
 * passes before it becomes a path component. Accepted are names of one
 * character, Docker's 64-hex-digit anonymous names and names at the length
 * limits; refused are empty and NULL names, '/', "..", a leading '.', '-' or
 * '_', control characters, over-long names, spaces and non-ASCII, each with
 * a cause that says what is wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "util.h"

/* A string of n copies of c; caller frees. */
static char *
repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
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

/* name_volume_check must refuse name with a cause containing needle. */
static void
volume_refused(const char *name, const char *needle)
{
	char *cause = NULL;

	if (name_volume_check(name, &cause) != -1)
		fail_msg("volume name \"%s\" was accepted", name);
	assert_mentions(cause, needle);
	free(cause);
}

static void
volume_accepted(const char *name)
{
	char *cause = NULL;

	if (name_volume_check(name, &cause) != 0)
		fail_msg("volume name \"%s\" refused: %s", name,
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
}

static void
safe_refused(const char *name, const char *needle)
{
	char *cause = NULL;

	if (name_safe_check("server name", name, &cause) != -1)
		fail_msg("safe name \"%s\" was accepted", name);
	assert_mentions(cause, needle);
	/* The caller's word for the thing is in the message. */
	assert_mentions(cause, "server name");
	free(cause);
}

static void
safe_accepted(const char *name)
{
	char *cause = NULL;

	if (name_safe_check("server name", name, &cause) != 0)
		fail_msg("safe name \"%s\" refused: %s", name,
		    cause != NULL ? cause : "(no cause)");
	assert_null(cause);
}

/* Strict UTF-8 check (no overlongs, surrogates or values past U+10FFFF). */
static int
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned cp, min;
	int n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
			min = 0x80;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
			min = 0x800;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
			min = 0x10000;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

static void
test_volume_accepts(void **state)
{
	char *max, *hex;

	(void)state;
	volume_accepted("a");
	volume_accepted("7");
	volume_accepted("Z");
	volume_accepted("my-volume_1.2");
	volume_accepted("a.b");
	volume_accepted("a-");
	volume_accepted("a_");
	volume_accepted("a.");
	hex = xstrdup("0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef");
	assert_int_equal(strlen(hex), 64);
	volume_accepted(hex);
	free(hex);
	max = repeat('x', NAME_VOLUME_MAX);
	volume_accepted(max);
	free(max);
}

static void
test_volume_refuses_empty(void **state)
{
	(void)state;
	volume_refused("", "empty");
	volume_refused(NULL, "empty");
}

static void
test_volume_refuses_slash(void **state)
{
	(void)state;
	volume_refused("a/b", "'/'");
	volume_refused("/a", "'/'");
	volume_refused("a/", "'/'");
	volume_refused("/", "'/'");
	volume_refused("../etc", "'/'");
}

static void
test_volume_refuses_dotdot(void **state)
{
	(void)state;
	volume_refused("..", "start with a letter or digit");
	volume_refused(".", "start with a letter or digit");
	volume_refused("a..b", "\"..\"");
	volume_refused("a..", "\"..\"");
	volume_refused("a...b", "\"..\"");
}

static void
test_volume_refuses_leading(void **state)
{
	(void)state;
	volume_refused(".hidden", "start with a letter or digit");
	volume_refused("-rf", "start with a letter or digit");
	volume_refused("_x", "start with a letter or digit");
}

static void
test_volume_refuses_control(void **state)
{
	char *cause = NULL;

	(void)state;
	volume_refused("\x01", "control character");
	volume_refused("a\nb", "control character");
	volume_refused("a\rb", "control character");
	volume_refused("a\tb", "control character");
	volume_refused("a\x1b[2J", "control character");
	volume_refused("a\x7f", "control character");
	volume_refused("a\x1f", "0x1f");

	/* The cause is safe to log: it names the byte, it does not echo it. */
	assert_int_equal(name_volume_check("a\nb", &cause), -1);
	assert_non_null(cause);
	assert_null(strchr(cause, '\n'));
	assert_mentions(cause, "0x0a");
	assert_mentions(cause, "position 2");
	free(cause);
}

static void
test_volume_refuses_long(void **state)
{
	char *name, want[64];

	(void)state;
	name = repeat('a', NAME_VOLUME_MAX + 1);
	snprintf(want, sizeof want, "at most %d", NAME_VOLUME_MAX);
	volume_refused(name, want);
	snprintf(want, sizeof want, "%d characters", NAME_VOLUME_MAX + 1);
	volume_refused(name, want);
	free(name);

	name = repeat('a', 4096);
	volume_refused(name, "characters long");
	free(name);
}

static void
test_volume_refuses_space(void **state)
{
	(void)state;
	volume_refused("a b", "' '");
	volume_refused(" a", "' '");
	volume_refused("a ", "' '");
}

static void
test_volume_refuses_other_chars(void **state)
{
	(void)state;
	volume_refused("a:b", "':'");
	volume_refused("a\\b", "'\\'");
	volume_refused("a*", "'*'");
	volume_refused("$HOME", "'$'");
	volume_refused("a\"b", "allowed are");
}

static void
test_volume_refuses_non_ascii(void **state)
{
	(void)state;
	volume_refused("caf\xc3\xa9", "allowed are");
	volume_refused("\xc3\xa9t\xc3\xa9", "volume name");
	volume_refused("a\xff", "volume name");
	volume_refused("\xe2\x80\x8b" "a", "volume name");
}

static void
test_volume_null_cause(void **state)
{
	(void)state;
	/* A caller that does not want the message passes NULL. */
	assert_int_equal(name_volume_check("", NULL), -1);
	assert_int_equal(name_volume_check("a/b", NULL), -1);
	assert_int_equal(name_volume_check("ok", NULL), 0);
	assert_int_equal(name_safe_check("x", "-x", NULL), -1);
}

static void
test_volume_cause_utf8(void **state)
{
	char *cause = NULL;

	(void)state;

	assert_int_equal(name_volume_check("caf\xc3\xa9", &cause), -1);
	assert_non_null(cause);
	if (!utf8_valid(cause))
		fail_msg("cause is not valid UTF-8: %s", cause);
	free(cause);
}

static void
test_safe_accepts(void **state)
{
	char *max;

	(void)state;
	safe_accepted("a");
	safe_accepted("9");
	safe_accepted("backup-1.example_org");
	/* No ".." rule here, but a leading '.' still keeps ".." out. */
	safe_accepted("a..b");
	max = repeat('s', NAME_SAFE_MAX);
	safe_accepted(max);
	free(max);
}

static void
test_safe_refuses(void **state)
{
	char *name, want[64];

	(void)state;
	safe_refused("", "empty");
	safe_refused(NULL, "empty");
	safe_refused("a/b", "'/'");
	safe_refused("..", "start with a letter or digit");
	safe_refused(".a", "start with a letter or digit");
	safe_refused("-a", "start with a letter or digit");
	safe_refused("_a", "start with a letter or digit");
	safe_refused("\x01", "control character");
	safe_refused("a\nb", "control character");
	safe_refused("a b", "' '");
	safe_refused("caf\xc3\xa9", "allowed are");
	name = repeat('s', NAME_SAFE_MAX + 1);
	snprintf(want, sizeof want, "at most %d", NAME_SAFE_MAX);
	safe_refused(name, want);
	free(name);
	/* The safe limit is the smaller one. */
	name = repeat('s', NAME_VOLUME_MAX);
	safe_refused(name, "characters long");
	free(name);
}

static void
test_safe_what(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(name_safe_check("machine name", "a/b", &cause), -1);
	assert_mentions(cause, "machine name");
	assert_mentions(cause, "\"a/b\"");
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_volume_accepts),
		cmocka_unit_test(test_volume_refuses_empty),
		cmocka_unit_test(test_volume_refuses_slash),
		cmocka_unit_test(test_volume_refuses_dotdot),
		cmocka_unit_test(test_volume_refuses_leading),
		cmocka_unit_test(test_volume_refuses_control),
		cmocka_unit_test(test_volume_refuses_long),
		cmocka_unit_test(test_volume_refuses_space),
		cmocka_unit_test(test_volume_refuses_other_chars),
		cmocka_unit_test(test_volume_refuses_non_ascii),
		cmocka_unit_test(test_volume_null_cause),
		cmocka_unit_test(test_volume_cause_utf8),
		cmocka_unit_test(test_safe_accepts),
		cmocka_unit_test(test_safe_refuses),
		cmocka_unit_test(test_safe_what),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
