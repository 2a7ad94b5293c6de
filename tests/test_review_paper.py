"""The review flow takes paper-stage approvals, then, once the paper days are marked, the
live ones (issue 29 item 5 under a tier with a paper stage, as the shipped ``high``).

Through a real Prefect server (tests/helpers_review.py): the run waits for a validator's
and a risk officer's signed approval *for paper* (the printed command has ``--stage
paper``); the second one puts v1 in paper and the run ends, saying how many paper days are
marked. A second run, after the paper days, waits for the live approvals; each printed
``--sign-only`` line signs the graduation gate's pass, evaluated by the approving
command's own rule; the last one makes v1 the champion.

Attacks, each refused and recorded while the run keeps waiting: the developer signs, a line
signed for another version, a live signature offered for paper, a signed line edited (the
approval of other model files), a replay, and a paper signature offered for live.
"""

from __future__ import annotations

import json

import pytest

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from tests.helpers_identity import POLICY, adopt_policy, signer, tiny_version
from tests.helpers_paper import paper_record
from tests.helpers_review import Review, printed_command, sign, team_workspace

prefect = pytest.importorskip("prefect")

NAME = "rvp"
MIN_DAYS = 3


@pytest.fixture(scope="module")
def paper_team(tmp_path_factory, prefect_server):
    """A governed workspace under the shipped policy with ``MIN_DAYS`` of paper in ``high``:
    dana developed v1 and v2 of ``rvp``, vera validated both (pass). Yields the workspace,
    the cast's keys and the run config."""
    from governance.log.ledger import Ledger

    tmp = tmp_path_factory.mktemp("review-paper")
    with team_workspace(tmp, "http://127.0.0.1:5999") as (ws, keys):
        text = POLICY.read_text().replace('version: "2026.11-1-live"', 'version: "paper-1"')
        text = text.replace("  high:\n", f"  high:\n    paper:\n      min_days: {MIN_DAYS}\n", 1)
        policy = tmp / "policy-paper.yaml"
        policy.write_text(text)
        with Ledger.open(ws) as ledger:
            adopt_policy(ws, ledger, policy)
        config = tmp / "paper.yaml"
        config.write_text(f"model: {{name: {NAME}}}\npolicy: {{file: {policy}}}\n")
        assert (tiny_version(ws, NAME)[0], tiny_version(ws, NAME)[0]) == ("1", "2")
        yield ws, keys, str(config)


def forged_live_line(ws, config: str, version: str, who: str) -> str:
    """A live approval of ``version`` signed by ``who``'s own key without the command's
    checks (a hostile insider's script: no paper stage, no graduation gate)."""
    from flows.config import load_config
    from governance.decisions.promotion import facts_for, latest_validation
    from governance.decisions.ui_approval import detached_approval
    from governance.log.ledger import Ledger
    from governance.policy.config import tier_for

    in_force = tier_for(load_config(config), strategy=NAME)
    with Ledger.open(ws) as ledger:
        facts = facts_for(ws, ledger, ModelRef.parse(NAME, version))
        return detached_approval(
            ledger, facts, latest_validation(ledger, ModelRef.parse(NAME, version)), signer(ws, who, ledger),
            reason="no paper", policy_hash=in_force.policy_hash, tier_name=in_force.name,
        )  # fmt: skip


def test_review_takes_paper_approvals_then_live_ones_and_refuses_each_attack(paper_team, capsys):
    from governance.log.ledger import Ledger

    ws, keys, config = paper_team
    review = Review(capsys, NAME, config=config)

    # 1. for paper first: a validator's signed approval, the command with --stage paper
    line, form = review.paused()
    assert "waiting for a validator's signed approval for paper (vera, val)" in line, line
    command = printed_command(line)
    assert command == (
        f"alphagate approve --stage paper --model {NAME} --model-version 1 --as vera"
        f' --key FILE --reason "..." --config {config} --sign-only'
    )
    assert "waits for a validator's signed approval for paper" in form

    # 2. attacks while it waits for paper: the developer, another version, a live signature
    review.answer(sign(command, keys, **{"as": "dana"}))
    line, _ = review.paused()
    assert line.startswith("refused: ") and "developer" in line and "for paper" in line, line
    review.answer(sign(command, keys, model_version="2", **{"as": "val"}))
    line, _ = review.paused()
    assert "it signs model_version '2', not '1'" in line, line
    review.answer(forged_live_line(ws, config, "1", "val"))
    line, _ = review.paused()
    assert line.startswith("refused: ") and "approval.granted" in line, line
    assert "waiting for a validator's signed approval for paper" in line
    tampered = json.loads(sign(command, keys))
    tampered["signed"]["model_artifact_hash"] = "b" * 64  # the approval of other files
    review.answer(json.dumps(tampered))
    line, _ = review.paused()
    assert line.startswith("refused: ") and "does not hold" in line, line

    # 3. vera for paper, her line replayed, rita for paper: v1 enters paper; the run ends
    vera_paper = sign(command, keys)
    review.answer(vera_paper)
    line, _ = review.paused()
    assert "waiting for a risk_officer's signed approval for paper (rita, omar)" in line, line
    review.answer(vera_paper)
    line, _ = review.paused()
    assert line.startswith("refused: ") and "risk_officer's signed approval for paper" in line
    review.answer(sign(printed_command(line), keys))
    state = review.end()
    here = state.result()
    assert state.is_completed() and here["stage"] == "paper", here
    assert review.err.strip().splitlines()[-1] == (
        f"review {NAME} v1: paper; 0 of {MIN_DAYS} paper days marked: review again once they"
        " are (the live approvals sign the graduation gate's pass)"
    )

    # 4. the paper days are marked; a new run waits for the live approvals
    paper_record(ws, NAME, "1", seed=0, flip=False, days=MIN_DAYS)
    review = Review(capsys, NAME, config=config)
    line, form = review.paused()
    assert "waiting for a validator's signed approval (vera, val)" in line, line
    command = printed_command(line)
    assert "--stage" not in command and "--as vera" in command
    review.answer(vera_paper)  # her paper signature offered as a live one
    line, _ = review.paused()
    assert line.startswith("refused: ") and "approval.paper" in line, line
    review.answer(sign(command, keys))
    line, _ = review.paused()
    assert "waiting for a risk_officer's signed approval (rita, omar)" in line, line
    review.answer(sign(printed_command(line), keys))
    state = review.end()
    here = state.result()
    assert state.is_completed() and here["stage"] == "champion", here
    assert [(a["user"], a["role"]) for a in here["approvals"]] == [
        ("vera", "validator"),
        ("rita", "risk_officer"),
    ]

    with Ledger.open(ws) as ledger:
        subject = f"model:{NAME}/v1"
        paper = [e.actor for e in ledger.entries(Action.APPROVAL_PAPER, subject)]
        live = ledger.entries(Action.APPROVAL_GRANTED, subject)
        refused = [e.actor for e in ledger.entries(Action.APPROVAL_REFUSED, subject)]
        promoted = ledger.entries(Action.MODEL_PROMOTED, subject)
        assert ledger.verify().ok
    assert paper == ["vera", "rita"] and [e.actor for e in live] == ["vera", "rita"]
    # each live approval signed the graduation gate's pass
    assert all(e.payload["signed"]["graduation"]["passed"] is True for e in live)
    assert refused == ["dana", "val", "val", "vera", "vera", "vera"] and len(promoted) == 1
    assert json.loads(vera_paper)["signed"]["act"] == Action.APPROVAL_PAPER
