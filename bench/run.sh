#!/usr/bin/env bash
# Runs every benchmark and writes JSON under bench/results/: Google Benchmark output per binary,
# the peers' figures (mingo), and summary.json with the ratios the issues ask for.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=bench/results
mkdir -p "$out"
export NODE_PATH=$PWD/tests/oracles/node_modules

"$build/bin/core_language_bench" --benchmark_out="$out/core_language.json" --benchmark_out_format=json \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
node bench/core_language/mingo_filter_bench.js > "$out/mingo_filter.json"
for extra in bench/*/run.sh; do
  [ -x "$extra" ] && "$extra" "$build" "$out"
done
/usr/bin/python3 bench/summarize.py "$out"
