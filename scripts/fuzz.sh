#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# The libFuzzer harnesses of tests/fuzz/, built with clang (Debian's clang and
# libclang-rt-14-dev: sh scripts/install-deps.sh --fuzz) under ASan and UBSan.
#
#   sh scripts/fuzz.sh run [SECONDS]   installs clang if missing, builds (make fuzz) and
#                                      runs each harness SECONDS (default 30) from its
#                                      seed corpus tests/fuzz/corpus/NAME/; exits 1 when
#                                      one crashes, leaks, hangs or breaks a property
#   sh scripts/fuzz.sh build SRCDIR BUILDDIR
#                                      what `make fuzz` runs: compiles src/*.c (but
#                                      main.c) and the harnesses into BUILDDIR/fuzz-build/
#
# The build reads from make: FUZZ_CC (else clang from PATH), FUZZ_DEPS_CFLAGS and
# FUZZ_LIBS (the libraries' pkg-config flags), FUZZ_VERSION. A run leaves each
# harness's log, new corpus entries and any crashing input in fuzz-build/run/NAME/.
set -eu

TARGETS="canon sse route v1 config head bridge"

die() {
	echo "fuzz: $*" >&2
	exit 1
}

# Newer than every file named after it (make's rule, for the objects).
newer_than_all() {
	t=$1
	shift
	[ -f "$t" ] || return 1
	for f in "$@"; do
		[ "$f" -nt "$t" ] && return 1
	done
	return 0
}

build() {
	srcdir=$1
	builddir=$2
	cc=${FUZZ_CC:-}
	if [ -z "$cc" ]; then
		cc=$(command -v clang || command -v clang-14 || true)
	fi
	[ -n "$cc" ] || die "make fuzz needs clang: sh scripts/install-deps.sh --fuzz"
	out=$builddir/fuzz-build
	mkdir -p "$out/obj" "$out/bin"
	# The fuzzed code never reads the host's files: its built-in paths lead nowhere.
	cflags="-std=c11 -D_GNU_SOURCE -I$srcdir/src -I$srcdir/tests/fuzz \
-DSYSCONFDIR=\"/nonexistent/etc\" -DLOCALSTATEDIR=\"/nonexistent/var\" \
-DPACKAGE_VERSION=\"${FUZZ_VERSION:-fuzz}\" \
-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined ${FUZZ_DEPS_CFLAGS:-}"
	lib_san="-fsanitize=fuzzer-no-link,address,undefined"
	bin_san="-fsanitize=fuzzer,address,undefined"
	echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d[0] & (int)n & 0; }' \
	    >"$out/probe.c"
	# shellcheck disable=SC2086
	"$cc" $bin_san -o "$out/probe" "$out/probe.c" >"$out/probe.log" 2>&1 ||
	    die "$cc cannot link libFuzzer ($(head -1 "$out/probe.log")):" \
		"sh scripts/install-deps.sh --fuzz"

	# Every object is remade when a header changed: there are few, clang is fast.
	headers=$(ls "$srcdir"/src/*.h "$srcdir"/src/*.def "$srcdir"/tests/fuzz/*.h)
	objs=""
	for src in "$srcdir"/src/*.c "$builddir/src/defmodels.c"; do
		name=$(basename "$src" .c)
		[ "$name" = main ] && continue
		obj=$out/obj/$name.o
		objs="$objs $obj"
		# shellcheck disable=SC2086
		newer_than_all "$obj" "$src" $headers && continue
		echo "  CLANG    $obj"
		# shellcheck disable=SC2086
		"$cc" $cflags $lib_san -c -o "$obj" "$src"
	done
	rm -f "$out/libhfgate-fuzz.a"
	# shellcheck disable=SC2086
	ar cr "$out/libhfgate-fuzz.a" $objs
	for t in $TARGETS; do
		src=$srcdir/tests/fuzz/fuzz_$t.c
		bin=$out/bin/fuzz_$t
		echo "  CLANG    $bin"
		# shellcheck disable=SC2086
		"$cc" $cflags $bin_san -o "$bin" "$src" "$out/libhfgate-fuzz.a" \
		    ${FUZZ_LIBS:-}
	done
}

# The number in libFuzzer's final "stat::NAME: N" line of a log.
stat_of() {
	sed -n "s/^stat::$1: *//p" "$2" | tail -1
}

run() {
	secs=${1:-30}
	cd "$(dirname "$0")/.."
	sh scripts/install-deps.sh --fuzz || exit 1
	[ -f Makefile ] || sh scripts/build.sh || exit 1
	make -s fuzz || exit 1
	failed=0
	passed=0
	for t in $TARGETS; do
		dir=fuzz-build/run/$t
		rm -rf "$dir"
		mkdir -p "$dir/corpus" "$dir/tmp"
		# -timeout: one input taking 10 s is a hang; -rss_limit_mb: libFuzzer's
		# default, said here. New inputs go to corpus/, not to the committed seeds.
		if TMPDIR=$PWD/$dir/tmp "fuzz-build/bin/fuzz_$t" -max_total_time="$secs" \
		    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		    -artifact_prefix="$dir/" "$dir/corpus" "tests/fuzz/corpus/$t" \
		    </dev/null >"$dir/log" 2>&1; then
			echo "fuzz $t: $(stat_of number_of_executed_units "$dir/log") runs" \
			    "in ${secs} s, no crash"
			passed=$((passed + 1))
		else
			echo "fuzz $t: FAILED (log and input in $dir/)"
			tail -40 "$dir/log"
			failed=$((failed + 1))
		fi
		rm -rf "$dir/tmp"
	done
	echo "fuzz: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

case "${1:-}" in
build)
	[ $# -eq 3 ] || die "usage: scripts/fuzz.sh build SRCDIR BUILDDIR"
	build "$2" "$3"
	;;
run)
	shift
	run "$@"
	;;
*)
	echo "usage: scripts/fuzz.sh run [SECONDS] | build SRCDIR BUILDDIR" >&2
	exit 2
	;;
esac
