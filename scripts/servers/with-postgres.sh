#!/usr/bin/env bash
# with-postgres.sh CMD...: runs CMD against a private PostgreSQL 15 (scripts/servers/postgres.sh)
# that lives only as long as CMD, and exits with CMD's status. CMD sees
#   SLUICE_TEST_POSTGRES_URL   postgresql://sluice@127.0.0.1:PORT/sluice
#   SLUICE_TEST_POSTGRES_CTL   "<path>/postgres.sh <dir>": append stop|start|restart to control it
# The server is stopped (by pg_ctl, through its pid file) and its directory removed on any exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: with-postgres.sh CMD..." >&2; exit 2; }

dir=$(mktemp -d /tmp/sluice-postgres.XXXXXX)
cleanup() {
    "$here/postgres.sh" stop "$dir" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/postgres.sh" start "$dir"
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
export SLUICE_TEST_POSTGRES_CTL="$here/postgres.sh $dir"

status=0
"$@" || status=$?
exit "$status"
