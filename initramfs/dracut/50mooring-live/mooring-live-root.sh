#!/bin/sh
# Finds root.squashfs and mounts it read-only at /run/mooring-live/lower, and a tmpfs for the
# overlay's upper layer at /run/mooring-live/rw (sysroot.mount, generated, joins them).
#   PXE: /root.squashfs in the initramfs (rootfs.img, booted as a second initrd)
#   ISO: images/root.squashfs on the CD whose volume label is mooring.live.iso=LABEL
set -eu
base=/run/mooring-live
label=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        mooring.live.iso=*) label="${arg#mooring.live.iso=}" ;;
    esac
done
mkdir -p "$base/lower" "$base/rw"
modprobe -q -a loop squashfs overlay || true

if [ -n "$label" ]; then
    modprobe -q -a sr_mod isofs || true
    dev=
    tries=0
    # Up to 3 minutes: a CD under emulation can be slow to show up.
    while [ -z "$dev" ] && [ "$tries" -lt 360 ]; do
        if [ -e "/dev/disk/by-label/$label" ]; then
            dev="/dev/disk/by-label/$label"
        else
            for d in /dev/sr*; do
                [ -b "$d" ] || continue
                if [ "$(blkid -o value -s LABEL "$d" 2>/dev/null)" = "$label" ]; then
                    dev="$d"
                fi
            done
        fi
        [ -n "$dev" ] || { sleep 0.5; tries=$((tries + 1)); }
    done
    if [ -z "$dev" ]; then
        echo "mooring-live: no CD with volume label $label (mooring.live.iso=) after 3 minutes" >&2
        exit 1
    fi
    mkdir -p "$base/iso"
    mount -t iso9660 -o ro "$dev" "$base/iso"
    squash="$base/iso/images/root.squashfs"
    echo "mooring-live: CD $dev ($label) on $base/iso"
else
    squash=/root.squashfs
fi

if [ ! -f "$squash" ]; then
    echo "mooring-live: $squash not found (PXE: boot rootfs.img as an initrd after initramfs.img; ISO: mooring.live.iso=LABEL)" >&2
    exit 1
fi
mount -t squashfs -o ro,loop "$squash" "$base/lower"
mount -t tmpfs -o mode=0755,size=50% mooring-live-rw "$base/rw"
mkdir -p "$base/rw/upper" "$base/rw/work"
echo "mooring-live: $squash on $base/lower (read-only), changes go to a tmpfs"
