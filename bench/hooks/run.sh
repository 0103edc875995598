#!/usr/bin/env bash
# What a hook costs per request (DESIGN.md §9): one keep-alive HTTP writer creating documents as
# fast as they are accepted, through `sluice serve` with no hook, with a before:create exec hook
# (a Python child that lets everything through) and with a before:create webhook hook (a Node
# server answering 204). Per-request time is 1 / accepted per second; the overhead is the
# difference to the run without a hook. Writes bench/results/summary_hooks.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-bench/results}
SECONDS_EACH=${HOOK_SECONDS:-6}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export NODE_PATH=$PWD/tests/oracles/node_modules
. bench/lib.sh
secret=bench-secret-of-enough-length

hook_port=$(free_port)
node bench/graph/passthrough_webhook.js "$hook_port" > "$work/webhook.log" 2>&1 &
pids+=($!)

# run NAME HOOK_TOML: one sluice serve whose model `hooked` has that hook, under one writer.
run() {
  local name=$1 hook=$2 port
  printf '[apps.demo]\nsecret = "%s"\n%s\n' "$secret" "$hook" > "$work/$name.toml"
  port=$(free_port)
  "$build/bin/sluice" serve --config "$work/$name.toml" --listen 127.0.0.1:$port --data "$work/$name" > "$work/$name.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  wait_http "http://127.0.0.1:$port/healthz"
  node bench/transport/loadgen.js e2e --url http://127.0.0.1:$port --secret "$secret" --model hooked \
    --writers 1 --subscribers 1 --seconds "$SECONDS_EACH" > "$work/$name.json"
  kill $pid; wait $pid 2>/dev/null || true
}

run none ""
run exec "[[apps.demo.models.hooked.hooks]]
on = [\"before:create\"]
kind = \"exec\"
command = [\"python3\", \"bench/hooks/passthrough_hook.py\"]"
run webhook "[[apps.demo.models.hooked.hooks]]
on = [\"before:create\"]
kind = \"webhook\"
url = \"http://127.0.0.1:$hook_port/hook\""

mkdir -p "$out"
python3 - "$work" "$out/summary_hooks.json" <<'PY'
import json, sys
work, out = sys.argv[1], sys.argv[2]
runs = {n: json.load(open(f"{work}/{n}.json")) for n in ("none", "exec", "webhook")}
per_request_us = {n: 1e6 / r["accepted_per_second"] for n, r in runs.items()}
summary = {"load": "1 keep-alive writer, POST create, before:create hook",
           "accepted_per_second": {n: r["accepted_per_second"] for n, r in runs.items()},
           "per_request_us": per_request_us,
           "hook_overhead_us": {n: per_request_us[n] - per_request_us["none"] for n in ("exec", "webhook")}}
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
