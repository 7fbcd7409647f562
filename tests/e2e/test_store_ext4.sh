#!/usr/bin/env bash
# The snapshot store with alice's state on ext4: store_suite.sh.
STORE_FS=ext4 STORE_METHOD=hardlink
. "$(dirname "$0")/store_suite.sh"
