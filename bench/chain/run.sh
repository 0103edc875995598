#!/usr/bin/env bash
# Throughput of a 3-stage chain of trivial stages, in jobs/s, beside BullMQ running the same chain
# (queues a -> b -> c, bench/chain/bullmq_chain.js) on a private redis-server on loopback started
# here (AOF on, fsync every second). Sluice's figure comes from "$build/bin/chain_bench"; without
# that binary the run fails. Writes bench/results/summary_chain.json with both figures and the
# ratio sluice/bullmq. CHAIN_JOBS sets the number of jobs (default 20000).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-bench/results}
JOBS=${CHAIN_JOBS:-20000}
export NODE_PATH=$PWD/tests/oracles/node_modules
. scripts/servers/ports.sh

chain_bench=$build/bin/chain_bench
if [ ! -x "$chain_bench" ]; then
  echo "bench/chain: $chain_bench is missing (build the chain_bench target first)" >&2
  exit 1
fi

work=$(mktemp -d)
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port 20000 32767)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
  --dir "$work" --daemonize no > "$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 200); do
  [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
  kill -0 "$redis_pid" 2>/dev/null || { echo "bench/chain: redis-server exited:" >&2; cat "$work/redis.log" >&2; exit 1; }
  sleep 0.1
done
[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] || { echo "bench/chain: no answer from redis on $port" >&2; exit 1; }

node bench/chain/bullmq_chain.js --port "$port" --jobs "$JOBS" > "$work/bullmq.json"
"$chain_bench" --jobs "$JOBS" --data "$work/sluice" > "$work/sluice.json"

mkdir -p "$out"
python3 - "$work" "$out/summary_chain.json" "$JOBS" <<'PY'
import json, sys
work, out, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = {}
for peer in ("sluice", "bullmq"):
    with open(f"{work}/{peer}.json") as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    if not lines:
        sys.exit(f"bench/chain: {peer} printed no result")
    runs[peer] = json.loads(lines[-1])
    if runs[peer].get("jobs") != jobs:
        sys.exit(f"bench/chain: {peer} ran {runs[peer].get('jobs')} jobs, not {jobs}")
summary = {"jobs": jobs, "sluice": runs["sluice"], "bullmq": runs["bullmq"],
           "ratio_sluice_to_bullmq": runs["sluice"]["jobs_per_second"] / runs["bullmq"]["jobs_per_second"]}
with open(out, "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
print(json.dumps(summary, indent=2))
PY
