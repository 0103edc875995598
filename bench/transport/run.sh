#!/usr/bin/env bash
# Transport benchmarks: end to end (HTTP writers -> WebSocket subscribers) and fan-out to 10,000
# sockets, Sluice side by side with a minimal Node `ws` broadcast server, driven by one load
# generator. Writes bench/results/summary_transport.json. Then the cost of many subscriptions per
# device (subscriptions.sh): bench/results/subscriptions.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-bench/results}
SOCKETS=${FANOUT_SOCKETS:-10000}
ROUNDS=${FANOUT_ROUNDS:-20}
ulimit -n 20000 2>/dev/null || true
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export NODE_PATH=$PWD/tests/oracles/node_modules
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

start_sluice() {
  port=$(free_port)
  "$build/bin/sluice" serve --listen 127.0.0.1:$port --data "$work/$1" > "$work/$1.log" 2>&1 &
  pid=$!; pids+=($pid)
  wait_http "http://127.0.0.1:$port/healthz"
  secret=$(cat "$work/$1/demo.secret")
}

start_sluice e2e
node bench/transport/loadgen.js e2e --url http://127.0.0.1:$port --secret "$secret" --writers 4 --subscribers 50 --seconds 10 > "$work/e2e.json"
kill $pid; wait $pid 2>/dev/null || true

start_sluice fanout
"$build/bin/fanout_client" --target sluice --port $port --secret "$secret" --sockets $SOCKETS --rounds $ROUNDS --pid $pid > "$work/fanout_sluice.json"
kill $pid; wait $pid 2>/dev/null || true

nport=$(free_port)
node bench/transport/node_broadcast_server.js $nport > "$work/node.log" 2>&1 &
npid=$!; pids+=($npid)
sleep 1
"$build/bin/fanout_client" --target node --port $nport --sockets $SOCKETS --rounds $ROUNDS --pid $npid > "$work/fanout_node.json"

python3 - "$work" "$out/summary_transport.json" <<'PY'
import json, sys
work, out = sys.argv[1], sys.argv[2]
load = lambda n: json.load(open(f"{work}/{n}.json"))
e2e, s, n = load("e2e"), load("fanout_sluice"), load("fanout_node")
summary = {"end_to_end": e2e,
           "fanout": {"sluice": s, "node_ws": n,
                      "deliveries_ratio_sluice_over_node": s["deliveries_per_second"] / n["deliveries_per_second"],
                      "rss_per_idle_connection_bytes": {"sluice": s["rss_per_idle_connection_bytes"], "node_ws": n["rss_per_idle_connection_bytes"]}}}
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps(summary, indent=2))
PY

bench/transport/subscriptions.sh "$build" "$out"
