"""The paper stage: candidate → validated → *paper* → live (issue 24), read-only standing.

A tier with ``paper: {min_days}`` (governance/policy/schema.py) puts a version through paper
before capital. Two separate four-eyes decisions, by the same separation-of-duties rule:

1. ``approve --stage paper``: signed ``approval.paper`` acts (the approval document of
   governance/decisions/approvals.py, signed for the act ``approval.paper``); when the tier's
   approvers are in, ``model.paper`` is recorded and MLflow's ``paper`` alias moves to the
   version (:func:`enter_paper`).
2. ``approve`` (live): signed ``approval.granted`` acts, refused (exit 4, recorded) while
   :func:`paper_blocker` names a reason: the version never entered paper, or has fewer
   than ``min_days`` distinct dates of ``paper.marked`` after it did.

The paper signatures never count for live: each signed document names its act, the ledger
refuses an entry whose action is not the signed one, and live approvals count only
``approval.granted`` acts. After ``min_days``, the live approval also needs the graduation
gate's pass, computed by the approving command from the verified paper record
(tasks/portfolio/paper_record.py, validation/graduation.py, flows/graduation.py) and handed
to :func:`governance.decisions.approvals.approve` as ``graduation``; :func:`graduation_pass`
is that rule, for the approving command and for ``approve --sign-only`` (the signed line a
Prefect review form takes, flows/review.py).
"""

from __future__ import annotations

from governance.ground.errors import Gate, GateHalt, TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.users import SYSTEM_ACTOR
from governance.log.ledger import Ledger, LedgerEntry
from governance.policy.paper import PaperPolicy
from governance.registry.recorder import mlflow_client
from governance.registry.versions import PAPER, registry_exists

__all__ = ["PAPER", "enter_paper", "in_paper", "paper_blocker",
           "paper_days"]  # fmt: skip


def entered(ledger: Ledger, ref: ModelRef) -> LedgerEntry | None:
    """The version's ``model.paper`` entry (None: never in paper)."""
    return ledger.last(action=Action.MODEL_PAPER, subject=ref.subject)


def in_paper(ledger: Ledger, name: str) -> list[LedgerEntry]:
    """The ``model.paper`` entries of the strategy's versions still in paper: not promoted
    after entering paper, not retired (oldest first)."""
    from governance.registry.retired import retirements

    gone = retirements(ledger, name)
    out = []
    for e in ledger.entries(action=Action.MODEL_PAPER):
        parsed = Subject.parse_model(e.subject)
        if parsed is None or parsed[0] != name or parsed[1] in gone:
            continue
        if ledger.entries(action=Action.MODEL_PROMOTED, subject=e.subject, after_seq=e.seq):
            continue
        out.append(e)
    return out


def paper_days(ledger: Ledger, ref: ModelRef, since_seq: int) -> int:
    """Distinct dates marked on paper for the version after ``since_seq``."""
    marks = ledger.entries(action=Action.PAPER_MARKED, subject=ref.subject, after_seq=since_seq)
    return len({e.payload.get("as_of") for e in marks if e.actor == SYSTEM_ACTOR})


def paper_blocker(ledger: Ledger, ref: ModelRef, paper: PaperPolicy) -> str | None:
    """Why the live approval of the version may not be given yet under ``paper``; None: it may."""
    start = entered(ledger, ref)
    if start is None:
        return (
            f"{ref}: the tier requires a paper stage first"
            f" (alphagate approve --stage paper, then {paper.min_days} paper days)"
        )
    days = paper_days(ledger, ref, start.seq)
    if days < paper.min_days:
        return f"{ref}: {days} of {paper.min_days} paper days marked"
    return None


def enter_paper(ws, ledger: Ledger, facts, granted, policy_hash: str) -> LedgerEntry:
    """Record ``model.paper`` (the paper approvals complete) and move the ``paper`` alias."""
    entry = ledger.append(
        Action.MODEL_PAPER,
        actor=SYSTEM_ACTOR,
        role="system",
        subject=facts.ref.subject,
        payload={
            "model_name": facts.name,
            "model_version": facts.ref.version_text,
            "approvals": list(granted),
            "model_artifact_hash": facts.model_artifact_hash,
            "policy_hash": policy_hash,
        },
    )
    if registry_exists(ws):
        client = mlflow_client(ws)
        client.set_registered_model_alias(facts.name, PAPER, facts.ref.version_text)
        client.set_model_version_tag(facts.name, facts.ref.version_text, "stage", PAPER)
    return entry


def graduation_pass(ledger: Ledger, facts, paper, graduation, refuse) -> dict:
    """The live approval's gate in a tier with a paper stage: the version's ``min_days`` of
    paper marked, then a pass of the graduation gate evaluated now (``graduation()``);
    the pass the approval document signs (``{passed, figures}``).

    One rule for :func:`governance.decisions.approvals.approve` and ``approve --sign-only`` (the Prefect form's signed
    line): ``refuse(message, **facts)`` returns the :class:`Forbidden` to raise (the approving
    command records it as ``approval.refused``; ``--sign-only`` records nothing).

    Raises
    ------
    Forbidden
        Short of the paper days, or the gate not evaluated (``graduation`` None).
    GateHalt
        Gate ``graduation`` failed.
    TamperDetected
        The paper record does not verify.
    """
    why = paper_blocker(ledger, facts.ref, paper)
    if why:
        raise refuse(f"approve for live: {why}")
    where = f"approve for live: {facts.name} v{facts.version}"
    if graduation is None:
        raise refuse(f"{where}: graduation gate not evaluated")
    try:
        outcome = graduation()
    except TamperDetected as exc:
        refuse(f"{where}: {exc}")
        raise
    if not outcome.passed:
        message = f"{where}: graduation failed: " + "; ".join(outcome.findings)
        refuse(message, findings=list(outcome.findings), graduation=outcome.figures)
        raise GateHalt(Gate.GRADUATION, [f.removeprefix("graduation: ") for f in outcome.findings])
    return {"passed": True, "figures": outcome.figures}
