/*
 * cli_pack: `privateer export` and `privateer import`. Export writes the
 * plugin's stream to a hidden temporary file in the target directory and
 * gives the file its name only once the plugin's trailer says the archive
 * is complete, so an interrupted export never leaves a file that looks
 * whole. Import streams a file to the plugin, then tells Docker about the
 * new volume so `docker run -v NAME:...` finds it like any other.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "name.h"

#define CLI_PACK_BUFFER (512 * 1024)
/* Export: start writing back every this many bytes, so the final fsync
 * finds little left to do. */
#define CLI_PACK_WRITEBACK (8 * 1024 * 1024)

/* The temporary file, for the signal handler to remove. */
static char cli_pack_tmp[PATH_MAX];

static void
cli_pack_signal(int sig)
{
	if (cli_pack_tmp[0] != '\0')
		(void)unlink(cli_pack_tmp);
	_exit(128 + sig);
}

static void
cli_pack_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cli_pack_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static double
cli_pack_elapsed(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ts_seconds(t0, &now);
}

/* One progress line on a terminal: done [of total], rate, ETA. */
static void
cli_pack_progress(const char *what, double done, double total, double secs)
{
	char d[32], t[32], r[32], eta[32] = "-";

	cli_bytes(done, d, sizeof d);
	cli_bytes(secs > 0 ? done / secs : 0, r, sizeof r);
	if (total > 0) {
		cli_bytes(total, t, sizeof t);
		if (done > 0 && done < total && secs > 0) {
			double left = secs * (total - done) / done;
			snprintf(eta, sizeof eta, "%d:%02d", (int)left / 60,
			    (int)left % 60);
		}
		fprintf(stderr, "\r%s %3.0f%% %s of %s, %s/s, ETA %s   ", what,
		    100 * done / total, d, t, r, eta);
	} else
		fprintf(stderr, "\r%s %s, %s/s   ", what, d, r);
}

/* ---- export ---- */

struct cli_export {
	CURL *curl;
	const char *dir;
	char *filename;		/* X-Privateer-Filename */
	char *tmp;
	int fd;
	long status;
	struct cli_buf err;	/* an error answer's body */
	char *trailer_error;
	int trailer_ok;
	char *write_error;
	double bytes;
	off_t synced;		/* written back up to here */
	int tty;
	struct timespec t0;
	double drawn_at;
};

/* A name the plugin gives us must be a plain file name. */
static int
cli_export_name_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > NAME_MAX - 32 || s[0] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    strchr("._-", s[i]) != NULL))
			return 0;
	}
	return 1;
}

/* Headers, and after the body the trailer (curl hands both here). */
static size_t
cli_export_header(char *data, size_t size, size_t n, void *arg)
{
	struct cli_export *ex = arg;
	size_t len = size * n, klen;
	const char *colon = memchr(data, ':', len);
	char *value;

	if (colon == NULL)
		return len;
	klen = (size_t)(colon - data);
	value = xstrndup(colon + 1, len - klen - 1);
	value[strcspn(value, "\r\n")] = '\0';
	memmove(value, value + strspn(value, " \t"),
	    strlen(value + strspn(value, " \t")) + 1);
	if (klen == 20 && strncasecmp(data, "X-Privateer-Filename", 20) == 0) {
		free(ex->filename);
		ex->filename = value;
		return len;
	}
	if (klen == 18 && strncasecmp(data, "X-Privateer-Result", 18) == 0)
		ex->trailer_ok = strcmp(value, "ok") == 0;
	else if (klen == 17 && strncasecmp(data, "X-Privateer-Error", 17) == 0) {
		free(ex->trailer_error);
		ex->trailer_error = value;
		return len;
	}
	free(value);
	return len;
}

static size_t
cli_export_write(char *data, size_t size, size_t n, void *arg)
{
	struct cli_export *ex = arg;
	size_t len = size * n;
	double secs;

	if (ex->status == 0)
		curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE,
		    &ex->status);
	if (ex->status != 200)
		return cli_buf_write(data, size, n, &ex->err);
	if (ex->fd < 0) {
		if (ex->filename == NULL || !cli_export_name_ok(ex->filename)) {
			ex->write_error = xasprintf("the plugin gave no usable "
			    "file name");
			return 0;
		}
		ex->tmp = xasprintf("%s/.%s.partial-XXXXXX", ex->dir,
		    ex->filename);
		if (strlen(ex->tmp) >= sizeof cli_pack_tmp) {
			ex->write_error = xasprintf("%s: path too long",
			    ex->tmp);
			free(ex->tmp);
			ex->tmp = NULL;
			return 0;
		}
		ex->fd = mkstemp(ex->tmp);
		if (ex->fd < 0) {
			ex->write_error = xasprintf("creating %s: %s", ex->tmp,
			    strerror(errno));
			free(ex->tmp);
			ex->tmp = NULL;
			return 0;
		}
		strcpy(cli_pack_tmp, ex->tmp);
	}
	if (write_all(ex->fd, data, len) != 0) {
		ex->write_error = xasprintf("writing %s: %s", ex->tmp,
		    strerror(errno));
		return 0;
	}
	ex->bytes += (double)len;
	if ((off_t)ex->bytes - ex->synced >= CLI_PACK_WRITEBACK) {
		(void)sync_file_range(ex->fd, ex->synced, (off_t)ex->bytes -
		    ex->synced, SYNC_FILE_RANGE_WRITE);
		ex->synced = (off_t)ex->bytes;
	}
	if (ex->tty) {
		secs = cli_pack_elapsed(&ex->t0);
		if (secs - ex->drawn_at >= 0.2) {
			cli_pack_progress("exporting", ex->bytes, 0, secs);
			ex->drawn_at = secs;
		}
	}
	return len;
}

/* Gives the complete file its name, never replacing one. */
static int
cli_export_keep(struct cli_export *ex, char **final, char **cause)
{
	if (ex->fd < 0) {
		set_cause(cause, "the plugin sent no data");
		return -1;
	}
	if (fsync(ex->fd) != 0 || close(ex->fd) != 0) {
		ex->fd = -1;
		set_cause(cause, "writing %s: %s", ex->tmp, strerror(errno));
		return -1;
	}
	ex->fd = -1;
	*final = xasprintf("%s/%s", ex->dir, ex->filename);
	if (link(ex->tmp, *final) != 0) {
		set_cause(cause, "%s: %s", *final, strerror(errno));
		free(*final);
		*final = NULL;
		return -1;
	}
	(void)unlink(ex->tmp);
	cli_pack_tmp[0] = '\0';
	(void)fsync_dir(ex->dir);
	return 0;
}

static int
cli_export_usage(void)
{
	fprintf(stderr, "usage: privateer export VOLUME [--source C] "
	    "[--server S] [--snapshot ID] [--to-dir DIR] "
	    "[--compress zstd|gzip|none]\n");
	return 2;
}

int
cli_export(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "source", required_argument, NULL, 'c' },
		{ "server", required_argument, NULL, 's' },
		{ "snapshot", required_argument, NULL, 'n' },
		{ "to-dir", required_argument, NULL, 'd' },
		{ "compress", required_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 },
	};
	char errbuf[CURL_ERROR_SIZE] = "", *socket = NULL, *text = NULL;
	char *cause = NULL, *final = NULL, size[32];
	struct curl_slist *headers = NULL;
	struct cli_export ex;
	json_t *req, *answer;
	const char *err;
	CURLcode code;
	struct stat st;
	int c, rc = 1;

	memset(&ex, 0, sizeof ex);
	ex.fd = -1;
	ex.dir = ".";
	req = json_object();
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			json_object_set_new(req, "Source", json_string(optarg));
			break;
		case 's':
			json_object_set_new(req, "Server", json_string(optarg));
			break;
		case 'n':
			json_object_set_new(req, "Snapshot",
			    json_string(optarg));
			break;
		case 'd':
			ex.dir = optarg;
			break;
		case 'z':
			json_object_set_new(req, "Compress",
			    json_string(optarg));
			break;
		default:
			json_decref(req);
			return cli_export_usage();
		}
	}
	if (optind != argc - 1) {
		json_decref(req);
		return cli_export_usage();
	}
	json_object_set_new(req, "Volume", json_string(argv[optind]));
	if (stat(ex.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		json_decref(req);
		return cli_fail("export: %s is not a directory", ex.dir);
	}
	socket = cli_socket(cli, &cause);
	if (socket == NULL)
		goto out;
	cli_pack_catch();
	text = json_dumps(req, JSON_COMPACT);
	ex.tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &ex.t0);
	ex.curl = curl_easy_init();
	if (ex.curl == NULL)
		fatal("curl_easy_init failed");
	headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(ex.curl, CURLOPT_UNIX_SOCKET_PATH, socket);
	curl_easy_setopt(ex.curl, CURLOPT_URL,
	    "http://privateer/Privateer.Export");
	curl_easy_setopt(ex.curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(ex.curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(ex.curl, CURLOPT_HEADERFUNCTION, cli_export_header);
	curl_easy_setopt(ex.curl, CURLOPT_HEADERDATA, &ex);
	curl_easy_setopt(ex.curl, CURLOPT_WRITEFUNCTION, cli_export_write);
	curl_easy_setopt(ex.curl, CURLOPT_WRITEDATA, &ex);
	curl_easy_setopt(ex.curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(ex.curl, CURLOPT_BUFFERSIZE, (long)CLI_PACK_BUFFER);
	curl_easy_setopt(ex.curl, CURLOPT_CONNECTTIMEOUT, 10L);
	code = curl_easy_perform(ex.curl);
	if (ex.tty && ex.drawn_at > 0)
		fputc('\n', stderr);
	if (ex.write_error != NULL) {
		set_cause(&cause, "%s", ex.write_error);
		goto out;
	}
	if (code != CURLE_OK) {
		set_cause(&cause, "the export stream was cut (%s)",
		    *errbuf != '\0' ? errbuf : curl_easy_strerror(code));
		goto out;
	}
	curl_easy_getinfo(ex.curl, CURLINFO_RESPONSE_CODE, &ex.status);
	if (ex.status != 200) {
		answer = ex.err.data != NULL ? json_loads(ex.err.data, 0, NULL) :
		    NULL;
		err = json_string_value(json_object_get(answer, "Err"));
		set_cause(&cause, "%s", err != NULL ? err : "the plugin failed");
		json_decref(answer);
		goto out;
	}
	if (ex.trailer_error != NULL) {
		set_cause(&cause, "%s", ex.trailer_error);
		goto out;
	}
	if (!ex.trailer_ok) {
		set_cause(&cause, "the plugin ended the stream without saying "
		    "the archive is complete");
		goto out;
	}
	if (cli_export_keep(&ex, &final, &cause) != 0)
		goto out;
	cli_bytes(ex.bytes, size, sizeof size);
	printf("%s (%s, %.1f s)\n", final, size, cli_pack_elapsed(&ex.t0));
	rc = 0;
out:
	if (rc != 0)
		cli_fail("export: %s", cause != NULL ? cause : "failed");
	if (ex.fd >= 0)
		close(ex.fd);
	if (ex.tmp != NULL && rc != 0)
		(void)unlink(ex.tmp);
	cli_pack_tmp[0] = '\0';
	curl_slist_free_all(headers);
	if (ex.curl != NULL)
		curl_easy_cleanup(ex.curl);
	json_decref(req);
	free(ex.filename);
	free(ex.tmp);
	free(ex.err.data);
	free(ex.trailer_error);
	free(ex.write_error);
	free(final);
	free(text);
	free(socket);
	free(cause);
	return rc;
}

/* ---- import ---- */

struct cli_import {
	int fd;
	double size;		/* 0 if unknown (a pipe) */
	struct cli_buf answer;
	int tty;
	struct timespec t0;
	double drawn_at;
};

static size_t
cli_import_read(char *buf, size_t size, size_t n, void *arg)
{
	struct cli_import *im = arg;
	ssize_t got;

	do
		got = read(im->fd, buf, size * n);
	while (got < 0 && errno == EINTR);
	return got < 0 ? CURL_READFUNC_ABORT : (size_t)got;
}

static int
cli_import_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct cli_import *im = arg;
	double secs = cli_pack_elapsed(&im->t0);

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	if (im->tty && secs - im->drawn_at >= 0.2) {
		cli_pack_progress("importing", (double)ulnow, im->size, secs);
		im->drawn_at = secs;
	}
	return 0;
}

/* Docker learns the volume (and its driver) as if created with -d. */
static void
cli_import_tell_docker(const char *plugin, const char *volume)
{
	const char *dsock = cli_docker_api(NULL);
	json_t *body, *out = NULL;
	char *cause = NULL;
	long status = 0;

	if (dsock == NULL || plugin == NULL)
		return;
	body = json_pack("{s:s, s:s}", "Name", volume, "Driver", plugin);
	if (cli_http(dsock, "POST", "http://docker/volumes/create", body,
	    &status, &out, &cause) != 0 || status >= 300)
		fprintf(stderr, "privateer: warning: Docker did not register "
		    "volume %s: %s\n", volume, cause != NULL ? cause :
		    json_string_value(json_object_get(out, "message")) !=
		    NULL ? json_string_value(json_object_get(out,
		    "message")) : "failed");
	json_decref(body);
	json_decref(out);
	free(cause);
}

int
cli_import(struct cli *cli, int argc, char **argv)
{
	char errbuf[CURL_ERROR_SIZE] = "", *socket = NULL, *plugin = NULL;
	char *cause = NULL, *url = NULL, size[32];
	struct curl_slist *headers = NULL;
	const char *file, *volume, *err, *dsock;
	struct cli_import im;
	json_t *answer = NULL, *dvol = NULL;
	CURLcode code;
	CURL *curl = NULL;
	struct stat st;
	long status = 0;
	int rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: privateer import TARFILE VOLUME\n");
		return 2;
	}
	file = argv[1];
	volume = argv[2];
	memset(&im, 0, sizeof im);
	if (name_volume_check(volume, &cause) != 0)
		goto out;
	im.fd = open(file, O_RDONLY | O_CLOEXEC);
	if (im.fd < 0 || fstat(im.fd, &st) != 0) {
		set_cause(&cause, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		set_cause(&cause, "%s is a directory, not a tar file", file);
		goto out;
	}
	im.size = S_ISREG(st.st_mode) ? (double)st.st_size : 0;
	if (cli->socket != NULL || (getenv("PRIVATEER_SOCKET") != NULL &&
	    *getenv("PRIVATEER_SOCKET") != '\0'))
		socket = cli_socket(cli, &cause);
	else {
		plugin = cli_docker_plugin(&socket, &cause);
		/* Refuse before sending anything if Docker has the name. */
		dsock = cli_docker_api(NULL);
		url = xasprintf("http://docker/volumes/%s", volume);
		if (plugin != NULL && dsock != NULL && cli_http(dsock, "GET",
		    url, NULL, &status, &dvol, NULL) == 0 && status == 200) {
			set_cause(&cause, "volume %s exists (driver %s); import "
			    "makes a new volume", volume, json_string_value(
			    json_object_get(dvol, "Driver")) != NULL ?
			    json_string_value(json_object_get(dvol, "Driver")) :
			    "?");
			goto out;
		}
		free(url);
		url = NULL;
	}
	if (socket == NULL)
		goto out;
	im.tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &im.t0);
	url = xasprintf("http://privateer/Privateer.Import?Volume=%s", volume);
	curl = curl_easy_init();
	if (curl == NULL)
		fatal("curl_easy_init failed");
	headers = curl_slist_append(headers, "Content-Type: application/x-tar");
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, cli_import_read);
	curl_easy_setopt(curl, CURLOPT_READDATA, &im);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)(im.size > 0 ? st.st_size : -1));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cli_buf_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &im.answer);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, cli_import_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &im);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, (long)CLI_PACK_BUFFER);
	code = curl_easy_perform(curl);
	if (im.tty && im.drawn_at > 0)
		fputc('\n', stderr);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	answer = im.answer.data != NULL ? json_loads(im.answer.data, 0, NULL) :
	    NULL;
	err = json_string_value(json_object_get(answer, "Err"));
	if (err != NULL || (status != 0 && status != 200)) {
		set_cause(&cause, "%s", err != NULL ? err : "the plugin failed");
		goto out;
	}
	if (code != CURLE_OK) {
		set_cause(&cause, "%s: %s", socket, *errbuf != '\0' ? errbuf :
		    curl_easy_strerror(code));
		goto out;
	}
	cli_import_tell_docker(plugin, volume);
	cli_bytes(json_number_value(json_object_get(answer, "Bytes")), size,
	    sizeof size);
	printf("imported %s into volume %s (%.0f entries, %s)\n", file, volume,
	    json_number_value(json_object_get(answer, "Entries")), size);
	rc = 0;
out:
	if (rc != 0)
		cli_fail("import: %s", cause != NULL ? cause : "failed");
	if (im.fd > 0)
		close(im.fd);
	curl_slist_free_all(headers);
	if (curl != NULL)
		curl_easy_cleanup(curl);
	json_decref(answer);
	json_decref(dvol);
	free(im.answer.data);
	free(url);
	free(plugin);
	free(socket);
	free(cause);
	return rc;
}
