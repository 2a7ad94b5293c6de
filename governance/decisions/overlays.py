"""Post-model adjustments (overlays) and restrictions of use: signed, expiring documents.

SS1/23 principle 5 ("post-model adjustments") and SR 26-2 ("limitations of use"): a human
adjustment to what a model drives, and a limit on when it may drive, are decisions with a
signer, a reason, an expiry and an impact, never an edit of a config file.

``alphagate overlay add --strategy S (--exclude A,B | --cap W | --scale F) --reason TEXT
--until DATE`` signs an overlay (kind :data:`OVERLAY_KIND`, ``overlay.signed``):

- ``exclude``: the named assets are restricted (the tier's pre-trade ``restricted`` list for
  this book: the optimiser holds none, the gate lets none grow);
- ``cap``: the single-name cap ``max_weight`` tightened to W;
- ``scale``: the alphas scaled by F (the Grinold information coefficient times F; at most the
  tier's ``overlays.max_alpha_scale``).

``alphagate overlay restrict --strategy S (--max-book-value X | --max-market-vol Y) --reason
TEXT --until DATE`` signs a restriction of use (kind :data:`RESTRICTION_KIND`,
``restriction.signed``): the model may not drive a book whose value is above X, or while the
market's realised volatility over the last month (governance/decisions/overlay_use.py) is
above Y. A breach falls back, recorded as ``gate.restriction``.

Both are in force from the day they are signed to ``until`` inclusive (UTC). The signer holds
the tier's ``overlays.role`` and developed no version of the strategy; ``until`` is not in the
past nor more than ``overlays.max_days`` away. Readers (:func:`in_force`) count a document only
when its entry is a valid signed act (signature, key and role at the time, bound to its
document, each document once) by a signer in the tier's role who developed none of the
strategy. Refusals are recorded as ``overlay.refused`` and raise :class:`Forbidden` (exit 4).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from governance.findings.register import today
from governance.ground.errors import Forbidden, InputError
from governance.ground.vocabulary import Action, Subject
from governance.identity.duties import ROLES, Act, duty_refusal
from governance.identity.signing import Signer, append_signed
from governance.identity.users import load_registry, valid_acts
from governance.log.ledger import Ledger, LedgerEntry
from governance.registry.stewardship import model_developers

__all__ = ["OVERLAY_KIND", "RESTRICTION_KIND", "Adjustment", "in_force", "sign"]

OVERLAY_KIND = "alphagate.overlay/1"
RESTRICTION_KIND = "alphagate.restriction/1"
#: The rule types each kind may carry.
RULES = {
    OVERLAY_KIND: ("exclude", "cap", "scale"),
    RESTRICTION_KIND: ("max_book_value", "max_market_vol"),
}
_ACTION = {OVERLAY_KIND: Action.OVERLAY_SIGNED, RESTRICTION_KIND: Action.RESTRICTION_SIGNED}


@dataclass(frozen=True)
class Adjustment:
    """One overlay or restriction in force: its rule, as signed, and where it is recorded."""

    kind: str
    rule: str
    value: object
    reason: str
    until: str
    by: str
    seq: int

    def to_json(self) -> dict:
        return {"kind": self.kind, "rule": self.rule, "value": self.value,
                "reason": self.reason, "until": self.until, "by": self.by,
                "seq": self.seq}  # fmt: skip

    def line(self) -> str:
        what = "overlay" if self.kind == OVERLAY_KIND else "restriction of use"
        return f"{what} {self.rule} {self.value} (seq {self.seq}, {self.by}, until {self.until})"


def _refuse(ledger, strategy: str, signer: Signer, message: str) -> Forbidden:
    ledger.append(
        Action.OVERLAY_REFUSED, actor=signer.name, role=signer.role,
        subject=Subject.book(strategy), payload={"strategy": strategy, "refusal": message},
    )  # fmt: skip
    return Forbidden(message)


def _rule_problem(kind: str, rule: str, value) -> str | None:
    """Why ``rule`` = ``value`` is malformed (exit 2), or None."""
    if rule not in RULES[kind]:
        return f"unknown rule {rule!r} (one of {', '.join(RULES[kind])})"
    if rule == "exclude":
        ok = isinstance(value, list) and value and all(isinstance(a, str) and a for a in value)
        return None if ok else "exclude: name at least one asset"
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        return f"{rule}: a positive number"
    if rule == "cap" and value > 1:
        return "cap: a weight in (0, 1]"
    return None


def sign(
    ledger: Ledger,
    strategy: str,
    signer: Signer,
    *,
    kind: str,
    rule: str,
    value,
    reason: str,
    until: str,
    tier,
    policy_hash: str | None,
    day: dt.date | None = None,
) -> LedgerEntry:
    """Sign and record an overlay or a restriction (module docstring); return its entry."""
    day = day or today()
    policy = tier.overlays
    problem = _rule_problem(kind, rule, value)
    if problem:
        raise InputError(f"overlay: {problem}")
    if not reason or not reason.strip():
        raise InputError("overlay: --reason: required")
    try:
        end = dt.date.fromisoformat(until or "")
    except ValueError:
        raise InputError(f"overlay: --until {until!r}: expected a date YYYY-MM-DD") from None
    developers = model_developers(ledger, strategy)
    refusal = duty_refusal(Act.OVERLAY, signer.name, signer.role, subject=strategy,
                           developer=signer.name if signer.name in developers else None)  # fmt: skip
    if refusal is None and signer.role != policy.role:
        refusal = f"overlay: {signer.name!r} has role {signer.role}, the tier needs {policy.role}"
    if refusal is None and end < day:
        refusal = f"overlay: --until {end.isoformat()} has passed (today is {day.isoformat()})"
    if refusal is None and (end - day).days > policy.max_days:
        refusal = (f"overlay: --until {end.isoformat()} is {(end - day).days} days away; the"
                   f" tier allows at most {policy.max_days}")  # fmt: skip
    if refusal is None and rule == "scale" and value > policy.max_alpha_scale:
        refusal = (
            f"overlay: scale {value} above the tier's max_alpha_scale {policy.max_alpha_scale}"
        )
    if refusal:
        raise _refuse(ledger, strategy, signer, refusal)
    head = ledger.head()
    doc = {
        "kind": kind, "strategy": strategy, "rule": rule, "value": value, "reason": reason,
        "from": day.isoformat(), "until": end.isoformat(), "policy_hash": policy_hash,
        "answers": {"seq": head[0], "hash": head[1]}, "id": uuid.uuid4().hex,
    }  # fmt: skip
    return append_signed(ledger, signer, _ACTION[kind], subject=Subject.book(strategy),
                         payload=doc)  # fmt: skip


def in_force(ledger, strategy: str, tier, day: dt.date | None = None) -> list[Adjustment]:
    """The overlays and restrictions of ``strategy`` in force on ``day`` (default today),
    in seq order: valid signed acts by the tier's role, by no developer of the strategy,
    for this strategy, with ``from <= day <= until``."""
    day = day or today()
    registry = load_registry(ledger)
    developers = model_developers(ledger, strategy, registry)
    out = []
    for kind, action in _ACTION.items():
        entries = ledger.entries(action=action, subject=Subject.book(strategy))
        for e in valid_acts(registry, entries, ROLES[Act.OVERLAY]):
            doc = e.payload["signed"]
            if (doc.get("kind"), doc.get("strategy")) != (kind, strategy):
                continue
            if e.role != tier.overlays.role or e.actor in developers:
                continue
            if _rule_problem(kind, doc.get("rule"), doc.get("value")):
                continue
            if doc["rule"] == "scale" and doc["value"] > tier.overlays.max_alpha_scale:
                continue
            try:
                start = dt.date.fromisoformat(str(doc.get("from")))
                end = dt.date.fromisoformat(str(doc.get("until")))
            except ValueError:
                continue
            if start <= day <= end:
                out.append(Adjustment(kind, doc["rule"], doc["value"], str(doc.get("reason")),
                                      end.isoformat(), e.actor, e.seq))  # fmt: skip
    return sorted(out, key=lambda a: a.seq)
