"""The layers hold: no import cycle, no upward import (shared/DESIGN.md "Layers").

``flows/`` > ``tasks/``, ``validation/`` > ``governance/``. Inside ``tasks/`` the rooms are
ordered too: ``tasks.data`` (market data, quality) < ``tasks.model`` (features to scoring)
< the portfolio and risk rooms < ``tasks.orders`` (orders from the book; nothing else in
``tasks/`` reads it). Inside ``governance/`` the rooms stand in a fixed order
(:data:`GOVERNANCE_ROOMS`, ground floor first): a room imports only rooms below it. The graph comes from the source (tests/import_graph.py):
lazy imports count, ``TYPE_CHECKING`` blocks do not. What validation may import is an
allow-list in tests/test_independence.py.
"""

from __future__ import annotations

import pytest

from tests.import_graph import ROOT, cycles, edges_of, import_graph, imported_names

GRAPH = import_graph()

#: governance/'s rooms, lowest first (shared/STYLE.md "transparency-dev ... a log as rooms").
GOVERNANCE_ROOMS = (
    "ground", "log", "identity", "policy", "registry", "findings", "audit", "decisions",
    "evidence", "views",
)  # fmt: skip


def _room(module: str) -> str:
    parts = module.split(".")
    return (
        ".".join(parts[:2]) if parts[0] in ("tasks", "governance") and len(parts) > 1 else parts[0]
    )


def _upward(module: str, target: str) -> bool:
    """True when ``module`` may not import ``target`` by the layer rules."""
    src, dst = _room(module), _room(target)
    layer, dst_layer = src.split(".")[0], dst.split(".")[0]
    if src == dst or layer == "flows":
        return False
    if layer == "governance":
        if dst_layer != "governance" or "." not in src or "." not in dst:
            return True  # governance imports nothing above it, and its rooms not their package
        rank = GOVERNANCE_ROOMS.index
        return rank(dst.split(".")[1]) > rank(src.split(".")[1])
    dst = dst_layer if dst_layer == "governance" else dst
    if dst.split(".")[0] in ("flows", "validation"):
        return True  # tasks never reach up; validation never imports flows
    if layer == "validation":
        return False  # which tasks modules: the allow-list in test_independence.py
    if src == "tasks.data":
        return dst != "governance"
    if src == "tasks.model":
        return dst not in ("governance", "tasks.data")
    if src == "tasks.orders":  # above the portfolio: the book, the cost model, the market
        return dst not in ("governance", "tasks.data", "tasks.model", "tasks.portfolio")
    return dst == "tasks.orders"  # nothing in tasks/ reads the orders room


def test_the_graph_covers_every_layer_and_sees_lazy_imports():
    assert {"governance.log.ledger", "tasks.model.train", "validation.run", "flows.cli"} <= set(
        GRAPH
    )
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


def test_governance_is_rooms_only():
    """No module directly under governance/ but its ``__init__``; every room is ranked."""
    loose = sorted(p.name for p in (ROOT / "governance").glob("*.py") if p.name != "__init__.py")
    rooms = sorted(p.parent.name for p in (ROOT / "governance").glob("*/__init__.py"))
    assert loose == []
    assert rooms == sorted(GOVERNANCE_ROOMS)


def test_no_module_over_400_lines():
    files = [
        p
        for pkg in ("governance", "tasks", "validation", "flows")
        for p in (ROOT / pkg).rglob("*.py")
    ]
    long = sorted(
        f"{p.relative_to(ROOT)}: {n}" for p in files if (n := len(p.read_text().splitlines())) > 400
    )
    assert long == []


def test_a_cycle_through_a_computed_import_is_found(tmp_path):
    """A loader that imports ``f"app.commands.{name}"`` and a command importing the loader
    back form a cycle the graph must see (the CLI once had exactly this)."""
    (tmp_path / "app" / "commands").mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "cli.py").write_text(
        "import importlib\n\ndef load(name):\n    return importlib.import_module(f'app.commands.{name}')\n"
    )
    (tmp_path / "app" / "commands" / "__init__.py").write_text("")
    (tmp_path / "app" / "commands" / "run.py").write_text("from app.cli import load\n")
    files = {
        "app.cli": tmp_path / "app/cli.py",
        "app.commands.run": tmp_path / "app/commands/run.py",
    }
    known = {*files, "app", "app.commands"}
    graph = {m: edges_of(p.read_text(), m, known) for m, p in files.items()}
    assert ["app.cli", "app.commands.run"] in cycles(graph)


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
        ("governance.decisions.gates", "tasks.model.stats"),
        ("governance.log.ledger", "flows.cli"),
        ("governance.log.ledger", "governance.identity.users"),
        ("governance.identity.users", "governance.policy.schema"),
        ("governance.ground.workspace", "governance.log.merkle"),
        ("governance.findings.accept", "governance.decisions.promotion"),
        ("tasks.model.train", "validation.metrics"),
        ("tasks.data.synthetic", "tasks.model.stats"),
        ("tasks.model.features", "tasks.portfolio.risk"),
        ("tasks.portfolio.book", "tasks.orders.fills"),
        ("tasks.orders.orders", "validation.run"),
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
