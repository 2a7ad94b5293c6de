"""The model inventory (governance/evidence/inventory.py): three models, three statuses, one flag.

A champion (validated under the sandbox tier, approved by a validator and a risk officer),
a rejected model and a model never validated, trained small in one workspace.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flows.cli import main
from governance.findings.register import today
from governance.ground.refs import ModelRef
from tests.helpers_e2e import DATA, cli_json

SANDBOX = str(DATA / "small-sandbox.yaml")
POLICY = DATA / "policy-sandbox.yaml"


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    from governance.decisions.approvals import approve, reject
    from governance.decisions.context import RunContext
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy
    from tests.helpers_identity import enrol_cast, signer
    from tests.helpers_train import train_synthetic
    from validation.config import ValidationConfig
    from validation.run import validate_model_version

    home = tmp_path_factory.mktemp("inventory") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        ws = Workspace(home).ensure()
        mp.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
        enrol_cast(ws, sandbox=True, monkeypatch=mp)
        policy, digest = load_policy(POLICY)
        tier = policy.tier("sandbox")
        for name in ("alpha-champ", "beta-rejected", "gamma-new"):
            train_synthetic(ws, model={"name": name}, developer="dana")
        for name in ("alpha-champ", "beta-rejected"):
            ctx = RunContext.open(ws, actor="vera", role="validator", policy_hash=digest)
            try:
                validate_model_version(
                    ctx, ModelRef.parse(name, 1), ValidationConfig(shap_sample=200, cscv_partitions=6), tier,
                    validator=signer(ws, "vera", ctx.ledger), tier_name="sandbox",
                )  # fmt: skip
            finally:
                ctx.close()
        kw = {"tier": tier, "tier_name": "sandbox", "policy_hash": digest}
        with Ledger.open(ws) as ledger:
            for who in ("vera", "rita"):
                approve(
                    ws,
                    ledger,
                    ModelRef.parse("alpha-champ", 1),
                    signer(ws, who, ledger),
                    "fine",
                    **kw,
                )
            rita = signer(ws, "rita", ledger)
            reject(
                ws, ledger, ModelRef.parse("beta-rejected", 1), rita, "no economic rationale", **kw
            )
        yield ws


def test_models_json_lists_each_model_with_its_status_and_flags(three, capsys):
    code, inv = cli_json(capsys, "models", "--config", SANDBOX)
    assert code == 0
    by_name = {m["name"]: m for m in inv["models"]}
    assert {n: m["status"] for n, m in by_name.items()} == {
        "alpha-champ": "champion",
        "beta-rejected": "rejected",
        "gamma-new": "not_validated",
    }
    champ = by_name["alpha-champ"]
    assert (champ["champion_version"], champ["tier"], champ["developer"], champ["validator"]) == (
        "1",
        "sandbox",
        "dana",
        "vera",
    )
    assert champ["last_validation"]["verdict"] == "pass" and champ["current_validation"]
    assert champ["policy_hash"] and champ["next_revalidation_due"]["date"]
    assert by_name["gamma-new"]["last_validation"] is None
    assert inv["flags"] == {"models_driving_without_current_validation": []}
    # linked from each registered model in MLflow
    from governance.registry.recorder import mlflow_client

    rm = mlflow_client(three).get_registered_model("alpha-champ")
    assert rm.tags["inventory"].endswith("/artifacts/inventory.html")
    assert "Model inventory: [champion" in rm.description
    # the terminal names a page a person can open: a full path (file-store MLflow), not a
    # "#/experiments/..." fragment without a host
    capsys.readouterr()
    assert main(["models", "--config", SANDBOX]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("HTML inventory:")]
    page = Path(line.removeprefix("HTML inventory:").strip())
    assert page.is_absolute() and page.suffix == ".html" and "alpha-champ" in page.read_text()


def test_a_champion_past_its_revalidation_date_is_flagged(three):
    from governance.evidence.inventory import inventory, inventory_html
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy

    policy, digest = load_policy(POLICY)
    with Ledger.open(three) as ledger:
        inv = inventory(three, ledger, policy, digest, day=today() + dt.timedelta(days=400))
    assert inv["flags"] == {"models_driving_without_current_validation": ["alpha-champ"]}
    champ = next(m for m in inv["models"] if m["name"] == "alpha-champ")
    assert champ["not_current_because"][0].startswith("revalidation of v1 was due")
    page = inventory_html(inv)
    assert "alpha-champ" in page and "<script" not in page and "http" not in page


def test_the_inventory_is_an_evidence_pack_member(three, tmp_path, capsys):
    import json
    import zipfile

    pack = tmp_path / "pack.zip"
    assert main(["evidence", "export", "--model-version", "1", "--model", "alpha-champ",
                 "--config", SANDBOX, "--out", str(pack)]) == 0  # fmt: skip
    assert main(["evidence", "verify", str(pack)]) == 0
    with zipfile.ZipFile(pack) as z:
        inv = json.loads(z.read("inventory/models.json"))
    assert [m["status"] for m in inv["models"]] == ["champion", "rejected", "not_validated"]
    assert Path(pack).stat().st_size > 0


def test_the_inventory_shows_the_assigned_tier_not_the_validations(three):
    """A policy that assigns alpha-champ another tier than the one it was validated under:
    the inventory names the assigned tier, keeps the validation's beside it, and the
    validation is not current (evidence under another tier counts for nothing)."""
    from governance.evidence.inventory import inventory
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy

    policy, digest = load_policy(POLICY)
    moved = policy.model_copy(
        update={"tiers": {**policy.tiers, "strict": policy.tiers["sandbox"]},
                "strategies": {"alpha-champ": "strict"}}
    )  # fmt: skip
    with Ledger.open(three) as ledger:
        inv = inventory(three, ledger, moved, digest)
    champ = next(m for m in inv["models"] if m["name"] == "alpha-champ")
    assert (champ["tier"], champ["validated_tier"]) == ("strict", "sandbox")
    assert not champ["current_validation"]
    assert champ["not_current_because"] == [
        "the validation of v1 was made under tier 'sandbox', not 'alpha-champ''s tier"
        " 'strict': evidence under another tier counts for nothing"
    ]
    assert inv["flags"] == {"models_driving_without_current_validation": ["alpha-champ"]}
