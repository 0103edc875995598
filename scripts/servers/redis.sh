#!/usr/bin/env bash
# redis.sh start|stop|restart|freeze|thaw DIR: one standalone redis-server for tests, on 127.0.0.1, a free
# port and DIR as its data directory. `start` writes DIR/env:
#   SLUICE_TEST_REDIS_URL=redis://127.0.0.1:PORT
# `restart` keeps the port and the data (append-only file), as an outage test needs. `freeze`
# stops the process (SIGSTOP: connections stay open, nothing answers), `thaw` resumes it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/redis-common.sh"

usage() { echo "usage: $0 start|stop|restart|freeze|thaw DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

start() {
    local port
    if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(redis_free_port); fi
    echo "$port" > "$dir/port"
    redis_start_server "$dir" "$port"
    echo "SLUICE_TEST_REDIS_URL=redis://127.0.0.1:$port" > "$dir/env"
}

case "$cmd" in
    start) start ;;
    stop) redis_stop_server "$dir" ;;
    restart) redis_stop_server "$dir"; start ;;
    freeze) kill -STOP "$(cat "$dir/redis.pid")" ;;
    thaw) kill -CONT "$(cat "$dir/redis.pid")" ;;
    *) usage ;;
esac
