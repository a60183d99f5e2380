#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Checks systemd/hfgate.service with systemd-analyze verify and its sandbox with
# systemd-analyze security. The unit names the
# packaged binary (/usr/sbin/hfgate); the copy checked here names the one just built.
set -eu
cd "$(dirname "$0")/.."
command -v systemd-analyze >/dev/null || { echo "verify-unit: no systemd-analyze" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/sbin/hfgate|$PWD/src/hfgate|g" systemd/hfgate.service >"$tmp/hfgate.service"
systemd-analyze verify --man=no "$tmp/hfgate.service"
# The sandbox: exposure at most 1.2 on systemd's 0-10 scale (--threshold counts
# tenths). Debian's redis-server unit scores 1.2.
systemd-analyze security --offline=yes --threshold=12 "$tmp/hfgate.service" >"$tmp/security" 2>&1 || {
	cat "$tmp/security" >&2
	echo "verify-unit: exposure above 1.2" >&2
	exit 1
}
echo "verify-unit: systemd/hfgate.service OK, $(grep -o 'Overall exposure level[^:]*: [0-9.]*' "$tmp/security")"
