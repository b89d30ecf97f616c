#!/usr/bin/env bash
# Run a command with a broker up: use the one listening on the configured port (KIZUNA_KAFKA_PORT,
# default 9092) if there is one, else start the local broker and stop it afterwards.
# KIZUNA_CLUSTER=1: the same with the local 3-broker cluster (deploy/kafka/cluster.sh), its clients'
# settings from var/cluster/cluster.env.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kafka=("$here/kafka/kafka.sh")
if [ "${KIZUNA_CLUSTER:-0}" = 1 ]; then
  kafka=("$here/kafka/cluster.sh")
  env_file=${KIZUNA_VAR_DIR:-$here/../var}/cluster/cluster.env
  "$here/kafka/cluster.sh" env >/dev/null || exit 4
  set -a; . "$env_file"; set +a
fi
started=0
if ! "$here/kafka/kafka.sh" reachable; then
  "${kafka[@]}" start || exit 4
  started=1
fi
"$@"
rc=$?
[ "$started" = 1 ] && "${kafka[@]}" stop
exit $rc
