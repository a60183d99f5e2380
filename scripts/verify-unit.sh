#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Checks systemd/hfgate.service with systemd-analyze verify. The unit names the
# packaged binary (/usr/sbin/hfgate); the copy checked here names the one just built.
set -eu
cd "$(dirname "$0")/.."
command -v systemd-analyze >/dev/null || { echo "verify-unit: no systemd-analyze" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/sbin/hfgate|$PWD/src/hfgate|g" systemd/hfgate.service >"$tmp/hfgate.service"
systemd-analyze verify --man=no "$tmp/hfgate.service"
echo "verify-unit: systemd/hfgate.service OK"
