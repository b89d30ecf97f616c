#!/usr/bin/env bash
# Start the kizuna worker next to the local broker: in the foreground (Ctrl-C stops the worker
# and the broker) or in the background (pid in var/worker.pid, log in var/worker.log).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
var=${KIZUNA_VAR_DIR:-$root/var}
kizuna=$root/.venv/bin/kizuna
pidfile=$var/worker.pid
metrics_port=${KIZUNA_METRICS_PORT:-9464}

worker_running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

wait_ready() {
  for _ in $(seq 1 120); do
    if curl -fs "http://127.0.0.1:$metrics_port/metrics" >/dev/null 2>&1 && grep -q "Worker ready\|Ready" "$var/worker.log"; then
      return 0
    fi
    worker_running || { echo "worker exited; see $var/worker.log" >&2; tail -20 "$var/worker.log" >&2; return 1; }
    sleep 0.5
  done
  echo "worker not ready after 60 s; see $var/worker.log" >&2
  return 1
}

# Access changes (members.yaml edited, a member promoted to or demoted from the contributor tier)
# reach the broker's ACLs through this follower within about a second; it runs as the admin, the
# worker as the hub's own login.
syncpid=$var/members-sync.pid

start_sync() {
  nohup "$kizuna" members sync --follow >"$var/members-sync.log" 2>&1 &
  echo $! >"$syncpid"
}

stop_sync() {
  [ -f "$syncpid" ] && kill "$(cat "$syncpid")" 2>/dev/null
  rm -f "$syncpid"
}

case "${1:-}" in
  foreground)
    mkdir -p "$var"
    trap 'stop_sync; "$here/prometheus/local.sh" stop; "$here/kafka/kafka.sh" stop' EXIT
    start_sync
    "$here/prometheus/local.sh" start
    echo "kizuna: worker starting; metrics on http://127.0.0.1:$metrics_port/metrics; Ctrl-C stops everything"
    "$kizuna" worker
    ;;
  background)
    if worker_running; then echo "worker: already running (pid $(cat "$pidfile"))"; exit 0; fi
    mkdir -p "$var"
    start_sync
    nohup "$kizuna" worker >"$var/worker.log" 2>&1 &
    echo $! >"$pidfile"
    wait_ready
    "$here/prometheus/local.sh" start
    echo "worker: running (pid $(cat "$pidfile")), log $var/worker.log, metrics http://127.0.0.1:$metrics_port/metrics"
    ;;
  stop)
    if worker_running; then
      pid=$(cat "$pidfile"); kill -TERM "$pid"
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      echo "worker: stopped"
    fi
    rm -f "$pidfile"
    stop_sync
    "$here/prometheus/local.sh" stop
    "$here/kafka/kafka.sh" stop
    ;;
  status)
    if worker_running; then echo "worker: running (pid $(cat "$pidfile"))"; else echo "worker: stopped"; exit 3; fi
    ;;
  *) echo "usage: $0 foreground|background|stop|status" >&2; exit 2 ;;
esac
