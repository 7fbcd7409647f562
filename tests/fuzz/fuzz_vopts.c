/*
 * fuzz_vopts: the options of `docker volume create -o`, as the plugin gets
 * them — the "Opts" object of a Create request, decoded by jansson (with
 * JSON_REJECT_DUPLICATES, as api.c does) and handed to vopts_parse. The
 * input is the JSON text of the object. Also vopts_snapshot_id_valid on
 * the raw input. Checked on success: the schedule parsed again gives the
 * same cron bits, and every backup server is a non-empty string.
 */
#include <jansson.h>

#include "cron.h"
#include "fuzz.h"
#include "vopts.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vopts vo;
	struct cron c;
	json_error_t jerr;
	json_t *opts;
	char *s, *cause = NULL;
	size_t i;
	int rc;

	if (size > 64 * 1024)
		return 0;
	s = fuzz_str(data, size);
	(void)vopts_snapshot_id_valid(s);
	free(s);

	opts = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (opts == NULL)
		return 0;
	rc = vopts_parse(opts, &vo, &cause);
	fuzz_check_cause("vopts_parse", rc, &cause);
	if (rc == 0) {
		for (i = 0; i < vo.nbackup; i++)
			if (vo.backup[i] == NULL || *vo.backup[i] == '\0')
				abort();
		if (vo.nbackup > VOPTS_BACKUP_MAX)
			abort();
		if (vo.schedule != NULL) {
			rc = cron_parse(vo.schedule, &c, &cause);
			fuzz_check_cause("cron_parse", rc, &cause);
			if (rc != 0 || memcmp(&c, &vo.sched, sizeof c) != 0)
				abort();
		}
		if (vo.restore_snapshot != NULL &&
		    strcmp(vo.restore_snapshot, "latest") != 0 &&
		    !vopts_snapshot_id_valid(vo.restore_snapshot))
			abort();
		vopts_free(&vo);
	}
	json_decref(opts);
	return 0;
}
