#!/usr/bin/env bash
# Suricata from Debian's backports (the release itself has none) and the shared libraries this
# machine lacks, unpacked under var/suricata: nothing is installed system-wide and the machine's
# own package sources are left as they are (apt-get works on a private list in a scratch dir).
# Writes var/suricata/suricata, which runs it with its own libraries and configuration; the tests
# check the rules file with `var/suricata/suricata -T -S FILE`. Prints that path.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$root/var/suricata}
wrapper=$dest/suricata
if [ -x "$wrapper" ]; then echo "$wrapper"; exit 0; fi

. /etc/os-release
release=${VERSION_CODENAME:?not a Debian release}
# The Debian mirror this machine already uses: from apt's package lists, else (lists never
# fetched on a fresh machine) from its sources files.
mirror=$(apt-cache policy 2>/dev/null | awk -v suite="$release/main" '$3 == suite {print $2}' | head -1 || true)
[ -n "$mirror" ] || mirror=$( { sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources
                               awk '$1 == "deb" {print $2}' /etc/apt/sources.list; } 2>/dev/null | grep -E '/debian/?$' | head -1 || true)
[ -n "$mirror" ] || { echo "no Debian mirror in apt's sources: cannot fetch Suricata" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
printf 'deb %s %s main\ndeb %s %s-backports main\n' "$mirror" "$release" "$mirror" "$release" > "$work/sources.list"
apt=(-q -o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=/nonexistent
     -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o APT::Sandbox::User=root -t "$release-backports")
apt-get "${apt[@]}" update > /dev/null
# What installing it would add to this machine: suricata and the libraries not already here.
mapfile -t packages < <(apt-get "${apt[@]}" -s install --no-install-recommends suricata | awk '$1 == "Inst" {print $2}')
(cd "$work/debs" && apt-get "${apt[@]}" download "${packages[@]}" > /dev/null)
mkdir -p "$dest/log"
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$dest"; done
libraries=$(find "$dest/usr/lib" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
etc=$dest/etc/suricata
{
  echo '#!/bin/sh'
  echo '# Suricata unpacked by connectors/siem/get-suricata.sh, with its own libraries and configuration.'
  echo "LD_LIBRARY_PATH=$libraries exec $dest/usr/bin/suricata -c $etc/suricata.yaml -l $dest/log \\"
  echo "  --set classification-file=$etc/classification.config --set reference-config-file=$etc/reference.config \\"
  echo "  --set threshold-file=$etc/threshold.config \"\$@\""
} > "$wrapper.tmp"
chmod +x "$wrapper.tmp"
"$wrapper.tmp" -V > /dev/null
mv "$wrapper.tmp" "$wrapper"
echo "$wrapper"
