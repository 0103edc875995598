#!/usr/bin/env bash
# with-mosquitto.sh CMD...: runs CMD with a mosquitto 2 broker (dynamic security, persistence)
# started for it (private directory, loopback, a free port), then stops it by pid, also when CMD
# fails or the script is interrupted, and exits with CMD's status. CMD sees:
#   SLUICE_TEST_MQTT_URL, SLUICE_TEST_MQTT_ADMIN_USERNAME, SLUICE_TEST_MQTT_ADMIN_PASSWORD
#   SLUICE_TEST_MQTT_CTL   a command: `$SLUICE_TEST_MQTT_CTL stop|start|restart`
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 CMD..." >&2; exit 2; }

base=$(mktemp -d "${TMPDIR:-/tmp}/sluice-mosquitto.XXXXXX")
cleanup() {
    "$here/mosquitto.sh" stop "$base/broker" || true
    if [ -z "${SLUICE_KEEP_SERVER_DIRS:-}" ]; then rm -rf "$base"; else echo "server dirs kept in $base" >&2; fi
}
cmd_pid=""
on_signal() {
    if [ -n "$cmd_pid" ]; then kill -TERM "$cmd_pid" 2>/dev/null || true; wait "$cmd_pid" 2>/dev/null || true; fi
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

"$here/mosquitto.sh" start "$base/broker"
cat > "$base/mqtt-ctl" <<CTL
#!/bin/sh
# mqtt-ctl stop|start|restart
exec "$here/mosquitto.sh" "\$1" "$base/broker"
CTL
chmod +x "$base/mqtt-ctl"

set -a
. "$base/broker/env"
set +a
export SLUICE_TEST_MQTT_CTL="$base/mqtt-ctl"

status=0
"$@" &
cmd_pid=$!
wait "$cmd_pid" || status=$?
cmd_pid=""
exit $status
