#!/usr/bin/env bash
# The snapshot store with alice's state on xfs: store_suite.sh.
STORE_FS=xfs STORE_METHOD=reflink
. "$(dirname "$0")/store_suite.sh"
