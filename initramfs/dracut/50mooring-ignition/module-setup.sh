#!/bin/bash
# dracut module: mooring's ignition stages in the initramfs (first boot only).
# Installed by `initramfs build`, which also puts our ignition binary at /usr/bin/ignition in the root.

check() {
    # Only when asked for (never by host-only autodetection).
    return 255
}

depends() {
    echo systemd systemd-initrd ostree
}

install() {
    inst_binary /usr/bin/ignition
    # Tools the stages call (only those present in the root are installed).
    inst_multiple -o \
        mkfs.ext4 mkfs.xfs mkfs.vfat mkfs.fat mkfs.btrfs mkswap wipefs blkid \
        mdadm cryptsetup \
        useradd usermod userdel groupadd groupdel chpasswd \
        mount umount mkdir cp cat grep sed readlink modprobe systemctl udevadm \
        sh dirname
    # useradd and friends read these.
    inst_multiple -o /etc/login.defs /etc/default/useradd

    inst_script "$moddir/mooring-ignition-generator" \
        "$systemdutildir/system-generators/mooring-ignition-generator"
    inst_script "$moddir/mooring-boot-config.sh" /usr/libexec/mooring-boot-config
    inst_script "$moddir/mooring-mount-var.sh" /usr/libexec/mooring-mount-var
    inst_script "$moddir/mooring-ignition-failed.sh" /usr/libexec/mooring-ignition-failed

    local unit
    for unit in \
        ignition-fetch-offline.service ignition-fetch.service ignition-kargs.service \
        ignition-disks.service ignition-mount.service ignition-files.service \
        ignition-complete.target mooring-boot-config.service mooring-mount-var.service \
        mooring-ignition-failed.service; do
        inst_simple "$moddir/$unit" "$systemdsystemunitdir/$unit"
    done
    # The stages make up ignition-complete.target (which the generator pulls in on first boot).
    mkdir -p "$initdir$systemdsystemunitdir/ignition-complete.target.requires"
    for unit in \
        ignition-fetch-offline.service ignition-fetch.service ignition-kargs.service \
        ignition-disks.service ignition-mount.service ignition-files.service \
        mooring-boot-config.service mooring-mount-var.service; do
        ln_r "$systemdsystemunitdir/$unit" \
            "$systemdsystemunitdir/ignition-complete.target.requires/$unit"
    done
    # DHCP for ignition-fetch when a config needs the network (systemd-networkd module).
    inst_simple "$moddir/50-mooring-initrd-dhcp.network" \
        /etc/systemd/network/50-mooring-initrd-dhcp.network
    # Go Ignition's qemu platform needs the fw_cfg driver.
    hostonly='' instmods qemu_fw_cfg
}
