"""Four-eyes approvals, promotion, registry drift and signature checks, end to end.

Real components: a tiny LightGBM model logged and registered in MLflow (SQLite registry in
a temporary workspace), the SQL ledger, Ed25519 keys. Every path goes through
``flows.cli.main``. The module shares one workspace; each test uses its own model name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_ledger_support import rewrite_history

from flows.cli import main
from governance.ground.artifacts import ArtifactStore
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.signing import append_signed
from governance.log.ledger import Ledger
from tests.helpers_identity import POLICY, enrol_cast, in_force_hash, in_force_tier, signer

REPO = Path(__file__).resolve().parents[1]


def _point_env(mp: pytest.MonkeyPatch, home: Path) -> Workspace:
    mp.setenv("ALPHAGATE_HOME", str(home))
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    mp.delenv("ALPHAGATE_USER", raising=False)
    ws = Workspace(home).ensure()
    mp.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
    return ws


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Module workspace with the cast, a config and policy; yields (ws, config path)."""
    root = tmp_path_factory.mktemp("gov")
    mp = pytest.MonkeyPatch()
    ws = _point_env(mp, root / "home")
    shutil.copy(POLICY, root / "policy.yaml")  # what enrol_cast adopts
    cfg = root / "run.yaml"
    cfg.write_text("policy: {file: policy.yaml, tier: high}\n")
    enrol_cast(ws, monkeypatch=mp)
    yield ws, cfg
    mp.undo()


def register(
    ws: Workspace, name: str, developer: str, verdict: str = "pass", tag: str | None = None
) -> str:
    """Register a tiny real LightGBM version with the contract's tags; record its validation."""
    import lightgbm as lgb
    import mlflow

    from governance.registry.recorder import mlflow_experiment

    rng = np.random.default_rng(len(name))
    X = rng.normal(size=(120, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=120)
    booster = lgb.train({"verbose": -1, "num_leaves": 4}, lgb.Dataset(X, y), num_boost_round=3)
    mlflow.set_tracking_uri(ws.tracking_uri)
    exp = mlflow_experiment(name, ws)
    with mlflow.start_run(experiment_id=exp) as run:
        # explicit requirements: inferring them spawns a 7 s subprocess
        info = mlflow.lightgbm.log_model(booster, name="model", pip_requirements=["lightgbm"])
    with Ledger.open(ws) as ledger:  # the developer is whoever signs the training entry
        append_signed(
            ledger, signer(ws, developer, ledger), Action.MODEL_TRAINED,
            subject=f"strategy:{name}", payload={"mlflow_run_id": run.info.run_id},
        )  # fmt: skip
    tags = {
        "developer": tag or developer,  # a tag anyone can edit: never trusted
        "status": "candidate",
        "data_fingerprint": "d" * 64,
        "features": "f0,f1,f2",
        "strategy": name,
    }
    mv = mlflow.register_model(info.model_uri, name, tags=tags)
    validate(ws, name, mv.version, verdict)
    return str(mv.version)


def validate(ws: Workspace, name: str, version, verdict: str) -> None:
    store = ArtifactStore.of(ws)
    sha = store.put_json({"model": name, "version": str(version), "verdict": verdict})
    with Ledger.open(ws) as ledger:
        append_signed(
            ledger,
            signer(ws, "vera", ledger),
            Action.VALIDATION_COMPLETED,
            subject=f"model:{name}/v{version}",
            payload={
                "model_name": name,
                "model_version": str(version),
                "verdict": verdict,
                "policy_hash": in_force_hash(ledger),
                "policy_tier": in_force_tier(ledger, name),
            },
            artifacts={"report.json": sha},
        )


def cli(capsys, *argv) -> tuple[int, dict | None, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    last = out.out.strip().splitlines()[-1] if out.out.strip() else ""
    data = json.loads(last) if last.startswith("{") else None
    return code, data, out.err


def approve(capsys, cfg, name, version, user, *extra):
    return cli(
        capsys, "approve", "--config", str(cfg), "--model", name, "--model-version", str(version),
        "--as", user, "--reason", "reviewed", "--json", *extra,
    )  # fmt: skip


def refusals(ws, name):
    with Ledger.open(ws) as ledger:
        return [
            e
            for e in ledger.entries(action=Action.APPROVAL_REFUSED)
            if e.payload["model_name"] == name
        ]


def tags(ws, name, version) -> dict:
    from governance.registry.recorder import mlflow_client

    return dict(mlflow_client(ws).get_model_version(name, version).tags)


def champion(ws, name):
    from governance.registry.recorder import mlflow_client
    from governance.registry.versions import champion_version

    return champion_version(mlflow_client(ws), name)


def test_four_eyes_promotion_retires_previous_champion(env, capsys):
    ws, cfg = env
    v1 = register(ws, "alpha", "dana")
    code, _, err = approve(capsys, cfg, "alpha", v1, "dana")
    assert code == 4 and "developed" in err  # the developer approving their own version
    code, state, _ = approve(capsys, cfg, "alpha", v1, "vera")
    assert code == 0 and state["missing"] == ["risk_officer"] and not state["promoted"]
    assert any("--as rita" in c for c in state["commands"])
    assert champion(ws, "alpha") is None
    code, _, err = approve(capsys, cfg, "alpha", v1, "vera")
    assert code == 4 and "already approved" in err  # the same validator twice
    code, state, _ = approve(capsys, cfg, "alpha", v1, "rita")
    assert code == 0 and state["promoted"] and state["champion"]
    assert champion(ws, "alpha") == v1
    t = tags(ws, "alpha", v1)
    assert t["status"] == "champion" and t["approved_by"] == "rita (risk_officer), vera (validator)"
    assert next(e.payload["refusal"] for e in refusals(ws, "alpha")).startswith("approve: 'dana'")

    v2 = register(ws, "alpha", "dana")
    assert approve(capsys, cfg, "alpha", v2, "val")[0] == 0
    assert approve(capsys, cfg, "alpha", v2, "omar")[0] == 0
    assert champion(ws, "alpha") == v2 and tags(ws, "alpha", v1)["status"] == "retired"
    code, report, _ = cli(capsys, "ledger", "verify", "--json")
    assert code == 0 and report["ok"], report

    from governance.decisions.model_use import model_may_drive

    with Ledger.open(ws) as ledger:
        assert model_may_drive(ws, ledger, "alpha") == (True, [], v2)
        # a failed revalidation of the champion takes it off the road
        validate(ws, "alpha", v2, "fail")
        ok, reasons, version = model_may_drive(ws, ledger, "alpha")
        assert not ok and version == v2 and "verdict is fail" in reasons[0]
        ok, reasons, _ = model_may_drive(ws, ledger, "never-promoted")
        assert not ok and "no champion" in reasons[0]
    # fail closed: a ledger that cannot be read never allows the model
    broken = Ledger.__new__(Ledger)  # no engine at all
    ok, reasons, version = model_may_drive(ws, broken, "alpha")
    assert not ok and version is None and "could not decide" in reasons[0]


def test_self_approval_failed_version_and_double_officer_are_refused(env, capsys):
    ws, cfg = env
    # the developer is the signer of the training entry, whatever the MLflow tag says
    v = register(ws, "beta", "dana", tag="vera")
    code, _, err = approve(capsys, cfg, "beta", v, "dana")
    assert code == 4 and "developed" in err
    # approving a version whose validation failed
    vf = register(ws, "beta", "dana", verdict="fail")
    code, _, err = approve(capsys, cfg, "beta", vf, "rita")
    assert code == 4 and "verdict is fail" in err
    # one risk officer approving twice (policy needs one validator and one risk officer)
    vg = register(ws, "beta", "dana")
    assert approve(capsys, cfg, "beta", vg, "rita")[0] == 0
    code, _, err = approve(capsys, cfg, "beta", vg, "rita")
    assert code == 4 and "already approved" in err
    # wrong role
    assert approve(capsys, cfg, "beta", vg, "dana")[0] == 4
    assert len(refusals(ws, "beta")) == 4
    assert champion(ws, "beta") is None
    # a signed rejection blocks promotion on this validation
    code, state, _ = cli(
        capsys, "reject", "--config", str(cfg), "--model", "beta", "--model-version", vg,
        "--as", "vera", "--reason", "leakage suspected", "--json",
    )  # fmt: skip
    assert code == 0 and state["rejected_by"] == ["vera"] and state["blocked"]
    assert approve(capsys, cfg, "beta", vg, "val")[0] == 4
    assert approve(capsys, cfg, "beta", "99", "val")[0] == 2  # unknown version


def test_a_revalidation_does_not_lift_a_risk_officers_rejection(env, capsys):
    """Issue 29: rita rejects v1; vera validates v1 again (pass). The rejection is rita's
    decision on the version and stands: status still names her, with when; the inventory
    still says rejected; the approvals that the new validation would otherwise allow are
    refused. Before the rule, the revalidation voided it (``rejected_by: []``)."""
    ws, cfg = env
    v = register(ws, "delta", "dana")
    code, state, _ = cli(
        capsys, "reject", "--config", str(cfg), "--model", "delta", "--model-version", v,
        "--as", "rita", "--reason", "look-ahead in a feature", "--json",
    )  # fmt: skip
    assert code == 0 and state["rejected_by"] == ["rita"]
    validate(ws, "delta", v, "pass")  # the validator's own act, after the rejection
    code, status, _ = cli(capsys, "status", "--config", str(cfg), "--model", "delta",
                          "--model-version", v, "--json")  # fmt: skip
    assert status["promotion"]["rejected_by"] == ["rita"]
    assert [(r["user"], r["reason"]) for r in status["rejections"]] == [
        ("rita", "look-ahead in a feature")
    ]
    assert not [c for c in status["next"] if "approve" in c or "findings accept" in c]
    assert status["next_revalidation_due"] is None  # never promoted: no revalidation date
    code, models, _ = cli(capsys, "models", "--config", str(cfg), "--json")
    assert {m["name"]: m["status"] for m in models["models"]}["delta"] == "rejected"
    assert approve(capsys, cfg, "delta", v, "vera")[0] == 4
    assert approve(capsys, cfg, "delta", v, "omar")[0] == 4
    assert champion(ws, "delta") is None


def test_alias_moved_or_tags_edited_outside_alphagate_is_tampering(env, capsys):
    ws, cfg = env
    from governance.registry.recorder import mlflow_client

    v1 = register(ws, "gamma", "dana")
    assert approve(capsys, cfg, "gamma", v1, "vera")[0] == 0
    assert approve(capsys, cfg, "gamma", v1, "omar")[0] == 0
    v2 = register(ws, "gamma", "dana")
    client = mlflow_client(ws)
    client.set_registered_model_alias("gamma", "champion", v2)
    code, report, _ = cli(capsys, "ledger", "verify", "--json")
    assert code == 3 and "registry drift" in report["reason"] and "gamma" in report["reason"]
    client.delete_registered_model_alias("gamma", "champion")
    code, report, _ = cli(capsys, "ledger", "verify", "--json")
    assert code == 3 and "alias was removed" in report["reason"]
    client.set_registered_model_alias("gamma", "champion", v1)
    code, report, _err = cli(capsys, "ledger", "verify", "--json")
    assert code == 0, report
    client.set_model_version_tag("gamma", v1, "approved_by", "mallory (risk_officer)")
    code, report, _ = cli(capsys, "ledger", "verify", "--json")
    assert code == 3 and "approved_by" in report["reason"]
    client.set_model_version_tag(
        "gamma", v1, "approved_by", "omar (risk_officer), vera (validator)"
    )
    # a champion alias on a model never promoted through alphagate
    v = register(ws, "delta", "dana")
    client.set_registered_model_alias("delta", "champion", v)
    code, report, _ = cli(capsys, "ledger", "verify", "--json")
    assert code == 3 and "no promotion" in report["reason"]
    client.delete_registered_model_alias("delta", "champion")
    assert cli(capsys, "ledger", "verify")[0] == 0


def _rewrite(ledger_db: Path, seq: int, edit) -> None:
    """Edit one payload and recompute every later hash, the head and the tree: consistent."""
    from governance.ground.canonical import canonical_json

    def edit_row(r: dict) -> None:
        payload = json.loads(r["payload"])
        edit(payload)
        r["payload"] = canonical_json(payload).decode()

    rewrite_history(f"sqlite:///{ledger_db}", seq, edit_row)


@pytest.mark.parametrize("field", ["signature", "signed_digest", "signed.reason"])
def test_altered_approval_signature_or_digest_is_caught(env, capsys, tmp_path, field):
    ws, cfg = env
    name = f"eps-{field.replace('.', '-').replace('_', '-')}"
    v = register(ws, name, "dana")
    assert approve(capsys, cfg, name, v, "vera")[0] == 0
    with Ledger.open(ws) as ledger:
        seq = ledger.last(action=Action.APPROVAL_GRANTED, subject=f"model:{name}/v{v}").seq
    # tamper in a copy of the workspace, so the module's workspace stays intact
    home = tmp_path / "copy"
    shutil.copytree(ws.home, home)
    mp = pytest.MonkeyPatch()
    try:
        _point_env(mp, home)
        mp.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
        # No witness: the signature check alone catches a consistent rewrite (a witness
        # would report the rewritten history first, tests/test_witness.py).
        mp.setenv("ALPHAGATE_WITNESS", "none")
        assert cli(capsys, "ledger", "verify")[0] == 0

        def edit(p):
            if field == "signature":
                p["signature"] = ("0" if p["signature"][0] != "0" else "1") + p["signature"][1:]
            elif field == "signed_digest":
                p["signed_digest"] = "f" * 64
            else:
                p["signed"]["reason"] = "rubber stamp"

        _rewrite(home / "ledger.db", seq, edit)
        code, report, _ = cli(capsys, "ledger", "verify", "--json")
        assert code == 3 and report["first_bad_seq"] == seq, report
        assert Action.APPROVAL_GRANTED in report["reason"]
    finally:
        mp.undo()


def test_evidence_pack_of_a_promoted_version_verifies(env, capsys, tmp_path):
    ws, cfg = env
    v = register(ws, "zeta", "dana")
    assert approve(capsys, cfg, "zeta", v, "vera")[0] == 0
    assert approve(capsys, cfg, "zeta", v, "rita")[0] == 0
    out = tmp_path / "zeta.zip"
    argv = ["evidence", "export", "--model-version", v, "--model", "zeta", "--config", str(cfg)]
    assert cli(capsys, *argv, "--out", str(out))[0] == 0
    import zipfile

    names = zipfile.ZipFile(out).namelist()
    assert "mlflow/model_version.json" in names and "mlflow/run.json" in names
    assert sum(n.startswith("approvals/") for n in names) == 2
    assert any(n.endswith("report.json") for n in names)
    entries = json.loads(zipfile.ZipFile(out).read("ledger/entries.json"))
    assert {Action.VALIDATION_COMPLETED, Action.APPROVAL_GRANTED, Action.MODEL_PROMOTED} <= {
        e["action"] for e in entries
    }
    assert all(e["subject"] != "model:alpha/v1" for e in entries)  # other models stay out
    code, report, _ = cli(capsys, "evidence", "verify", str(out), "--json")
    # every signed act in the pack: dana's training, vera's verdict, the two approvals
    assert code == 0 and report["signatures"] == 4
