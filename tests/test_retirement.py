"""Retirement is a signed decision (issue 24): a risk officer who did not develop the version
signs it; from then on the version drives no book, is never approved again, and MLflow shows
it (no ``champion`` alias, ``status=retired``). Each attack a hostile insider can try with a
shell and her own key ends refused or counts for nothing, and is on record.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from tests.helpers_e2e import cli_out
from tests.helpers_forge import forge, forge_signed
from tests.helpers_identity import enrol_cast, signer, tiny_version

NAME = "retiring"
CONFIG = str(Path(__file__).resolve().parent / "data" / "small.yaml")  # the live test policy


def _cli(capsys, *argv):
    return cli_out(capsys, *argv, "--config", CONFIG, "--model", NAME)


def _champion(workspace, capsys) -> str:
    version, _ = tiny_version(workspace, NAME)  # dana develops, vera validates (pass)
    for user in ("vera", "rita"):
        code, _, err = _cli(capsys, "approve", "--model-version", version, "--as", user,
                            "--reason", "ok")  # fmt: skip
        assert code == 0, err
    return version


def _drive(workspace):
    from governance.decisions.model_use import drive_decision
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        return drive_decision(workspace, ledger, NAME)


def _refusals(workspace, action):
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        return [e.payload for e in ledger.entries(action=action)]


def test_an_officer_retires_the_champion_and_it_never_returns(workspace, monkeypatch, capsys):
    from mlflow import MlflowClient

    from governance.evidence.history import history
    from governance.log.ledger import Ledger
    from governance.registry.versions import champion_version

    enrol_cast(workspace, monkeypatch=monkeypatch)
    version = _champion(workspace, capsys)
    assert _drive(workspace).allowed
    code, out, err = _cli(capsys, "retire", "--model-version", version, "--as", "omar",
                          "--reason", "replaced by the paper candidate", "--json")  # fmt: skip
    assert code == 0 and out["retired"], err

    decision = _drive(workspace)
    assert not decision.allowed
    assert decision.reasons == (f"champion v{version} was retired by omar (ledger seq "
                                f"{out['entry_seq']})",)  # fmt: skip
    client = MlflowClient()
    assert champion_version(client, NAME) is None
    assert client.get_model_version(NAME, version).tags["status"] == "retired"
    with Ledger.open(workspace) as ledger:
        assert ledger.verify().ok  # the registry check knows a retired champion has no alias
        doc = ledger.entries(action=Action.MODEL_RETIRED)[0].payload["signed"]
        standing = history(ledger, NAME)["standing"]
    # The document binds its context: action, subject, files, policy, the state it answers.
    assert (doc["action"], doc["model_name"], doc["model_version"]) == (Action.MODEL_RETIRED, NAME,
                                                                        version)  # fmt: skip
    assert doc["policy_hash"] and doc["answers"]["seq"] > 0 and len(doc["id"]) == 32
    assert standing["live"] is None
    assert [r["model_version"] for r in standing["retired"]] == [version]

    # Approving it again is refused and recorded: a retired version never returns.
    code, _, err = _cli(capsys, "approve", "--model-version", version, "--as", "val",
                        "--reason", "bring it back")  # fmt: skip
    assert code == 4 and err.strip().count("\n") == 0 and "was retired" in err
    assert _refusals(workspace, Action.APPROVAL_REFUSED)[-1]["user"] == "val"
    # Retiring twice is a user mistake, one line.
    code, _, err = _cli(capsys, "retire", "--model-version", version, "--as", "rita",
                        "--reason", "again")  # fmt: skip
    assert code == 2 and "already retired" in err


def test_retirement_attacks_are_refused_or_count_for_nothing(workspace, monkeypatch, capsys):
    from governance.decisions.promotion import facts_for
    from governance.decisions.retirement import retirement_document
    from governance.identity.signed_acts import signed_act_problems
    from governance.log.ledger import Ledger
    from governance.registry.retired import retirements

    enrol_cast(workspace, monkeypatch=monkeypatch)
    version = _champion(workspace, capsys)
    # 1. The developer retires her own version (a competitor would see its book fall back):
    #    refused, one line, exit 4, recorded. A validator lacks the role.
    for user, why in (("dana", "separation of duties"), ("vera", "needs risk_officer")):
        code, _, err = _cli(capsys, "retire", "--model-version", version, "--as", user,
                            "--reason", "sabotage")  # fmt: skip
        assert code == 4 and err.strip().count("\n") == 0 and why in err, err
    assert [r["refusal"].split(":")[0] for r in _refusals(workspace, Action.RETIREMENT_REFUSED)] == [
        "retire", "retire"
    ]  # fmt: skip

    with Ledger.open(workspace) as ledger:
        facts = facts_for(workspace, ledger, ModelRef.parse(NAME, version))
        doc = retirement_document(facts, policy_hash="x", head=ledger.head(), reason="forged")
        # 2. The insider writes the entry herself: unsigned, under an officer's name.
        forge(ledger, Action.MODEL_RETIRED, actor="omar", role="risk_officer",
              subject=f"model:{NAME}/v{version}", payload=doc)  # fmt: skip
        # 3. ... or signed with her own key (a developer's signature on a retirement).
        forge_signed(ledger, signer(workspace, "dana", ledger), Action.MODEL_RETIRED,
                     subject=f"model:{NAME}/v{version}", payload=doc)  # fmt: skip
        assert retirements(ledger, NAME) == {}
        flagged = {seq for seq, _ in signed_act_problems(ledger)}
        assert len(flagged) == 2  # ledger verify names both forgeries
    assert not any("retired" in r for r in _drive(workspace).reasons)

    # 4. A genuine retirement of another version, replayed under this version's subject:
    #    the ledger refuses an entry whose subject is not the signed one, and the reader
    #    takes the version from the signed document anyway (an id counts once).
    other, _ = tiny_version(workspace, NAME)
    code, out, _ = _cli(capsys, "retire", "--model-version", other, "--as", "rita",
                        "--reason", "never used", "--json")  # fmt: skip
    assert code == 0
    with Ledger.open(workspace) as ledger:
        genuine = next(
            e for e in ledger.entries(action=Action.MODEL_RETIRED) if e.seq == out["entry_seq"]
        )
        with pytest.raises(TamperDetected, match="not the signed subject"):
            ledger.append(Action.MODEL_RETIRED, actor="rita", role="risk_officer",
                          subject=f"model:{NAME}/v{version}", payload=genuine.payload)  # fmt: skip
        assert set(retirements(ledger, NAME)) == {int(other)}
    assert not any("retired" in r for r in _drive(workspace).reasons)
