#!/bin/sh
# Benchmark (not a test): a full `images build` from an empty cache against a rebuild after only
# the overlay's file list changed (one file added). Prints both times and their ratio.
#
#   bench/images-rebuild.sh [BIN_DIR]      (root; BIN_DIR default: $MOORING_BIN_DIR or target/release)
#
# The work directory goes under ${TMPDIR:-/var/tmp} and is removed at the end.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${MOORING_BIN_DIR:-${CARGO_TARGET_DIR:-$repo/target}/release}}
images="$bin/images"
[ -x "$images" ] || { echo "no $images: cargo build --release --workspace first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mooring-bench.XXXXXX")
cleanup() {
    # ostree marks deployments immutable.
    find "$work" -xdev -type d -exec chattr -i {} + 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cp -a "$repo/images/manifest.toml" "$repo/images/overlay" "$work/"

now() { date +%s.%N; }
build() { "$images" build --output "$work/out" --manifest "$work/manifest.toml" --cache "$work/cache" --bin-dir "$bin"; }

t0=$(now); build; t1=$(now)
echo "mooring benchmark file" > "$work/overlay/etc/mooring-bench"
t2=$(now); build; t3=$(now)

full=$(echo "$t1 - $t0" | bc)
rebuild=$(echo "$t3 - $t2" | bc)
echo "full build:              ${full} s"
echo "rebuild (overlay files): ${rebuild} s"
echo "ratio rebuild/full:      $(echo "scale=3; $rebuild / $full" | bc)"
