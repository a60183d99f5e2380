#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Client conformance tests: the official Hugging Face JavaScript clients and the openai SDKs
# (@huggingface/inference, tests/clients/package-lock.json) against hfgate and the
# fake upstream, plus the examples of docs/clients.md. Installs Node.js, npm and
# curl when missing (Debian: apt-get), runs `npm ci` when node_modules is missing
# or older than package-lock.json, then `node --test`. Never skips: anything
# missing that cannot be installed is a failure.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
: "${top_srcdir:=$here}"
: "${top_builddir:=$here}"
top_srcdir=$(cd "$top_srcdir" && pwd) || exit 1
top_builddir=$(cd "$top_builddir" && pwd) || exit 1
export top_srcdir top_builddir

fail() {
	echo "tests/clients.sh: $*" >&2
	exit 1
}

need=
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
command -v curl >/dev/null 2>&1 || need="$need curl"
if [ -n "$need" ]; then
	echo "tests/clients.sh: installing$need"
	command -v apt-get >/dev/null 2>&1 || fail "missing$need and no apt-get to install them"
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || fail "missing$need; install them (needs root)"
		sudo=sudo
	else
		sudo=
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q >/dev/null || fail "apt-get update failed"
	# shellcheck disable=SC2086
	$sudo apt-get install -y -q $need >/dev/null || fail "apt-get install$need failed"
fi
command -v node >/dev/null 2>&1 || fail "node not found after installing nodejs"
command -v npm >/dev/null 2>&1 || fail "npm not found after installing npm"
major=$(node -p 'process.versions.node.split(".")[0]') || fail "node does not run"
[ "$major" -ge 18 ] || fail "Node.js $(node --version) is too old (18 or later needed)"

# The tests run from a directory that holds node_modules: the source directory,
# or a copy in the build tree (tests/clients-run, removed by make clean) when the
# source tree is elsewhere (VPATH builds, distcheck's read-only source tree).
src="$top_srcdir/tests/clients"
if [ "$top_srcdir" = "$top_builddir" ]; then
	dir=$src
else
	dir="$top_builddir/tests/clients-run"
	mkdir -p "$dir" || fail "cannot create $dir"
	for f in package.json package-lock.json harness.mjs hfjs.test.mjs docs.test.mjs \
	    keys.test.mjs openai.test.mjs bridge.test.mjs; do
		# rm first: distcheck's source files are read-only, and so are copies.
		rm -f "$dir/$f" && cp "$src/$f" "$dir/$f" || fail "cannot copy $f to $dir"
	done
fi
cd "$dir" || fail "cannot cd to $dir"

# npm ci only when the installed tree is not the one package-lock.json describes
# (stamp: the lock file as of the last successful npm ci), so runs are offline-friendly.
stamp=node_modules/.hfgate-package-lock.json
# A copy in the build tree (distcheck, a packager's build, no network) uses the
# source tree's node_modules when that one is current.
if [ "$dir" != "$src" ] && [ ! -e node_modules ] && [ -f "$src/$stamp" ] &&
    cmp -s package-lock.json "$src/$stamp"; then
	ln -s "$src/node_modules" node_modules || fail "cannot link $src/node_modules"
fi
if [ -d node_modules ] && [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
	:
else
	echo "tests/clients.sh: npm ci in $dir"
	log=$(mktemp) || fail "mktemp failed"
	npm ci --no-audit --no-fund --prefer-offline >"$log" 2>&1 || {
		cat "$log" >&2
		rm -f "$log"
		fail "npm ci failed"
	}
	rm -f "$log"
	rm -f "$stamp" && cp package-lock.json "$stamp" || fail "cannot write $stamp"
fi

node --test hfjs.test.mjs docs.test.mjs keys.test.mjs openai.test.mjs bridge.test.mjs
