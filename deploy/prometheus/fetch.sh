#!/usr/bin/env bash
# Fetch Prometheus and promtool from Debian's `prometheus` package into var/prometheus/ (once):
# `apt-get download` + `dpkg -x`, nothing installed system-wide. Idempotent; prints the bin dir.
# A system install (`apt-get install prometheus`) is used as it is when present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
var=${KIZUNA_VAR_DIR:-$root/var}
home=$var/prometheus
bin=$home/root/usr/bin

if [ -x "$bin/prometheus" ] && [ -x "$bin/promtool" ]; then echo "$bin"; exit 0; fi
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  dirname "$(command -v prometheus)"; exit 0
fi
command -v apt-get >/dev/null || { echo "prometheus: needs apt-get (Debian/Ubuntu) or prometheus on PATH" >&2; exit 2; }
mkdir -p "$home/debs"
cd "$home/debs"
if ! ls prometheus_*.deb >/dev/null 2>&1; then
  echo "prometheus: downloading Debian's package into $home/debs" >&2
  apt-get download prometheus >&2 2>/dev/null || { apt-get update -qq >&2 && apt-get download prometheus >&2; }
fi
rm -rf "$home/root"
dpkg -x prometheus_*.deb "$home/root"
"$bin/prometheus" --version >/dev/null
echo "$bin"
