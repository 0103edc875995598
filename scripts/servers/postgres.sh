#!/usr/bin/env bash
# A private PostgreSQL 15 for tests: loopback only, its own data directory and a free port.
#
#   postgres.sh start DIR     initdb DIR/data (first time), start on 127.0.0.1:PORT, create the
#                             database `sluice` (role `sluice`, trust auth), write DIR/env with
#                             SLUICE_TEST_POSTGRES_URL=postgresql://sluice@127.0.0.1:PORT/sluice
#   postgres.sh stop DIR      fast shutdown through pg_ctl (the server's pid file); idempotent
#   postgres.sh restart DIR   stop, then start again on the same port with the same data
#   postgres.sh DIR start|stop|restart   the same (the form SLUICE_TEST_POSTGRES_CTL gives:
#                             "postgres.sh DIR", to which a test appends the verb)
#
# PostgreSQL refuses to run as root: when run as root, initdb and pg_ctl run as the `postgres`
# user, DIR is owned by it and its parents are made traversable. The port is chosen once (free at
# that moment) and kept in DIR/port, so a restart keeps the URL the tests already hold.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
usage() { echo "usage: postgres.sh start|stop|restart DIR  (or: postgres.sh DIR start|stop|restart)" >&2; exit 2; }
[ $# -eq 2 ] || usage
case "$1" in
    start | stop | restart) cmd=$1 dir=$2 ;;
    *) dir=$1 cmd=$2 ;;
esac
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data=$dir/data

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

. "$(dirname "$0")/ports.sh"

prepare() {
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
        # The server (user postgres) must reach DIR: make every parent traversable (x, not r).
        local p=$dir
        while [ "$p" != / ]; do
            p=$(dirname "$p")
            chmod o+x "$p" 2>/dev/null || true
        done
    fi
    chmod 0700 "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
        as_postgres "$BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    [ -f "$dir/port" ] || free_port 17000 20000 >"$dir/port"  # PostgreSQL's band (ports.sh)
}

start() {
    prepare
    local port
    port=$(cat "$dir/port")
    # -w: return once the server accepts connections. fsync off unless SLUICE_TEST_POSTGRES_FSYNC=on
    # (benchmarks): test data need not survive a machine crash, only a server restart (which it does).
    as_postgres "$BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${SLUICE_TEST_POSTGRES_FSYNC:-off} -c max_connections=200" \
        start >/dev/null ||
        { tail -20 "$dir/server.log" >&2; exit 1; }
    if ! as_postgres "$BIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_roles WHERE rolname = 'sluice'" | grep -q 1; then
        as_postgres "$BIN/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -c "CREATE ROLE sluice LOGIN" \
            -c "CREATE DATABASE sluice OWNER sluice"
    fi
    echo "SLUICE_TEST_POSTGRES_URL=postgresql://sluice@127.0.0.1:$port/sluice" >"$dir/env"
}

stop() {
    if [ -f "$data/postmaster.pid" ]; then
        as_postgres "$BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    *) usage ;;
esac
