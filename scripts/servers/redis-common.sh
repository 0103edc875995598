# Shared by redis.sh and redis-cluster.sh (sourced, not run). Loopback only, private directories,
# servers stopped by the pid they wrote, never by process name.

# A port in [20000, 30000) with nothing listening on it (nor on port + 10000 when $1 is "bus":
# a cluster node's bus; then the port is below 22768, so that its bus stays below 32768). Below
# the ephemeral range (32768-60999), so an outgoing connection cannot take it before the bind.
redis_free_port() {
    local p i span=10000
    [ "${1:-}" = bus ] && span=2768
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % span))
        if [ -n "$(ss -Hltn "sport = :$p")" ]; then continue; fi
        if [ "${1:-}" = bus ] && [ -n "$(ss -Hltn "sport = :$((p + 10000))")" ]; then continue; fi
        echo "$p"
        return 0
    done
    echo "no free port found" >&2
    return 1
}

# redis_wait_ping PORT SECONDS: until the server answers PONG.
redis_wait_ping() {
    local port=$1 until=$((SECONDS + $2))
    while [ $SECONDS -lt $until ]; do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then return 0; fi
        sleep 0.05
    done
    return 1
}

# redis_start_server DIR PORT [extra redis-server options...]: starts one server in DIR.
redis_start_server() {
    local dir=$1 port=$2
    shift 2
    mkdir -p "$dir"
    rm -f "$dir/redis.pid"
    # appendonly: a restarted server keeps its data (the outage tests restart servers).
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --dir "$dir" \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        --appendonly yes --save "" "$@" || return 1
    if ! redis_wait_ping "$port" 20; then
        echo "redis on port $port did not start; log:" >&2
        tail -n 20 "$dir/redis.log" >&2 || true
        redis_stop_server "$dir"
        return 1
    fi
}

# redis_stop_server DIR: SIGTERM to the pid it wrote (redis flushes its append-only file), then
# SIGKILL if it is still there after 10 s. Quiet when nothing runs.
redis_stop_server() {
    local dir=$1 pid until
    [ -f "$dir/redis.pid" ] || return 0
    pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
    rm -f "$dir/redis.pid"
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null || true  # a frozen server cannot shut down
    kill -TERM "$pid" 2>/dev/null || return 0
    until=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $until ]; then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
}
