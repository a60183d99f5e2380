#!/bin/sh
# Quick start: installs what is missing, builds, and runs hfgate in the foreground with
# the shipped configuration (etc/hfgate.conf: 127.0.0.1:8080). Extra arguments go to
# hfgate, e.g. --upstream http://127.0.0.1:9000 to use the offline fake upstream.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
sh scripts/build.sh
exec ./src/hfgate -c etc/hfgate.conf "$@"
