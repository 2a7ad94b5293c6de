"""Did the suite's runtime grow? The same tests, then and now, from two JUnit XMLs.

Issue 21 asks that its refactor (rooms, one vocabulary, one gate seam, one recorder) leave
the suite no slower. The suite has since gained the tests of later issues, so its total says
nothing about that; the tests both runs have do. Run the commit the issue was filed on and
today's main on the same machine, one after the other on a quiet machine, with the same
workers and the same virtual environment::

    git worktree add --detach ../then 0393bc6 && ln -s "$PWD/.venv" ../then/.venv
    (cd ../then && PYTHONPATH=$PWD .venv/bin/python -m pytest -q -n 2 --dist loadfile \\
        --junitxml=/tmp/then.xml)
    .venv/bin/python -m pytest -q -n 2 --dist loadfile --junitxml=/tmp/now.xml
    .venv/bin/python bench/suite_growth.py /tmp/then.xml /tmp/now.xml

Tests are matched by name (a test's function and parameters), not by module: the refactor
split and renamed modules and moved tests between them. A module fixture's time counts in
its module's first test, so a test that became a module's first (or stopped being it)
moves by that fixture's time: the sum over the common tests is the figure, the per-test
lines show where it went. Seconds are wall time per test (JUnit's ``time``).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def test_seconds(xml_path: str) -> dict[str, float]:
    """``{test name: seconds}`` of a JUnit XML (a name in several modules: their sum)."""
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        seconds[case.get("name", "")] += float(case.get("time") or 0.0)
    return dict(seconds)


def report(then: dict[str, float], now: dict[str, float], lines: int = 12) -> list[str]:
    """The comparison as printed lines."""
    common = sorted(set(then) & set(now))
    before = sum(then[name] for name in common)
    after = sum(now[name] for name in common)
    moved = sorted(common, key=lambda name: now[name] - then[name])
    added = set(now) - set(then)
    ratio = f"ratio {after / before:.3f}" if before else "no common tests"
    out = [
        f"then: {len(then)} tests, {sum(then.values()):.0f} s;"
        f" now: {len(now)} tests, {sum(now.values()):.0f} s",
        f"the {len(common)} tests both ran: {before:.0f} s then, {after:.0f} s now, {ratio}",
        f"tests only now: {len(added)}, {sum(now[n] for n in added):.0f} s;"
        f" tests gone: {len(set(then) - set(now))}",
        "largest growths (then -> now, seconds):",
        *(f"  {then[n]:7.1f} -> {now[n]:7.1f}  {n}" for n in reversed(moved[-lines:])),
        "largest falls:",
        *(f"  {then[n]:7.1f} -> {now[n]:7.1f}  {n}" for n in moved[:lines]),
    ]
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python bench/suite_growth.py THEN.xml NOW.xml", file=sys.stderr)
        return 2
    print("\n".join(report(test_seconds(argv[0]), test_seconds(argv[1]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
