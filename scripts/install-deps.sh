#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Installs, as root on Debian 12, the packages hfgate needs to build, run and test.
# Idempotent: installs only what is missing. Extra package names may be passed as
# arguments (the benchmark adds nginx-light and wrk); --fuzz adds clang and its
# libFuzzer runtime, for scripts/fuzz.sh.
set -eu

extra=""
for a in "$@"; do
	case "$a" in
	--fuzz) extra="$extra clang libclang-rt-14-dev" ;;
	*) extra="$extra $a" ;;
	esac
done

packages="build-essential autoconf automake pkg-config \
libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libsqlite3-dev libinih-dev \
libssl-dev libsystemd-dev libjemalloc-dev check python3 curl ca-certificates openssl $extra"

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
