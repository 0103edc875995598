#!/usr/bin/env bash
# The distributed shape beside the embedded one, in one run on this machine (issue 8): RabbitMQ,
# PostgreSQL (fsync on, as SQLite's synchronous=FULL) and Redis started privately on loopback;
# `sluice api` + W writers + 1 transport manager + 2 websocket instances for W in 1 2 4, and
# `sluice serve` (embedded), each driven by the same load generator (4 HTTP writers, 50 sockets
# spread over the websocket instances). Writes bench/results/summary_distributed.json with
# changes/s accepted, deliveries/s, accept-to-device p50/p99 and the ratios to the embedded shape.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-bench/results}
RUN_SECONDS=${DIST_SECONDS:-10}
WRITER_COUNTS=${DIST_WRITERS:-1 2 4}
work=$(mktemp -d)
chmod 755 "$work"
pids=()
stop_pids() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_pids
  scripts/servers/rabbitmq.sh cleanup "$work/rabbitmq" >/dev/null 2>&1 || true
  scripts/servers/postgres.sh stop "$work/postgres" >/dev/null 2>&1 || true
  scripts/servers/redis.sh stop "$work/redis" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export NODE_PATH=$PWD/tests/oracles/node_modules
. bench/lib.sh
bin=$build/bin/sluice

SLUICE_TEST_POSTGRES_FSYNC=on scripts/servers/postgres.sh start "$work/postgres" >/dev/null
scripts/servers/redis.sh start "$work/redis" >/dev/null
scripts/servers/rabbitmq.sh start "$work/rabbitmq" >/dev/null
rabbitmq_url=$(sed -n 's/^SLUICE_TEST_RABBITMQ_URL=//p' "$work/rabbitmq/env")
postgres_url=$(sed -n 's/^SLUICE_TEST_POSTGRES_URL=//p' "$work/postgres/env")
redis_url=$(sed -n 's/^SLUICE_TEST_REDIS_URL=//p' "$work/redis/env")

load() {  # label url ws-hosts secret
  node bench/transport/loadgen.js e2e --url "$2" --ws-hosts "$3" --secret "$4" --writers 4 --subscribers 50 \
    --seconds "$RUN_SECONDS" > "$work/$1.json"
}

# Embedded: one process, SQLite files.
port=$(free_port)
"$bin" serve --listen 127.0.0.1:$port --data "$work/embedded" > "$work/embedded.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$port/healthz"
load embedded "http://127.0.0.1:$port" "127.0.0.1:$port" "$(cat "$work/embedded/demo.secret")"
stop_pids

for w in $WRITER_COUNTS; do
  name=w$w
  scripts/servers/rabbitmq.sh ctl "$work/rabbitmq" add_vhost $name >/dev/null
  scripts/servers/rabbitmq.sh ctl "$work/rabbitmq" set_permissions -p $name guest '.*' '.*' '.*' >/dev/null
  pg_port=${postgres_url##*:}; pg_port=${pg_port%%/*}
  psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "CREATE DATABASE $name OWNER sluice" >/dev/null
  redis-cli -h 127.0.0.1 -p "${redis_url##*:}" FLUSHALL >/dev/null
  mkdir -p "$work/$name"
  cat > "$work/$name/sluice.toml" <<TOML
[queue]
kind = "rabbitmq"
url = "${rabbitmq_url%/*}/$name"
partitions = 4
[store]
kind = "postgres"
url = "${postgres_url%/*}/$name"
[registry]
kind = "redis"
url = "$redis_url"
TOML
  common=(--config "$work/$name/sluice.toml" --data "$work/$name/data")
  api=$(free_port) ws1=$(free_port) ws2=$(free_port)
  "$bin" token --app demo --user x --device x "${common[@]}" >/dev/null  # the demo secret, once
  "$bin" api "${common[@]}" --listen 127.0.0.1:$api > "$work/$name/api.log" 2>&1 & pids+=($!)
  for i in $(seq "$w"); do "$bin" stage writer "${common[@]}" > "$work/$name/writer$i.log" 2>&1 & pids+=($!); done
  "$bin" stage transport-manager "${common[@]}" > "$work/$name/tm.log" 2>&1 & pids+=($!)
  "$bin" stage websockets-transport "${common[@]}" --listen 127.0.0.1:$ws1 > "$work/$name/ws1.log" 2>&1 & pids+=($!)
  "$bin" stage websockets-transport "${common[@]}" --listen 127.0.0.1:$ws2 > "$work/$name/ws2.log" 2>&1 & pids+=($!)
  for p in $api $ws1 $ws2; do wait_http "http://127.0.0.1:$p/healthz"; done
  load distributed_$name "http://127.0.0.1:$api" "127.0.0.1:$ws1,127.0.0.1:$ws2" "$(cat "$work/$name/data/demo.secret")"
  stop_pids
done

mkdir -p "$out"
python3 - "$work" "$out/summary_distributed.json" "$WRITER_COUNTS" <<'PY'
import json, sys
work, out, counts = sys.argv[1], sys.argv[2], sys.argv[3].split()
embedded = json.load(open(f"{work}/embedded.json"))
summary = {"load": "4 keep-alive HTTP writers, 50 WebSocket subscribers, bench/transport/loadgen.js e2e",
           "embedded": embedded, "distributed": {}}
for w in counts:
    d = json.load(open(f"{work}/distributed_w{w}.json"))
    d["shape"] = f"1 api, {w} writer(s), 1 transport-manager, 2 websocket instances; RabbitMQ (4 partitions), PostgreSQL (fsync on), Redis"
    d["ratio_to_embedded"] = {k: d[k] / embedded[k] for k in ("accepted_per_second", "deliveries_per_second") if embedded[k]}
    summary["distributed"][f"writers_{w}"] = d
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
