"""Gates are decided from one layer: ``governance/decisions/`` (issue 21).

Every gate decision is built from its facts and recorded by a function of
``governance.decisions.decide`` (or by the gate modules themselves); stages in ``flows/``
and the recording wrappers in ``tasks/`` hand it the facts. The scan reads the AST of every
production module outside ``governance/decisions/`` (governance's other rooms, tasks/,
validation/, flows/; bench/ scripts time the pure rules and fill ledgers, they decide
nothing) and flags:

- a use of the seam or of a decision's parts: ``decide_gate``, ``GateDecision``,
  ``error_decision``, ``fail_closed``, ``gate_action`` (the vocabulary module defines the
  last one);
- any import of ``governance.decisions.gates`` (or of the module itself from its package)
  but ``enforce``, and the pre-send rule ``presend_gate``: a pure gate rule outside the
  room is a decision built where it does not belong;
- a ledger write (``append``/``record``) of a ``gate.<gate>`` action: ``Action.GATE_*`` or
  ``gate_action(...)``, the seam bypassed.
"""

from __future__ import annotations

import ast

import pytest

from tests.import_graph import ROOT

SCANNED = ("governance", "tasks", "validation", "flows")
ROOM = ROOT / "governance" / "decisions"
VOCABULARY = ROOT / "governance" / "ground" / "vocabulary.py"
SEAM_NAMES = {"decide_gate", "GateDecision", "error_decision", "fail_closed", "gate_action"}
RULES = {"governance.decisions.gates": {"enforce"}, "governance.decisions.presend": None}
RULE_NAMES = {"presend_gate"}
WRITES = {"append", "record"}


def _action_arg(call: ast.Call) -> ast.expr | None:
    kw = next((k.value for k in call.keywords if k.arg == "action"), None)
    return kw if kw is not None else (call.args[0] if call.args else None)


def _is_gate_action(node: ast.expr | None) -> bool:
    if isinstance(node, ast.Attribute) and node.attr.startswith("GATE_"):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) == (
            "gate_action"
        )
    return False


def violations(source: str, name: str = "<src>") -> list[str]:
    """Every place ``source`` decides or records a gate itself, as ``name:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        what = None
        if isinstance(node, ast.Name) and node.id in SEAM_NAMES:
            what = node.id
        elif isinstance(node, ast.Attribute) and node.attr in SEAM_NAMES | RULE_NAMES:
            what = node.attr
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            allowed = RULES.get(node.module)  # None: any name but RULE_NAMES
            refused = names & RULE_NAMES if allowed is None else names - allowed
            if node.module == "governance.decisions" and "gates" in names:
                what = "from governance.decisions import gates"
            elif node.module in RULES and refused:
                what = f"from {node.module} import {', '.join(sorted(refused))}"
            elif names & SEAM_NAMES:
                what = f"import {', '.join(sorted(names & SEAM_NAMES))}"
        elif isinstance(node, ast.Import):
            if any(a.name == "governance.decisions.gates" for a in node.names):
                what = "import governance.decisions.gates"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in WRITES
            and _is_gate_action(_action_arg(node))
        ):
            what = f"{node.func.attr}({ast.unparse(_action_arg(node))})"
        if what:
            found.append(f"{name}:{node.lineno}: {what}")
    return sorted(set(found))


def _scanned():
    for layer in SCANNED:
        for path in sorted((ROOT / layer).rglob("*.py")):
            if ROOM in path.parents or path == VOCABULARY:
                continue
            yield path


def test_no_gate_is_decided_outside_governance_decisions():
    found = [
        v for path in _scanned() for v in violations(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not found, "gates decided outside governance/decisions/:\n" + "\n".join(found)


def test_the_scan_reads_the_layers_that_decide():
    """The scan covers the modules that hand a gate its facts (a scan that reads nothing
    cannot fail)."""
    names = {str(p.relative_to(ROOT)) for p in _scanned()}
    assert {
        "flows/stages.py",
        "flows/portfolio_stage.py",
        "flows/orders.py",
        "tasks/risk/gate.py",
        "tasks/portfolio/rebalance.py",
        "tasks/data/quality/gate.py",
    } <= names
    assert not any(n.startswith("governance/decisions/") for n in names)


@pytest.mark.parametrize(
    "attempt",
    [
        # the seam called from a stage
        "from governance.decisions.gates import decide_gate, stress_gate\n"
        "decide_gate(ctx, stress_gate([]), subject)",
        "from governance.decisions import gates\ngates.decide_gate(ctx, d, s)",
        "import governance.decisions.gates as g\ng.decide_gate(ctx, d, s)",
        "import importlib\nimportlib.import_module(m).decide_gate(ctx, d, s)",
        # a decision built by hand, or with a rule imported from the room
        "from governance.decisions.gates import Decision\nx = 1",
        "from governance.decisions.presend import presend_gate\npresend_gate(v, l)",
        "d = GateDecision(Gate.STRESS, 'pass')",
        # the seam bypassed: a gate entry written straight to the ledger
        "ctx.record(Action.GATE_STRESS, subject=s, payload={'decision': 'pass'})",
        "ledger.append(gate_action(Gate.PRETRADE), actor='alphagate', payload={})",
        "tx.append(action=vocabulary.Action.GATE_KILL_SWITCH, actor='x')",
    ],
)
def test_the_scan_catches_a_gate_decided_elsewhere(attempt):
    """A hostile or hurried edit that decides a gate in a stage is caught."""
    assert violations(attempt), attempt


def test_the_scan_allows_the_deciders_and_readers():
    ok = (
        "from governance.decisions import decide\n"
        "from governance.decisions.gates import enforce\n"
        "decided = decide.stress(ctx, [], s, stops_run=False)\n"
        "decided.enforce()\n"
        "ledger.last(Action.GATE_DATA_QUALITY)\n"
        "ledger.entries(action=Action.GATE_APPROVAL)\n"
    )
    assert violations(ok) == []


def test_every_recorded_gate_has_its_decider():
    """Each gate that records a ``gate.<gate>`` entry is decided by a function of
    ``governance.decisions.decide`` whose halt is recorded under that gate."""
    from governance.decisions import decide
    from governance.ground.vocabulary import Action, Area, gate_of

    recorded = {gate_of(a) for a in Action if a.area == Area.GATE}
    deciders = {
        "data_quality": decide.data_quality,
        "validation": decide.validation,
        "approval": decide.approval,
        "kill_switch": decide.kill_switch,
        "pretrade": decide.pretrade,
        "stress": decide.stress,
        "presend": decide.presend,
        "boundary": decide.boundary,
        "restriction": decide.restriction,
    }
    assert recorded == set(deciders)
