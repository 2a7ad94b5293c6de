"""A version's life among five stages (issue 24), read off its standing (issue 29).

The one word for where a version stands is :class:`governance.decisions.standing.Stage`
(``not_validated``, ``failed``, ``in_review`` … ``retired``). Issue 24's lifecycle is a
coarser reading of that same word for the team: where the version is among
:data:`STAGES` (candidate ─► validated ─► paper ─► live ─► retired, ``superseded`` beside
them), how many paper days it has marked, and the next step in words. It is computed here
from the standing's stage and the facts the standing already folded, never from the ledger
again, so ``status``'s ``lifecycle`` and ``stage`` cannot disagree: one home, carried by
:class:`~governance.decisions.standing.Standing` as ``lifecycle``.

Mapping (the standing's stage → the lifecycle's): ``retired`` → retired, ``champion`` →
live, ``superseded`` → superseded; a version that entered paper and was neither promoted nor
retired → paper (whatever its later validation or a rejection says: its paper book is still
marked; the next step then says why it may not go live); ``awaiting_approval`` → validated;
every other stage (``not_validated``, ``failed``, ``in_review``, ``rejected`` before a
validation) → candidate, except ``rejected`` after a validation → validated.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STAGES", "Lifecycle", "lifecycle_of"]

#: The stages of a version's life (issue 24), in order; ``superseded`` (live once, replaced
#: by a later champion) stands beside them, as the registry's ``previous`` champion does.
STAGES = ("candidate", "validated", "paper", "live", "retired")

_LIVE_NEXT = "the graduation gate, then two approvals for live (alphagate approve)"


@dataclass(frozen=True)
class Lifecycle:
    """Where a version stands among :data:`STAGES`, its paper days and the next step.

    ``paper_days`` counts the distinct days its paper book was marked since it entered paper
    (governance/decisions/paper.py), None outside paper; ``min_paper_days`` is its tier's
    ``paper.min_days`` (None when the tier has no paper stage)."""

    stage: str
    next_step: str
    paper_required: bool = False
    min_paper_days: int | None = None
    paper_days: int | None = None

    def to_json(self) -> dict:
        return {
            "stage": self.stage,
            "stages": list(STAGES),
            "paper_required": self.paper_required,
            "min_paper_days": self.min_paper_days,
            "paper_days": self.paper_days,
            "next_step": self.next_step,
        }


def lifecycle_of(
    stage: str,
    *,
    tier,
    paper_days: int | None,
    verdict: str | None,
    rejected_by: list[str],
    unacceptable: bool,
    open_findings: bool,
) -> Lifecycle:
    """The lifecycle of a version whose standing's stage is ``stage`` (module docstring).

    ``paper_days`` is None unless the version entered paper and is still there;
    ``verdict`` its latest signed verdict (None: never validated); ``rejected_by`` the
    officers whose rejection stands; ``unacceptable`` when an open finding of its latest
    validation is never acceptable in ``tier``; ``open_findings`` when any is open.
    """
    paper = getattr(tier, "paper", None)
    need = paper.min_days if paper else None

    def at(where: str, step: str, days: int | None = None) -> Lifecycle:
        return Lifecycle(where, step, paper is not None, need, days)

    if stage == "retired":
        return at("retired", "none: a retired version never returns")
    if stage == "champion":
        return at("live", "in use: monitored (alphagate monitor); an officer may retire it"
                  " (alphagate retire)")  # fmt: skip
    if stage == "superseded":
        return at("superseded", "none: a later champion replaced it (it returns only with a"
                  " fresh validation and fresh approvals)")  # fmt: skip
    why_not = _blocked(verdict, rejected_by, unacceptable)
    if paper_days is not None:
        left = (need or 0) - paper_days
        step = why_not or (
            (f"{left} more paper days (each rebalance marks the paper book), then " if left > 0
             else "") + _LIVE_NEXT
        )  # fmt: skip
        return at("paper", step, paper_days)
    if rejected_by:
        return at("validated" if verdict else "candidate", why_not)
    if verdict is None:
        return at("candidate", "independent validation (alphagate validate)")
    if why_not:
        return at("candidate", why_not)
    if open_findings:
        return at("candidate", "accept or fix the open findings (alphagate findings accept),"
                  " then the approvals")  # fmt: skip
    step = (
        f"two approvals for paper (alphagate approve --stage paper), then {need} paper days"
        f" and {_LIVE_NEXT}"
        if paper
        else "two approvals for live (alphagate approve)"
    )
    return at("validated", step)


def _blocked(verdict: str | None, rejected_by: list[str], unacceptable: bool) -> str:
    """Why no approval can move the version on ('' when one can)."""
    if rejected_by:
        return f"none: rejected by {', '.join(rejected_by)}; a new version must fix it"
    if verdict is not None and verdict not in ("pass", "review"):
        return (f"none: validation {verdict.upper()}, it may not enter paper or go live; a new"
                " version must fix the findings")  # fmt: skip
    if unacceptable:
        return ("none: a finding this tier never accepts stands open; a new version must fix"
                " it")  # fmt: skip
    return ""
