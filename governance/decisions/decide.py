"""Every gate as a run decides it: the facts in, the decision recorded and enforced.

This module is the one place outside the gate seam itself that decides a gate: each
function builds the gate's decision with its pure rule (``governance.decisions.gates``,
``presend.presend_gate``) from the facts a stage hands it and records it through
:func:`governance.decisions.gates.decide_gate` (``gate.<gate>``, one payload schema).
Stages in ``flows/`` and the recording wrappers in ``tasks/`` call these functions; none of
them builds a :class:`~governance.decisions.gates.GateDecision` or calls the seam
(tests/test_gate_layer.py).

A function that *stops* the run raises :class:`GateHalt` (exit 3) after recording a halt;
one that *steers* it (validation, approval, the kill switch in a rebalance, one account of
many, the operating boundary, a restriction of use) records and returns the :class:`Decided`, and the caller acts
on ``decided.halted`` or enforces later (``decided.enforce()``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from governance.decisions import gates
from governance.decisions.gates import Decision, GateDecision
from governance.ground.errors import Gate

if TYPE_CHECKING:
    from governance.decisions.context import RunContext
    from governance.log.ledger import LedgerEntry


@dataclass(frozen=True)
class Decided:
    """A recorded gate decision and its ledger entry."""

    decision: GateDecision
    entry: LedgerEntry

    @property
    def halted(self) -> bool:
        return self.decision.halted

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.decision.reasons

    def enforce(self) -> None:
        """Raise :class:`GateHalt` (exit 3) when the recorded decision is a halt."""
        gates.enforce(self.decision)


def _decide(ctx, decision: GateDecision, subject: str, stops_run: bool, **kw) -> Decided:
    return Decided(decision, gates.decide_gate(ctx, decision, subject, stops_run=stops_run, **kw))


def data_quality(
    ctx: RunContext, result: Any, subject: str, *, artifacts: Mapping[str, str] | None = None
) -> LedgerEntry:
    """The data-quality gate on a quality result (``gates.data_quality_gate``); stops the
    run on a critical failure."""
    return _decide(ctx, gates.data_quality_gate(result), subject, True, artifacts=artifacts).entry


def data_sources(
    ctx: RunContext, critical: Sequence[str], subject: str, **evidence: Any
) -> LedgerEntry:
    """The data-quality gate on the feature sources read beside the market (recorded as
    ``gate.data_quality``): any critical failure of any source stops the run."""
    decision = GateDecision(
        Gate.DATA_QUALITY, Decision.HALT if critical else Decision.PASS, critical, evidence
    )
    return _decide(ctx, decision, subject, True).entry


def validation(ctx: RunContext, verdict: str, findings: Sequence[Any], subject: str) -> Decided:
    """The validation gate on a verdict and its findings; steers (the version is not
    promoted), never stops the run."""
    return _decide(ctx, gates.validation_gate(verdict, findings), subject, False)


def approval(ctx: RunContext, state: Any, subject: str) -> Decided:
    """The approval gate on where a version stands (``promotion.PromotionState``): what
    blocks it and what is missing halt it; steers, never stops the run."""
    decision = gates.approval_gate(
        [*state.blocked, *state.missing],
        granted=[f"{g['role']}:{g['user']}" for g in state.granted],
        champion=state.champion,
    )
    return _decide(ctx, decision, subject, False)


def kill_switch(ctx: RunContext, state: Any, subject: str, *, stops_run: bool) -> Decided:
    """The kill-switch gate on the switch's state: in a rebalance it steers (the fallback
    is published); before orders leave it stops."""
    return _decide(ctx, gates.kill_switch_gate(state), subject, stops_run)


def switch_still_armed(state: Any) -> None:
    """At the moment of sending: raise the kill-switch halt (not recorded again: the
    refused send is) when the switch tripped since the gate passed."""
    gates.enforce(gates.kill_switch_gate(state))


def pretrade(
    ctx: RunContext, breaches: Sequence[Any], subject: str, *, stops_run: bool = True,
    **evidence: Any,
) -> Decided:  # fmt: skip
    """The pre-trade gate on a book's breaches (``pretrade.check_pretrade``): one book's
    halt stops; one account of many (``stops_run=False``) holds what it has."""
    return _decide(ctx, gates.pretrade_gate(breaches, **evidence), subject, stops_run)


def stress(
    ctx: RunContext, breaches: Sequence[Any], subject: str, *, stops_run: bool,
    **evidence: Any,
) -> Decided:  # fmt: skip
    """The stress gate on a book's stressed-loss breaches (``pretrade.check_stress``)."""
    return _decide(ctx, gates.stress_gate(breaches, **evidence), subject, stops_run)


def presend(ctx: RunContext, view: Any, limits: Any, subject: str) -> Decided:
    """The pre-send gate on an order set (``presend.presend_gate``): stops when every
    account is blocked; passes with the blocked accounts in the evidence otherwise."""
    from governance.decisions.presend import presend_gate

    return _decide(ctx, presend_gate(view, limits), subject, True)


def boundary(
    ctx: RunContext, outside: Sequence[str], action: str, subject: str, **evidence: Any
) -> Decided:
    """The operating-boundary gate: inside passes; outside, the tier's ``action`` (warn: a
    review, fallback: a halt the caller enforces once the finding is raised)."""
    return _decide(ctx, gates.boundary_gate(outside, action, **evidence), subject, False)


def restriction(ctx: RunContext, breaches: Sequence[str], subject: str, **evidence: Any) -> Decided:
    """The restrictions of use in force (``overlay_use.restriction_breaches``): a breach
    halts the model's use; steers (the rebalance publishes the fallback)."""
    return _decide(ctx, gates.restriction_gate(breaches, **evidence), subject, False)


def failed(ctx: RunContext, gate: Gate, exc: BaseException, subject: str) -> None:
    """Fail closed: a gate whose evaluation raised ``exc`` is recorded as a halt naming the
    error, and the run stops (``GateHalt``)."""
    _decide(ctx, gates.error_decision(gate, exc), subject, True)
