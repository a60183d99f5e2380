#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Integration tests: runs hfgate against the fake upstream (tests/integration/run.py).
here=$(cd "$(dirname "$0")/.." && pwd)
: "${top_srcdir:=$here}"
: "${top_builddir:=$here}"
export top_srcdir top_builddir
exec "${PYTHON3:-python3}" "$top_srcdir/tests/integration/run.py" "$@"
