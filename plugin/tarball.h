/*
 * tarball: the plugin's side of export and import. /Privateer.Export
 * streams the tar file a `privateer pack export` child (or the transport
 * from a server) writes, named in the X-Privateer-Filename header and
 * ending with a trailer that says whether it is complete.
 * /Privateer.Import?Volume=NAME streams the request body into a
 * `privateer pack import` child filling a volume built out of view, which
 * appears only when the whole archive was accepted; a refused, corrupt or
 * interrupted import leaves nothing.
 */
#ifndef PRIVATEER_TARBALL_H
#define PRIVATEER_TARBALL_H

#include "http.h"

struct fleet;
struct vol_registry;
struct ops_request;

/*
 * Starts the export req describes and fills *out with the stream; 0, or
 * -1 with *cause (nothing streamed). f may be NULL (local volumes only).
 */
int tarball_export(struct fleet *f, struct vol_registry *,
    const struct ops_request *req, struct http_stream *out, char **cause);
/*
 * Starts importing into a new volume called volume; 0 with *sink set, or
 * -1 with *cause (the volume exists, the name is bad...).
 */
int tarball_import_open(struct vol_registry *, const char *volume,
    struct http_sink *sink, char **cause);

#endif
