"""The stress limit in the pre-trade gate, end to end: a stressed loss above the policy's
limit halts the rebalance (exit 3, gate ``stress`` naming the scenario) and the fallback is
stressed too and published with its stress result.

The scenario is built from the champion's own book so that the test does not depend on
which names the model happens to like: the model's three largest holdings fall 50 %. The
model (capped at 10 % a name, concentrated on its views) loses more in it than the
equal-weight fallback (2.5 % a name on 40 assets: 3 x 2.5 % x 50 % = 3.75 %); the limit
sits halfway between the two losses.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.cli import main
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tests.helpers_e2e import DATA, cli_json
from tests.helpers_identity import enrol_cast

CONFIG = DATA / "small-sandbox.yaml"


@pytest.fixture(scope="module")
def champion(tmp_path_factory, prefect_server):
    """A workspace whose champion was trained, validated and approved under the sandbox."""
    home = tmp_path_factory.mktemp("stress") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_CONFIG", str(CONFIG))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        enrol_cast(Workspace(home), sandbox=True, monkeypatch=mp)
        assert main(["run", "--config", str(CONFIG), "--as", "dana"]) == 3  # awaits approvals
        ledger = Ledger.open(Workspace(home))
        version = ledger.last(action=Action.MODEL_REGISTERED).payload["version"]
        ledger.dispose()
        for who in ("vera", "rita"):
            assert (
                main(["approve", "--model-version", str(version), "--as", who, "--reason", "ok"])
                == 0
            )
        yield home


def _write(tmp_path: Path, config: dict, policy: dict) -> str:
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    config["policy"]["file"] = str(tmp_path / "policy.yaml")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_stress_breach_halts_the_rebalance_and_publishes_the_stressed_fallback(
    champion, tmp_path, capsys
):
    config = yaml.safe_load(CONFIG.read_text())
    policy = yaml.safe_load(CONFIG.with_name("policy-sandbox.yaml").read_text())
    # 1. no stress limits: the champion's book is published, stressed and decomposed
    code, reb = cli_json(capsys, "rebalance", "--config", str(CONFIG), "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (0, "model")
    assert "stress" in reb["stages"] and "risk" in reb["stages"]
    model_book = pd.read_csv(reb["portfolio"]["weights_path"]).set_index("asset").weight
    top = model_book.nlargest(3)
    model_loss = 0.5 * top.sum()
    fallback_loss = 0.5 * 3 / len(model_book)
    assert model_loss > 2 * fallback_loss  # the scenario separates the two books

    # 2. a concentrated-names scenario with a limit between the two books' losses
    config["stress"] = {
        "hypothetical": [
            {"name": "top-names", "assets": {str(a): -0.5 for a in top.index}},
        ],
        "sampled": {"n_scenarios": 1000},
    }
    limit = round(float(model_loss + fallback_loss) / 2, 4)
    policy["tiers"]["sandbox"]["stress"] = {"scenarios": {"top-names": limit}}
    path = _write(tmp_path, config, policy)
    code, reb = cli_json(capsys, "rebalance", "--config", path, "--as", "dana")
    assert code == 3 and reb["status"] == "halted" and reb["stage"] == "stress"
    assert any("stress top-names:" in r for r in reb["reasons"])
    assert reb["portfolio"]["source"] == "fallback"
    assert reb["stages"]["fallback stress"]["breaches"] == []
    code, switch = cli_json(capsys, "killswitch", "status")
    # a stress limit trips the strategy's switch like a pre-trade limit
    assert switch["strategies"]["small-gov"]["state"] == "tripped"

    # 3. the ledger: the model's book halted at gate.stress, the fallback's passed and was
    #    published with its stress files
    ledger = Ledger.open(Workspace.from_env())
    try:
        flow = reb["flow_run_id"]
        gates = [
            e for e in ledger.entries(action=Action.GATE_STRESS) if e.payload["flow_run_id"] == flow
        ]
        # one account is the list of one: each book's gate is its account's (``:main``)
        assert [(g.subject.split(":")[2:], g.payload["decision"]) for g in gates] == [
            (["main"], "halt"),
            (["fallback", "main"], "pass"),
        ]
        published = ledger.last(action=Action.PORTFOLIO_PUBLISHED)
        assert published.payload["source"] == "fallback"
        summary = ledger.store.read_json(published.payload["artifacts"]["stress/summary.json"])
        losses = {s["scenario"]: s["loss"] for s in summary["scenarios"]}
        assert losses["top-names"] == pytest.approx(fallback_loss, abs=1e-12)
        risk = ledger.last(action=Action.RISK_ANALYSED)
        assert risk.payload["flow_run_id"] == flow and risk.payload["source"] == "fallback"
    finally:
        ledger.dispose()

    # 4. the evidence pack of the run carries the stress and risk entries and their files
    pack = tmp_path / "evidence.zip"
    assert main(["evidence", "export", "--run-id", flow, "--out", str(pack)]) == 0
    with zipfile.ZipFile(pack) as z:
        names = z.namelist()
        entries = json.loads(z.read("ledger/entries.json"))
    actions = {e["action"] for e in entries}
    assert {Action.STRESS_COMPLETED, Action.GATE_STRESS, Action.RISK_ANALYSED} <= actions
    for action, file in (
        (Action.STRESS_COMPLETED, "stress_losses.png"),
        (Action.STRESS_COMPLETED, "stress_scenarios.parquet"),
        (Action.RISK_ANALYSED, "risk_contributions.png"),
        (Action.RISK_ANALYSED, "risk_assets.parquet"),
    ):
        assert any(action in n and n.endswith(file) for n in names), (action, file)


def test_many_accounts_each_account_is_stressed_and_a_fallback_refused_everywhere_halts(
    champion, tmp_path, capsys
):
    """Two accounts under a 30 % market fall with a 20 % limit. The switch tripped in the
    test above, so both get the fallback: ``seeded`` (all in one name, ten times the 10 %
    cap) glides a turnover cap's worth toward the benchmark (tasks/portfolio/fallback.py
    ``glide``: 1.0 -> 0.75 in that name), which still breaches the cap: refused by the
    pre-trade gate, it holds; ``cash`` gets the benchmark, whose stress breach halts that
    account's own ``gate.stress``. Every account of the fallback is then refused: the one
    breach rule (tasks/portfolio/rebalance.py) halts the run at ``stress`` and publishes
    nothing, as a single account's refused fallback always did. (Before one account became
    the list of one, many accounts published a book of holds here; the rule for an account
    among others that holds while the others trade is tests/test_account_path.py's.)"""
    config = yaml.safe_load(CONFIG.read_text())
    policy = yaml.safe_load(CONFIG.with_name("policy-sandbox.yaml").read_text())
    config["portfolio"]["accounts"] = [
        {"name": "seeded", "holdings": {"A0003": 1.0}},
        {"name": "cash"},
    ]
    config["stress"] = {
        "hypothetical": [{"name": "market-crash", "market": -0.3}],
        "sampled": {"n_scenarios": 1000},
    }
    policy["tiers"]["sandbox"]["stress"] = {"max_scenario_loss": 0.2}
    with Ledger.open(Workspace.from_env()) as ledger:
        before = ledger.last(action=Action.PORTFOLIO_PUBLISHED).seq
    code, reb = cli_json(
        capsys, "rebalance", "--config", _write(tmp_path, config, policy), "--as", "dana"
    )
    assert (code, reb["status"], reb["portfolio"]) == (3, "halted", None)
    assert any(r.startswith("account seeded: pretrade: max_weight A0003: 0.75 ") for r in
               reb["reasons"]), reb["reasons"]  # fmt: skip
    assert any(r.startswith("account cash: stress: stress market-crash: 0.3 ") for r in
               reb["reasons"]), reb["reasons"]  # fmt: skip
    ledger = Ledger.open(Workspace.from_env())
    try:
        assert ledger.last(action=Action.PORTFOLIO_PUBLISHED).seq == before  # nothing new
        flow = reb["flow_run_id"]
        gates = {
            e.subject.rsplit(":", 1)[1]: e.payload["decision"]
            for e in ledger.entries(action=Action.GATE_STRESS)
            if e.payload["flow_run_id"] == flow
        }
        assert gates == {"seeded": "pass", "cash": "halt"}
        done = ledger.last(action=Action.STRESS_COMPLETED)
        assert set(done.payload["breached"]) == {"cash"}
        path = ledger.store.path(done.payload["artifacts"]["stress/accounts.parquet"])
        table = pd.read_parquet(path).set_index("account")
        assert table.loc["cash", "market-crash"] == pytest.approx(0.3, abs=1e-12)
        assert table.loc["seeded", "market-crash"] == pytest.approx(0.3, abs=1e-12)
    finally:
        ledger.dispose()
