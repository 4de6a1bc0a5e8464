#!/usr/bin/env python3
"""Counts test results over meson runs and prints the last line CI reads:
"N passed, N failed". Each GoogleTest case counts once (meson's JUnit log lists them);
a test program that failed without a failing case being recorded (a crash, a timeout, a
script test) counts as one failure. Exits non-zero if anything failed or nothing ran.

usage: summarize.py <testlog.junit.xml> <testlog.json> [<junit> <json> ...]"""
import json
import re
import sys
import xml.etree.ElementTree as ET

# meson copies a test's output into the JUnit log as it is; a failing test that printed a
# daemon log with NULs (a file cut short) makes it XML no parser takes. Those bytes go.
NOT_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def count(junit, log):
    passed = failed = skipped = 0
    failing_programs = set()  # test programs with at least one failing case recorded
    with open(junit, "rb") as f:
        root = ET.fromstring(NOT_XML.sub(b"", f.read()))
    for suite in root.iter("testsuite"):
        # "project.project:suites / program.GTestSuite" for gtest, "... / program" otherwise
        program = suite.get("name", "").split(" / ", 1)[-1].split(".", 1)[0]
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failing_programs.add(program)
                print(f"FAILED: {suite.get('name')} :: {case.get('name')}")
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    with open(log) as f:
        for line in f:
            r = json.loads(line)
            if r.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
                continue
            if r["name"] not in failing_programs:
                failed += 1
                print(f"FAILED: {r['name']} ({r.get('result')}, see its log)")
    return passed, failed, skipped


def main(args):
    if len(args) % 2:
        sys.exit(__doc__)
    passed = failed = skipped = 0
    for junit, log in zip(args[0::2], args[1::2]):
        try:
            p, f, s = count(junit, log)
        except (OSError, ET.ParseError, json.JSONDecodeError) as e:
            print(f"FAILED: cannot read {junit} / {log}: {e}")
            p, f, s = 0, 1, 0
        passed, failed, skipped = passed + p, failed + f, skipped + s
    if skipped:
        print(f"{skipped} skipped")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
