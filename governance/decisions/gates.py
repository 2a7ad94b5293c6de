"""Gates: evidence in, a decision (pass / halt / review) with reasons out.

Every gate is a pure function returning a :class:`GateDecision`; :func:`record_gate` writes
it to the ledger as ``gate.<gate>`` with ``{"decision", "reasons", "evidence",
"policy_hash"}`` in the payload (docs/architecture.md). Gates fail closed (shared/DESIGN.md):
wrap an evaluation in :func:`fail_closed` and an exception inside it becomes a ``halt``
naming the error, never a pass.

Typical use in a stage wrapper::

    decision = data_quality_gate(result)          # pure, fail-closed
    record_gate(ctx, decision)                    # ledger entry gate.data_quality
    enforce(decision)                             # GateHalt (exit 3) when halted
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

    def payload(self, policy_hash: str | None = None) -> dict:
        """The ledger payload: ``{decision, reasons, evidence, gate, policy_hash}``."""
        out: dict[str, Any] = {
            "gate": self.gate.value,
            "decision": self.decision.value,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
        }
        if policy_hash is not None:
            out["policy_hash"] = policy_hash
        return out


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


def record_gate(ctx: RunContext, decision: GateDecision, subject: str = "") -> LedgerEntry:
    """Record ``decision`` as ledger action ``gate.<gate>`` through a ``RunContext``.

    The payload carries the decision, reasons, evidence and the policy hash of ``ctx``.
    Returns the :class:`~governance.log.ledger.LedgerEntry`.
    """
    return ctx.record(
        gate_action(decision.gate),
        subject=subject,
        payload=decision.payload(ctx.policy_hash),
    )


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
        A quality result with ``critical_failures`` (or ``critical``) and ``warnings`` lists
        of strings (the ``alphagate data check`` JSON fields), and optionally
        ``fingerprint``.
    """
    critical = [str(c) for c in _get(result, "critical_failures", "critical")]
    warnings = [str(w) for w in _get(result, "warnings")]
    try:
        fingerprint = _get(result, "fingerprint")
    except KeyError:
        fingerprint = None
    evidence = {
        "critical_failures": len(critical),
        "warnings": len(warnings),
        "fingerprint": fingerprint,
    }
    if critical:
        reasons = [f"critical: {c}" for c in critical] + [f"warning: {w}" for w in warnings]
        return GateDecision(Gate.DATA_QUALITY, Decision.HALT, reasons, evidence)
    return GateDecision(
        Gate.DATA_QUALITY, Decision.PASS, [f"warning: {w}" for w in warnings], evidence
    )


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
