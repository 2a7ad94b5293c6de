"""Overlays and restrictions of use are signed, expiring acts (issue 27): each attack a hostile
insider with a shell and her own key can try is refused (exit 4, recorded as
``overlay.refused``; exit 3 for a replay the ledger refuses) or counts for nothing.

The rebalance applying them: tests/test_overlays.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from governance.ground.errors import TamperDetected
from governance.ground.vocabulary import Action, Subject
from tests.helpers_e2e import cli_out
from tests.helpers_forge import forge
from tests.helpers_identity import enrol_cast, signer, tiny_version

NAME = "overlaid"
CONFIG = str(Path(__file__).resolve().parent / "data" / "small.yaml")  # the live test policy


def _cli(capsys, *argv):
    return cli_out(capsys, *argv, "--config", CONFIG, "--strategy", NAME)


def _until(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()


def _in_force(workspace, day=None):
    from governance.decisions.overlays import in_force
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy
    from tests.helpers_identity import POLICY

    tier = load_policy(POLICY)[0].tier("high")  # the shipped policy's tier for this strategy
    with Ledger.open(workspace) as ledger:
        return in_force(ledger, NAME, tier, day)


def test_overlay_attacks_are_refused_or_count_for_nothing(workspace, monkeypatch, capsys):
    from governance.identity.enrolment import change_role
    from governance.identity.signed_acts import signed_act_problems
    from governance.identity.signing import append_signed
    from governance.log.ledger import Ledger

    enrol_cast(workspace, monkeypatch=monkeypatch)
    tiny_version(workspace, NAME)  # dana develops the strategy
    cap = ("overlay", "add", "--cap", "0.05", "--reason", "concentration review")
    # 1. Wrong role: a validator (the shipped tier names risk officers); the developer.
    for user, why in (("vera", "the tier needs risk_officer"), ("dana", "separation of duties")):
        code, _, err = _cli(capsys, *cap, "--until", _until(5), "--as", user)
        assert code == 4 and err.strip().count("\n") == 0 and why in err, err
    # 2. The developer on her own strategy, made a risk officer by the admin: still refused.
    with Ledger.open(workspace) as ledger:
        change_role(workspace, ledger, signer(workspace, "ada", ledger), "dana", "risk_officer")
    code, _, err = _cli(capsys, *cap, "--until", _until(5), "--as", "dana")
    assert code == 4 and "developed" in err
    # 3. Expired before it starts, or longer than the tier allows (30 days by default).
    for until, why in ((_until(-1), "has passed"), (_until(31), "at most 30")):
        code, _, err = _cli(capsys, *cap, "--until", until, "--as", "rita")
        assert code == 4 and why in err, err
    # ... an alpha scale above the tier's bound (1.0: an overlay may damp, not amplify)
    code, _, err = _cli(capsys, "overlay", "add", "--scale", "1.5", "--reason", "more",
                        "--until", _until(5), "--as", "rita")  # fmt: skip
    assert code == 4 and "max_alpha_scale" in err
    with Ledger.open(workspace) as ledger:
        assert len(ledger.entries(action=Action.OVERLAY_REFUSED)) == 6  # all on record
    assert _in_force(workspace) == []

    code, out, err = _cli(capsys, *cap, "--until", _until(5), "--as", "rita", "--json")
    assert code == 0, err
    code, out2, err = _cli(capsys, "overlay", "restrict", "--max-market-vol", "0.4",
                           "--reason", "calm markets only", "--until", _until(5),
                           "--as", "omar", "--json")  # fmt: skip
    assert code == 0, err
    found = _in_force(workspace)
    assert [(a.rule, a.value, a.by) for a in found] == [
        ("cap", 0.05, "rita"), ("max_market_vol", 0.4, "omar"),
    ]  # fmt: skip

    with Ledger.open(workspace) as ledger:
        genuine = next(e for e in ledger.entries(action=Action.OVERLAY_SIGNED)
                       if e.seq == out["entry_seq"])  # fmt: skip
        # 4. Replay: the same signed overlay appended again, here or on another strategy.
        for subject in (genuine.subject, Subject.book("other")):
            with pytest.raises(TamperDetected):
                ledger.append(Action.OVERLAY_SIGNED, actor="rita", role="risk_officer",
                              subject=subject, payload=genuine.payload)  # fmt: skip
        # 5. Forgeries: an unsigned entry under an officer's name lifting the cap to 100 %,
        #    and one the developer signs with her own key (a risk officer now): neither counts.
        doc = {**genuine.payload["signed"], "value": 1.0, "id": "forged"}
        for k in ("act", "subject", "user", "signer_role", "doc_id", "time"):
            doc.pop(k, None)
        forge(ledger, Action.OVERLAY_SIGNED, actor="rita", role="risk_officer",
              subject=genuine.subject, payload=doc)  # fmt: skip
        append_signed(ledger, signer(workspace, "dana", ledger), Action.OVERLAY_SIGNED,
                      subject=genuine.subject, payload=doc)  # fmt: skip
        flagged = [why for _, why in signed_act_problems(ledger)]
        assert len(flagged) == 1 and "unsigned" in flagged[0], flagged  # ledger verify
    assert [a.value for a in _in_force(workspace)] == [0.05, 0.4]

    # 6. Expiry: the day after --until nothing is in force.
    after = dt.date.fromisoformat(_until(6))
    assert _in_force(workspace, after) == []
    code, listed, _ = _cli(capsys, "overlay", "list", "--json")
    assert code == 0 and [a["seq"] for a in listed["in_force"]] == [
        out["entry_seq"], out2["entry_seq"],
    ]  # fmt: skip
