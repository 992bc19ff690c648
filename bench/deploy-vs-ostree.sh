#!/bin/bash
# Benchmark: our `rpm-ostree deploy` against `ostree admin deploy` (libostree 2022.7, Debian
# package `ostree`) deploying the same commit of 20,000 small files on identical fresh sysroots.
#
# Usage: bench/deploy-vs-ostree.sh [-n RUNS] [-f FILES]   (defaults: 5 runs of each, 20000 files)
#
# Setup (not timed): a template repo with a small bootable commit (v1) and its child v2 with
# FILES extra files of 64 bytes; for every run a fresh sysroot (init-fs, os-init, pull-local of
# both commits, `ostree admin deploy` of v1). Timed: deploying v2 by checksum, ours then ostree,
# alternating, each on its own fresh sysroot. Prints every run, the medians and ours/ostree
# (goal <= 1.2). A report, not a gate: exits 0 whether or not the goal is met. Needs root.
# Respects CARGO_TARGET_DIR.
set -euo pipefail

runs=5
files=20000
while getopts "n:f:h" opt; do
    case $opt in
        n) runs=$OPTARG ;;
        f) files=$OPTARG ;;
        h) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-n RUNS] [-f FILES]" >&2; exit 2 ;;
    esac
done
for v in "$runs" "$files"; do
    case $v in '' | *[!0-9]* | 0) echo "deploy-vs-ostree: -n and -f need positive integers" >&2; exit 2 ;; esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "deploy-vs-ostree: needs root (deployments are owned by root and made immutable). Nothing measured."
    exit 0
fi
command -v ostree >/dev/null || { echo "deploy-vs-ostree: install the Debian package 'ostree'" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -q -p rpmostree-shim
ours="${CARGO_TARGET_DIR:-$root/target}/release/rpm-ostree"

work=$(mktemp -d /var/tmp/deploy-vs-ostree.XXXXXX)
cleanup() {
    chattr -R -i "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "deploy-vs-ostree: building the template repo ($files files)"
tree="$work/tree"
mkdir -p "$tree/usr/lib/modules/6.1.0" "$tree/usr/etc"
echo kernel >"$tree/usr/lib/modules/6.1.0/vmlinuz"
echo initramfs >"$tree/usr/lib/modules/6.1.0/initramfs.img"
printf 'ID=debian\nNAME="Debian"\n' | tee "$tree/usr/lib/os-release" >"$tree/usr/etc/os-release"
tpl="$work/template"
ostree init --repo="$tpl" --mode=bare
v1=$(ostree commit --repo="$tpl" -b bench/os --add-metadata-string=version=1 --tree=dir="$tree")
awk -v base="$tree/usr/share/bench" -v n="$files" 'BEGIN {
    for (i = 0; i < n; i++) {
        d = sprintf("%s/d%03d", base, int(i / 500))
        if (i % 500 == 0) system("mkdir -p " d)
        f = sprintf("%s/f%05d", d, i)
        printf "file %05d %s\n", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" > f
        close(f)
    }
}'
v2=$(ostree commit --repo="$tpl" -b bench/os --add-metadata-string=version=2 --tree=dir="$tree")

fresh() { # fresh sysroot with v1 deployed
    local s=$1
    mkdir -p "$s"
    ostree admin init-fs --modern "$s" >/dev/null
    ostree admin os-init --sysroot="$s" bench >/dev/null
    ostree pull-local --depth=1 --repo="$s/ostree/repo" "$tpl" bench/os >/dev/null
    ostree admin deploy --sysroot="$s" --os=bench "$v1" >/dev/null
    # The origin should name the ref, as after an install.
    local origin
    origin=$(ls "$s"/ostree/deploy/bench/deploy/*.origin)
    printf '[origin]\nrefspec=bench/os\n' >"$origin"
}
now() { date +%s%N; }

ours_t=()
theirs_t=()
for i in $(seq 1 "$runs"); do
    a="$work/ours-$i"; b="$work/ostree-$i"
    fresh "$a"; fresh "$b"
    sync
    t0=$(now); "$ours" --sysroot="$a" deploy "$v2" >/dev/null; t1=$(now)
    ours_t+=($(( (t1 - t0) / 1000000 )))
    t0=$(now); ostree admin deploy --sysroot="$b" --os=bench "$v2" >/dev/null; t1=$(now)
    theirs_t+=($(( (t1 - t0) / 1000000 )))
    # Same outcome on both: the new deployment first, on v2.
    [ "$(ostree admin status --sysroot="$a" | grep -c "$v2")" = 1 ] || { echo "ours did not deploy $v2" >&2; exit 1; }
    echo "run $i: ours ${ours_t[-1]} ms, ostree ${theirs_t[-1]} ms"
    chattr -R -i "$a" "$b" 2>/dev/null || true
    rm -rf "$a" "$b"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(median "${ours_t[@]}")
mt=$(median "${theirs_t[@]}")
ratio=$(awk -v a="$mo" -v b="$mt" 'BEGIN {printf "%.2f", a/b}')
echo
echo "files: $files, runs: $runs"
echo "median ours (rpm-ostree deploy):   $mo ms"
echo "median ostree admin deploy:        $mt ms"
echo "ours/ostree: $ratio (goal <= 1.2)"
