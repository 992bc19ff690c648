#!/bin/sh
# mooring vm-tests agent: runs the commands the host sends on the virtio-serial port
# org.mooring.agent and answers each with its exit status and output.
# In:  "C <id> <command as base64>"          (one line; run with sh, stdin /dev/null)
# Out: "R <id> <exit status> <stdout+stderr as base64>"   (one line)
# The port reads end-of-file while the host is not connected: then wait and open it again.
NAME=org.mooring.agent
T=${MOORING_AGENT_DIR:-/run/mooring-agent}
mkdir -p "$T"

find_port() {
    for n in /sys/class/virtio-ports/*/name; do
        [ -r "$n" ] || continue
        if [ "$(cat "$n")" = "$NAME" ]; then
            d=${n%/name}
            echo "/dev/${d##*/}"
            return 0
        fi
    done
    return 1
}

serve() {
    while read -r kind id cmd; do
        [ "$kind" = C ] || continue
        printf '%s' "$cmd" | base64 -d > "$T/cmd" 2> /dev/null
        sh "$T/cmd" < /dev/null > "$T/out" 2>&1
        rc=$?
        printf 'R %s %s %s\n' "$id" "$rc" "$(base64 < "$T/out" | tr -d '\n')"
    done
}

while :; do
    if p=$(find_port); then
        { serve <&3 >&3; } 3<> "$p"
    fi
    sleep 1
done
