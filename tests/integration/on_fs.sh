#!/usr/bin/env bash
# Runs a test with its temporary files on a fresh loop-mounted filesystem,
# so the replication server's snapshot store is that filesystem's:
#   on_fs.sh btrfs|xfs|ext4 COMMAND [ARG...]
# COMMAND sees PRIVATEER_TEST_TMP=<mount point> and PRIVATEER_TEST_IMAGE
# (the image, to mount again after a simulated crash). Needs root (exit 77, a
# skip, without it); everything made is removed on exit.
set -euo pipefail
fs=$1
shift
if [ "$(id -u)" != 0 ]; then
	echo "on_fs: not root: cannot loop-mount a $fs image" >&2
	exit 77
fi
T=$(mktemp -d /tmp/privateer-fs.XXXXXX)
cleanup() {
	umount "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
mkdir "$T/mnt"
truncate -s 1G "$T/image"
case $fs in
btrfs) mkfs.btrfs -q -f "$T/image" >/dev/null ;;
xfs) mkfs.xfs -q -f "$T/image" ;;
ext4) mkfs.ext4 -q -F "$T/image" ;;
*) echo "on_fs: unknown filesystem $fs" >&2; exit 2 ;;
esac
mount -o loop "$T/image" "$T/mnt"
PRIVATEER_TEST_TMP=$T/mnt PRIVATEER_TEST_IMAGE=$T/image "$@"
