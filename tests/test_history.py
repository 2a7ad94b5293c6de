"""``alphagate history``: a scripted production timeline written through the real acts
(enrolment, policy adoption under four eyes, signed validation and approvals with real
LightGBM versions in MLflow, monitoring through the flow's recorder, a trip and a
two-officer reset, a policy re-adoption, a second promotion), then asked back at every
step. The answers must equal the timeline the test wrote, and every proof must verify.
"""

from __future__ import annotations

import copy

import pytest

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.log.merkle import ProofError
from governance.policy.schema import Tier
from tests.helpers_e2e import cli_out
from tests.helpers_identity import POLICY, adopt_policy, enrol_cast, signer, tiny_version

NAME = "hist"


def _approve(ws, ledger, version, user):
    from governance.decisions.approvals import approve
    from governance.policy.adoption import policy_in_force
    from governance.policy.tiers import tier_at_use

    force = policy_in_force(ledger)
    t = tier_at_use(ledger, NAME)
    return approve(
        ws, ledger, ModelRef.parse(NAME, version), signer(ws, user, ledger), "history test",
        tier=t.tier, tier_name=t.name, policy_hash=force.policy_hash,
    )  # fmt: skip


def _monitor(ws, status_ok: bool, as_of: str):
    from flows.monitoring import record_monitoring
    from governance.decisions.context import RunContext
    from validation.monitoring import MonitoringReport
    from validation.monitoring_checks import Check, CheckResult, Status

    check = CheckResult(Check.DRAWDOWN, Status.OK if status_ok else Status.WARNING, 0.05, 0.25, "")
    report = MonitoringReport(as_of, (check,), {"model": {"name": NAME, "version": 1}})
    ctx = RunContext.open(ws, actor="alphagate", role="system", run_key=f"mon-{as_of}")
    try:
        return record_monitoring(ctx, Tier(), report).entry
    finally:
        ctx.close()


@pytest.fixture
def scripted(workspace, monkeypatch, tmp_path):
    """The timeline: ``[(ts, expected standing)]`` after each step, as the test wrote it."""
    from governance.decisions import killswitch
    from governance.ground.canonical import sha256_file
    from governance.log.ledger import Ledger

    enrol_cast(workspace, monkeypatch=monkeypatch)
    p1 = sha256_file(POLICY)
    second = tmp_path / "policy-2.yaml"
    second.write_text(
        POLICY.read_text().replace('version: "2026.11-1-live"', 'version: "2026.12-2"')
    )
    p2 = sha256_file(second)
    v1, _ = tiny_version(workspace, NAME)
    steps = []
    armed = {"state": "armed", "by": None}
    after_reset = {"state": "armed", "by": "omar"}  # the officer who completed the reset

    def expect(ts, live, approvals, policy, switch, monitoring):
        steps.append((ts, {"live": live and (live, approvals), "policy": policy,
                           "switch": switch, "monitoring": monitoring}))  # fmt: skip

    with Ledger.open(workspace) as ledger:
        start = ledger.last()
        expect(start.ts, None, None, p1, armed, None)
        _approve(workspace, ledger, v1, "vera")
        out = _approve(workspace, ledger, v1, "rita")
        assert out.promoted is not None
        promoted = ledger.last(action=Action.MODEL_PROMOTED)
        expect(promoted.ts, v1, ["vera", "rita"], p1, armed, None)
    mon = _monitor(workspace, True, "2026-01-30")
    expect(mon.ts, v1, ["vera", "rita"], p1, armed, ("2026-01-30", "ok"))
    with Ledger.open(workspace) as ledger:
        killswitch.trip(ledger, signer(workspace, "rita", ledger), "desk halt", strategy=NAME)
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        expect(trip.ts, v1, ["vera", "rita"], p1, {"state": "tripped", "by": "rita"},
               ("2026-01-30", "ok"))  # fmt: skip
        for officer in ("rita", "omar"):
            killswitch.reset(
                ledger, signer(workspace, officer, ledger), "reviewed", "INC-7", Tier(),
                strategy=NAME,
            )  # fmt: skip
        reset = ledger.last(action=Action.KILLSWITCH_RESET)
        expect(reset.ts, v1, ["vera", "rita"], p1, after_reset, ("2026-01-30", "ok"))
        adopt_policy(workspace, ledger, second)
        adopted = ledger.last(action=Action.POLICY_ADOPTED)
        expect(adopted.ts, v1, ["vera", "rita"], p2, after_reset, ("2026-01-30", "ok"))
    v2, _ = tiny_version(workspace, NAME)
    with Ledger.open(workspace) as ledger:
        _approve(workspace, ledger, v2, "val")
        _approve(workspace, ledger, v2, "omar")
        promoted = ledger.last(action=Action.MODEL_PROMOTED)
        expect(promoted.ts, v2, ["val", "omar"], p2, after_reset, ("2026-01-30", "ok"))
    return steps


def _as_written(standing: dict) -> dict:
    live = standing["live"]
    mon = standing["monitoring"]
    ks = standing["killswitch"]
    return {
        "live": live and (str(live["model_version"]), [a["user"] for a in live["approvals"]]),
        "policy": standing["policy"]["policy_hash"],
        "switch": {"state": ks["state"], "by": ks["by"]},
        "monitoring": mon and (mon["as_of"], mon["status"]),
    }


def test_history_at_each_step_is_the_timeline_written_and_its_proofs_verify(
    workspace, scripted, capsys
):
    from governance.evidence.history import history, verify_history
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        for ts, expected in scripted:
            doc = history(ledger, NAME, ts)
            got = _as_written(doc["standing"])
            live = expected["live"]
            assert got == {**expected, "live": live and (str(live[0]), live[1])}, ts
            assert verify_history(doc)  # every cited entry is under the tree head
        whole = history(ledger, NAME)
    # Without --at: the whole timeline; the promotions, trip, reset and adoptions in order.
    kinds = [e["action"] for e in whole["timeline"]]
    assert kinds.count(Action.MODEL_PROMOTED) == 2 and kinds.count(Action.KILLSWITCH_TRIPPED) == 1
    assert kinds.index(Action.KILLSWITCH_TRIPPED) < kinds.index(Action.KILLSWITCH_RESET)
    assert whole["standing"]["live"]["model_version"] in ("2", 2)
    cited = set(verify_history(whole))
    assert {e["seq"] for e in whole["timeline"]} <= cited
    # Approval seqs are cited and their entries are the signed approvals.
    approval = whole["standing"]["live"]["approvals"][0]
    assert whole["proofs"][str(approval["seq"])]["entry"]["action"] == Action.APPROVAL_GRANTED

    # A proof does not survive an edited fact or a moved root.
    forged = copy.deepcopy(whole)
    seq = str(whole["standing"]["live"]["seq"])
    forged["proofs"][seq]["entry"]["payload"]["model_version"] = "1"
    with pytest.raises(ProofError):
        verify_history(forged)
    forged = copy.deepcopy(whole)
    forged["proofs"][seq]["entry"]["payload_hash"] = "0" * 64
    forged["proofs"][seq]["entry"]["payload"] = {}
    with pytest.raises(ProofError):
        verify_history(forged)

    # The command: the same answer as JSON; a bad --at is one line, exit 2.
    ts = scripted[3][0]
    code, out, _ = cli_out(capsys, "history", "--strategy", NAME, "--at", ts, "--json")
    assert code == 0 and out["standing"]["killswitch"]["state"] == "tripped"
    code, _, err = cli_out(capsys, "history", "--strategy", NAME, "--at", "yesterday")
    assert code == 2 and err.strip().count("\n") == 0 and "--at" in err
