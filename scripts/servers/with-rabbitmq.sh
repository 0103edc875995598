#!/usr/bin/env bash
# Runs CMD... with a private RabbitMQ node (scripts/servers/rabbitmq.sh) started for it, then stops
# the node by pid and removes its directory, even if CMD fails. Exits with CMD's status.
# CMD sees SLUICE_TEST_RABBITMQ_URL and SLUICE_TEST_RABBITMQ_CTL ("<path>/rabbitmq.sh <dir>"; append
# stop, start, kill or restart).
set -euo pipefail
[ $# -ge 1 ] || {
    echo "usage: with-rabbitmq.sh CMD..." >&2
    exit 2
}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-rabbitmq.XXXXXX")
trap '"$here/rabbitmq.sh" cleanup "$dir" || true' EXIT
trap 'exit 130' INT TERM
"$here/rabbitmq.sh" start "$dir"
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
export SLUICE_TEST_RABBITMQ_CTL="$here/rabbitmq.sh $dir"
status=0
"$@" || status=$?
exit $status
