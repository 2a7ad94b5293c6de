"""Gates: evidence in, a decision (pass / halt / review) with reasons out.

Every gate is a pure function returning a :class:`GateDecision`; :func:`decide_gate` is the
one seam through which each of the six gates (data quality, validation, approval, kill switch,
pre-trade, stress) is recorded and enforced: it writes the ledger entry ``gate.<gate>`` with
the one payload schema :data:`PAYLOAD_FIELDS` (docs/architecture.md) and raises
:class:`GateHalt` (exit 3) on a halt. Gates fail closed (shared/DESIGN.md): wrap an
evaluation in :func:`fail_closed` and an exception inside it becomes a ``halt`` naming the
error, never a pass.

Only ``governance/decisions/`` calls the seam (tests/test_gate_layer.py): stages hand the
facts to ``governance.decisions.decide``, which does, for example::

    decision = data_quality_gate(result)          # pure, fail-closed
    decide_gate(ctx, decision, subject)           # gate.data_quality; GateHalt when halted
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ParamSpec

from governance.ground.errors import Gate, GateHalt
from governance.ground.vocabulary import gate_action

if TYPE_CHECKING:
    from governance.decisions.context import RunContext
    from governance.log.ledger import LedgerEntry

P = ParamSpec("P")
#: The payload of every ``gate.<gate>`` entry (a run context adds ``flow_run_id``).
PAYLOAD_FIELDS = ("gate", "decision", "reasons", "evidence", "policy_hash")


class Decision(StrEnum):
    """A gate's outcome: go on, stop, or go on only with a human decision."""

    PASS = "pass"
    HALT = "halt"
    REVIEW = "review"


@dataclass(frozen=True)
class GateDecision:
    """What a gate decided, why, and on which evidence.

    Parameters
    ----------
    gate : Gate
        A :class:`governance.ground.errors.Gate` (a string must be one of its values).
    decision : Decision
    reasons : tuple of str
        One line per failing or notable check; empty for a clean pass. Lists are accepted
        and stored as tuples.
    evidence : dict
        JSON-serialisable facts the decision rests on (counts, hashes, thresholds).
    """

    gate: Gate
    decision: Decision
    reasons: tuple[str, ...] = ()
    evidence: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gate", Gate(self.gate))
        object.__setattr__(self, "decision", Decision(self.decision))
        object.__setattr__(self, "reasons", tuple(str(r) for r in self.reasons))
        object.__setattr__(self, "evidence", dict(self.evidence))

    @property
    def passed(self) -> bool:
        return self.decision is Decision.PASS

    @property
    def halted(self) -> bool:
        return self.decision is Decision.HALT

    def payload(self, policy_hash: str | None) -> dict:
        """The ledger payload, :data:`PAYLOAD_FIELDS`: the same five fields for every gate."""
        return {
            "gate": self.gate.value,
            "decision": self.decision.value,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
            "policy_hash": policy_hash,
        }


def error_decision(gate: Gate, exc: BaseException) -> GateDecision:
    """The halt a gate returns when its own evaluation raised (fail closed)."""
    return GateDecision(
        gate,
        Decision.HALT,
        (f"error while evaluating gate {gate}: {type(exc).__name__}: {exc}",),
        {"error": type(exc).__name__},
    )


def fail_closed(gate: Gate) -> Callable[[Callable[P, GateDecision]], Callable[P, GateDecision]]:
    """Decorator: any exception raised by the gate function becomes a ``halt`` decision.

    ``GateHalt`` raised inside is kept as a halt with its own reasons; ``KeyboardInterrupt``
    and ``SystemExit`` propagate.
    """

    def wrap(fn: Callable[P, GateDecision]) -> Callable[P, GateDecision]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> GateDecision:
            try:
                decision = fn(*args, **kwargs)
                if not isinstance(decision, GateDecision):
                    raise TypeError(f"gate returned {type(decision).__name__}")
                return decision
            except GateHalt as exc:
                return GateDecision(gate, Decision.HALT, exc.reasons, {"error": "GateHalt"})
            except Exception as exc:
                return error_decision(gate, exc)

        return inner

    return wrap


def decide_gate(
    ctx: RunContext,
    decision: GateDecision,
    subject: str,
    *,
    artifacts: Mapping[str, str] | None = None,
    stops_run: bool = True,
) -> LedgerEntry:
    """The gate seam: record ``decision`` as ``gate.<gate>``, then enforce it.

    Parameters
    ----------
    ctx : RunContext
        Records the entry (its policy hash goes into the payload, its flow run id beside it).
    decision : GateDecision
    subject : str
        What was gated (a ``governance.ground.vocabulary.Subject``).
    artifacts : mapping of name to SHA-256, optional
        Stored evidence the decision rests on (the data-quality report).
    stops_run : bool
        False where a halt steers the run instead of stopping it: the kill switch (the
        rebalance falls back), validation and approval (the version is not promoted), a gate
        on one account of many (that account holds, the others go on).

    Returns
    -------
    LedgerEntry
        The entry; its payload has :data:`PAYLOAD_FIELDS` (and ``flow_run_id`` in a run).

    Raises
    ------
    GateHalt
        The decision is a halt and ``stops_run`` (after recording).
    """
    entry = ctx.record(
        gate_action(decision.gate),
        subject=subject,
        payload=decision.payload(ctx.policy_hash),
        artifacts=artifacts,
    )
    if stops_run:
        enforce(decision)
    return entry


def enforce(decision: GateDecision) -> GateDecision:
    """Raise :class:`GateHalt` (exit 3) when ``decision`` is a halt; else return it."""
    if decision.halted:
        raise GateHalt(decision.gate, list(decision.reasons) or ["halted"])
    return decision


def _get(result: Any, *names: str) -> Any:
    for name in names:
        if isinstance(result, Mapping) and name in result:
            return result[name]
        if hasattr(result, name):
            return getattr(result, name)
    raise KeyError(f"result has none of {', '.join(names)}")


@fail_closed(Gate.DATA_QUALITY)
def data_quality_gate(result: Any) -> GateDecision:
    """Data-quality gate: any critical failure halts; warnings pass with reasons.

    Parameters
    ----------
    result : object or mapping
        A quality result with ``critical_failures`` (or ``critical``) and ``warnings``: lists
        of strings or of checks with a ``message`` (``tasks.data.quality``), and optionally
        ``fingerprint`` and ``as_of``.

    Returns
    -------
    GateDecision
        A halt's reasons are the critical failures' messages; a pass's are its warnings,
        each prefixed ``warning: ``. Evidence: ``critical_failures`` (a count), ``warnings``
        (the messages), ``fingerprint`` and ``as_of`` (None when not given).
    """
    critical = [_message(c) for c in _get(result, "critical_failures", "critical")]
    warnings = [_message(w) for w in _get(result, "warnings")]
    evidence = {
        "critical_failures": len(critical),
        "warnings": warnings,
        "fingerprint": _optional(result, "fingerprint"),
        "as_of": _optional(result, "as_of"),
    }
    if critical:
        return GateDecision(Gate.DATA_QUALITY, Decision.HALT, critical, evidence)
    return GateDecision(
        Gate.DATA_QUALITY, Decision.PASS, [f"warning: {w}" for w in warnings], evidence
    )


def _message(check: Any) -> str:
    return str(getattr(check, "message", check))


def _optional(result: Any, name: str) -> Any:
    try:
        value = _get(result, name)
    except KeyError:
        return None
    return None if value is None else str(value)


@fail_closed(Gate.VALIDATION)
def validation_gate(verdict: str, findings: Sequence[Any] = (), **evidence: Any) -> GateDecision:
    """Validation gate: verdict ``pass`` -> pass, ``review`` -> review, ``fail`` -> halt.

    Parameters
    ----------
    verdict : str
        The validation verdict (``validation.verdict`` tag / ``validation.completed`` entry).
    findings : sequence
        Findings as strings or mappings with ``message``/``check`` and ``severity``; they
        become the reasons.
    **evidence
        Extra facts to record (model version, report hash ...).
    """
    mapping = {"pass": Decision.PASS, "review": Decision.REVIEW, "fail": Decision.HALT}
    key = str(verdict).lower()
    if key not in mapping:
        raise ValueError(f"unknown validation verdict {verdict!r}")
    reasons = []
    for f in findings:
        if isinstance(f, Mapping):
            sev = f.get("severity", "")
            text = f.get("message") or f.get("check") or str(dict(f))
            reasons.append(f"{sev}: {text}" if sev else str(text))
        else:
            reasons.append(str(f))
    return GateDecision(
        Gate.VALIDATION,
        mapping[key],
        reasons,
        {"verdict": key, "findings": len(reasons), **evidence},
    )


@fail_closed(Gate.APPROVAL)
def approval_gate(
    missing: Sequence[str], granted: Sequence[str] = (), **evidence: Any
) -> GateDecision:
    """Approval gate: pass when no approval is missing, else halt listing what is missing.

    Parameters
    ----------
    missing : sequence of str
        Approvals still needed (from ``governance.decisions.promotion.promotion_state``).
    granted : sequence of str
        Approvals already given, e.g. ``"validator:vera"``.
    """
    ev = {"missing": list(missing), "granted": list(granted), **evidence}
    if missing:
        return GateDecision(
            Gate.APPROVAL, Decision.HALT, [f"approval missing: {m}" for m in missing], ev
        )
    return GateDecision(Gate.APPROVAL, Decision.PASS, (), ev)


@fail_closed(Gate.KILL_SWITCH)
def kill_switch_gate(state: Any) -> GateDecision:
    """Kill-switch gate: ``armed`` passes, ``tripped`` halts with who tripped it and why.

    Parameters
    ----------
    state : KillSwitchState or mapping
        With ``state`` (``armed``/``tripped``), ``since``, ``by``, ``reason``.
    """
    value = str(_get(state, "state"))
    by, reason, since = (_get(state, k) for k in ("by", "reason", "since"))
    ev = {"state": value, "since": since, "by": by, "reason": reason}
    if value == "armed":
        return GateDecision(Gate.KILL_SWITCH, Decision.PASS, (), ev)
    if value == "tripped":
        return GateDecision(
            Gate.KILL_SWITCH,
            Decision.HALT,
            [f"kill switch tripped by {by} at {since}: {reason}"],
            ev,
        )
    raise ValueError(f"unknown kill-switch state {value!r}")


@fail_closed(Gate.PRETRADE)
def pretrade_gate(breaches: Sequence[Any], **evidence: Any) -> GateDecision:
    """Pre-trade limit gate: any breach halts.

    Parameters
    ----------
    breaches : sequence
        Breaches from ``governance.decisions.pretrade`` (strings or objects whose ``str`` names the
        limit, the value and the bound); empty when every limit holds.
    """
    reasons = [str(b) for b in breaches]
    ev = {"breaches": len(reasons), **evidence}
    decision = Decision.HALT if reasons else Decision.PASS
    return GateDecision(Gate.PRETRADE, decision, reasons, ev)


def stress_gate(breaches: Sequence[Any], **evidence: Any) -> GateDecision:
    """Pre-trade stress gate: any stressed loss above its policy limit halts.

    ``breaches`` come from ``governance.decisions.pretrade.check_stress`` (each names the scenario,
    the loss and the limit).
    """
    reasons = [str(b) for b in breaches]
    ev = {"breaches": len(reasons), **evidence}
    return GateDecision(Gate.STRESS, Decision.HALT if reasons else Decision.PASS, reasons, ev)


@fail_closed(Gate.BOUNDARY)
def boundary_gate(outside: Sequence[str], action: str, **evidence: Any) -> GateDecision:
    """Operating-boundary gate (validation/boundaries.py): live inputs inside the validated
    domain pass; outside, the tier's ``boundaries.action`` decides: ``warn`` is a review
    (the model drives, a finding is raised), ``fallback`` a halt (the tier's fallback)."""
    reasons = [str(o) for o in outside]
    ev = {"outside": len(reasons), "action": str(action), **evidence}
    if not reasons:
        return GateDecision(Gate.BOUNDARY, Decision.PASS, (), ev)
    if str(action) not in ("warn", "fallback"):
        raise ValueError(f"unknown boundary action {action!r}")
    decision = Decision.REVIEW if str(action) == "warn" else Decision.HALT
    return GateDecision(Gate.BOUNDARY, decision, reasons, ev)


def restriction_gate(breaches: Sequence[str], **evidence: Any) -> GateDecision:
    """Restrictions of use (governance/decisions/overlays.py): a signed restriction the day
    breaches is a halt (the model may not drive; the rebalance publishes the fallback)."""
    reasons = [str(b) for b in breaches]
    ev = {"breaches": len(reasons), **evidence}
    return GateDecision(Gate.RESTRICTION, Decision.HALT if reasons else Decision.PASS, reasons, ev)
