#!/usr/bin/env bash
# Transport benchmarks: end to end (HTTP writers -> WebSocket subscribers), accept-to-device latency
# (one sequential writer, 100 subscribers) and fan-out to 10,000 sockets x 100 changes, Sluice side by side with a
# minimal Node `ws` broadcast server, driven by one load generator. Writes
# bench/results/summary_transport.json. TRANSPORT_BENCHES="latency" (any of e2e latency fanout)
# runs a subset; the other sections are kept from the previous summary.
# Then the cost of many subscriptions per device (subscriptions.sh): bench/results/subscriptions.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-bench/results}
SOCKETS=${FANOUT_SOCKETS:-10000}
ROUNDS=${FANOUT_ROUNDS:-100}
BENCHES=${TRANSPORT_BENCHES:-e2e latency fanout}
LATENCY_SUBSCRIBERS=${LATENCY_SUBSCRIBERS:-100}
LATENCY_SECONDS=${LATENCY_SECONDS:-10}
wants() { [[ " $BENCHES " == *" $1 "* ]]; }
ulimit -n 20000 2>/dev/null || true
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export NODE_PATH=$PWD/tests/oracles/node_modules
. bench/lib.sh

start_sluice() {
  port=$(free_port)
  "$build/bin/sluice" serve --listen 127.0.0.1:$port --data "$work/$1" > "$work/$1.log" 2>&1 &
  pid=$!; pids+=($pid)
  wait_http "http://127.0.0.1:$port/healthz"
  secret=$(cat "$work/$1/demo.secret")
}

if wants e2e; then
  start_sluice e2e
  node bench/transport/loadgen.js e2e --url http://127.0.0.1:$port --secret "$secret" --writers 4 --subscribers 50 --seconds 10 > "$work/e2e.json"
  kill $pid; wait $pid 2>/dev/null || true
fi

if wants latency; then
  # Default durability: every 202 answers after the writer-queue message is fsync'd.
  start_sluice latency
  node bench/transport/loadgen.js latency --url http://127.0.0.1:$port --secret "$secret" \
    --subscribers $LATENCY_SUBSCRIBERS --seconds $LATENCY_SECONDS > "$work/latency.json"
  kill $pid; wait $pid 2>/dev/null || true
fi

if wants fanout; then
  start_sluice fanout
  "$build/bin/fanout_client" --target sluice --port $port --secret "$secret" --sockets $SOCKETS --rounds $ROUNDS --pid $pid > "$work/fanout_sluice.json"
  kill $pid; wait $pid 2>/dev/null || true

  nport=$(free_port)
  node bench/transport/node_broadcast_server.js $nport > "$work/node.log" 2>&1 &
  npid=$!; pids+=($npid)
  sleep 1
  "$build/bin/fanout_client" --target node --port $nport --sockets $SOCKETS --rounds $ROUNDS --pid $npid > "$work/fanout_node.json"
fi

python3 - "$work" "$out/summary_transport.json" <<'PY'
import json, os, sys
work, out = sys.argv[1], sys.argv[2]
summary = json.load(open(out)) if os.path.exists(out) else {}
load = lambda n: json.load(open(f"{work}/{n}.json")) if os.path.exists(f"{work}/{n}.json") else None
if load("e2e"):
    summary["end_to_end"] = load("e2e")
if load("latency"):
    summary["latency_1_writer"] = load("latency")
s, n = load("fanout_sluice"), load("fanout_node")
if s and n:
    summary["fanout"] = {"sluice": s, "node_ws": n,
                         "deliveries_ratio_sluice_over_node": s["deliveries_per_second"] / n["deliveries_per_second"],
                         "rss_per_idle_connection_bytes": {"sluice": s["rss_per_idle_connection_bytes"], "node_ws": n["rss_per_idle_connection_bytes"]}}
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps(summary, indent=2))
PY

bench/transport/subscriptions.sh "$build" "$out"
