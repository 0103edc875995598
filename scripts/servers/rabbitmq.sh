#!/usr/bin/env bash
# A private RabbitMQ node for tests: loopback only, its own data directory, ports, node name,
# Erlang cookie and epmd, so it never touches a system node. Stopped by pid, never by name.
#
#   rabbitmq.sh start DIR     starts a node in DIR (created if missing); writes DIR/env with
#                             SLUICE_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:PORT/%2f
#   rabbitmq.sh stop DIR      stops it (graceful, then SIGKILL by pid after 30 s); data kept
#   rabbitmq.sh kill DIR      SIGKILL of the node by pid (a crash); data kept
#   rabbitmq.sh restart DIR   stop, then start on the same ports with the same data
#   rabbitmq.sh cleanup DIR   stop, then also epmd, and removes DIR
#   rabbitmq.sh ctl DIR ARGS  rabbitmqctl ARGS against the node (e.g. list_queues name type)
#
# Facts (shared/notes/dependencies-and-style.md §6): as root, the node runs as user `rabbitmq`,
# so DIR is owned by it and traversable; start-up takes about 10 s; `rabbitmqctl await_startup`
# fails until the node is reachable, so `status` is polled first.
set -euo pipefail

cmd=${1:?usage: rabbitmq.sh start|stop|kill|restart|cleanup DIR}
dir=${2:?usage: rabbitmq.sh start|stop|kill|restart|cleanup DIR}
rmq_bin=/usr/lib/rabbitmq/bin
start_timeout=${SLUICE_RABBITMQ_START_TIMEOUT:-90}

log() { echo "rabbitmq.sh: $*" >&2; }

. "$(dirname "$0")/ports.sh"

as_rabbitmq() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u rabbitmq -- env "${node_env[@]}" "$@"
    else
        env "${node_env[@]}" "$@"
    fi
}

# as_rabbitmq with a deadline of $1 seconds (then SIGTERM, and SIGKILL 5 s later).
as_rabbitmq_within() {
    local seconds=$1
    shift
    if [ "$(id -u)" = 0 ]; then
        timeout -k 5 "$seconds" runuser -u rabbitmq -- env "${node_env[@]}" "$@"
    else
        timeout -k 5 "$seconds" env "${node_env[@]}" "$@"
    fi
}

load_conf() {
    dir=$(cd "$dir" && pwd)
    # shellcheck disable=SC1091
    . "$dir/conf"
    node_env=(
        HOME="$dir/home"
        ERL_EPMD_PORT="$EPMD_PORT"
        RABBITMQ_NODENAME="$NODE"
        RABBITMQ_USE_LONGNAME=false
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        RABBITMQ_NODE_PORT="$PORT"
        RABBITMQ_DIST_PORT="$DIST_PORT"
        RABBITMQ_MNESIA_BASE="$dir/mnesia"
        RABBITMQ_LOG_BASE="$dir/log"
        RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
        RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
        RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
        RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    )
}

# Every rabbitmqctl call has a deadline: a node that does not answer must not hang the caller.
ctl() { as_rabbitmq_within "${CTL_TIMEOUT:-60}" "$rmq_bin/rabbitmqctl" -n "$NODE" "$@"; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

node_pid() { cat "$dir/rabbitmq.pid" 2>/dev/null || true; }

prepare() {
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ ! -f "$dir/conf" ]; then
        local port
        # Ports of RabbitMQ's band (ports.sh).
        port=$(free_port 10000 13000)
        {
            echo "PORT=$port"
            echo "DIST_PORT=$(free_port 13000 15000)"
            echo "EPMD_PORT=$(free_port 15000 17000)"
            echo "NODE=sluice-test-$port@localhost"
        } >"$dir/conf"
    fi
    load_conf
    mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
    [ -f "$dir/home/.erlang.cookie" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/home/.erlang.cookie"
    chmod 400 "$dir/home/.erlang.cookie"
    cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$PORT
loopback_users.guest = true
disk_free_limit.absolute = 50MB
log.console = false
log.file.level = info
EOF
    echo '[].' >"$dir/advanced.config"
    : >"$dir/rabbitmq-env.conf"
    echo '[].' >"$dir/enabled_plugins"
    if [ "$(id -u)" = 0 ]; then
        chown -R rabbitmq:rabbitmq "$dir"
        # every parent must be traversable by the rabbitmq user (mktemp -d makes 0700 folders)
        local p=$dir
        while [ "$p" != / ]; do
            chmod o+x "$p" 2>/dev/null || true
            p=$(dirname "$p")
        done
    fi
}

start_epmd() {
    if alive "$(cat "$dir/epmd.pid" 2>/dev/null || true)"; then return; fi
    # Our own epmd on a private port, so no daemon outlives us unseen; stopped by its pid.
    setsid epmd -port "$EPMD_PORT" -address 127.0.0.1 </dev/null >>"$dir/log/epmd.log" 2>&1 &
    echo $! >"$dir/epmd.pid"
}

start() {
    prepare
    if alive "$(node_pid)"; then
        log "already running (pid $(node_pid))"
        return 0
    fi
    start_epmd
    rm -f "$dir/rabbitmq.pid"
    (cd "$dir" && as_rabbitmq "$rmq_bin/rabbitmq-server" -detached) >>"$dir/log/start.log" 2>&1
    local deadline=$((SECONDS + start_timeout))
    until CTL_TIMEOUT=15 ctl status >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            log "node did not start in ${start_timeout}s; see $dir/log"
            tail -n 40 "$dir"/log/*.log >&2 || true
            return 1
        fi
        sleep 0.3
    done
    ctl await_startup --timeout "$start_timeout" >/dev/null
    echo "SLUICE_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$PORT/%2f" >"$dir/env"
    log "node $NODE on 127.0.0.1:$PORT (pid $(node_pid))"
}

wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while alive "$pid"; do
        ((SECONDS > deadline)) && return 1
        sleep 0.1
    done
}

stop() {
    load_conf
    local pid
    pid=$(node_pid)
    alive "$pid" || return 0
    CTL_TIMEOUT=30 ctl stop >/dev/null 2>&1 || true
    if ! wait_gone "$pid" 30; then
        log "node pid $pid did not stop; SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || true
    fi
}

kill_node() {
    load_conf
    local pid
    pid=$(node_pid)
    alive "$pid" || return 0
    kill -9 "$pid"
    wait_gone "$pid" 10
}

case $cmd in
    start) start ;;
    stop) stop ;;
    kill) kill_node ;;
    restart)
        stop
        start
        ;;
    cleanup)
        [ -f "$dir/conf" ] || exit 0
        stop
        epmd_pid=$(cat "$dir/epmd.pid" 2>/dev/null || true)
        if alive "$epmd_pid"; then kill "$epmd_pid" 2>/dev/null || true; fi
        rm -rf "$dir"
        ;;
    ctl)
        load_conf
        shift 2
        ctl "$@"
        ;;
    *)
        log "unknown command $cmd"
        exit 2
        ;;
esac
