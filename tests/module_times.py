"""Seconds per test module from a JUnit XML, for tests/data/module_times.tsv (the order
tests/conftest.py runs modules in, the longest first)::

    pytest -n 2 --dist loadfile --junitxml=times.xml
    python -m tests.module_times times.xml > tests/data/module_times.tsv

A module's time is the sum of its tests' times (module fixtures count in their first test).
Every module is listed: one the table does not know runs first (it may be long).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def module_seconds(xml_path: str) -> dict[str, float]:
    """``{"tests/test_x.py": seconds}`` summed over the test cases of ``xml_path``."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")  # tests.test_x[.TestClass]
        end = next(i for i, part in enumerate(parts) if part.startswith("test_")) + 1
        totals["/".join(parts[:end]) + ".py"] += float(case.get("time") or 0.0)
    return totals


def main(argv: list[str]) -> int:
    totals = module_seconds(argv[0])
    print(f"# seconds per module, from {argv[0]} (tests/module_times.py); the longest first")
    for module, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{module}\t{seconds:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
