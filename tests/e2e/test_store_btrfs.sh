#!/usr/bin/env bash
# The snapshot store with alice's state on btrfs: store_suite.sh.
STORE_FS=btrfs STORE_METHOD=btrfs
. "$(dirname "$0")/store_suite.sh"
