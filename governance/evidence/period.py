"""A period's evidence (issue 24): ``alphagate evidence export --strategy NAME --from DATE
--to DATE``.

The entries a period's pack holds (:func:`period_seeds`), before the usual fixed point over
flow and MLflow run ids and the kill-switch history and enrolments every pack carries
(governance/evidence/pack.py):

1. **in the window**: every entry about the strategy stamped on a day from ``--from`` to
   ``--to`` (UTC, both included): subjects ``model:<name>[/v<N>]``, ``book:<name>``,
   ``strategy:<name>``, ``killswitch:<name>``, or a payload naming the model;
2. **the standing at its start**, as ``history --at <from>`` reads it from the ledger: the
   live version's promotion and the signed approvals it counted, the versions in paper and
   theirs, the adopted policy, the kill switch's last act, the last monitoring, the
   retirements;
3. **what the window's decisions rest on**: every entry about each version live or in paper
   at any moment of the window (its training, validation, approvals, findings), up to the
   window's end.

Nothing stamped after the window's end is packed. ``evidence verify`` re-checks, against the
whole log's index, that no entry of (1) is missing (governance/evidence/proof.py).
"""

from __future__ import annotations

import datetime as dt

from governance.evidence.history import history
from governance.ground.errors import InputError
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.log.ledger import Ledger, LedgerEntry

__all__ = ["about_strategy", "in_window", "parse_day", "period_seeds"]


def parse_day(text: str, flag: str) -> dt.date:
    """An ISO date for ``flag`` (exit 2 naming it)."""
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InputError(f"{flag} {text!r}: not an ISO date (YYYY-MM-DD)") from None


def in_window(ts: str, start: dt.date, end: dt.date) -> bool:
    """True when the UTC day of ``ts`` is from ``start`` to ``end`` (both included)."""
    return start.isoformat() <= str(ts)[:10] <= end.isoformat()


def about_strategy(action: str, subject: str, payload: dict | None, name: str) -> bool:
    """Whether an entry (or an index row, without its payload) is about strategy ``name``."""
    own = (Subject.book(name), Subject.strategy(name), Subject.killswitch(name))
    if Subject.of_model(subject, name) or subject in own:
        return True
    return (
        bool(payload) and payload.get("model_name") == name and action != Action.EVIDENCE_EXPORTED
    )


def period_seeds(
    ledger: Ledger, entries: list[LedgerEntry], name: str, start: dt.date, end: dt.date
) -> set[int]:
    """The seqs of (1), (2) and (3) of the module docstring."""
    if end < start:
        raise InputError(f"--to {end}: before --from {start}")
    window = [
        e for e in entries
        if in_window(e.ts, start, end) and about_strategy(e.action, e.subject, e.payload, name)
    ]  # fmt: skip
    last = max((e.seq for e in entries if str(e.ts)[:10] <= end.isoformat()), default=0)
    standing = history(ledger, name, start.isoformat())["standing"]
    seeds = {e.seq for e in window} | _cited(standing)
    versions = {ModelRef.recorded_number(v) for v in _versions(standing)}
    for e in window:
        if e.action in (Action.MODEL_PROMOTED, Action.MODEL_PAPER):
            versions.add(ModelRef.recorded_number(e.payload.get("model_version")))
    versions.discard(None)  # a recorded version that is no number names none
    for e in entries:
        parsed = Subject.parse_model(e.subject)
        if e.seq <= last and parsed and parsed[0] == name \
                and ModelRef.recorded_number(parsed[1]) in versions:  # fmt: skip
            seeds.add(e.seq)
    return {s for s in seeds if s <= last}


def _cited(standing: dict) -> set[int]:
    seqs = set()
    for key in ("live", "policy", "monitoring", "killswitch"):
        fact = standing.get(key) or {}
        if fact.get("seq"):
            seqs.add(int(fact["seq"]))
    for fact in [standing.get("live") or {}, *standing.get("paper", [])]:
        seqs |= {int(a["seq"]) for a in fact.get("approvals", []) if a.get("seq")}
    seqs |= {int(f["seq"]) for f in [*standing.get("paper", []), *standing.get("retired", [])]}
    return seqs


def _versions(standing: dict) -> list:
    live = standing.get("live") or {}
    return [v for v in [live.get("model_version"), *(p["model_version"] for p in
            standing.get("paper", []))] if v is not None]  # fmt: skip
