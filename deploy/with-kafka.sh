#!/usr/bin/env bash
# Run a command with a broker up: use the one listening on the configured port (KIZUNA_KAFKA_PORT,
# default 9092) if there is one, else start the local broker and stop it afterwards.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
started=0
if ! "$here/kafka/kafka.sh" reachable; then
  "$here/kafka/kafka.sh" start || exit 4
  started=1
fi
"$@"
rc=$?
[ "$started" = 1 ] && "$here/kafka/kafka.sh" stop
exit $rc
