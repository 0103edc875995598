#!/usr/bin/env bash
# with-mosquitto.sh CMD...: runs CMD against a private mosquitto 2 with dynamic security
# (scripts/servers/mosquitto.sh) that lives only as long as CMD, and exits with CMD's status. CMD sees
#   SLUICE_TEST_MQTT_URL, SLUICE_TEST_MQTT_ADMIN_USERNAME, SLUICE_TEST_MQTT_ADMIN_PASSWORD
#   SLUICE_TEST_MQTT_CTL   a command: `$SLUICE_TEST_MQTT_CTL stop|start|restart`
# The broker is stopped (by its pid file) and its directory removed on any exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: with-mosquitto.sh CMD..." >&2; exit 2; }

dir=$(mktemp -d /tmp/sluice-mosquitto.XXXXXX)
cleanup() {
    "$here/mosquitto.sh" stop "$dir/broker" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/mosquitto.sh" start "$dir/broker"
printf '#!/bin/sh\nexec "%s" "$1" "%s"\n' "$here/mosquitto.sh" "$dir/broker" > "$dir/mqtt-ctl"
chmod +x "$dir/mqtt-ctl"
set -a
# shellcheck disable=SC1091
. "$dir/broker/env"
set +a
export SLUICE_TEST_MQTT_CTL="$dir/mqtt-ctl"

status=0
"$@" || status=$?
exit "$status"
