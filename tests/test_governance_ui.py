"""Prefect-UI approval against a real temporary Prefect server.

A flow pauses on the approval gate with ``pause_flow_run(wait_for_input=UIApproval)``;
another thread resumes it with ``resume_flow_run(id, run_input={...})``, as the Prefect UI
form does. The decision is recorded as a declared (unsigned) identity; it counts only when
the tier allows it; a timeout is recorded as a rejection.
"""

from __future__ import annotations

import queue
import threading
import time

import pytest

from governance.decisions.context import RunContext
from governance.ground.vocabulary import Action
from governance.policy.schema import ApprovalPolicy, Tier

prefect = pytest.importorskip("prefect")

from prefect import flow  # noqa: E402

_RUN_IDS: queue.Queue = queue.Queue()


@pytest.fixture(scope="module")
def harness(prefect_server):
    """The session's temporary Prefect server (tests/conftest.py)."""
    return prefect_server


@pytest.fixture
def setup(workspace, request):
    from governance.decisions.promotion import latest_validation  # noqa: F401  (import check)
    from governance.identity.signing import append_signed
    from governance.log.ledger import Ledger
    from governance.registry.versions import ModelFacts
    from tests.helpers_identity import enrol_cast, in_force_hash, in_force_tier, signer

    sandbox = getattr(request, "param", False)  # a sandbox workspace: no policy adopted
    enrol_cast(workspace, sandbox=sandbox)
    ledger = Ledger.open(workspace)
    append_signed(
        ledger,
        signer(workspace, "vera", ledger),
        Action.VALIDATION_COMPLETED,
        subject="model:m/v1",
        payload={
            "model_name": "m",
            "model_version": "1",
            "verdict": "pass",
            "policy_hash": None if sandbox else in_force_hash(ledger),
            "policy_tier": None if sandbox else in_force_tier(ledger, "m"),
        },
        artifacts={"report.json": ledger.store.put_json({"verdict": "pass"})},
    )
    facts = ModelFacts("m", "1", "run-1", "dana", "candidate", "f" * 64, "a" * 64)
    ctx = RunContext(
        workspace, ledger, ledger.store, "alphagate", "system", None, "k", None, "p" * 64
    )
    yield ctx, ledger, facts
    ledger.dispose()


def _run(ctx, ledger, facts, tier):
    from flows.ui_form import await_ui_approval

    @flow(name="ui-approval-gate")
    def gate():
        from prefect.runtime import flow_run

        _RUN_IDS.put(flow_run.id)
        return await_ui_approval(
            ctx, facts.ref, tier, tier_name="high", poll_interval=1, facts=facts
        )

    return gate()


def _resume_when_paused(run_input: dict) -> threading.Thread:
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    def worker():
        run_id = _RUN_IDS.get(timeout=60)
        deadline = time.monotonic() + 60
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                state = client.read_flow_run(run_id).state
                if state is not None and state.is_paused():
                    break
                time.sleep(0.2)
        resume_flow_run(run_id, run_input=run_input)

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize(
    ("setup", "allow", "counts"),
    [(False, False, False), (False, True, False), (True, True, True)],
    indirect=["setup"],
    ids=["not-allowed", "allowed-outside-a-sandbox", "allowed-in-a-sandbox"],
)
def test_ui_approval_is_recorded_as_declared_and_counts_only_if_allowed(
    harness, setup, allow, counts
):
    """A declared answer counts only where the tier allows it *and* the workspace is a
    sandbox (issue 22: anyone can append one, so the shipped low tier's allowance counts
    for nothing in a governed workspace)."""
    ctx, ledger, facts = setup
    tier = Tier(approvals=ApprovalPolicy(ui_timeout_seconds=60, allow_declared_ui_approvals=allow))
    t = _resume_when_paused({"approve": True, "user": "rita", "reason": "looks fine"})
    decision = _run(ctx, ledger, facts, tier)
    t.join(timeout=5)
    assert decision.outcome == "approved" and decision.user == "rita"
    entry = ledger.last(action=Action.APPROVAL_GRANTED, subject="model:m/v1")
    assert entry.payload["identity"] == "declared" and "signature" not in entry.payload
    assert entry.payload["flow_run_id"] and entry.payload["document"]["decision"] == "approve"
    assert decision.counted is counts
    granted = [g["user"] for g in decision.state.granted]
    assert granted == (["rita"] if counts else [])
    assert decision.state.missing == (("validator",) if counts else ("validator", "risk_officer"))


def test_ui_approval_by_the_developer_is_refused_and_timeout_is_a_rejection(harness, setup):
    ctx, ledger, facts = setup
    tier = Tier(approvals=ApprovalPolicy(ui_timeout_seconds=60, allow_declared_ui_approvals=True))
    t = _resume_when_paused({"approve": True, "user": "dana", "reason": "mine"})
    decision = _run(ctx, ledger, facts, tier)
    t.join(timeout=5)
    assert decision.outcome == "refused" and not decision.counted
    assert "developed" in ledger.last(action=Action.APPROVAL_REFUSED).payload["refusal"]

    short = Tier(approvals=ApprovalPolicy(ui_timeout_seconds=2, allow_declared_ui_approvals=True))
    decision = _run(ctx, ledger, facts, short)
    assert decision.outcome == "timeout"
    entry = ledger.last(action=Action.APPROVAL_REJECTED, subject="model:m/v1")
    assert (
        entry.payload["user"] == "<timeout>" and "within 2 s" in entry.payload["document"]["reason"]
    )
    assert decision.state.blocked  # a rejection blocks promotion on this validation
    _RUN_IDS.get_nowait()  # the timed-out run's id, never consumed


def test_a_signed_form_answer_counts_and_a_tampered_one_is_refused(harness, setup):
    """The form takes the detached signature of ``approve --sign-only``: a signed approval
    counts even where declared identities do not; altered, it is refused and recorded."""
    import json

    from governance.decisions.promotion import latest_validation
    from governance.decisions.ui_approval import detached_approval
    from tests.helpers_identity import signer

    ctx, ledger, facts = setup
    tier = Tier(approvals=ApprovalPolicy(ui_timeout_seconds=60, allow_declared_ui_approvals=False))
    validation = latest_validation(ledger, facts.ref)
    rita = signer(ctx.ws, "rita", ledger)
    line = detached_approval(
        ledger, facts, validation, rita, reason="ok", policy_hash="p" * 64, tier_name="high"
    )
    forged = json.loads(line)
    forged["signed"]["model_artifact_hash"] = "b" * 64  # the approval of other files
    t = _resume_when_paused(
        {"approve": True, "user": "rita", "reason": "ok", "signature": json.dumps(forged)}
    )
    decision = _run(ctx, ledger, facts, tier)
    t.join(timeout=5)
    assert decision.outcome == "refused" and not decision.counted
    assert "does not hold" in ledger.last(action=Action.APPROVAL_REFUSED).payload["refusal"]
    t = _resume_when_paused({"approve": True, "user": "rita", "reason": "ok", "signature": line})
    decision = _run(ctx, ledger, facts, tier)
    t.join(timeout=5)
    assert decision.outcome == "approved" and decision.counted and decision.user == "rita"
    assert [g["user"] for g in decision.state.granted] == ["rita"]
    assert ledger.last(action=Action.APPROVAL_GRANTED).payload["identity"] == "signed"
