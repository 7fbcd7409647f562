#!/usr/bin/env bash
# test_server_security.sh with the server's state on btrfs: a copy-on-write
# snapshot store, where pushes may write in place into a private copy.
SECURITY_FS=btrfs
. "$(dirname "$0")/test_server_security.sh"
