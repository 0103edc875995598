#!/usr/bin/env bash
# The stage graph's cost: the same end-to-end load (HTTP writers -> 10 WebSocket subscribers)
# through the default chain, then with one extra stage between writer and transport manager: an
# exec stage (a Python child per instance that forwards unchanged), a webhook stage (a Node HTTP
# server answering 204), and the exec stage with 4 instances. Writes bench/results/summary_graph.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-bench/results}
SECONDS_EACH=${GRAPH_SECONDS:-8}
WRITERS=${GRAPH_WRITERS:-8}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export NODE_PATH=$PWD/tests/oracles/node_modules
. bench/lib.sh

hook_port=$(free_port)
node bench/graph/passthrough_webhook.js "$hook_port" > "$work/webhook.log" 2>&1 &
pids+=($!)

# run NAME TOML: one sluice serve with that configuration under the e2e load.
run() {
  local name=$1 toml=$2 port
  printf '%s\n' "$toml" > "$work/$name.toml"
  port=$(free_port)
  "$build/bin/sluice" serve --config "$work/$name.toml" --listen 127.0.0.1:$port --data "$work/$name" > "$work/$name.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  wait_http "http://127.0.0.1:$port/healthz"
  node bench/transport/loadgen.js e2e --url http://127.0.0.1:$port --secret "$(cat "$work/$name/demo.secret")" \
    --writers "$WRITERS" --subscribers 10 --seconds "$SECONDS_EACH" > "$work/$name.json"
  kill $pid; wait $pid 2>/dev/null || true
}

extra() {  # the TOML that puts stage `hop` of the given kind between writer and transport manager
  printf '[stages.writer]\nnext = ["hop"]\n[stages.hop]\nnext = ["transport-manager"]\n%s\n' "$1"
}

run chain ""
run exec "$(extra "kind = \"exec\"
command = [\"python3\", \"bench/graph/passthrough_stage.py\"]")"
run exec4 "$(extra "kind = \"exec\"
instances = 4
command = [\"python3\", \"bench/graph/passthrough_stage.py\"]")"
run webhook "$(extra "kind = \"webhook\"
url = \"http://127.0.0.1:$hook_port/hop\"")"

python3 - "$work" "$out/summary_graph.json" <<'PY'
import json, sys
work, out = sys.argv[1], sys.argv[2]
runs = {n: json.load(open(f"{work}/{n}.json")) for n in ("chain", "exec", "exec4", "webhook")}
base = runs["chain"]["accepted_per_second"]
summary = {"load": {"writers": runs["chain"]["writers"], "subscribers": runs["chain"]["subscribers"]}}
for name, r in runs.items():
    summary[name] = {"accepted_per_second": r["accepted_per_second"], "deliveries_per_second": r["deliveries_per_second"],
                     "latency_ms": r["latency_ms"], "throughput_vs_chain": r["accepted_per_second"] / base}
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
