#!/usr/bin/env bash
# mcd on a 5,000-file rendered config: validate (goal < 200 ms), apply on a temporary root
# (goal < 2 s), peak RSS of once-from (goal < 30 MiB). Median of N runs (-n N, default 5).
# Wall time and peak RSS from GNU time. Needs: cargo, /usr/bin/time.
# MCD_BENCH_BIN=PATH measures another mcd binary (e.g. one built from an older commit) with the
# same configs.
# Each round gets a new root directory; all are deleted at the end. BENCH_DELETE_BETWEEN=1
# deletes the previous round's root right before the next one instead (the first version of this
# script): on ext4 without a journal, creating files within a minute of freeing thousands of
# inodes is several times slower (see docs/benchmarks.md, "ignition files stage against Go's").
# BENCH_DIR=DIR puts the roots there (default $TMPDIR or /tmp). An apply syncs its filesystem
# (syncfs), which waits for everything dirty on it, other programs' writes too: on a shared
# machine give the roots a filesystem of their own, as a node's root is (docs/benchmarks.md).
set -euo pipefail
runs=5
while getopts n: o; do case $o in n) runs=$OPTARG ;; *) exit 2 ;; esac; done
cd "$(dirname "$0")/.."
cargo build --release -q -p mcd --bin mcd --example gen_bench_config
target=${CARGO_TARGET_DIR:-target}
mcd=${MCD_BENCH_BIN:-$target/release/mcd}
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/mcd-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$target/release/examples/gen_bench_config" 5000 rendered-bench-1 >"$work/v1.json"
"$target/release/examples/gen_bench_config" 5000 rendered-bench-2 >"$work/v2.json"
echo "config: 5,000 files + 20 units, $(stat -c %s "$work/v1.json") bytes"

round=0
fresh_root() { # sets $root
    if [ -n "${BENCH_DELETE_BETWEEN:-}" ]; then
        rm -rf "$work/root"
        root=$work/root
    else
        round=$((round + 1))
        root=$work/root-$round
    fi
    mkdir -p "$root/etc"
    printf 'root:x:0:0:root:/root:/bin/sh\ncore:x:1000:1000::/home/core:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\ncore:x:1000:\n' >"$root/etc/group"
}
measure() { # prints "seconds kilobytes" of one run
    # Flush what others left dirty first: an apply syncs the filesystem twice (see docs/mcd.md),
    # and should pay only for its own writes.
    sync
    /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>&1
    cat "$work/t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

export MCD_LOG=warn
: >"$work/apply1"; : >"$work/apply2"; : >"$work/validate"; : >"$work/rss1"; : >"$work/rss2"
for _ in $(seq "$runs"); do
    fresh_root
    read -r s kb < <(measure "$mcd" --root "$root" once-from "$work/v1.json")
    echo "$s" >>"$work/apply1"; echo "$kb" >>"$work/rss1"
    read -r s kb < <(measure "$mcd" --root "$root" validate)
    echo "$s" >>"$work/validate"
    read -r s kb < <(measure "$mcd" --root "$root" once-from "$work/v2.json")
    echo "$s" >>"$work/apply2"; echo "$kb" >>"$work/rss2"
done
printf 'apply 5,000 files on an empty root (once-from):   %s s (goal < 2 s)\n' "$(median <"$work/apply1")"
printf 'apply 5,000 changed files (once-from, journaled): %s s (goal < 2 s)\n' "$(median <"$work/apply2")"
printf 'validate 5,000 files:                             %s s (goal < 0.2 s)\n' "$(median <"$work/validate")"
printf 'peak RSS of once-from on an empty root:           %s KB (goal < 30 MiB = 30720 KB)\n' "$(median <"$work/rss1")"
printf 'peak RSS of once-from replacing a 5,000-file one:  %s KB (goal < 30 MiB = 30720 KB)\n' "$(median <"$work/rss2")"
