#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# The module layering of docs/design.md: no two modules call each other through a
# loop, and only the transport and the upstream client include libmicrohttpd's and
# libcurl's headers. Read off the objects just built (scripts/layers.py).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
PYTHON3=${PYTHON3:-python3}
if "$PYTHON3" "$top_srcdir/scripts/layers.py" "$top_srcdir/src" \
    "$top_builddir/libhfgate.a" "$top_builddir/src/main.o"; then
	echo "1 passed, 0 failed"
	exit 0
fi
echo "0 passed, 1 failed"
exit 1
