#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Installs what is missing, builds, and runs the whole test suite: the Check unit tests
# and the integration tests against the fake upstream. With --sanitizers the suite runs
# on an ASan+UBSan build. Ends with one line: "suite: N passed, M failed".
set -u
cd "$(dirname "$0")/.."

flags=""
for a in "$@"; do
	case "$a" in
	--sanitizers) flags="$flags --enable-sanitizers" ;;
	--werror) flags="$flags --enable-werror" ;;
	*) echo "usage: scripts/test.sh [--sanitizers] [--werror]" >&2; exit 2 ;;
	esac
done
flags=${flags# }

sh scripts/install-deps.sh || exit 1
# promtool checks GET /metrics (tests/integration/test_metrics.py).
HFGATE_PROMTOOL=$(sh scripts/get-promtool.sh) || exit 1
export HFGATE_PROMTOOL
sh scripts/build.sh $flags || exit 1

# ASan: fail on any report; leaks count too. UBSan: print a stack and fail.
ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

make -s check
rc=$?
for f in tests/*.log; do
	[ "$f" = tests/test-suite.log ] && continue
	echo "=== $f"
	cat "$f"
done
python3 scripts/summarize-tests.py tests
[ $rc -eq 0 ] || exit $rc
