"""Gates: the building blocks other stages import (users and keys: tests/test_identity.py)."""

from __future__ import annotations

import ast

import pytest

from governance.decisions.gates import (
    PAYLOAD_FIELDS,
    Decision,
    GateDecision,
    approval_gate,
    boundary_gate,
    data_quality_gate,
    decide_gate,
    enforce,
    fail_closed,
    kill_switch_gate,
    pretrade_gate,
    restriction_gate,
    stress_gate,
    validation_gate,
)
from governance.decisions.presend import presend_gate
from governance.ground.errors import Gate, GateHalt
from governance.ground.vocabulary import Action, Subject, gate_action, gate_of
from tests.import_graph import ROOT

#: What a run context adds beside the gate's own fields.
CONTEXT_FIELDS = {"flow_run_id", "run_key"}


def test_data_quality_gate_halts_on_critical_passes_warnings():
    d = data_quality_gate({"critical_failures": ["close: 3 nulls"], "warnings": ["w1"]})
    assert d.halted and d.reasons == ("close: 3 nulls",) and d.evidence["warnings"] == ["w1"]
    ok = data_quality_gate({"critical_failures": [], "warnings": ["w1"], "fingerprint": "ab"})
    assert ok.passed and ok.evidence["fingerprint"] == "ab" and ok.reasons == ("warning: w1",)


def test_an_exception_inside_a_gate_is_a_halt():
    # a malformed quality result (no lists) must not pass
    d = data_quality_gate({"nothing": 1})
    assert d.decision is Decision.HALT and "error while evaluating" in d.reasons[0]
    assert validation_gate("maybe").halted
    assert kill_switch_gate({"state": "???", "by": None, "reason": None, "since": None}).halted

    @fail_closed(Gate.PRETRADE)
    def broken() -> GateDecision:
        raise ZeroDivisionError("boom")

    assert broken().halted and "ZeroDivisionError: boom" in broken().reasons[0]
    assert broken().gate is Gate.PRETRADE


def test_every_halt_names_a_gate_of_the_enum():
    from governance.ground.errors import TamperDetected

    assert GateHalt("scoring", "x").gate is Gate.SCORING
    assert TamperDetected("x").gate is Gate.INTEGRITY
    assert str(GateHalt(Gate.OPTIMISER, ["infeasible"])) == "optimiser: infeasible"
    with pytest.raises(ValueError, match="stres"):
        GateHalt("stres", "a gate the enum lacks is a bug, not a halt")
    with pytest.raises(ValueError):
        GateDecision("custom", Decision.PASS)


def test_validation_approval_killswitch_pretrade_gates():
    assert validation_gate("pass").passed
    assert (
        validation_gate("review", [{"severity": "warning", "message": "psi"}]).decision == "review"
    )
    assert validation_gate("fail", ["ic too low"]).halted
    assert approval_gate(["risk_officer"], ["validator:vera"]).halted
    assert approval_gate([]).passed
    armed = {"state": "armed", "by": None, "reason": None, "since": None}
    assert kill_switch_gate(armed).passed
    tripped = {"state": "tripped", "by": "rita", "reason": "loss", "since": "t"}
    assert "rita" in kill_switch_gate(tripped).reasons[0]
    assert pretrade_gate(["max_weight 0.2 > 0.1"]).halted and pretrade_gate([]).passed
    with pytest.raises(GateHalt, match="pretrade: max_weight"):
        enforce(pretrade_gate(["max_weight 0.2 > 0.1"]))
    payload = pretrade_gate([]).payload("abc")
    assert payload["decision"] == "pass" and payload["policy_hash"] == "abc"


#: One decision of each gate that records, as the stages make them (a halt for each).
GATES = {
    Gate.DATA_QUALITY: lambda: data_quality_gate(
        {"critical_failures": ["dup rows"], "warnings": ["w1"], "fingerprint": "ab" * 32}
    ),
    Gate.VALIDATION: lambda: validation_gate("fail", ["ic too low"]),
    Gate.APPROVAL: lambda: approval_gate(["risk_officer"], ["validator:vera"]),
    Gate.KILL_SWITCH: lambda: kill_switch_gate(
        {"state": "tripped", "by": "rita", "reason": "loss", "since": "t"}
    ),
    Gate.PRETRADE: lambda: pretrade_gate(["max_weight 0.2 > 0.1"], weights_sha256="w"),
    Gate.STRESS: lambda: stress_gate(["2008: loss 0.31 > 0.25"], account="a1"),
    Gate.PRESEND: lambda: presend_gate(None, None),  # cannot be evaluated: fails closed
    Gate.BOUNDARY: lambda: boundary_gate(["feature:x: 90% outside"], "fallback"),
    Gate.RESTRICTION: lambda: restriction_gate(["book value above 1e8"], book_value=2e8),
}


def test_each_gate_is_recorded_through_the_seam_with_one_payload_schema(workspace):
    """Each gate (the six of the chain and the pre-send checks) is recorded once through
    ``decide_gate``: action ``gate.<gate>``, the same payload fields, the halt raised after
    recording (or recorded only, for a gate on one account of many)."""
    from governance.decisions.context import RunContext

    assert {gate_action(g) for g in GATES} == {a for a in Action if gate_of(a)}  # none untested

    ctx = RunContext.open(workspace, actor="alphagate", flow_run_id="fr-1", policy_hash="c" * 64)
    try:
        for gate, make in GATES.items():
            decision = make()
            assert decision.gate is gate and decision.halted
            with pytest.raises(GateHalt) as info:
                decide_gate(ctx, decision, Subject.model("alpha", 1))
            assert info.value.gate is gate and list(info.value.reasons) == list(decision.reasons)
        kept = decide_gate(ctx, GATES[Gate.STRESS](), Subject.portfolio("d", "a1"), stops_run=False)
        entries = [e for e in ctx.ledger.entries() if e.action.startswith("gate.")]
        assert [e.action for e in entries] == [*map(gate_action, GATES), Action.GATE_STRESS]
        assert entries[-1] == kept
        for e in entries:
            assert set(e.payload) == {*PAYLOAD_FIELDS, *CONTEXT_FIELDS}, e.action
            assert e.payload["gate"] == e.action.removeprefix("gate.")
            assert e.payload["decision"] == "halt" and e.payload["reasons"]
            assert isinstance(e.payload["evidence"], dict)
            assert e.payload["policy_hash"] == "c" * 64 and e.payload["flow_run_id"] == "fr-1"
        dq = entries[0].payload
        assert dq["reasons"] == ["dup rows"] and dq["evidence"]["warnings"] == ["w1"]
        assert ctx.ledger.verify().ok
    finally:
        ctx.close()


def _gate_records(source: str) -> list[int]:
    """Lines of ``source`` that record a ``gate.*`` action other than through the seam."""
    tree = ast.parse(source)
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("record", "append"):
            continue
        action = node.args[0] if node.args else None
        action = next((k.value for k in node.keywords if k.arg == "action"), action)
        text = ast.unparse(action) if action is not None else ""
        if text.startswith(("Action.GATE_", "gate_action(")):
            lines.append(node.lineno)
    return lines


def test_no_gate_is_recorded_outside_the_seam():
    """Only ``governance/decisions/gates.py`` appends a ``gate.*`` entry (the scan can fail:
    it finds both spellings in a sample)."""
    sample = "ctx.record(Action.GATE_PRETRADE, subject=s)\nledger.append(gate_action(g))\n"
    assert _gate_records(sample) == [1, 2]
    seam = ROOT / "governance" / "decisions" / "gates.py"
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for layer in ("governance", "tasks", "validation", "flows")
        for path in sorted((ROOT / layer).rglob("*.py"))
        if path != seam
        for line in _gate_records(path.read_text())
    ]
    assert found == []
