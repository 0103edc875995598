#!/usr/bin/env bash
# redis-cluster.sh start|stop DIR, redis-cluster.sh stop-node|start-node|restart-node N DIR:
# a Redis Cluster of 3 masters (no replicas) for tests, on 127.0.0.1 and free ports below 30000
# (each node's bus is port + 10000), node N's data in DIR/nodeN. `start` waits for
# cluster_state:ok and writes DIR/env:
#   SLUICE_TEST_REDIS_CLUSTER_URLS=redis://127.0.0.1:P1,redis://127.0.0.1:P2,redis://127.0.0.1:P3
# A node keeps its port, its node id (nodes.conf) and its data across stop-node/start-node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/redis-common.sh"

usage() { echo "usage: $0 start|stop DIR | stop-node|start-node|restart-node N DIR" >&2; exit 2; }

node_port() { cat "$dir/node$1/port"; }

start_node() {
    local n=$1 port
    port=$(node_port "$n")
    # A short node timeout: a stopped node is noticed within 2 s, and tests stay short.
    redis_start_server "$dir/node$n" "$port" --cluster-enabled yes \
        --cluster-config-file "$dir/node$n/nodes.conf" --cluster-node-timeout 2000
}

# wait_ok SECONDS: until every node says cluster_state:ok.
wait_ok() {
    local until=$((SECONDS + $1)) n ok
    while [ $SECONDS -lt $until ]; do
        ok=1
        for n in 1 2 3; do
            if ! redis-cli -h 127.0.0.1 -p "$(node_port $n)" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
                ok=0
                break
            fi
        done
        [ $ok = 1 ] && return 0
        sleep 0.1
    done
    echo "the redis cluster in $dir is not ok" >&2
    return 1
}

start() {
    local n port urls="" addrs=""
    for n in 1 2 3; do
        mkdir -p "$dir/node$n"
        if [ ! -f "$dir/node$n/port" ]; then
            # Distinct from the ports already chosen, and free with their bus ports.
            while :; do
                port=$(redis_free_port bus)
                grep -qx "$port" "$dir"/node*/port 2>/dev/null || break
            done
            echo "$port" > "$dir/node$n/port"
        fi
    done
    for n in 1 2 3; do start_node $n || { stop; return 1; }; done
    for n in 1 2 3; do
        port=$(node_port $n)
        addrs="$addrs 127.0.0.1:$port"
        urls="$urls${urls:+,}redis://127.0.0.1:$port"
    done
    if ! redis-cli -h 127.0.0.1 -p "$(node_port 1)" cluster info | grep -q 'cluster_known_nodes:3'; then
        # shellcheck disable=SC2086
        redis-cli --cluster create $addrs --cluster-replicas 0 --cluster-yes > "$dir/create.log" 2>&1 ||
            { cat "$dir/create.log" >&2; stop; return 1; }
    fi
    wait_ok 30 || { stop; return 1; }
    echo "SLUICE_TEST_REDIS_CLUSTER_URLS=$urls" > "$dir/env"
}

stop() {
    local n
    for n in 1 2 3; do redis_stop_server "$dir/node$n"; done
}

case "${1:-}" in
    start|stop)
        [ $# -eq 2 ] || usage
        dir=$(mkdir -p "$2" && cd "$2" && pwd)
        "$1"
        ;;
    stop-node|start-node|restart-node)
        [ $# -eq 3 ] || usage
        case "$2" in 1|2|3) ;; *) usage ;; esac
        dir=$(cd "$3" && pwd)
        case "$1" in
            stop-node) redis_stop_server "$dir/node$2" ;;
            start-node) start_node "$2" && wait_ok 30 ;;
            restart-node) redis_stop_server "$dir/node$2"; start_node "$2" && wait_ok 30 ;;
        esac
        ;;
    *) usage ;;
esac
