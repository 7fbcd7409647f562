/*
 * plugin: the daemon (`privateer plugin`): opens the volume registry, serves
 * Docker's plugin API on the plugin socket, and handles signals.
 */
#ifndef PRIVATEER_PLUGIN_H
#define PRIVATEER_PLUGIN_H

/* Paths inside the managed plugin; see config.json. */
#define PLUGIN_SOCKET "/run/docker/plugins/privateer.sock"
#define PLUGIN_STATE_DIR "/var/lib/privateer"
#define PLUGIN_MOUNT_ROOT "/mnt/privateer"
#define PLUGIN_CONFIG "/etc/privateer/privateer.json"
#define PLUGIN_RSYNC "/usr/bin/rsync"

/* Runs the daemon until SIGTERM/SIGINT; returns the exit status. */
int plugin_main(int argc, char **argv);

#endif
