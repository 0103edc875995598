#!/usr/bin/env bash
# store_bench against a private PostgreSQL with fsync on (as SQLite's synchronous=FULL), so the
# two stores are compared on equal durability. Usage: run.sh BUILD_DIR OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-bench/results}
SLUICE_TEST_POSTGRES_FSYNC=on scripts/servers/with-postgres.sh "$build/bin/store_bench" \
  --benchmark_out="$out/store.json" --benchmark_out_format=json
