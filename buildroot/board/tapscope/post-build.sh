#!/bin/sh
# Buildroot post-build script: $1 is the target folder. Boot files go to
# $BINARIES_DIR/efi-part (next to GRUB's bootx64.efi), the SSH keys given at
# build time (TAPSCOPE_AUTHORIZED_KEYS=FILE in the environment of make) into
# the root file system.
set -eu
TARGET=$1
BOARD_DIR=$(dirname "$0")
IMAGE_DIR=$BOARD_DIR/../../../image

install -D -m 0644 "$BOARD_DIR/grub.cfg" "$BINARIES_DIR/efi-part/EFI/BOOT/grub.cfg"
install -D -m 0644 "$IMAGE_DIR/esp/README.txt" "$BINARIES_DIR/efi-part/README.txt"
install -D -m 0644 "$IMAGE_DIR/rootfs/etc/tapscope/tapscope.toml" "$BINARIES_DIR/efi-part/tapscope.toml.example"

if [ -n "${TAPSCOPE_AUTHORIZED_KEYS:-}" ]; then
  install -D -m 0644 "$TAPSCOPE_AUTHORIZED_KEYS" "$TARGET/etc/ssh/authorized_keys/admin"
fi

# Made on the appliance's first boot: host keys and the machine id.
rm -f "$TARGET"/etc/ssh/ssh_host_*
: > "$TARGET/etc/machine-id"

# Name resolution through systemd-resolved (DHCP's DNS servers).
ln -sf ../run/systemd/resolve/stub-resolv.conf "$TARGET/etc/resolv.conf"

# Debian's initramfs settings have no use here (the kernel has its drivers built in).
rm -rf "$TARGET/etc/initramfs-tools"
