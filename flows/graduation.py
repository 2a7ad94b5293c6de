"""The graduation gate, composed for the live approval (issue 24).

Reads the version's verified paper record (tasks/portfolio/paper_record.py: every mark
recomputed from its re-hashed inputs; ``TamperDetected`` on a forgery) and what its holdout
backtest promised (``backtest.completed``: the daily one-day rank IC and net return), and
runs the gate (validation/graduation.py) under the tier's ``paper`` policy. The approving
command hands :func:`graduation_for` to ``governance.decisions.approvals.approve``, which
evaluates it at the moment of the approval and refuses, recorded, unless it passes.
"""

from __future__ import annotations

import functools

from governance.ground.refs import ModelRef


def graduation_for(ws, ledger, ref: ModelRef, paper):
    """A callable evaluating the graduation gate of the version ``ref`` under ``paper``
    (governance.policy.paper.PaperPolicy)."""
    return functools.partial(evaluate, ws, ledger, ref, paper)


def evaluate(ws, ledger, ref: ModelRef, paper):
    """The graduation gate's outcome now (validation.graduation.Graduation).

    Raises
    ------
    TamperDetected
        The paper record or the backtest's artifacts do not verify.
    """
    from governance.decisions.paper import entered
    from governance.ground.artifacts import ArtifactStore
    from governance.ground.vocabulary import Action
    from tasks.portfolio.backtest import read_promise
    from tasks.portfolio.paper_record import read_record
    from validation.graduation import Graduation, graduate

    start = entered(ledger, ref)
    store = ArtifactStore.of(ws)
    record = read_record(ledger, store, ref, start.seq)
    backtest = ledger.last(action=Action.BACKTEST_COMPLETED, subject=ref.subject)
    artifacts = (backtest.payload.get("artifacts") or {}) if backtest is not None else {}
    if "backtest/rank_ic.parquet" not in artifacts:
        return Graduation(False, (
            f"graduation: {ref} has no holdout backtest with its daily rank IC"
            " recorded (backtest.completed): nothing to compare the paper record with",
        ), {})  # fmt: skip
    holdout_ic, holdout_net = read_promise(store, artifacts)
    return graduate(
        record.marks, holdout_ic, holdout_net, z_level=paper.z_level,
        max_tracking_error=paper.max_tracking_error, max_cost_ratio=paper.max_cost_ratio,
    )  # fmt: skip


def approval_act(ws, ledger, ref: ModelRef, in_force, stage: str = "live"):
    """``act(signer, reason)``: the approval the approving command records for ``stage``
    (``paper``: ``approve_for_paper``; ``live``: ``approve``, with the graduation gate when
    the tier has a paper stage). One home for ``alphagate approve`` and the Prefect review
    flow's signed answers (governance/decisions/ui_approval.py ``settle_signed``)."""
    import functools

    from governance.decisions import approvals

    more = {}
    fn = approvals.approve_for_paper if stage == "paper" else approvals.approve
    if fn is approvals.approve and in_force.tier.paper is not None:
        more["graduation"] = graduation_for(ws, ledger, ref, in_force.tier.paper)
    return functools.partial(
        _act, fn, ws, ledger, ref, tier=in_force.tier, tier_name=in_force.name,
        policy_hash=in_force.policy_hash, **more,
    )  # fmt: skip


def _act(fn, ws, ledger, ref, signer, reason, **keywords):
    return fn(ws, ledger, ref, signer, reason, **keywords)


def live_graduation(ws, ledger, facts, in_force) -> dict | None:
    """The graduation pass a live approval of ``facts``'s version signs in its tier (None
    when the tier has no paper stage), evaluated now by the approving command's rule
    (governance/decisions/paper.py ``graduation_pass``), recording nothing: what
    ``approve --sign-only`` puts in the line it prints.

    Raises
    ------
    Forbidden, GateHalt, TamperDetected
        As the approving command would refuse it.
    """
    from governance.decisions.paper import graduation_pass
    from governance.ground.errors import Forbidden

    paper = in_force.tier.paper
    if paper is None:
        return None
    gate = graduation_for(ws, ledger, facts.ref, paper)
    return graduation_pass(ledger, facts, paper, gate, lambda message, **_: Forbidden(message))
