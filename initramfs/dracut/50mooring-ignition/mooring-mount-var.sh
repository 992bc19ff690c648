#!/bin/sh
# After ostree-prepare-root: bind the stateroot's /var over the deployment's /var, so that what
# the files stage writes under /var (home directories too) lands where the booted system sees it.
set -eu
ostree_arg=
for arg in $(cat /proc/cmdline); do
    case "$arg" in ostree=*) ostree_arg="${arg#ostree=}" ;; esac
done
[ -n "$ostree_arg" ] || { echo "mooring-mount-var: no ostree= on the kernel command line" >&2; exit 1; }
deploy=$(readlink -f "/sysroot/sysroot$ostree_arg")
var="$(dirname "$(dirname "$deploy")")/var"
[ -d "$var" ] || { echo "mooring-mount-var: $var (from ostree=$ostree_arg) is not a directory" >&2; exit 1; }
mount --bind "$var" /sysroot/var
echo "mooring-mount-var: $var on /sysroot/var"
