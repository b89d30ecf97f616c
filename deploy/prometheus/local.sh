#!/usr/bin/env bash
# The local Prometheus of `make run` / `make up`: scrapes the local worker with the alert rules,
# data under var/prometheus/data, UI and API on 127.0.0.1:${KIZUNA_PROMETHEUS_PORT:-9090}.
# Starts only when a Prometheus is there (Debian's package installed, or fetched once into
# var/prometheus by deploy/prometheus/fetch.sh); otherwise says how to get one and exits 0.
# Usage: local.sh start|stop|status
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
var=${KIZUNA_VAR_DIR:-$root/var}
home=$var/prometheus
port=${KIZUNA_PROMETHEUS_PORT:-9090}
metrics_port=${KIZUNA_METRICS_PORT:-9464}
pidfile=$home/prometheus.pid
log=$home/prometheus.log

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

binary() {
  if [ -x "$home/root/usr/bin/prometheus" ]; then echo "$home/root/usr/bin/prometheus"; return; fi
  command -v prometheus || true
}

start() {
  if running; then echo "prometheus: already running on http://127.0.0.1:$port"; return 0; fi
  local prometheus; prometheus=$(binary)
  if [ -z "$prometheus" ]; then
    echo "prometheus: not installed; deploy/prometheus/fetch.sh fetches Debian's package into var/ (metrics stay on :$metrics_port/metrics)"
    return 0
  fi
  # Debian's binary reads its classic UI from /usr/share/prometheus/web; a fetched copy is linked
  # there when nothing is (the API works without it).
  if [ ! -e /usr/share/prometheus/web ] && [ -d "$home/root/usr/share/prometheus/web" ] && [ -w /usr/share ]; then
    mkdir -p /usr/share/prometheus && ln -s "$home/root/usr/share/prometheus/web" /usr/share/prometheus/web
  fi
  mkdir -p "$home/data"
  sed -e "s|127.0.0.1:9464|127.0.0.1:$metrics_port|" -e "s|- alerts.yml|- $here/alerts.yml|" \
    "$here/prometheus.local.yml" > "$home/prometheus.yml"
  nohup "$prometheus" --config.file="$home/prometheus.yml" --storage.tsdb.path="$home/data" \
    --storage.tsdb.retention.time=15d --web.listen-address="127.0.0.1:$port" >"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 40); do
    if curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
      echo "prometheus: http://127.0.0.1:$port/graph (alerts: /classic/alerts), log $log"; return 0
    fi
    running || { echo "prometheus: exited; see $log" >&2; tail -5 "$log" >&2; return 1; }
    sleep 0.25
  done
  echo "prometheus: not ready after 10 s; see $log" >&2
  return 1
}

stop() {
  if running; then
    local pid; pid=$(cat "$pidfile"); kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "prometheus: stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "prometheus: running on http://127.0.0.1:$port"; else echo "prometheus: stopped"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
