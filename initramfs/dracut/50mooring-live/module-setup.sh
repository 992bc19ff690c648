#!/bin/bash
# dracut module: mooring's live boot (PXE and ISO). With `mooring.live` on the kernel command line
# /sysroot is root.squashfs (the deployed ostree sysroot, read-only) under a tmpfs overlay;
# ostree-prepare-root then enters the deployment named by `ostree=` and the Ignition stages run
# as on a disk. Without `mooring.live` nothing here does anything.

check() {
    # Only when asked for.
    return 255
}

depends() {
    echo systemd systemd-initrd ostree
}

installkernel() {
    hostonly='' instmods squashfs overlay loop isofs sr_mod cdrom
}

install() {
    inst_multiple -o mount umount mkdir blkid modprobe sleep sed grep ln cat readlink
    inst_script "$moddir/mooring-live-generator" \
        "$systemdutildir/system-generators/mooring-live-generator"
    inst_script "$moddir/mooring-live-root.sh" /usr/libexec/mooring-live-root
    inst_script "$moddir/mooring-live-etc.sh" /usr/libexec/mooring-live-etc
    inst_simple "$moddir/mooring-live-root.service" "$systemdsystemunitdir/mooring-live-root.service"
    inst_simple "$moddir/mooring-live-etc.service" "$systemdsystemunitdir/mooring-live-etc.service"
    # A live machine takes its config from the initramfs, not from a disk that happens to be
    # attached (mooring-ignition's boot-partition copy is skipped).
    inst_simple "$moddir/50-mooring-live.conf" \
        "$systemdsystemunitdir/mooring-boot-config.service.d/50-mooring-live.conf"
    mkdir -p "$initdir$systemdsystemunitdir/initrd.target.wants"
    ln_r "$systemdsystemunitdir/mooring-live-etc.service" \
        "$systemdsystemunitdir/initrd.target.wants/mooring-live-etc.service"
}
