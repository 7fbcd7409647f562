/*
 * fuzz_name: name_volume_check and name_safe_check, the checks standing
 * between a name from Docker or privateer.json and a path component. The
 * input is the name. Beyond not crashing, a name either check accepts must
 * really be a safe path component: non-empty, no '/', not "." or "..",
 * within its length cap.
 */
#include "fuzz.h"
#include "name.h"

static void
fuzz_name_safe_component(const char *fn, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || strchr(s, '/') != NULL ||
	    strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
		fprintf(stderr, "%s accepted \"%s\"\n", fn, s);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *cause = NULL;
	int rc;

	if (size > 4096)
		return 0;
	s = fuzz_str(data, size);
	rc = name_volume_check(s, &cause);
	fuzz_check_cause("name_volume_check", rc, &cause);
	if (rc == 0)
		fuzz_name_safe_component("name_volume_check", s,
		    NAME_VOLUME_MAX);
	rc = name_safe_check("machine", s, &cause);
	fuzz_check_cause("name_safe_check", rc, &cause);
	if (rc == 0)
		fuzz_name_safe_component("name_safe_check", s, NAME_SAFE_MAX);
	free(s);
	return 0;
}
