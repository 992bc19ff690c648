#!/bin/bash
# Benchmark: our ignition-validate against Go Ignition 2.14's /usr/bin/ignition-validate
# on the same large generated config (ignition/examples/gen_large_config.rs: spec 3.3.0,
# 20,000 files, 500 directories, 2,000 links, 200 units, about 8 MB).
#
# Usage: bench/validate-vs-go.sh [-n RUNS]      (default 5 runs of each, alternating)
#
# Measures wall time and peak RSS of each run with GNU time (`/usr/bin/time -f '%e %M'`;
# wall has 10 ms resolution), prints every run, the medians and the ratios ours/go.
# Goals: ours/go wall <= 0.10 and ours/go peak RSS <= 0.5. This is a report, not a gate:
# it exits 0 whether or not the goals are met (non-zero only if it cannot run at all).
# Respects CARGO_TARGET_DIR.
set -euo pipefail

runs=5
while getopts "n:h" opt; do
    case $opt in
        n) runs=$OPTARG ;;
        h) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-n RUNS]" >&2; exit 2 ;;
    esac
done
case $runs in
    '' | *[!0-9]* | 0) echo "validate-vs-go: -n needs a positive integer" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

go_bin=${GO_IGNITION_VALIDATE:-/usr/bin/ignition-validate}
if [ ! -x "$go_bin" ]; then
    echo "validate-vs-go: $go_bin not found; install Debian package 'ignition'. Nothing measured."
    exit 0
fi
if [ ! -x /usr/bin/time ]; then
    echo "validate-vs-go: /usr/bin/time missing; installing Debian package 'time'"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q time >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; }
    fi
    [ -x /usr/bin/time ] || { echo "validate-vs-go: could not install 'time' (need root and apt-get)" >&2; exit 1; }
fi

echo "== building (release)"
cargo build --release -q -p ignition --bin ignition-validate
cargo build --release -q -p ignition --example gen_large_config
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
ours_bin=$target/release/ignition-validate
gen_bin=$target/release/examples/gen_large_config
for b in "$ours_bin" "$gen_bin"; do
    [ -x "$b" ] || { echo "validate-vs-go: built binary not found at $b" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
config=$tmp/large.ign
"$gen_bin" "$config"
echo "config: $(wc -c <"$config") bytes"
echo "go:     $go_bin ($("$go_bin" --version 2>&1 | head -n1))"
echo "ours:   $ours_bin"

# run NAME BINARY -> appends "wall rss exit" to $tmp/NAME.runs and prints the run
run() {
    local name=$1 bin=$2 rc=0
    /usr/bin/time -f '%e %M' -o "$tmp/time.out" "$bin" "$config" >"$tmp/$name.stdout" 2>"$tmp/$name.stderr" || rc=$?
    # GNU time appends "Command exited with non-zero status N" before the figures; keep the last line.
    local fig
    fig=$(tail -n1 "$tmp/time.out")
    echo "$fig $rc" >>"$tmp/$name.runs"
    printf '  %-4s wall %6.2f s   peak RSS %8d KB   exit %d   findings %d\n' \
        "$name" "${fig% *}" "${fig#* }" "$rc" "$(wc -l <"$tmp/$name.stdout")"
}

echo "== $runs runs each, alternating"
: >"$tmp/go.runs"
: >"$tmp/ours.runs"
for i in $(seq 1 "$runs"); do
    echo "run $i"
    run go "$go_bin"
    run ours "$ours_bin"
done

median() { # COLUMN FILE
    cut -d' ' -f"$1" "$2" | sort -n | awk '{v[NR]=$1} END {
        if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2] + v[NR/2+1]) / 2 }'
}
go_wall=$(median 1 "$tmp/go.runs")
go_rss=$(median 2 "$tmp/go.runs")
ours_wall=$(median 1 "$tmp/ours.runs")
ours_rss=$(median 2 "$tmp/ours.runs")

echo "== medians over $runs runs"
printf '  go    wall %6.2f s   peak RSS %8.0f KB\n' "$go_wall" "$go_rss"
printf '  ours  wall %6.2f s   peak RSS %8.0f KB\n' "$ours_wall" "$ours_rss"

comparable=1
for name in go ours; do
    if cut -d' ' -f3 "$tmp/$name.runs" | grep -qv '^0$'; then comparable=0; fi
done

awk -v ok="$comparable" -v ow="$ours_wall" -v gw="$go_wall" -v orss="$ours_rss" -v grss="$go_rss" 'BEGIN {
    wr = (gw > 0) ? ow / gw : -1
    rr = (grss > 0) ? orss / grss : -1
    if (wr < 0) print "  ours/go wall:     n/a (Go wall rounded to 0)"; else printf "  ours/go wall:     %.3f\n", wr
    if (rr < 0) print "  ours/go peak RSS: n/a"; else printf "  ours/go peak RSS: %.3f\n", rr
    nc = "NOT COMPARABLE (a validator rejected the config, see below)"
    printf "goal ours/go wall <= 0.10:     %s\n", !ok ? nc : (wr >= 0 && wr <= 0.10) ? "MET" : "NOT MET"
    printf "goal ours/go peak RSS <= 0.5:  %s\n", !ok ? nc : (rr >= 0 && rr <= 0.5) ? "MET" : "NOT MET"
}'

# Both validators should accept the config; a validator that bails out early is not comparable.
for name in go ours; do
    if cut -d' ' -f3 "$tmp/$name.runs" | grep -qv '^0$'; then
        echo "NOTE: $name exited non-zero on the generated config; first lines of its output:"
        head -n5 "$tmp/$name.stdout" "$tmp/$name.stderr" | sed 's/^/  /'
    fi
done
exit 0
