"""The inventory of record (issue 27): owner, accountable senior manager, attestation,
materiality, dependencies and lifecycle, the owner and attestation as signed acts.

Each attack a hostile insider with a shell and her own key can try is written here: the
wrong role, the developer on her own model, a replayed document, an attestation that
expired or was made for a superseded owner. Each ends refused (exit 4, recorded; exit 3
for a replay the ledger refuses) or counts for nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from governance.ground.errors import TamperDetected
from governance.ground.vocabulary import Action
from tests.helpers_e2e import cli_out
from tests.helpers_forge import forge
from tests.helpers_identity import enrol_cast, signer, tiny_version

NAME = "stewarded"
CONFIG = str(Path(__file__).resolve().parent / "data" / "small.yaml")  # the live test policy
OWNER = ("--owner", "rita", "--smf", "Chief Risk Officer (SMF4)", "--purpose",
         "long-only US equity book", "--users", "PM desk")  # fmt: skip


def _cli(capsys, *argv):
    return cli_out(capsys, *argv, "--config", CONFIG, "--model", NAME)


def _models(capsys, *extra):
    code, out, err = cli_out(capsys, "models", "--config", CONFIG, "--json", *extra)
    assert code == 0, err
    return {m["name"]: m for m in out["models"]}


def _refusals(workspace):
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        return [e.payload["refusal"] for e in ledger.entries(action=Action.STEWARDSHIP_REFUSED)]


def test_owner_and_attestation_are_signed_and_shown_everywhere(workspace, monkeypatch, capsys,
                                                               tmp_path):  # fmt: skip
    from mlflow import MlflowClient

    from governance.log.ledger import Ledger
    from governance.registry.stewardship import attestation_status

    enrol_cast(workspace, monkeypatch=monkeypatch)
    tiny_version(workspace, NAME)  # dana develops
    row = _models(capsys)[NAME]
    assert row["owner"] is None and row["attestation"]["status"] == "no_owner"
    assert row["lifecycle"] == "in_development"

    code, out, err = _cli(capsys, "models", "owner", *OWNER, "--as", "omar", "--json")
    assert code == 0 and out["owner"] == "rita", err
    assert _models(capsys)[NAME]["attestation"]["status"] == "never"
    code, out, err = _cli(capsys, "models", "attest", "--as", "rita", "--json")
    assert code == 0 and out["attested_by"] == "rita", err

    html = tmp_path / "inventory.html"
    row = _models(capsys, "--html", str(html))[NAME]
    assert row["owner"]["owner"] == "rita" and row["owner"]["smf"].startswith("Chief Risk")
    assert row["owner"]["set_by"] == "omar"
    att = row["attestation"]
    assert (att["status"], att["by"]) == ("current", "rita")
    # the tier's cadence (shipped policy: 365 days) sets the due date
    assert dt.date.fromisoformat(att["due"]) - dt.date.fromisoformat(att["last"]) == dt.timedelta(
        days=365
    )
    assert {"drivers", "complexity", "score", "proposed_tier"} <= set(row["materiality"])
    assert row["materiality"]["drivers"]["tier"] == "high"
    text = html.read_text()
    assert "Chief Risk Officer (SMF4)" in text and "current (due" in text
    tags = MlflowClient().get_registered_model(NAME).tags
    assert (tags["owner"], tags["attestation"]) == ("rita", "current")

    # Expired: a year and a day later the same attestation no longer stands.
    with Ledger.open(workspace) as ledger:
        later = dt.date.fromisoformat(att["due"]) + dt.timedelta(days=1)
        assert attestation_status(ledger, NAME, 365, later)["status"] == "overdue"
        doc = ledger.entries(action=Action.MODEL_ATTESTED)[-1].payload["signed"]
    assert doc["owner_seq"] == row["owner"]["seq"] and len(doc["attests"]) == 4


def test_stewardship_attacks_are_refused_or_count_for_nothing(workspace, monkeypatch, capsys):
    from governance.identity.enrolment import change_role
    from governance.identity.signed_acts import signed_act_problems
    from governance.identity.signing import append_signed
    from governance.log.ledger import Ledger
    from governance.registry.stewardship import attestations, owner_records

    enrol_cast(workspace, monkeypatch=monkeypatch)
    tiny_version(workspace, NAME)  # dana develops
    # 1. Wrong role: a validator names an owner; a developer too (she also developed it).
    for user, why in (("vera", "needs risk_officer"), ("dana", "separation of duties")):
        code, _, err = _cli(capsys, "models", "owner", *OWNER, "--as", user)
        assert code == 4 and err.strip().count("\n") == 0 and why in err, err
    # 2. The developer on her own model: promoted to risk officer by the admin, she still
    #    may neither name the owner nor be named owner.
    with Ledger.open(workspace) as ledger:
        change_role(workspace, ledger, signer(workspace, "ada", ledger), "dana", "risk_officer")
    code, _, err = _cli(capsys, "models", "owner", *OWNER, "--as", "dana")
    assert code == 4 and "developed" in err
    code, _, err = _cli(capsys, "models", "owner", "--owner", "dana", *OWNER[2:], "--as", "omar")
    assert code == 4 and "may not own it" in err
    assert len(_refusals(workspace)) == 4  # every refusal is on record

    code, _, err = _cli(capsys, "models", "owner", *OWNER, "--as", "omar")
    assert code == 0, err
    # 3. Someone other than the owner attests (a risk officer, the developer): refused.
    for user, why in (("omar", "not the owner"), ("dana", "separation of duties")):
        code, _, err = _cli(capsys, "models", "attest", "--as", user)
        assert code == 4 and why in err, err
    code, _, err = _cli(capsys, "models", "attest", "--as", "rita")
    assert code == 0, err

    with Ledger.open(workspace) as ledger:
        genuine = ledger.entries(action=Action.MODEL_ATTESTED)[-1]
        # 4. Replay: the same signed attestation appended again is refused by the ledger.
        with pytest.raises(TamperDetected):
            ledger.append(Action.MODEL_ATTESTED, actor="rita", role="risk_officer",
                          subject=genuine.subject, payload=genuine.payload)  # fmt: skip
        # 5. A forged owner record: unsigned under an officer's name, or signed by the
        #    developer's own key: neither names an owner.
        doc = {**owner_records(ledger, NAME)[-1].to_json(), "kind": "alphagate.model-owner/1",
               "model_name": NAME, "owner": "omar"}  # fmt: skip
        forge(ledger, Action.MODEL_OWNER_SET, actor="omar", role="risk_officer",
              subject=genuine.subject, payload=doc)  # fmt: skip
        append_signed(ledger, signer(workspace, "dana", ledger), Action.MODEL_OWNER_SET,
                      subject=genuine.subject, payload=doc)  # fmt: skip
        assert [r.owner for r in owner_records(ledger, NAME)] == ["rita"]
        # ledger verify names the unsigned one; dana's (a risk officer now) is a valid act
        # that the reader refuses to count (she developed the model)
        flagged = [why for _, why in signed_act_problems(ledger)]
        assert len(flagged) == 1 and "unsigned" in flagged[0], flagged
        assert [a.by for a in attestations(ledger, NAME)] == ["rita"]

    # 6. Expired authority: omar is named owner instead; rita's earlier attestation does not
    #    attest for him, and rita can no longer attest.
    code, _, err = _cli(capsys, "models", "owner", "--owner", "omar", *OWNER[2:], "--as", "rita")
    assert code == 0, err
    code, _, err = _cli(capsys, "models", "attest", "--as", "rita")
    assert code == 4 and "not the owner" in err
    row = _models(capsys)[NAME]
    assert (row["owner"]["owner"], row["attestation"]["status"]) == ("omar", "never")


def test_an_overdue_attestation_is_a_finding_on_the_champion(workspace, monkeypatch, capsys):
    """A year and a day after the owner's last attestation the champion gets
    ``attestation_overdue`` (once while it stands); the day before, nothing."""
    from governance.decisions.stewardship import flag_overdue_attestation
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy
    from tests.helpers_identity import POLICY, promoted_version

    enrol_cast(workspace, monkeypatch=monkeypatch)
    version, _ = promoted_version(workspace, NAME)
    tier = load_policy(POLICY)[0].tier("high")
    with Ledger.open(workspace) as ledger:
        assert flag_overdue_attestation(ledger, NAME, tier) == []  # no owner yet: no finding
    for argv in (("models", "owner", *OWNER, "--as", "omar"), ("models", "attest", "--as", "rita")):
        code, _, err = _cli(capsys, *argv)
        assert code == 0, err
    due = dt.date.fromisoformat(_models(capsys)[NAME]["attestation"]["due"])
    with Ledger.open(workspace) as ledger:
        assert flag_overdue_attestation(ledger, NAME, tier, day=due) == []
        (raised,) = flag_overdue_attestation(ledger, NAME, tier, day=due + dt.timedelta(days=1))
        assert (raised.check, raised.about, raised.ref.version_text) == (
            "attestation_overdue", "rita", version,
        )  # fmt: skip
        assert flag_overdue_attestation(ledger, NAME, tier, day=due + dt.timedelta(days=2)) == []
