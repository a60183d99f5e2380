#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Adds up the counts of every test log (Check's "Checks: N, Failures: F, Errors: E"
and the integration suite's "N passed, M failed") into one closing line."""
import pathlib
import re
import sys

passed = failed = skipped = 0
for log in sorted(pathlib.Path(sys.argv[1]).glob("*.log")):
    if log.name == "test-suite.log":
        continue
    text = log.read_text(errors="replace")
    m = re.search(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)", text)
    if m:
        n, f, e = map(int, m.groups())
        passed += n - f - e
        failed += f + e
        continue
    # node --test (TAP): "# pass N" / "# fail N" / "# skipped N"
    mp = re.search(r"^# pass (\d+)$", text, re.M)
    mf = re.search(r"^# fail (\d+)$", text, re.M)
    if mp and mf:
        passed += int(mp.group(1))
        failed += int(mf.group(1))
        ms = re.search(r"^# skipped (\d+)$", text, re.M)
        skipped += int(ms.group(1)) if ms else 0
        continue
    m = re.search(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", text, re.M)
    if m:
        passed += int(m.group(1))
        failed += int(m.group(2))
        skipped += int(m.group(3) or 0)
        continue
    failed += 1  # a test program that printed no counts (crashed before the end)
line = f"suite: {passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
