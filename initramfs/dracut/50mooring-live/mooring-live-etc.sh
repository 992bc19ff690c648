#!/bin/sh
# The live system runs from RAM: the image's disk mounts (LABEL=boot, LABEL=root) would wait for
# partitions that are not there and fail local-fs.target. Comment them out in the overlay's
# /etc/fstab, and skip the disk's first-boot follow-up (which rewrites the disk's boot entry).
set -eu
etc=/sysroot/etc
disk_mounts='^\(LABEL=boot\|LABEL=root\)[[:space:]]'
if [ -f "$etc/fstab" ] && grep -q "$disk_mounts" "$etc/fstab"; then
    # '#' as the delimiter: with '|' the alternation above would be a literal '|'.
    sed -i "s#$disk_mounts#\# mooring.live: no disk: &#" "$etc/fstab"
    echo "mooring-live: disk mounts commented out in /etc/fstab"
fi
mkdir -p "$etc/systemd/system"
ln -sfn /dev/null "$etc/systemd/system/mooring-firstboot-done.service"
