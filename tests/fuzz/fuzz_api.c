/*
 * fuzz_api: Docker's requests as api.c decodes them — api_route on the URL,
 * api_decode of the body for the route's operation. The input is
 * "URL\nBODY": the URL up to the first newline (routed as a C string, as
 * http.c hands it over), the rest the body, with its exact length (bodies
 * may hold NUL bytes). A URL that routes nowhere still has its body
 * decoded, for an operation picked from the URL's bytes, so every decoder
 * gets every body. Checked: the cause contract; Create..Get carry a Name,
 * Mount and Unmount an ID, and Opts is an object when present. A decoded
 * request then goes where api_handle sends it first: the name to
 * name_volume_check, Create's options to vopts_parse.
 */
#include <jansson.h>

#include "api.h"
#include "fuzz.h"
#include "name.h"
#include "vopts.h"

/*
 * How many operations there are, learnt from api_route at start (the enum
 * grows with new routes, and api_decode must only see one that exists);
 * raised if a URL routes beyond it.
 */
static int fuzz_api_nops;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const urls[] = {
		"/Plugin.Activate", "/VolumeDriver.Capabilities",
		"/VolumeDriver.Create", "/VolumeDriver.Remove",
		"/VolumeDriver.Mount", "/VolumeDriver.Unmount",
		"/VolumeDriver.Path", "/VolumeDriver.Get", "/VolumeDriver.List",
		"/Privateer.Status", "/Privateer.Reload", "/Privateer.Backup",
		"/Privateer.Restore", "/Privateer.Snapshots",
		"/Privateer.Check", "/Privateer.Export", "/Privateer.Verify",
	};
	size_t i;
	int op;

	(void)argc;
	(void)argv;
	for (i = 0; i < sizeof urls / sizeof urls[0]; i++)
		if ((op = api_route(urls[i])) >= fuzz_api_nops)
			fuzz_api_nops = op + 1;
	if (fuzz_api_nops <= API_GET)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl;
	struct api_req req;
	char *url, *body, *cause = NULL;
	size_t ulen, blen, i;
	unsigned h = 0;
	int op, rc;

	if (size > API_BODY_MAX + 256)
		return 0;
	nl = memchr(data, '\n', size);
	ulen = nl != NULL ? (size_t)(nl - data) : size;
	url = fuzz_str(data, ulen);
	blen = nl != NULL ? size - ulen - 1 : 0;
	/* http.c hands the handler a NUL-terminated body. */
	body = fuzz_str(nl != NULL ? nl + 1 : data, blen);

	op = api_route(url);
	if (op < -1)
		abort();
	if (op >= fuzz_api_nops)
		fuzz_api_nops = op + 1;
	if (op == -1) {
		for (i = 0; i < ulen; i++)
			h = h * 31 + data[i];
		op = (int)(h % (unsigned)fuzz_api_nops);
	}
	memset(&req, 0x5a, sizeof req);
	rc = api_decode((enum api_op)op, body, blen, &req, &cause);
	fuzz_check_cause("api_decode", rc, &cause);
	if (rc == 0) {
		if (req.op != (enum api_op)op)
			abort();
		if ((op == API_CREATE || op == API_REMOVE ||
		    op == API_MOUNT || op == API_UNMOUNT || op == API_PATH ||
		    op == API_GET) && req.name == NULL)
			abort();
		if ((op == API_MOUNT || op == API_UNMOUNT) &&
		    (req.id == NULL || *req.id == '\0'))
			abort();
		if (req.opts != NULL && !json_is_object(req.opts))
			abort();
		if (req.name != NULL) {
			rc = name_volume_check(req.name, &cause);
			fuzz_check_cause("name_volume_check", rc, &cause);
		}
		if (req.opts != NULL) {
			struct vopts vo;

			rc = vopts_parse(req.opts, &vo, &cause);
			fuzz_check_cause("vopts_parse", rc, &cause);
			if (rc == 0)
				vopts_free(&vo);
		}
		api_req_free(&req);
	}
	free(body);
	free(url);
	return 0;
}
