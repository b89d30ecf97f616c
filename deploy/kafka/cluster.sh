#!/usr/bin/env bash
# `make cluster` / `make cluster-down`: three KRaft nodes (broker + controller each) as separate JVMs on
# this machine, the production shape of docker-compose.yml: replication 3, min.insync.replicas 2, the
# same SASL_SSL and client-certificate listeners and ACLs as the single broker, data under
# $KIZUNA_VAR_DIR/cluster/node-N. Each node is deploy/kafka/kafka.sh with its own ports and home.
# Node N (1..3) listens on base+10(N-1) (SASL_SSL), +1 (controller, loopback), +2 (client certificates);
# base is KIZUNA_CLUSTER_BASE_PORT (19092). Clients: `set -a; . var/cluster/cluster.env; set +a`, or
# KIZUNA_CLUSTER=1 with deploy/with-kafka.sh (make test, make bench).
# Usage: cluster.sh start|stop|status|kill N|stop-node N|start-node N|wipe N|env
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
var=${KIZUNA_VAR_DIR:-$root/var}
base=${KIZUNA_CLUSTER_BASE_PORT:-19092}
dir=$var/cluster
nodes=(1 2 3)

port() { echo $((base + 10 * ($1 - 1) + $2)); }  # node, offset (0 client, 1 controller, 2 certificates)

voters() {
  local out=() n
  for n in "${nodes[@]}"; do out+=("$n@127.0.0.1:$(port "$n" 1)"); done
  (IFS=,; echo "${out[*]}")
}

servers() {  # offset -> host:port list of every node
  local out=() n
  for n in "${nodes[@]}"; do out+=("127.0.0.1:$(port "$n" "$1")"); done
  (IFS=,; echo "${out[*]}")
}

cluster_id() {
  mkdir -p "$dir"
  if [ ! -s "$dir/cluster.id" ]; then
    "$here/kafka.sh" fetch
    java -cp "$var/kafka/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null > "$dir/cluster.id"
  fi
  cat "$dir/cluster.id"
}

node() {  # node, kafka.sh command
  KIZUNA_KAFKA_PORT=$(port "$1" 0) KIZUNA_KAFKA_CONTROLLER_PORT=$(port "$1" 1) KIZUNA_KAFKA_CERT_PORT=$(port "$1" 2) \
  KIZUNA_KAFKA_NODE_ID=$1 KIZUNA_KAFKA_NODE_VOTERS=$(voters) KIZUNA_KAFKA_NODE_REPLICATION=3 \
  KIZUNA_KAFKA_NODE_MIN_ISR=2 KIZUNA_KAFKA_NODE_HOME=$dir/node-$1 \
  KIZUNA_KAFKA_NODE_CLUSTER_ID=$(if [ "$2" = launch ]; then cluster_id; fi) \
  KIZUNA_KAFKA_HEAP=${KIZUNA_KAFKA_HEAP:-384m} "$here/kafka.sh" "$2"
}

write_env() {
  cat > "$dir/cluster.env" <<ENV
# Clients of the local 3-broker cluster (written by deploy/kafka/cluster.sh).
KIZUNA_BOOTSTRAP_SERVERS=$(servers 0)
KIZUNA_CERT_BOOTSTRAP_SERVERS=$(servers 2)
KIZUNA_KAFKA_PORT=$(port 1 0)
ENV
}

case "${1:-}" in
  start)
    mkdir -p "$dir"; cluster_id >/dev/null
    for n in "${nodes[@]}"; do mkdir -p "$dir/node-$n"; node "$n" launch; done  # a quorum needs two up
    for n in "${nodes[@]}"; do node "$n" wait; done
    write_env
    echo "cluster: 3 brokers up; clients: set -a; . $dir/cluster.env; set +a"
    ;;
  stop) for n in "${nodes[@]}"; do node "$n" stop; done ;;
  status) for n in "${nodes[@]}"; do echo -n "node $n: "; node "$n" status || true; done ;;
  kill) node "$2" kill ;;
  stop-node) node "$2" stop ;;
  start-node) node "$2" launch; node "$2" wait ;;
  wipe) node "$2" stop; rm -rf "$dir/node-$2/data"; echo "cluster: node $2's data removed" ;;
  env) write_env; cat "$dir/cluster.env" ;;
  *) echo "usage: $0 start|stop|status|kill N|stop-node N|start-node N|wipe N|env" >&2; exit 2 ;;
esac
