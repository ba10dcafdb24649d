#!/bin/sh
# Buildroot post-image script: $1 is the images folder, then "-c
# genimage.cfg" from BR2_ROOTFS_POST_SCRIPT_ARGS. Makes the empty data
# file system, then the disk image with genimage.
set -eu
rm -f "$BINARIES_DIR/data.ext4"
"$HOST_DIR/sbin/mkfs.ext4" -q -L TAPDATA -m 0 "$BINARIES_DIR/data.ext4" 64M
exec support/scripts/genimage.sh "$@"
