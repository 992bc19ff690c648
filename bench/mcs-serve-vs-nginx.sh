#!/bin/bash
# Benchmark: `mcs serve` against nginx serving the same bytes over TLS on loopback,
# as a fleet of nodes fetching their config at once.
#
# Usage: bench/mcs-serve-vs-nginx.sh [-n RUNS] [-d SECONDS] [-c CONNECTIONS] [-t THREADS]
#        (defaults: 3 runs of 10 s per server, alternating, 256 connections, 2 wrk threads)
#
# Generates 10 pools (each with 5 MachineConfigs of 4 files), starts the release
# `mcs serve` on a free loopback port with a generated CA, saves the worker pool's
# config as served for `Accept: ...;version=3.4.0`, and starts nginx (Debian package)
# on another loopback port serving those bytes at the same path with the same
# certificate and key (worker_processes auto, keep-alive without a request limit,
# no access log). wrk (Debian package) then loads each for the duration, after a
# 2 s warm-up, with the same Accept header, alternating, RUNS times. Prints requests/s
# and p99 latency of every run, the medians, the ratios of the medians mcs/nginx
# (goals: throughput >= 0.8, p99 <= 2), and the RSS of
# `mcs serve` idle after start, idle after every pool was fetched in every version,
# and after the load (goal: idle < 30 MiB). A report, not a gate: exits 0 whether or
# not the goals are met (non-zero only if it cannot run). Respects CARGO_TARGET_DIR.
set -euo pipefail

duration=10
connections=256
threads=2
runs=3
while getopts "n:d:c:t:h" opt; do
    case $opt in
        d) duration=$OPTARG ;;
        c) connections=$OPTARG ;;
        t) threads=$OPTARG ;;
        n) runs=$OPTARG ;;
        h) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-n RUNS] [-d SECONDS] [-c CONNECTIONS] [-t THREADS]" >&2; exit 2 ;;
    esac
done
for n in "$runs" "$duration" "$connections" "$threads"; do
    case $n in
        '' | *[!0-9]* | 0) echo "mcs-serve-vs-nginx: -n, -d, -c and -t need positive integers" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
missing=()
for pkg in wrk nginx curl; do
    command -v "$pkg" >/dev/null || [ -x "/usr/sbin/$pkg" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    # Benchmark-only peers: installed here, not by scripts/install-deps (the tests do not need them).
    echo "mcs-serve-vs-nginx: installing ${missing[*]} (Debian packages)"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
    fi
fi
for tool in wrk nginx curl python3; do
    if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
        echo "mcs-serve-vs-nginx: $tool not found and could not be installed (Debian packages: wrk, nginx, curl). Nothing measured."
        exit 0
    fi
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release -q -p mcs
target=${CARGO_TARGET_DIR:-$root/target}
mcs_bin=$target/release/mcs

work=$(mktemp -d)
chmod 755 "$work"  # nginx workers (www-data or nobody when run as root) read www/
mcs_pid=
nginx_pid=
cleanup() {
    [ -n "$mcs_pid" ] && kill "$mcs_pid" 2>/dev/null || true
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Inputs: 10 pools, each selecting its role; 5 MachineConfigs per pool with 4 files of 512 bytes.
mkdir -p "$work/in"
python3 - "$work/in" <<'PY'
import base64, os, sys
out = sys.argv[1]
pools = ["worker", "master"] + [f"pool{i}" for i in range(8)]
for p in pools:
    docs = []
    docs.append(f"""apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata:
  name: {p}
spec:
  machineConfigSelector:
    matchLabels:
      machineconfiguration.openshift.io/role: {p}
  nodeSelector:
    matchLabels:
      node-role.kubernetes.io/{p}: ""
""")
    for m in range(5):
        files = []
        for f in range(4):
            data = base64.b64encode(os.urandom(384)).decode()
            files.append(f"""      - path: /etc/mooring-bench/{m}/{f}.conf
        mode: 420
        contents:
          source: "data:;base64,{data}"
""")
        docs.append(f"""apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: {50 + m}-{p}-bench
  labels:
    machineconfiguration.openshift.io/role: {p}
spec:
  kernelArguments: [mooring.bench={m}]
  config:
    ignition:
      version: 3.2.0
    storage:
      files:
{''.join(files)}""")
    with open(os.path.join(out, f"{p}.yaml"), "w") as fh:
        fh.write("---\n".join(docs))
PY

accept='application/vnd.coreos.ignition+json;version=3.4.0'
mcs_port=$(free_port)
# --allow-anonymous-config: nginx serves without a token, and so does mcs here (by default
# /config/<pool> needs the pool's bootstrap token, docs/mcs.md).
"$mcs_bin" serve --dir "$work/in" --state-dir "$work/state" --listen "127.0.0.1:$mcs_port" \
    --allow-anonymous-config 2>"$work/mcs.log" &
mcs_pid=$!
for _ in $(seq 1 100); do
    curl -sf --cacert "$work/state/ca.crt" "https://localhost:$mcs_port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
sleep 1
rss_start=$(rss "$mcs_pid")
mkdir -p "$work/www/config"
for pool in worker master pool0 pool1 pool2 pool3 pool4 pool5 pool6 pool7; do
    for v in 2.2.0 3.0.0 3.1.0 3.2.0 3.3.0 3.4.0 3.5.0 3.6.0; do
        curl -sf --cacert "$work/state/ca.crt" -H "Accept: application/vnd.coreos.ignition+json;version=$v" \
            "https://localhost:$mcs_port/config/$pool" >/dev/null
    done
done
curl -sf --cacert "$work/state/ca.crt" -H "Accept: $accept" \
    "https://localhost:$mcs_port/config/worker" -o "$work/www/config/worker"
sleep 1
rss_warm=$(rss "$mcs_pid")
size=$(stat -c %s "$work/www/config/worker")

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_certificate $work/state/server.crt;
        ssl_certificate_key $work/state/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $work/www;
        location /config/ { default_type "application/vnd.coreos.ignition+json;version=3.4.0"; }
    }
}
NGINX
"$nginx_bin" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 1 100); do
    curl -sf --cacert "$work/state/ca.crt" "https://localhost:$nginx_port/config/worker" -o "$work/nginx.body" 2>/dev/null && break
    sleep 0.1
done
cmp -s "$work/nginx.body" "$work/www/config/worker" || { echo "nginx does not serve the same bytes:" >&2; cat "$work/nginx/error.log" >&2; ls -la "$work/www/config" "$work/nginx.body" >&2; exit 1; }

# wrk's latency figures: 1.23ms, 456.78us, 1.02s -> milliseconds.
to_ms() {
    awk -v x="$1" 'BEGIN { if (x ~ /us$/) { sub(/us$/, "", x); printf "%.3f", x/1000 }
        else if (x ~ /ms$/) { sub(/ms$/, "", x); printf "%.3f", x }
        else if (x ~ /s$/) { sub(/s$/, "", x); printf "%.3f", x*1000 } }'
}
run_wrk() { # name port -> "rps p99ms"
    wrk -t"$threads" -c"$connections" -d2s -H "Accept: $accept" "https://localhost:$2/config/worker" >/dev/null
    wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -H "Accept: $accept" \
        "https://localhost:$2/config/worker" >"$work/wrk-$1.txt"
    local rps p99 errors
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$1.txt")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk-$1.txt")")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk-$1.txt")
    [ -n "$errors" ] && echo "  $1: $errors" >&2
    echo "$rps $p99"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "mcs serve vs nginx: ${connections} connections, ${threads} wrk threads, ${duration} s per run, TLS on loopback,"
echo "  body ${size} bytes (pool worker, spec 3.4.0), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-6s %-8s %12s %12s\n' run server "requests/s" "p99 (ms)"
: >"$work/mcs.runs"
: >"$work/nginx.runs"
for i in $(seq 1 "$runs"); do
    read -r rps p99 < <(run_wrk mcs "$mcs_port")
    echo "$rps $p99" >>"$work/mcs.runs"
    printf '  %-6s %-8s %12s %12s\n' "$i" mcs "$rps" "$p99"
    [ -n "${MCS_BENCH_VERBOSE:-}" ] && cat "$work/wrk-mcs.txt"
    read -r rps p99 < <(run_wrk nginx "$nginx_port")
    echo "$rps $p99" >>"$work/nginx.runs"
    printf '  %-6s %-8s %12s %12s\n' "$i" nginx "$rps" "$p99"
    [ -n "${MCS_BENCH_VERBOSE:-}" ] && cat "$work/wrk-nginx.txt"
done
rss_load=$(rss "$mcs_pid")
mcs_rps=$(cut -d' ' -f1 "$work/mcs.runs" | median)
mcs_p99=$(cut -d' ' -f2 "$work/mcs.runs" | median)
ngx_rps=$(cut -d' ' -f1 "$work/nginx.runs" | median)
ngx_p99=$(cut -d' ' -f2 "$work/nginx.runs" | median)
printf '  %-6s %-8s %12s %12s\n' median mcs "$mcs_rps" "$mcs_p99" median nginx "$ngx_rps" "$ngx_p99"
awk -v a="$mcs_rps" -v b="$ngx_rps" 'BEGIN { printf "  throughput mcs/nginx: %.2f (goal >= 0.8)\n", a/b }'
awk -v a="$mcs_p99" -v b="$ngx_p99" 'BEGIN { printf "  p99 latency mcs/nginx: %.2f (goal <= 2)\n", a/b }'
echo "mcs serve RSS with 10 pools: ${rss_start} MiB idle after start, ${rss_warm} MiB idle after serving every pool in every version (goal < 30), ${rss_load} MiB after the load"
