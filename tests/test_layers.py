"""The layers hold: no import cycle, no upward import (shared/DESIGN.md "Layers").

``flows/`` > ``tasks/``, ``validation/`` > ``governance/``. Inside ``tasks/`` the rooms are
ordered too: ``tasks.data`` (market data, quality) < ``tasks.model`` (features to scoring)
< the portfolio and risk rooms. The graph comes from the source (tests/import_graph.py):
lazy imports count, ``TYPE_CHECKING`` blocks do not. What validation may import is an
allow-list in tests/test_independence.py.
"""

from __future__ import annotations

import pytest

from tests.import_graph import ROOT, cycles, edges_of, import_graph, imported_names

GRAPH = import_graph()


def _room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "tasks" and len(parts) > 1 else parts[0]


def _upward(module: str, target: str) -> bool:
    """True when ``module`` may not import ``target`` by the layer rules."""
    src, dst = _room(module), _room(target)
    layer = src.split(".")[0]
    if src == dst or layer == "flows":
        return False
    if layer == "governance":
        return True  # governance imports nothing above
    if dst.split(".")[0] in ("flows", "validation"):
        return True  # tasks never reach up; validation never imports flows
    if layer == "validation":
        return False  # which tasks modules: the allow-list in test_independence.py
    if src == "tasks.data":
        return dst != "governance"
    if src == "tasks.model":
        return dst not in ("governance", "tasks.data")
    return False


def test_the_graph_covers_every_layer_and_sees_lazy_imports():
    assert {"governance.ledger", "tasks.model.train", "validation.run", "flows.cli"} <= set(GRAPH)
    # flows/stages.py imports training inside a function.
    assert "tasks.model.register" in GRAPH["flows.stages"]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import tasks.model.train", {"tasks.model.train"}),
        ("from tasks.model import stats", {"tasks.model.stats"}),
        ("def f():\n    from tasks.model.cv import make_folds", {"tasks.model.cv"}),
        ("import importlib\nimportlib.import_module('tasks.model.cv')", {"tasks.model.cv"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tasks.model.cv", set()),
        ("from . import stats", {"tasks.model.stats"}),
    ],
)
def test_scanner_reads_every_import_form(source, expected):
    assert edges_of(source, "tasks.model.x", set(GRAPH)) == expected


def test_no_import_cycle_anywhere():
    assert cycles(GRAPH) == []


def test_a_cycle_is_found_when_one_is_written():
    g = {**GRAPH, "tasks.model.cv": GRAPH["tasks.model.cv"] | {"tasks.model.train"}}
    assert ["tasks.model.cv", "tasks.model.train"] in cycles(g)


def test_no_upward_import():
    bad = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() for t in ts if _upward(m, t))
    assert bad == []


@pytest.mark.parametrize(
    "module, target",
    [
        ("governance.gates", "tasks.model.stats"),
        ("governance.ledger", "flows.cli"),
        ("tasks.model.train", "validation.metrics"),
        ("tasks.data.synthetic", "tasks.model.stats"),
        ("tasks.model.features", "tasks.portfolio.risk"),
        ("validation.run", "flows.config"),
    ],
)
def test_each_upward_import_is_caught(module, target):
    assert _upward(module, target)


def _imports_prefect(path) -> list[str]:
    src = path.read_text(encoding="utf-8")
    mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return [n for n in imported_names(src, mod) if n.split("\0")[0].split(".")[0] == "prefect"]


@pytest.mark.parametrize("path", sorted((ROOT / "governance").rglob("*.py")), ids=lambda p: p.name)
def test_governance_imports_no_prefect(path):
    assert _imports_prefect(path) == []
