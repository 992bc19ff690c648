#!/bin/sh
# A stage failed: say so on the console, with the stage's last lines, before emergency mode.
{
    echo
    echo "=================================================================="
    echo "mooring: Ignition failed; the boot stops here. The failing stage said:"
    for u in ignition-fetch-offline ignition-fetch ignition-kargs ignition-disks \
             ignition-mount ignition-files mooring-boot-config mooring-mount-var; do
        if systemctl -q is-failed "$u.service"; then
            echo "--- $u.service"
            journalctl -q -o cat --no-pager -n 20 -u "$u.service" 2>/dev/null
        fi
    done
    echo "=================================================================="
} > /dev/console 2>&1
exit 0
