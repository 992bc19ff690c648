#!/bin/sh
# Regenerate expected.tsv: Go Ignition's verdict for every *.ign in this directory.
#
# Oracle: /usr/bin/ignition-validate from Debian's `ignition` package (Go Ignition 2.14,
# specs 3.0.0-3.3.0). Override with GO_IGNITION_VALIDATE=/path/to/ignition-validate.
#
# Columns (tab-separated, one header line):
#   file            corpus file name
#   go_exit         exit status of Go's validator
#   go_error_paths  sorted, de-duplicated, comma-joined JSON paths of Go's `error at $...` lines;
#                   `-` stands for an error without a JSON path: an `error at line L col C: ...`
#                   line (JSON syntax / type errors), or a fatal message on stderr with no
#                   `error at` line at all (empty input, unknown version). Empty when no error.
#
# tests/differential.rs applies exactly the same reduction to our validator's output.
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
go=${GO_IGNITION_VALIDATE:-/usr/bin/ignition-validate}
[ -x "$go" ] || { echo "regen.sh: $go not found (apt-get install ignition)" >&2; exit 2; }

out="$dir/expected.tsv"
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.out"' EXIT

printf 'file\tgo_exit\tgo_error_paths\n' >"$tmp"
count=0
for f in "$dir"/*.ign; do
    name=$(basename "$f")
    set +e
    "$go" "$f" >"$tmp.out" 2>/dev/null
    rc=$?
    set -e
    paths=$(
        {
            # `error at $.a.b.0, line 1 col 2: msg` or `error at $.a: msg` -> $.a.b.0 / $.a
            sed -n 's/^error at \(\$[^,:]*\).*$/\1/p' "$tmp.out"
            # `error at line 1 col 2: msg` -> -
            grep -q '^error at [^$]' "$tmp.out" && echo '-'
            # failed without any `error at` line (fatal, reported on stderr) -> -
            if [ "$rc" -ne 0 ] && ! grep -q '^error at ' "$tmp.out"; then echo '-'; fi
        } | LC_ALL=C sort -u | paste -sd, -
    )
    printf '%s\t%s\t%s\n' "$name" "$rc" "$paths" >>"$tmp"
    count=$((count + 1))
done
mv "$tmp" "$out"
trap - EXIT
rm -f "$tmp.out"
echo "regen.sh: wrote $count verdicts to $out"
