"""The insider attacks of issue 10, replayed: each ends refused (exit 4 or 3, one line), no
model drives, and the refusal is on the record.

Real MLflow (tiny LightGBM versions), the SQL ledger, personal Ed25519 keys. The attacker
holds their own key only; where a test needs the legitimate cast, it uses the keyring of
tests/helpers_identity.py (standing in for the other people). Attacks through Python's
``Ledger.append`` are what anyone with write access to the database can do.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.cli import main
from governance.decisions.model_use import drive_decision
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger, entries_table
from governance.registry.recorder import mlflow_client
from governance.registry.versions import champion_version, set_champion
from tests.helpers_e2e import cli_out as _cli
from tests.helpers_e2e import negate_model_file
from tests.helpers_forge import forge
from tests.helpers_identity import POLICY, adopt_policy, enrol_cast, tiny_version

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(workspace, monkeypatch, tmp_path):
    """A non-sandbox workspace: cast enrolled, the shipped policy adopted; a run config."""
    enrol_cast(workspace, monkeypatch=monkeypatch)
    cfg = tmp_path / "run.yaml"
    shutil.copy(POLICY, tmp_path / "policy.yaml")
    cfg.write_text("policy: {file: policy.yaml, tier: high}\n")
    return workspace, cfg


def _approve(capsys, cfg, name, version, who, *extra):
    return _cli(capsys, "approve", "--config", str(cfg), "--model", name, "--model-version",
                version, "--as", who, "--reason", "ok", *extra)  # fmt: skip


def _promote(capsys, cfg, name, version):
    assert _approve(capsys, cfg, name, version, "vera")[0] == 0
    assert _approve(capsys, cfg, name, version, "rita")[0] == 0
    assert champion_version(mlflow_client(Workspace.from_env()), name) == version


def _one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


def test_forged_unsigned_validation_approvals_and_promotion_never_drive(env, capsys):
    ws, cfg = env
    version, _ = tiny_version(ws, "forged", verdict="fail")
    with Ledger.open(ws) as ledger:  # the attacker writes the database directly
        subject = f"model:forged/v{version}"
        bad = forge(ledger, Action.VALIDATION_COMPLETED, actor="vera", role="validator",
                    subject=subject, payload={"model_name": "forged",
                    "model_version": version, "verdict": "pass"})  # fmt: skip
        for who, role in (("vera", "validator"), ("rita", "risk_officer")):
            forge(ledger, Action.APPROVAL_GRANTED, actor=who, role=role, subject=subject,
                          payload={"model_name": "forged", "model_version": version,
                                   "user": who, "role": role, "identity": "signed"})  # fmt: skip
        approvals = [
            {"user": "vera", "role": "validator"},
            {"user": "rita", "role": "risk_officer"},
        ]
        promoted = ledger.append(Action.MODEL_PROMOTED, actor="alphagate", subject=subject,
                                 payload={"model_name": "forged", "model_version": version,
                                          "approvals": approvals,
                                          "approved_by": "rita (risk_officer), vera (validator)"})  # fmt: skip
        set_champion(
            mlflow_client(ws), ModelRef.parse("forged", version), promoted.payload, promoted.seq
        )
        decision = drive_decision(ws, ledger, "forged")
    assert not decision.allowed
    text = " ".join(decision.reasons)
    # the champion is derived from the signed approvals (issue 22): the forged record and
    # the alias make none, so nothing drives (the verdict is not even reached)
    assert "has never been promoted" in text
    # the forged pass is no verdict: a genuine approval is still refused, and recorded
    code, _, err = _approve(capsys, cfg, "forged", version, "omar")
    assert code == 4 and "verdict is fail" in err and _one_line(err)
    code, report, _ = _cli(capsys, "ledger", "verify", "--json")
    assert code == 3 and report["first_bad_seq"] == bad.seq and "unsigned" in report["reason"]


def test_approve_or_reset_as_someone_else_without_their_key(env, capsys, tmp_path, monkeypatch):
    ws, cfg = env
    version, _ = tiny_version(ws, "claim")
    monkeypatch.delenv("ALPHAGATE_KEYRING")  # the attacker holds dana's key only
    dana = str(Workspace.from_env().home.parent / f"{ws.home.name}-keyring" / "dana.key")
    for argv in (
        ["approve", "--config", str(cfg), "--model", "claim", "--model-version", version,
         "--as", "rita", "--key", dana],
        ["killswitch", "reset", "--config", str(cfg), "--as", "omar", "--key", dana,
         "--reason", "r", "--incident", "I"],
    ):  # fmt: skip
        code, _, err = _cli(capsys, *argv)
        assert code == 4 and "is not the registered key of" in err and _one_line(err)
    monkeypatch.setenv("ALPHAGATE_USER", "rita")
    code, _, err = _cli(capsys, "approve", "--config", str(cfg), "--model", "claim",
                        "--model-version", version)  # fmt: skip
    assert code == 4 and "--key" in err and _one_line(err)  # a name alone proves nothing
    with Ledger.open(ws) as ledger:
        assert len(ledger.entries(action=Action.IDENTITY_REFUSED)) == 3
        assert not ledger.entries(action=Action.APPROVAL_GRANTED)


def test_anonymous_runs_and_decisions_are_refused_before_anything_runs(env, capsys, monkeypatch):
    """``run`` without ``--as``/``--key`` once recorded its developer as ``alphagate`` (so the
    "not the developer" rule never bit): now every deciding command needs a proven identity."""
    ws, cfg = env
    for var in ("ALPHAGATE_KEYRING", "ALPHAGATE_USER", "ALPHAGATE_KEY"):
        monkeypatch.delenv(var, raising=False)
    for argv in (
        ["run", "--config", str(cfg), "--json"],
        ["rebalance", "--config", str(cfg), "--json"],
        ["validate", "--config", str(cfg), "--model-version", "1"],
        ["killswitch", "trip", "--as", "rita", "--reason", "r"],  # a name is not a key
    ):
        code, _, err = _cli(capsys, *argv)
        assert code == 4 and "anonymous decisions are not accepted" in err, argv
        assert _one_line(err), err
    with Ledger.open(ws) as ledger:
        assert len(ledger.entries(action=Action.IDENTITY_REFUSED)) == 4
        for action in (
            Action.MODEL_TRAINED,
            Action.VALIDATION_COMPLETED,
            Action.PORTFOLIO_PUBLISHED,
        ):
            assert not ledger.entries(action=action), action
        assert not ledger.entries(action=Action.KILLSWITCH_TRIPPED)


def test_swapped_model_file_is_caught_at_use_and_at_load(env, capsys):
    ws, cfg = env
    version, _ = tiny_version(ws, "swap")
    _promote(capsys, cfg, "swap", version)
    with Ledger.open(ws) as ledger:
        good = drive_decision(ws, ledger, "swap")
        assert good.allowed, good.reasons
        lgb_file, original = negate_model_file(ws, "swap", version)
        try:
            bad = drive_decision(ws, ledger, "swap")
            assert not bad.allowed
            assert any("model files changed since" in r for r in bad.reasons), bad.reasons
            from governance.ground.errors import TamperDetected
            from tasks.model.scoring import load_scoring_model

            with pytest.raises(TamperDetected, match="model files altered"):
                load_scoring_model(
                    ws, ModelRef.parse("swap", version), expected_hash=good.model_hash
                )
        finally:
            lgb_file.write_text(original)
        assert drive_decision(ws, ledger, "swap").allowed


def test_policy_edited_after_promotion_and_a_new_policy_puts_the_champion_under_its_rule(
    env, capsys
):
    ws, cfg = env
    version, _ = tiny_version(ws, "edited")
    _promote(capsys, cfg, "edited", version)
    policy = cfg.parent / "policy.yaml"
    original = policy.read_text()
    policy.write_text(original.replace("max_weight: 0.10", "max_weight: 0.60", 1))
    try:  # the edited file is not the adopted policy: every decision refuses, naming both
        code, _, err = _approve(capsys, cfg, "edited", version, "omar")
        assert code == 4 and "a config may not choose its policy" in err and _one_line(err)
    finally:
        policy.write_text(original)
    # two officers adopt a new policy: the champion falls back now until revalidated
    new = cfg.parent / "new-policy.yaml"
    new.write_text(original + "\n# revised\n")
    with Ledger.open(ws) as ledger:
        adopt_policy(ws, ledger, new)
        decision = drive_decision(ws, ledger, "edited")
        assert not decision.allowed and any("revalidate" in r for r in decision.reasons)
        adopt_policy(ws, ledger, POLICY, rule={"rule": "until", "date": "2999-01-01"})
        again = drive_decision(ws, ledger, "edited")
    assert again.allowed, again.reasons  # validated under this very policy
    with Ledger.open(ws) as ledger:
        adopt_policy(ws, ledger, new, rule={"rule": "until", "date": "2999-01-01"})
        assert drive_decision(ws, ledger, "edited").allowed  # grace until the date


def test_acting_on_a_broken_ledger_is_exit_3_for_every_decision(env, capsys):
    ws, cfg = env
    version, _ = tiny_version(ws, "broken")
    _promote(capsys, cfg, "broken", version)
    engine = sa.create_engine(f"sqlite:///{ws.home / 'ledger.db'}")
    with engine.begin() as conn:  # delete a middle row
        conn.execute(entries_table.delete().where(entries_table.c.seq == 5))
    engine.dispose()
    for argv in (
        ["approve", "--config", str(cfg), "--model", "broken", "--model-version", version,
         "--as", "omar", "--reason", "r"],
        ["killswitch", "trip", "--as", "rita", "--reason", "r"],
        ["policy", "adopt", str(POLICY), "--as", "rita"],
    ):  # fmt: skip
        code, _, err = _cli(capsys, *argv)
        assert code == 3 and "ledger broken" in err and _one_line(err), argv
    with Ledger.open(ws) as ledger:
        decision = drive_decision(ws, ledger, "broken")
        assert not decision.allowed and "ledger broken" in decision.reasons[0]
        assert len(ledger.entries(action=Action.INTEGRITY_REFUSED)) == 3


def test_a_forged_two_officer_reset_re_arms_nothing(env, capsys):
    ws, _cfg = env
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "drill"]) == 0
    with Ledger.open(ws) as ledger:
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        forge(ledger, Action.KILLSWITCH_RESET_PENDING, actor="rita", role="risk_officer",
                      subject="killswitch", payload={"officers": ["rita"], "needed": 2,
                                                     "trip_seq": trip.seq})  # fmt: skip
        forged = forge(ledger, Action.KILLSWITCH_RESET, actor="omar", role="risk_officer",
                               subject="killswitch", payload={"officers": ["rita", "omar"],
                                                              "needed": 2, "trip_seq": trip.seq})  # fmt: skip
    code, status, _ = _cli(capsys, "killswitch", "status", "--json")
    assert status["state"] == "tripped" and status["pending_reset"] is None
    code, report, _ = _cli(capsys, "ledger", "verify", "--json")
    assert code == 3 and report["first_bad_seq"] == forged.seq - 1


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def backend(request, workspace, monkeypatch, tmp_path):
    """The workspace on SQLite, or with its ledger on a scratch PostgreSQL database."""
    from test_ledger_support import backend_url

    with backend_url(request, request.param, workspace, monkeypatch):
        enrol_cast(workspace, monkeypatch=monkeypatch)
        cfg = tmp_path / "run.yaml"
        shutil.copy(POLICY, tmp_path / "policy.yaml")
        cfg.write_text("policy: {file: policy.yaml, tier: high}\n")
        yield workspace, cfg


def test_four_eyes_promotion_trip_and_two_officer_reset_with_distinct_keys(backend, capsys):
    """The legitimate path still works end to end, each person with their own key file."""
    ws, cfg = backend
    ring = Workspace.from_env().home.parent / f"{ws.home.name}-keyring"
    version, _ = tiny_version(ws, "fourEyes")
    key = {name: ["--key", str(ring / f"{name}.key")] for name in ("dana", "vera", "rita", "omar")}
    code, _, err = _approve(capsys, cfg, "fourEyes", version, "dana", *key["dana"])
    assert code == 4 and "developed" in err
    assert _approve(capsys, cfg, "fourEyes", version, "vera", *key["vera"])[0] == 0
    assert _approve(capsys, cfg, "fourEyes", version, "rita", *key["rita"])[0] == 0
    assert champion_version(mlflow_client(ws), "fourEyes") == version
    with Ledger.open(ws) as ledger:
        assert drive_decision(ws, ledger, "fourEyes").allowed
    trip = ["killswitch", "trip", "--reason", "drill"]
    assert main([*trip, "--as", "rita", *key["rita"]]) == 0
    reset = ["killswitch", "reset", "--config", str(cfg), "--reason", "ok", "--incident", "I-1"]
    assert main([*reset, "--as", "rita", *key["rita"]]) == 0
    assert main([*reset, "--as", "rita", *key["rita"]]) == 4  # the same officer twice
    assert main([*reset, "--as", "omar", *key["omar"]]) == 0
    code, status, _ = _cli(capsys, "killswitch", "status", "--json")
    assert status["state"] == "armed"
    with Ledger.open(ws) as ledger:
        assert drive_decision(ws, ledger, "fourEyes").allowed
    assert _cli(capsys, "ledger", "verify")[0] == 0
