#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Runs the hfgate integration tests (tests/integration/test_*.py).

Usage: run.py [PATTERN...]   (patterns select tests by name, as unittest's -k)
Prints "N passed, M failed[, K skipped]" last; exit 1 on any failure or error.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
    sys.dont_write_bytecode = True	# the source tree may be read-only (distcheck)
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if argv:
        loader.testNamePatterns = ["*%s*" % a if "*" not in a else a for a in argv]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    result = runner.run(suite)
    skipped = len(result.skipped)
    # Class-level errors (setUpClass/tearDownClass) are in errors but not in
    # testsRun; subTest failures name their parent test.
    bad = set()
    class_errors = 0
    for t, _ in result.failures + result.errors:
        t = getattr(t, "test_case", t)
        if isinstance(t, unittest.TestCase):
            bad.add(t.id())
        else:
            class_errors += 1
    failed = len(bad) + class_errors + len(result.unexpectedSuccesses)
    passed = max(0, result.testsRun - skipped - len(result.expectedFailures)
                 - len(result.unexpectedSuccesses) - len(bad))
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    sys.stdout.flush()
    sys.stderr.flush()
    print(line, flush=True)
    return 1 if failed or not result.wasSuccessful() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
