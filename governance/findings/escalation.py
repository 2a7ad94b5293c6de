"""Escalation in use: what the model's use notices becomes a finding on the version, once.

A monitoring warning (validation/monitoring.py) or a live input outside the domain the
version was validated on (validation/boundaries.py) raises a finding in the register
(issue 24, "warning → finding; critical → trip"; the trip is the kill switch's). One
``finding.raised`` entry (subject ``model:<name>/v<N>``, actor ``alphagate``) carries the
findings a run raised, with ``origin`` and the seq of the entry that noticed them. A finding
is raised **once**: while the version has an open or accepted finding of the same check
(``check:about``), a run that notices it again records nothing; after an acceptance expires
it is raised again (``governance.findings.register``). Raising a finding only adds scrutiny,
so a system entry suffices: a forged one cannot loosen any decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from governance.findings.register import FindingRecord, Status, load_register
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.users import SYSTEM_ACTOR
from governance.policy.schema import Severity

__all__ = ["finding", "raise_once"]

_STANDING = (Status.OPEN, Status.ACCEPTED)


def finding(
    check: str,
    message: str,
    *,
    about: str = "",
    severity: Severity = Severity.WARNING,
    value: float | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """One finding as ``finding.raised`` records it (non-finite numbers become None)."""

    def num(v):
        return float(v) if v is not None and math.isfinite(float(v)) else None

    return {"check": check, "about": about, "severity": Severity(severity).value,
            "message": message, "value": num(value), "threshold": num(threshold)}  # fmt: skip


def raise_once(
    ledger,
    ref: ModelRef,
    found: Sequence[Mapping[str, Any]],
    *,
    origin: str,
    evidence: Mapping[str, Any] | None = None,
) -> list[FindingRecord]:
    """Record the findings of ``found`` the version does not already stand under.

    Parameters
    ----------
    ledger : Ledger
    ref : ModelRef
        The model version the findings are about.
    found : sequence of dict
        Made by :func:`finding`.
    origin : str
        What noticed them: ``monitoring``, ``boundary``.
    evidence : mapping, optional
        Facts recorded beside them (the seq of the monitoring entry or the gate entry).

    Returns
    -------
    list of FindingRecord
        The findings raised now (empty when every one already stands).
    """
    standing = {r.key for r in load_register(ledger).of_version(ref) if r.status in _STANDING}
    new, keys = [], set()
    for f in found:
        key = f"{f['check']}:{f.get('about') or ''}"
        if key not in standing and key not in keys:
            new.append(dict(f))
            keys.add(key)
    if not new:
        return []
    entry = ledger.append(
        Action.FINDING_RAISED,
        actor=SYSTEM_ACTOR,
        role="system",
        subject=ref.subject,
        payload={
            "model_name": ref.name,
            "model_version": ref.version_text,  # recorded as a string
            "origin": origin,
            "findings": new,
            **dict(evidence or {}),
        },
    )
    return [r for r in load_register(ledger).of_version(ref) if r.validation_seq == entry.seq]
