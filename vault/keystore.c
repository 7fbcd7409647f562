/*
 * keystore: dispatch through the backend's table.
 */
#include "keystore.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

int
keystore_get(struct keystore *ks, const char *name, int need_private,
    struct keypair *out, char **cause)
{
	memset(out, 0, sizeof *out);
	return ks->ops->get(ks, name, need_private, out, cause);
}

int
keystore_put(struct keystore *ks, const char *name, const struct keypair *kp,
    int *replaced, char **cause)
{
	return ks->ops->put(ks, name, kp, replaced, cause);
}

int
keystore_field(struct keystore *ks, const char *name, const char *field,
    char **value, char **cause)
{
	*value = NULL;
	return ks->ops->field(ks, name, field, value, cause);
}

int
keystore_data_field(const json_t *data, const char *what, const char *field,
    char **value, char **cause)
{
	const json_t *v = json_object_get(data, field);

	*value = NULL;
	if (v == NULL) {
		set_cause(cause, "%s has no field \"%s\"", what, field);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > KEYPAIR_FIELD_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		set_cause(cause, "%s: field \"%s\" is not a non-empty string "
		    "of at most %d bytes", what, field, KEYPAIR_FIELD_MAX);
		return -1;
	}
	*value = xstrdup(json_string_value(v));
	return 0;
}

void
keystore_close(struct keystore *ks)
{
	if (ks == NULL)
		return;
	ks->ops->close(ks);
	free(ks->where);
	free(ks);
}
