#!/usr/bin/env python3
"""Counts cmocka test cases from meson's testlog.json: prints "PASSED FAILED".

A test binary that crashed or failed without a cmocka summary counts as one failure, so a
crash can never hide behind a count of zero.
"""
import json
import re
import sys

passed = failed = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        t = json.loads(line)
        out = t.get("stdout", "") + t.get("stderr", "")
        ran = re.search(r"\[==========\] (\d+) test\(s\) run", out)
        ok = re.search(r"\[  PASSED  \] (\d+) test\(s\)", out)
        bad = re.search(r"\[  FAILED  \] (\d+) test\(s\)", out)
        p = int(ok.group(1)) if ok else 0
        fl = int(bad.group(1)) if bad else 0
        if t.get("result") != "OK" and fl == 0:
            fl = 1  # crashed, timed out, or failed outside cmocka
        if not ran and t.get("result") == "OK":
            fl += 1  # ran no cmocka test at all: a placeholder, not a pass
        passed += p
        failed += fl
print(passed, failed)
