#!/usr/bin/env bash
# Run a command with the local broker up: start it if needed, stop it after only if we started it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
started=0
if ! "$here/kafka/kafka.sh" status >/dev/null 2>&1; then
  "$here/kafka/kafka.sh" start || exit 4
  started=1
fi
"$@"
rc=$?
[ "$started" = 1 ] && "$here/kafka/kafka.sh" stop
exit $rc
