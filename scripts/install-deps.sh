#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need, then the npm test
# oracles from the committed package-lock.json. Idempotent: does nothing when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git
  # libraries
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev
  libsqlite3-dev libsqlitecpp-dev libcpp-jwt-dev nlohmann-json3-dev libre2-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # model schemas (JSON Schema draft 7) and the official test suite they are checked against
  libvalijson-dev json-schema-test-suite
  # distributed shape: client libraries and the servers its integration tests start on loopback
  librabbitmq-dev libpq-dev libhiredis-dev
  rabbitmq-server postgresql-15 redis-server redis-tools
  # the MQTT transport: client library, and the broker (with dynamic security) its tests start
  libmosquitto-dev mosquitto mosquitto-clients
  # black-box test tools
  python3 python3-pytest python3-websockets python3-requests python3-pika python3-redis python3-psycopg
  sqlite3 curl openssl procps
  # browser tests (driven by playwright-core from npm)
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# npm oracles and peers (mingo, sift, json-patch-test-suite, ws, bullmq) for the conformance tests and benchmarks.
if [ -f tests/oracles/package-lock.json ]; then
  if [ ! -d tests/oracles/node_modules ] || [ tests/oracles/package-lock.json -nt tests/oracles/node_modules/.package-lock.json ]; then
    (cd tests/oracles && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "install-deps: npm oracles present"
  fi
fi

# The JavaScript client's dependencies (clients/js, its tests run by `make test`).
if [ ! -d clients/js/node_modules ] || [ clients/js/package-lock.json -nt clients/js/node_modules/.package-lock.json ]; then
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "install-deps: clients/js dependencies present"
fi
