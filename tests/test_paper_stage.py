"""The paper stage (issue 24): a tier with ``paper: {min_days}`` takes two separate four-eyes
decisions, approval for paper and approval for live capital, under the same separation of
duties; MLflow's aliases show the stage. Each attack a hostile insider can try with a shell
and her own key ends refused and recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from tests.helpers_e2e import cli_out
from tests.helpers_identity import POLICY, adopt_policy, enrol_cast, tiny_version
from tests.helpers_paper import PAPER_START, paper_record

NAME = "paperling"
MIN_DAYS = 3


@pytest.fixture
def paper_ws(workspace, monkeypatch, tmp_path):
    """The shipped policy with a paper stage of ``MIN_DAYS`` in ``high``, adopted."""
    from governance.log.ledger import Ledger

    enrol_cast(workspace, monkeypatch=monkeypatch)
    text = POLICY.read_text().replace('version: "2026.11-1-live"', 'version: "paper-1"')
    text = text.replace("  high:\n", f"  high:\n    paper:\n      min_days: {MIN_DAYS}\n", 1)
    policy = tmp_path / "policy-paper.yaml"
    policy.write_text(text)
    with Ledger.open(workspace) as ledger:
        adopt_policy(workspace, ledger, policy)
    config = tmp_path / "paper.yaml"
    config.write_text(f"model: {{name: {NAME}}}\npolicy: {{file: {policy}}}\n")
    version, _ = tiny_version(workspace, NAME)  # dana develops, vera validates (pass)
    return workspace, str(config), version


def _cli(capsys, config, *argv):
    return cli_out(capsys, *argv, "--config", config)


def _approve(capsys, config, version, user, stage="live"):
    return _cli(capsys, config, "approve", "--stage", stage, "--model-version", version,
                "--as", user, "--reason", "ok", "--json")  # fmt: skip


def _text(capsys, *argv) -> str:
    """The human output of a command that succeeds."""
    from flows.cli import main

    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _refusals(ws):
    from governance.log.ledger import Ledger

    with Ledger.open(ws) as ledger:
        return [e.payload for e in ledger.entries(action=Action.APPROVAL_REFUSED)]


def _mark(ws, version, days, start=PAPER_START, flip=False):
    """``days`` paper days (bookings and marks) of an honest paper book from ``start``,
    recorded by the process through the production writers (tests/helpers_paper.py)."""
    paper_record(ws, NAME, version, seed=0, flip=flip, days=days, start=start)


def test_paper_then_live_two_separate_four_eyes_decisions(paper_ws, capsys):
    from mlflow import MlflowClient

    from governance.log.ledger import Ledger

    ws, config, version = paper_ws
    # status names the next decisions: the approvals for paper first.
    code, st, err = _cli(capsys, config, "status", "--model-version", version, "--json")
    assert code == 0 and st["next"] and all("approve --stage paper" in c for c in st["next"]), err
    life = st["lifecycle"]  # where it stands among the stages, and the next step in words
    assert (life["stage"], life["paper_required"], life["min_paper_days"]) == (
        "validated", True, MIN_DAYS)  # fmt: skip
    assert "approve --stage paper" in life["next_step"]
    # Live before paper: refused, recorded, one line.
    code, _, err = _approve(capsys, config, version, "vera")
    assert code == 4 and err.strip().count("\n") == 0 and "requires a paper stage" in err
    # Paper: two distinct approvers (a validator and a risk officer), then the stage.
    code, out, err = _approve(capsys, config, version, "vera", "paper")
    assert code == 0 and not out["paper"] and out["missing"] == ["risk_officer"], err
    code, out, err = _approve(capsys, config, version, "rita", "paper")
    assert code == 0 and out["paper"] and not out["promoted"], err
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, "paper").version) == version
    code, st, err = _cli(capsys, config, "status", "--model-version", version, "--json")
    # no command helps before the paper days (a live approval would be refused): none printed
    assert st["next"] == [], st["next"]
    assert (st["lifecycle"]["stage"], st["lifecycle"]["paper_days"]) == ("paper", 0)
    # Live before min_days of paper marks: refused, recorded, with the count.
    _mark(ws, version, 2)
    _mark(ws, version, 2)  # a rerun on the same closes marks nothing twice
    code, _, err = _approve(capsys, config, version, "val")
    assert code == 4 and f"2 of {MIN_DAYS} paper days" in err
    text = _text(capsys, "status", "--model-version", version, "--config", config)
    assert f"validated ─► [paper 2/{MIN_DAYS} days] ─► live" in text, text
    assert f"next: {MIN_DAYS - 2} more paper days" in text, text
    # The paper signatures never count for live: after min_days, live needs its own two.
    _mark(ws, version, 1, start=PAPER_START + 2)
    code, st, err = _cli(capsys, config, "status", "--model-version", version, "--json")
    assert st["next"] and all(" --stage paper" not in c for c in st["next"]), st["next"]
    assert all("alphagate approve " in c for c in st["next"]), st["next"]  # the live ones now
    code, out, err = _approve(capsys, config, version, "val")
    assert code == 0 and not out["promoted"] and out["missing"] == ["risk_officer"], err
    assert [g["user"] for g in out["granted"]] == ["val"]
    code, out, err = _approve(capsys, config, version, "omar")
    assert code == 0 and out["promoted"], err
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == version
    assert "paper" not in client.get_registered_model(NAME).aliases  # paper -> live
    assert client.get_model_version(NAME, version).tags["stage"] == "live"
    code, st, err = _cli(capsys, config, "status", "--model-version", version, "--json")
    assert (st["lifecycle"]["stage"], st["lifecycle"]["paper_days"]) == ("live", None), err
    refused = [r["user"] for r in _refusals(ws)]
    assert refused == ["vera", "val"]
    from governance.evidence.history import history, verify_history

    with Ledger.open(ws) as ledger:
        assert ledger.verify().ok
        entered = ledger.last(action=Action.MODEL_PAPER)
        then = history(ledger, NAME, entered.ts)["standing"]
        now = history(ledger, NAME)
    # history: in paper (with its approvers) and not live at the paper date; live now
    assert [p["model_version"] for p in then["paper"]] == [version] and then["live"] is None
    assert [a["user"] for a in then["paper"][0]["approvals"]] == ["vera", "rita"]
    assert (
        now["standing"]["paper"] == [] and str(now["standing"]["live"]["model_version"]) == version
    )
    assert [a["user"] for a in now["standing"]["live"]["approvals"]] == ["val", "omar"]
    assert verify_history(now)


def test_paper_attacks_are_refused_and_recorded(paper_ws, capsys):
    from governance.decisions.approvals import record_signed_decision
    from governance.decisions.promotion import facts_for, latest_validation
    from governance.log.ledger import Ledger
    from tests.helpers_identity import signer

    ws, config, version = paper_ws
    # 1. The developer approves her own version for paper.
    code, _, err = _approve(capsys, config, version, "dana", "paper")
    assert code == 4 and err.strip().count("\n") == 0 and "separation of duties" in err
    assert _refusals(ws)[-1]["user"] == "dana"
    # 2. The same officer twice for paper.
    assert _approve(capsys, config, version, "rita", "paper")[0] == 0
    code, _, err = _approve(capsys, config, version, "rita", "paper")
    assert code == 4 and "distinct second person" in err
    assert _approve(capsys, config, version, "vera", "paper")[0] == 0
    # 3. A live approval made of a paper signature: rita's signed paper approval written
    #    as an approval.granted entry is refused by the ledger (the document names its act).
    with Ledger.open(ws) as ledger:
        paper = ledger.entries(action=Action.APPROVAL_PAPER)[-1]
        with pytest.raises(TamperDetected):
            ledger.append(Action.APPROVAL_GRANTED, actor=paper.actor, role=paper.role,
                          subject=paper.subject, payload=paper.payload)  # fmt: skip
        facts = facts_for(ws, ledger, ModelRef.parse(NAME, version))
        validation = latest_validation(ledger, ModelRef.parse(NAME, version))
    # 4. Live approval before min_days: refused, recorded.
    _mark(ws, version, 1)
    code, _, err = _approve(capsys, config, version, "omar")
    assert code == 4 and f"1 of {MIN_DAYS} paper days" in err
    assert _refusals(ws)[-1]["user"] == "omar"
    # 5. A live approval written straight into the ledger with the approver's own key,
    #    bypassing the command, is a valid signature but the version cannot be promoted
    #    by it: nothing promotes but the command's check, and the use-time check counts
    #    only approvals in a promotion (none here).
    with Ledger.open(ws) as ledger:
        record_signed_decision(
            ledger, facts, validation, signer=signer(ws, "omar", ledger), decision="approve",
            reason="bypass", policy_hash="x", tier_name="high",
        )  # fmt: skip
        assert ledger.entries(action=Action.MODEL_PROMOTED) == []
    from governance.decisions.model_use import drive_decision

    with Ledger.open(ws) as ledger:
        assert not drive_decision(ws, ledger, NAME).allowed


def test_a_tier_without_paper_has_no_paper_approval(workspace, monkeypatch, capsys):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    version, _ = tiny_version(workspace, NAME)
    config = str(Path(__file__).resolve().parent / "data" / "small.yaml")  # high, no paper
    code, _, err = cli_out(capsys, "approve", "--stage", "paper", "--model-version", version,
                           "--as", "vera", "--config", config, "--model", NAME)  # fmt: skip
    assert code == 2 and "has no paper stage" in err


SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "policy.yaml"


def test_the_shipped_high_tier_requires_paper_and_the_live_test_policy_differs_only_there():
    """Issue 24 item 1: ``high`` in the shipped policy has a paper stage of half a year;
    tests/data/policy-live.yaml (what enrol_cast adopts) is the shipped policy without it,
    nothing else changed (so the tests that use it test the shipped rules)."""
    import yaml

    from governance.policy.schema import load_policy

    shipped, _ = load_policy(SHIPPED)
    assert shipped.tier("high").paper is not None and shipped.tier("high").paper.min_days == 126
    assert shipped.tier("low").paper is None  # research books go live on four eyes
    doc, live = yaml.safe_load(SHIPPED.read_text()), yaml.safe_load(POLICY.read_text())
    del doc["tiers"]["high"]["paper"]
    assert {**doc, "version": None} == {**live, "version": None}
    assert live["version"] != doc["version"]


def test_under_the_shipped_policy_a_high_version_cannot_go_live_without_paper(
    workspace, monkeypatch, tmp_path, capsys
):
    """The two live approvals a high version got before (tests/test_governance_approvals.py
    under the live test policy) are refused under the shipped one, recorded; the paper
    approvals are what it takes first."""
    enrol_cast(workspace, monkeypatch=monkeypatch, policy=SHIPPED)
    version, _ = tiny_version(workspace, NAME)
    config = tmp_path / "shipped.yaml"
    config.write_text(f"model: {{name: {NAME}}}\npolicy: {{file: {SHIPPED}}}\n")
    for user in ("vera", "rita"):
        code, _, err = _approve(capsys, str(config), version, user)
        assert code == 4 and "requires a paper stage" in err and err.count("\n") == 1, err
    assert len(_refusals(workspace)) == 2
    text = _text(capsys, "status", "--model-version", version, "--config", str(config))
    assert "lifecycle: candidate ─► [validated] ─► paper ─► live ─► retired" in text, text
    code, out, err = _approve(capsys, str(config), version, "vera", "paper")
    assert code == 0 and out["missing"] == ["risk_officer"], err
    code, out, err = _approve(capsys, str(config), version, "rita", "paper")
    assert code == 0 and out["paper"] and not out["promoted"], err
    code, _, err = _approve(capsys, str(config), version, "omar")
    assert code == 4 and "0 of 126 paper days" in err, err


def _in_paper(capsys, config, version):
    assert _approve(capsys, config, version, "vera", "paper")[0] == 0
    assert _approve(capsys, config, version, "rita", "paper")[0] == 0


def test_a_forged_paper_record_is_refused_at_graduation(paper_ws, capsys):
    """An edited input of the paper record, or a mark appended without inputs, is caught
    when the live approval re-derives the record: exit 3, recorded, nothing promoted."""
    from governance.ground.artifacts import ArtifactStore
    from governance.identity.users import SYSTEM_ACTOR
    from governance.log.ledger import Ledger

    ws, config, version = paper_ws
    _in_paper(capsys, config, version)
    _mark(ws, version, MIN_DAYS)
    with Ledger.open(ws) as ledger:
        marks = ledger.entries(action=Action.PAPER_MARKED)
    # 1. The paper book's held weights after the first fill, rewritten in the store.
    path = ArtifactStore.of(ws).path(marks[0].payload["artifacts"]["paper/held.json"])
    original = path.read_bytes()
    path.chmod(0o644)
    held = json.loads(original)
    held["values"][0] = held["values"][0] + 0.1
    path.write_text(json.dumps(held))
    code, _, err = _approve(capsys, config, version, "val")
    # (the deciding command's integrity check at the door finds it before graduation reads
    # it: tasks/portfolio/paper_record.py refuses it too, tests/test_paper_record.py)
    assert code == 3 and "no longer matches its hash" in err and err.strip().count("\n") == 0
    path.write_bytes(original)
    # 2. A better day appended as a mark by someone with write access to the ledger.
    with Ledger.open(ws) as ledger:
        fake = ledger.append(Action.PAPER_MARKED, actor=SYSTEM_ACTOR, subject=marks[-1].subject,
                             payload={"as_of": "2099-01-02", "net_return": 0.05})  # fmt: skip
    code, _, err = _approve(capsys, config, version, "val")
    assert code == 3 and f"mark seq {fake.seq}" in err
    assert f"mark seq {fake.seq}" in _refusals(ws)[-1]["refusal"]
    with Ledger.open(ws) as ledger:
        assert ledger.entries(action=Action.MODEL_PROMOTED) == []
        assert ledger.entries(action=Action.APPROVAL_GRANTED) == []


def test_a_sign_flip_on_paper_fails_graduation_and_never_goes_live(paper_ws, capsys):
    """The market's signal flips at the paper start: the graduation gate fails with the
    rank-IC finding (power derived in tests/test_paper_record.py; over ``MIN_DAYS`` = 3 days
    here the flip shows on this fixed seed), recorded; no live approval counts, the
    Prefect-UI path cannot promote it either."""
    from governance.decisions.approvals import promote_if_complete, record_signed_decision
    from governance.decisions.promotion import facts_for, latest_validation
    from governance.log.ledger import Ledger
    from governance.policy.tiers import tier_at_use
    from tests.helpers_identity import signer

    ws, config, version = paper_ws
    _in_paper(capsys, config, version)
    _mark(ws, version, 10, flip=True)
    code, _, err = _approve(capsys, config, version, "val")
    assert code == 3 and "graduation: paper rank IC" in err, err
    refusal = _refusals(ws)[-1]
    assert refusal["user"] == "val" and refusal["findings"][0].startswith(
        "graduation: paper rank IC"
    )
    assert refusal["graduation"]["rank_ic"]["z"] < -1.645
    # Two live approvals signed with the approvers' own keys, written past the command (as
    # a Prefect-UI answer would be): complete, and still never promoted without graduation.
    with Ledger.open(ws) as ledger:
        tier = tier_at_use(ledger, NAME).tier
        facts = facts_for(ws, ledger, ModelRef.parse(NAME, version))
        validation = latest_validation(ledger, ModelRef.parse(NAME, version))
        for user in ("val", "omar"):
            record_signed_decision(
                ledger, facts, validation, signer=signer(ws, user, ledger), decision="approve",
                reason="past the command", policy_hash="x", tier_name="high",
            )  # fmt: skip
        state, promoted, _ = promote_if_complete(ws, ledger, facts, tier, "x", validation)
        assert state.complete and promoted is None
        assert ledger.entries(action=Action.MODEL_PROMOTED) == []
