#!/bin/sh
# A config placed on the boot partition (`images install --ignition`) becomes the system user.ign,
# which the executor reads before the platform's config.
set -u
dev=/dev/disk/by-label/boot
src=ignition/config.ign
dst=/usr/lib/ignition/user.ign
mnt=/run/mooring/boot
if ! udevadm wait --timeout=10 "$dev" 2>/dev/null && [ ! -e "$dev" ]; then
    echo "mooring-boot-config: no $dev; nothing to copy"
    exit 0
fi
mkdir -p "$mnt"
mount -o ro "$dev" "$mnt" || { echo "mooring-boot-config: cannot mount $dev" >&2; exit 1; }
rc=0
if [ -f "$mnt/$src" ]; then
    mkdir -p "${dst%/*}"
    if cp "$mnt/$src" "$dst"; then
        echo "mooring-boot-config: $dev:/$src copied to $dst"
    else
        rc=1
    fi
else
    echo "mooring-boot-config: no /$src on $dev"
fi
umount "$mnt"
exit $rc
