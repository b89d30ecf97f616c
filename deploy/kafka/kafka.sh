#!/usr/bin/env bash
# Fetch, format, start and stop the local single-node KRaft Kafka broker (or, with the KIZUNA_KAFKA_NODE_*
# variables deploy/kafka/cluster.sh sets, one node of the 3-broker cluster).
# Idempotent: `start` reuses the data already under $KIZUNA_VAR_DIR/kafka and the TLS material under
# $KIZUNA_VAR_DIR/secrets/tls (created on first start); `stop` waits for a clean shutdown.
# Usage: kafka.sh fetch|start|launch|stop|kill|status|wait|reachable
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
var=${KIZUNA_VAR_DIR:-$root/var}
port=${KIZUNA_KAFKA_PORT:-9092}
controller_port=${KIZUNA_KAFKA_CONTROLLER_PORT:-9093}
cert_port=${KIZUNA_KAFKA_CERT_PORT:-9094}
host=${KIZUNA_KAFKA_HOST:-127.0.0.1}
# Names the broker's certificate is valid for (clients verify one of them): add the DNS name members use.
tls_hosts=${KIZUNA_KAFKA_TLS_HOSTS:-$host,localhost}
node_id=${KIZUNA_KAFKA_NODE_ID:-1}
voters=${KIZUNA_KAFKA_NODE_VOTERS:-$node_id@127.0.0.1:$controller_port}
replication=${KIZUNA_KAFKA_NODE_REPLICATION:-1}
min_isr=${KIZUNA_KAFKA_NODE_MIN_ISR:-1}
home=${KIZUNA_KAFKA_NODE_HOME:-$var/kafka}
libs=$var/kafka/libs
python=${KIZUNA_PYTHON:-$root/.venv/bin/python}
data=$home/data
pidfile=$home/kafka.pid
log=$home/kafka.log
heap=${KIZUNA_KAFKA_HEAP:-512m}
secrets=$var/secrets/kafka
admin_password_file=$secrets/admin.password

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

fetch() {
  local stamp="$libs/.pom-$(sha256sum "$here/pom.xml" | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  echo "kafka: fetching the broker from Maven Central into $libs"
  rm -rf "$libs"; mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs"
  touch "$stamp"
}

admin_password() {
  if [ ! -s "$admin_password_file" ]; then
    mkdir -p "$secrets"; chmod 700 "$var/secrets" "$secrets"
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$admin_password_file")
  fi
  cat "$admin_password_file"
}

configure() {
  mkdir -p "$data"
  local password ca keystore; password=$(admin_password)
  # The local CA and the broker's certificate (streams/pki.py), once; the keystore is key + chain in one PEM.
  [ -x "$python" ] || python=python3
  read -r ca keystore < <(cd "$root" && "$python" -m streams.pki server "$var/secrets/tls" broker "$tls_hosts") || {
    echo "kafka: could not create the TLS certificates (needs the venv: make venv)" >&2; return 1; }
  (umask 077; sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" -e "s|@DATA_DIR@|$data|g" \
    -e "s|@CERT_PORT@|$cert_port|g" -e "s|@HOST@|$host|g" -e "s|@ADVERTISED_HOST@|$host|g" \
    -e "s|@NODE_ID@|$node_id|g" -e "s|@VOTERS@|$voters|g" -e "s|@REPLICATION@|$replication|g" \
    -e "s|@MIN_ISR@|$min_isr|g" -e "s|@KEYSTORE@|$keystore|g" -e "s|@CA_FILE@|$ca|g" \
    -e "s|@ADMIN_PASSWORD@|$password|g" "$here/server.properties.in" > "$home/server.properties")
  if [ -f "$data/meta.properties" ] && [ ! -f "$data/.scram" ]; then
    echo "kafka: $data was formatted before the broker required SASL/SCRAM; \`make clean\` resets it" >&2
    return 1
  fi
  if [ ! -f "$data/meta.properties" ]; then
    echo "kafka: formatting a new KRaft log in $data, with the admin's SCRAM credential"
    java -cp "$libs/*" -Dlog4j2.configurationFile="$here/log4j2.yaml" kafka.tools.StorageTool format \
      -t "${KIZUNA_KAFKA_NODE_CLUSTER_ID:-$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null)}" \
      -c "$home/server.properties" --add-scram "SCRAM-SHA-512=[name=admin,password=$password]" >/dev/null
    touch "$data/.scram"
  fi
}

wait_ready() {
  for _ in $(seq 1 360); do
    if port_open; then return 0; fi
    running || { echo "kafka: broker exited; see $log" >&2; tail -20 "$log" >&2; return 1; }
    sleep 0.5
  done
  echo "kafka: broker did not open port $port within 180 s; see $log" >&2
  return 1
}

# Start the JVM and return (a cluster node cannot open its port before a quorum of controllers is up).
launch() {
  if running; then echo "kafka: already running (pid $(cat "$pidfile")) on $host:$port"; return 0; fi
  if port_open; then echo "kafka: port $port is taken by another process" >&2; return 1; fi
  fetch
  configure
  KAFKA_HEAP_OPTS="-Xms$heap -Xmx$heap" nohup java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$libs/*" kafka.Kafka "$home/server.properties" \
    >"$log" 2>&1 &
  echo $! > "$pidfile"
}

start() {
  launch
  wait_ready
  echo "kafka: running (pid $(cat "$pidfile")) on $host:$port (SASL_SSL) and $host:$cert_port" \
    "(TLS client certificates), data in $data"
}

# kill -9, for fault tests: no clean shutdown.
crash() {
  if running; then kill -KILL "$(cat "$pidfile")"; fi
  rm -f "$pidfile"
}

stop() {
  if ! running; then rm -f "$pidfile"; echo "kafka: not running"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then echo "kafka: forcing stop" >&2; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  echo "kafka: stopped"
}

reachable() { port_open; }

status() {
  if running; then echo "kafka: running (pid $(cat "$pidfile")) on $host:$port"; else echo "kafka: stopped"; return 3; fi
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  launch) launch ;;
  kill) crash ;;
  stop) stop ;;
  status) status ;;
  wait) wait_ready ;;
  reachable) reachable ;;
  *) echo "usage: $0 fetch|start|launch|stop|kill|status|wait|reachable" >&2; exit 2 ;;
esac
