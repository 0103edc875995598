#!/usr/bin/env bash
# Cost of many subscriptions per device, over real sockets: `sluice serve` and 100 WebSocket devices,
# each with 10 (run A: 1,000 subscriptions) then 1,000 (run B: 100,000) equality-filtered
# subscriptions on one model; then writes that each match exactly one subscription. Each run gets a
# fresh server. Writes bench/results/subscriptions.json with both runs and the ratio of their
# delivery throughputs (goal: B >= 1/3 of A).
#   bench/transport/subscriptions.sh [BUILD_DIR] [OUT_DIR]
# Env: SUBS_DEVICES (100), SUBS_PER_DEVICE_A (10), SUBS_PER_DEVICE_B (1000), SUBS_WRITES (5000 per
#      round), SUBS_ROUNDS (3; the median round counts), SUBS_WRITERS (8).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-bench/results}
DEVICES=${SUBS_DEVICES:-100}
A=${SUBS_PER_DEVICE_A:-10}
B=${SUBS_PER_DEVICE_B:-1000}
WRITES=${SUBS_WRITES:-5000}
ROUNDS=${SUBS_ROUNDS:-3}
WRITERS=${SUBS_WRITERS:-8}
mkdir -p "$out"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export NODE_PATH=$PWD/tests/oracles/node_modules
. bench/lib.sh

run() {  # run NAME PER_DEVICE
  local port
  port=$(free_port)
  # The default limit (1000) is exactly what run B needs.
  "$build/bin/sluice" serve --listen 127.0.0.1:$port --data "$work/$1" > "$work/$1.log" 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:$port/healthz"
  node bench/transport/loadgen.js subs --url http://127.0.0.1:$port --secret "$(cat "$work/$1/demo.secret")" \
    --devices "$DEVICES" --per-device "$2" --writes "$WRITES" --rounds "$ROUNDS" --writers "$WRITERS" > "$work/$1.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  cat "$work/$1.json" >&2
}

run a "$A"
run b "$B"

python3 - "$work" "$out/subscriptions.json" <<'PY'
import json, sys
work, out = sys.argv[1], sys.argv[2]
a, b = (json.load(open(f"{work}/{n}.json")) for n in ("a", "b"))
result = {"run_a": a, "run_b": b,
          "deliveries_ratio_b_over_a": b["deliveries_per_second"] / a["deliveries_per_second"],
          "writes_ratio_b_over_a": b["writes_per_second"] / a["writes_per_second"]}
json.dump(result, open(out, "w"), indent=2)
print(json.dumps(result, indent=2))
PY
