#!/bin/bash
# Idle RSS of `mcd start` (goal < 15 MiB), on a node provisioned the way a new machine is:
# `mcs serve` on loopback, `mcs pointer`, our `ignition` (fetch, files) into a temporary root,
# `mcd firstboot-complete-machineconfig`, then `mcd start`. After it reports Done it is idle
# (long-polling); the script reads VmRSS and VmHWM, pushes one rebootless change (a new SSH key),
# waits for Done on the new config, and reads them again. A report, not a gate: exits 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -q -p mcs -p mcd -p ignition
bin=${CARGO_TARGET_DIR:-$root/target}/release
work=$(mktemp -d)
mcs_pid=; pid=
# Only the processes this script started, by their ids.
trap 'for p in $pid $mcs_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/state" "$work/root/etc" "$work/root/home/core"
port=$((20000 + RANDOM % 20000))
mc() {
    cat >"$work/in/w.yaml" <<YAML
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: 50-worker
  labels: {machineconfiguration.openshift.io/role: worker}
spec:
  config:
    ignition: {version: 3.2.0}
    passwd: {users: [{name: core, sshAuthorizedKeys: ["ssh-ed25519 AAAA $1"]}]}
    storage:
      files: [{path: /etc/motd, mode: 420, contents: {source: "data:,hello"}}]
YAML
}
mc one
"$bin/mcs" serve --dir "$work/in" --state-dir "$work/state" --listen "127.0.0.1:$port" \
    --advertise-url "https://127.0.0.1:$port" >"$work/mcs.log" 2>&1 &
mcs_pid=$!
for _ in $(seq 50); do [ -f "$work/state/ca.crt" ] && break; sleep 0.2; done
sleep 0.5
"$bin/mcs" pointer --state-dir "$work/state" --pool worker --url "https://127.0.0.1:$port" >"$work/pointer.ign"
printf 'root:x:0:0::/root:/bin/sh\ncore:x:1000:1000::/home/core:/bin/sh\n' >"$work/root/etc/passwd"
printf 'root:x:0:\ncore:x:1000:\n' >"$work/root/etc/group"
for stage in fetch files; do
    IGNITION_CONFIG_FILE="$work/pointer.ign" "$bin/ignition" -platform file -stage "$stage" \
        -root "$work/root" -config-cache "$work/cache.json" -state-file "$work/state.json" \
        -neednet "$work/neednet" -log-to-stdout >>"$work/ignition.log" 2>&1
done
"$bin/mcd" --root "$work/root" firstboot-complete-machineconfig >>"$work/mcd.log" 2>&1
"$bin/mcd" start --root "$work/root" --node-name bench >>"$work/mcd.log" 2>&1 &
pid=$!
wait_done() {
    for _ in $(seq 100); do
        "$bin/mcs" status --state-dir "$work/state" --json | grep -q '"state": *"Done"' && return 0
        sleep 0.2
    done
    echo "mcd-start-rss: the node did not report Done; see the logs in $work" >&2
    return 1
}
wait_done
sleep 2
echo "idle after first Done:  $(grep -E 'VmRSS|VmHWM' /proc/$pid/status | tr -s ' \t' ' ' | paste -sd ' ')"
mc two
for _ in $(seq 100); do grep -q "AAAA two" "$work/root/home/core/.ssh/authorized_keys.d/ignition" 2>/dev/null && break; sleep 0.2; done
wait_done
sleep 2
echo "idle after one update:  $(grep -E 'VmRSS|VmHWM' /proc/$pid/status | tr -s ' \t' ' ' | paste -sd ' ')"
echo "goal: idle RSS < 15 MiB (15,360 kB)"
