#!/usr/bin/env bash
# with-redis.sh CMD...: runs CMD with a standalone Redis AND a 3-master Redis Cluster started for
# it (private directory, loopback, free ports), then stops both by pid, also when CMD fails or
# the script is interrupted, and exits with CMD's status. CMD sees:
#   SLUICE_TEST_REDIS_URL, SLUICE_TEST_REDIS_CLUSTER_URLS
#   SLUICE_TEST_REDIS_CTL          a command: `$SLUICE_TEST_REDIS_CTL stop|start|restart|freeze|thaw`
#   SLUICE_TEST_REDIS_CLUSTER_CTL  a command: `$SLUICE_TEST_REDIS_CLUSTER_CTL stop-node|start-node|restart-node N`
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 CMD..." >&2; exit 2; }

base=$(mktemp -d "${TMPDIR:-/tmp}/sluice-redis.XXXXXX")
cleanup() {
    "$here/redis-cluster.sh" stop "$base/cluster" || true
    "$here/redis.sh" stop "$base/standalone" || true
    if [ -z "${SLUICE_KEEP_SERVER_DIRS:-}" ]; then rm -rf "$base"; else echo "server dirs kept in $base" >&2; fi
}
cmd_pid=""
# On INT/TERM: stop CMD (by its pid) first, then the servers (EXIT trap). CMD runs in the
# background and the script waits for it, because bash runs traps only between commands.
on_signal() {
    if [ -n "$cmd_pid" ]; then kill -TERM "$cmd_pid" 2>/dev/null || true; wait "$cmd_pid" 2>/dev/null || true; fi
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

"$here/redis.sh" start "$base/standalone"
"$here/redis-cluster.sh" start "$base/cluster"

cat > "$base/redis-ctl" <<CTL
#!/bin/sh
# redis-ctl stop|start|restart|freeze|thaw
exec "$here/redis.sh" "\$1" "$base/standalone"
CTL
cat > "$base/cluster-ctl" <<CTL
#!/bin/sh
# cluster-ctl stop-node|start-node|restart-node N
exec "$here/redis-cluster.sh" "\$1" "\$2" "$base/cluster"
CTL
chmod +x "$base/redis-ctl" "$base/cluster-ctl"

set -a
. "$base/standalone/env"
. "$base/cluster/env"
set +a
export SLUICE_TEST_REDIS_CTL="$base/redis-ctl"
export SLUICE_TEST_REDIS_CLUSTER_CTL="$base/cluster-ctl"

status=0
"$@" &
cmd_pid=$!
wait "$cmd_pid" || status=$?
cmd_pid=""
exit $status
