#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Puts Prometheus's promtool, which the tests use to check GET /metrics, in
# ${XDG_CACHE_HOME:-$HOME/.cache}/hfgate/promtool (prints that path). It is taken out
# of Debian's prometheus package without installing the package: installing it would
# also start a Prometheus server on the machine. Idempotent.
set -eu
dir=${XDG_CACHE_HOME:-$HOME/.cache}/hfgate
tool=$dir/promtool
if [ -x "$tool" ]; then
	echo "$tool"
	exit 0
fi
command -v promtool >/dev/null 2>&1 && { command -v promtool; exit 0; }
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get download needs the package lists: refreshed when it cannot find it.
(cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 ||
    { [ "$(id -u)" -eq 0 ] && apt-get update -qq && apt-get download prometheus >/dev/null; }; }) ||
    { echo "get-promtool: cannot download Debian's prometheus package" >&2; exit 1; }
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
cp "$tmp/x/usr/bin/promtool" "$tool.new"
mv "$tool.new" "$tool"
echo "$tool"
