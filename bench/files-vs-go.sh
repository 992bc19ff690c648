#!/usr/bin/env bash
# Benchmark (not a test): the files stage of our `ignition` against Go Ignition
# 2.14's on a generated config of 2,000 files, 200 directories, 200 links and
# 50 enabled units, each run on a fresh root, alternating Go and ours.
# Prints the median wall time of each and the ratio ours / Go (goal <= 0.25).
#
#   bench/files-vs-go.sh [-n RUNS]     (BENCH_DIR=DIR: where the roots go, default $TMPDIR or /tmp)
#
# Every run gets a new, empty root directory; the roots are deleted at the
# end, not between runs (BENCH_DELETE_BETWEEN=1 deletes the previous root
# before each run instead, as the first version of this script did). Why: on
# an ext4 without a journal (the disks of these machines), the inode
# allocator skips inodes freed in the last 60 s (`recently_deleted` in
# fs/ext4/ialloc.c), so deleting the previous run's 2,650 inodes right before
# a run makes every create of that run scan them: that measures the allocator
# (several hundred ms for both programs here), not the executor, and a first
# boot writes to a fresh filesystem. See docs/benchmarks.md.
set -euo pipefail

runs=7
if [[ ${1:-} == -n ]]; then runs=$2; fi
here=$(cd "$(dirname "$0")/.." && pwd)
go=${GO_IGNITION:-/usr/lib/dracut/modules.d/30ignition/ignition}
[[ -x $go ]] || { echo "Go Ignition not found at $go (Debian package ignition)" >&2; exit 1; }

cargo build --release -q -p ignition --bin ignition --manifest-path "$here/Cargo.toml"
ours=${CARGO_TARGET_DIR:-$here/target}/release/ignition

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/files-vs-go.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/nosys"
printf '#!/bin/sh\ncat >/dev/null\n' > "$work/bin/setfiles"
chmod +x "$work/bin/setfiles"

# The config (spec 3.3.0, which both read).
{
    printf '{"ignition":{"version":"3.3.0"},"storage":{"directories":['
    for d in $(seq 0 199); do
        [[ $d -gt 0 ]] && printf ','
        printf '{"path":"/bench/d%d","mode":493}' "$d"
    done
    printf '],"files":['
    for f in $(seq 0 1999); do
        [[ $f -gt 0 ]] && printf ','
        printf '{"path":"/bench/d%d/f%d.conf","mode":420,"contents":{"source":"data:,file%%20number%%20%d%%0A"}}' $((f % 200)) "$f" "$f"
    done
    printf '],"links":['
    for l in $(seq 0 199); do
        [[ $l -gt 0 ]] && printf ','
        printf '{"path":"/bench/links/l%d","target":"/bench/d%d/f%d.conf"}' "$l" "$l" "$l"
    done
    printf ']},"systemd":{"units":['
    for u in $(seq 0 49); do
        [[ $u -gt 0 ]] && printf ','
        printf '{"name":"bench%d.service","enabled":true,"contents":"[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n"}' "$u"
    done
    printf ']}}\n'
} > "$work/config.ign"

nroot=0
fresh_root() { # sets $root
    if [[ ${BENCH_DELETE_BETWEEN:-} == 1 ]]; then
        root=$work/root
        rm -rf "$root"
    else
        nroot=$((nroot + 1))
        root=$work/root$nroot
    fi
    mkdir -p "$root/etc/selinux"
    echo SELINUXTYPE=targeted > "$root/etc/selinux/config"
    sync   # start each run with no writeback of the previous one pending
}

run_once() { # binary -> milliseconds
    fresh_root
    local start end
    start=$(date +%s%N)
    PATH="$work/bin:$PATH" IGNITION_SYSTEM_CONFIG_DIR="$work/nosys" \
        "$1" -platform file -stage files -root "$root" -config-cache "$work/config.ign" \
        -state-file "$work/state" -log-to-stdout >/dev/null
    end=$(date +%s%N)
    [[ $(find "$root/bench" -type f | wc -l) -eq 2000 ]] || { echo "$1 did not write 2000 files" >&2; exit 1; }
    echo $(( (end - start) / 1000000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_once "$go" >/dev/null; run_once "$ours" >/dev/null   # warm the page cache
go_times=(); our_times=()
for _ in $(seq "$runs"); do
    go_times+=("$(run_once "$go")")
    our_times+=("$(run_once "$ours")")
done
g=$(printf '%s\n' "${go_times[@]}" | median)
o=$(printf '%s\n' "${our_times[@]}" | median)
how="new root directory per run"
[[ ${BENCH_DELETE_BETWEEN:-} == 1 ]] && how="previous root deleted before each run"
echo "config: 2000 files, 200 directories, 200 links, 50 enabled units; $runs alternating runs each"
echo "roots under $(df --output=fstype "$work" | tail -1) ($work), $how"
echo "Go Ignition 2.14 files stage: median ${g} ms (${go_times[*]})"
echo "ours (release):               median ${o} ms (${our_times[*]})"
awk -v o="$o" -v g="$g" 'BEGIN { printf "ours / Go: %.3f (goal <= 0.25)\n", o / g }'
