#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Quick start: installs what is missing, builds, and runs hfgate in the foreground with
# the shipped configuration (etc/hfgate.conf: 127.0.0.1:8080). Extra arguments go to
# hfgate, e.g. --upstream http://127.0.0.1:9000 to use the offline fake upstream.
# The cache and the usage counts go to var/cache.db in this tree (the installed
# daemon keeps them in $(localstatedir)/lib/hfgate), unless the arguments say
# --cache-db or --no-cache.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
sh scripts/build.sh
case " $* " in
*" --cache-db"*|*" --no-cache "*)
	exec ./src/hfgate -c etc/hfgate.conf "$@" ;;
esac
mkdir -p var
exec ./src/hfgate -c etc/hfgate.conf --cache-db var/cache.db "$@"
