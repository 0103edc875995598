#!/usr/bin/env bash
# mosquitto.sh start|stop|restart DIR: one mosquitto 2 broker for tests, on 127.0.0.1, a free port
# (band 33-: below the ephemeral range, see ports.sh: 9000-9999), DIR as its private config and
# persistence directory, with the dynamic-security plugin: anonymous clients are refused and
# the administrator `sluice-admin` (password in DIR/admin.password) manages clients and roles
# over `$CONTROL/dynamic-security/v1`. `start` writes DIR/env:
#   SLUICE_TEST_MQTT_URL=mqtt://127.0.0.1:PORT
#   SLUICE_TEST_MQTT_ADMIN_USERNAME=sluice-admin
#   SLUICE_TEST_MQTT_ADMIN_PASSWORD=...
# `restart` keeps the port, the persistent sessions and the dynamic-security file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/ports.sh"

usage() { echo "usage: $0 start|stop|restart DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
plugin=/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so

start() {
    local port
    if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(free_port 9000 10000); fi
    echo "$port" > "$dir/port"
    if [ ! -f "$dir/dynamic-security.json" ]; then
        head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/admin.password"
        mosquitto_ctrl dynsec init "$dir/dynamic-security.json" sluice-admin "$(cat "$dir/admin.password")" > /dev/null
    fi
    cat > "$dir/mosquitto.conf" <<CONF
per_listener_settings false
user $(id -un)
listener $port 127.0.0.1
allow_anonymous false
plugin $plugin
plugin_opt_config_file $dir/dynamic-security.json
persistence true
persistence_location $dir/
autosave_interval 1
pid_file $dir/mosquitto.pid
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
CONF
    rm -f "$dir/mosquitto.pid"
    mosquitto -c "$dir/mosquitto.conf" -d 2>> "$dir/mosquitto.stderr"
    local until=$((SECONDS + 20))
    while [ $SECONDS -lt $until ]; do
        if mosquitto_ctrl -h 127.0.0.1 -p "$port" -u sluice-admin -P "$(cat "$dir/admin.password")" dynsec getDefaultACLAccess > /dev/null 2>&1; then
            printf 'SLUICE_TEST_MQTT_URL=mqtt://127.0.0.1:%s\nSLUICE_TEST_MQTT_ADMIN_USERNAME=sluice-admin\nSLUICE_TEST_MQTT_ADMIN_PASSWORD=%s\n' \
                "$port" "$(cat "$dir/admin.password")" > "$dir/env"
            return 0
        fi
        sleep 0.05
    done
    echo "mosquitto on port $port did not start; log:" >&2
    tail -n 20 "$dir/mosquitto.log" >&2 || true
    stop
    return 1
}

stop() {
    [ -f "$dir/mosquitto.pid" ] || return 0
    local pid
    pid=$(cat "$dir/mosquitto.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/mosquitto.pid"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    *) usage ;;
esac
