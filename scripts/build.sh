#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Builds hfgate in the source tree (the daemon is src/hfgate). Reconfigures only when
# the wanted configure flags differ from the last ones. Flags are passed to configure.
set -eu
cd "$(dirname "$0")/.."

want="$*"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi
fi
have=""
[ -f .build-flags ] && have=$(cat .build-flags)
if [ ! -f Makefile ] || [ ! -f config.status ] || [ "$have" != "$want" ]; then
	[ -f Makefile ] && make -s distclean >/dev/null 2>&1 || true
	# shellcheck disable=SC2086
	./configure $want >/dev/null
	printf '%s' "$want" >.build-flags
fi
make -s -j"$(nproc)"
