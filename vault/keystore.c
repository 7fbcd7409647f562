/*
 * keystore: dispatch through the backend's table.
 */
#include "keystore.h"

#include <stdlib.h>
#include <string.h>

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

void
keystore_close(struct keystore *ks)
{
	if (ks == NULL)
		return;
	ks->ops->close(ks);
	free(ks->where);
	free(ks);
}
