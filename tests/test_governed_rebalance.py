"""The governance path end to end (issue 5): four-eyes promotion, the champion driving the
rebalance, a tripped kill switch forcing the fallback, and a two-officer reset restoring it.

Runs under tests/data/policy-sandbox.yaml, whose validation reports every statistic but
blocks on none, so that the small synthetic model can be promoted honestly under it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.cli import main
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from tests.helpers_e2e import DATA, cli_json
from tests.helpers_identity import enrol_cast

CONFIG = str(DATA / "small-sandbox.yaml")


@pytest.fixture(scope="module")
def governed(tmp_path_factory, prefect_server):
    home = tmp_path_factory.mktemp("gov") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_CONFIG", CONFIG)
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        enrol_cast(Workspace(home), sandbox=True, monkeypatch=mp)  # the policy is a sandbox's
        yield home


def test_promotion_kill_switch_and_reset(governed, capsys):
    # 1. dana trains; vera validates in the pipeline: pass under the sandbox tier
    code, run = cli_json(capsys, "run", "--config", CONFIG, "--as", "dana")
    assert run["validation"]["verdict"] == "pass"
    assert run["stage"] == "approval" and code == 3  # blocked only by missing approvals
    assert run["portfolio"]["source"] == "fallback"
    version = str(run["model_version"])

    # 2. four eyes: the developer may not approve; a validator and a risk officer do
    assert main(["approve", "--model-version", version, "--as", "dana"]) == 4
    assert main(["approve", "--model-version", version, "--as", "vera", "--reason", "ok"]) == 0
    assert main(["approve", "--model-version", version, "--as", "rita", "--reason", "ok"]) == 0

    # 3. the champion drives the rebalance
    code, reb = cli_json(capsys, "rebalance", "--config", CONFIG, "--as", "dana")
    assert (code, reb["status"]) == (0, "completed")
    assert reb["portfolio"]["source"] == "model"
    assert reb["portfolio"]["model_version"] == version

    # 4. a risk officer trips the kill switch: the rebalance falls back and says why
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "drill"]) == 0
    code, reb = cli_json(capsys, "rebalance", "--config", CONFIG, "--as", "dana")
    assert code == 3 and reb["stage"] == "kill_switch"
    assert reb["portfolio"]["source"] == "fallback"
    assert any("kill switch" in r for r in reb["portfolio"]["reasons"])
    code, run = cli_json(capsys, "run", "--config", CONFIG, "--as", "dana")
    assert run["portfolio"]["source"] == "fallback"

    # 5. one officer cannot reset alone; two distinct officers restore the model path
    reset = ["killswitch", "reset", "--reason", "drill over", "--incident", "INC-1"]
    assert main([*reset, "--as", "rita"]) == 0
    assert main([*reset, "--as", "rita"]) == 4
    code, status = cli_json(capsys, "killswitch", "status")
    assert status["state"] == "tripped" and status["pending_reset"]
    assert main([*reset, "--as", "omar"]) == 0
    code, reb = cli_json(capsys, "rebalance", "--config", CONFIG, "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (0, "model")

    # 6. the trail verifies, MLflow's alias included
    assert main(["ledger", "verify"]) == 0


def _volatile_market(folder: Path) -> Path:
    """The sandbox config's market with every asset's daily log returns over its last 63
    days four times as large (a calm market turned wild; no day beyond the data-quality
    gate's warning level): the regime is outside the one v1 was validated on."""
    import numpy as np

    from flows.config import load_config
    from tasks.data.market import load_long

    cfg = load_config(CONFIG)
    long = load_long(cfg.data, cfg.base_dir).reset_index(drop=True)
    close = long.pivot(index="date", columns="asset", values="close").sort_index()
    r = np.log(close).diff()
    r.iloc[-63:] *= 4.0
    wild = np.exp(np.log(close.iloc[0]) + r.fillna(0.0).cumsum())
    long["close"] = (
        wild.stack().reindex(pd.MultiIndex.from_frame(long[["date", "asset"]])).to_numpy()
    )
    out = folder / "volatile.csv"
    long.assign(date=long["date"].dt.strftime("%Y-%m-%d")).to_csv(out, index=False)
    return out


def test_an_input_outside_the_validated_domain_is_a_finding_and_the_tiers_action(
    governed, tmp_path, capsys
):
    """Operating boundaries (issue 24): v1's signed validation report holds the domain of
    its holdout. The next rebalance reads a market whose last quarter is four times as
    volatile: outside the validated volatility regime. Under the sandbox tier
    (``boundaries.action: warn``) it records ``gate.boundary`` as a review, raises the
    finding and the model drives; under a tier whose action is ``fallback`` it publishes
    the fallback (exit 3, stage ``boundary``), raising no finding twice, and the kill
    switch stays armed. On the calm market, inside again: the model drives.
    (A shifted feature column: tests/test_boundaries.py.)"""
    from governance.findings.register import load_register
    from governance.log.ledger import Ledger

    config = yaml.safe_load(Path(CONFIG).read_text())
    sandbox_policy = Path(CONFIG).with_name("policy-sandbox.yaml")
    config["policy"]["file"] = str(sandbox_policy)
    raw = tmp_path / "wild.yaml"
    raw.write_text(yaml.safe_dump(config))
    data = str(_volatile_market(tmp_path))
    code, reb = cli_json(capsys, "rebalance", "--config", str(raw), "--data", data, "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (0, "model")
    seen = reb["stages"]["boundaries"]
    assert seen["headline"].startswith("OUTSIDE") and seen["headline"].endswith("warn")
    assert seen["findings_raised"] and any("volatility" in r for r in seen["details"])
    with Ledger.open(Workspace.from_env()) as ledger:
        gate = ledger.entries(action=Action.GATE_BOUNDARY)[-1]
        assert gate.seq == seen["gate_seq"] and gate.payload["decision"] == "review"
        found = [load_register(ledger).get(fid) for fid in seen["findings_raised"]]
    assert [(f.check, f.about, f.origin, f.status) for f in found] == [
        ("operating_boundary", "volatility", "boundary", "open")
    ]

    policy = yaml.safe_load(sandbox_policy.read_text())
    for tier in policy["tiers"].values():
        tier["boundaries"] = {"action": "fallback"}
    strict = tmp_path / "policy-fallback.yaml"
    strict.write_text(yaml.safe_dump(policy))
    config["policy"]["file"] = str(strict)
    raw.write_text(yaml.safe_dump(config))
    code, reb = cli_json(capsys, "rebalance", "--config", str(raw), "--data", data, "--as", "dana")
    assert (code, reb["stage"], reb["portfolio"]["source"]) == (3, "boundary", "fallback")
    assert any("operating boundary volatility:" in r for r in reb["portfolio"]["reasons"])
    assert reb["stages"]["boundaries"]["findings_raised"] == []  # raised once, above
    code, status = cli_json(capsys, "killswitch", "status")
    assert status["state"] == "armed"  # a boundary says nothing of a broken model
    assert status["strategies"].get("small-gov", {"state": "armed"})["state"] == "armed"
    code, reb = cli_json(capsys, "rebalance", "--config", CONFIG, "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (0, "model")
    assert reb["stages"]["boundaries"]["headline"].startswith("inside")
    # the challengers scored in shadow beside the champion (issue 24): one version, so
    # 12-1 momentum only; recorded, never published
    shadow = reb["stages"]["challengers"]
    assert shadow["signals"] == ["champion", "momentum_12_1"] and shadow["errors"] == []
    from flows.challenger_stage import shadow_history

    with Ledger.open(Workspace.from_env()) as ledger:
        scored = ledger.entries(action=Action.CHALLENGERS_SCORED)[-1]
        assert scored.seq == shadow["ledger_seq"] and scored.payload["champion_version"] == 1
        (day, scores) = shadow_history(ledger, "small-gov")[-1]
    assert str(day.date()) == reb["portfolio"]["asof"]
    assert list(scores.columns) == ["asset", "champion", "momentum_12_1"] and len(scores) == 40


def _accounts_config(folder: Path, policy: Path | None = None) -> Path:
    """The sandbox config with three accounts (growth, esg with a restricted list, odd whose
    bound cannot be met) under ``policy`` (default: the sandbox policy)."""
    config = yaml.safe_load(Path(CONFIG).read_text())
    config["policy"]["file"] = str(policy or Path(CONFIG).with_name("policy-sandbox.yaml"))
    config["portfolio"]["accounts"] = [
        {"name": "growth"},
        {"name": "esg", "restricted": ["A0001", "A0002"]},
        {"name": "odd", "holdings": {"A0003": 1.0}, "bounds": {"A0004": [0.5, 0.6]}},
    ]
    multi = folder / "accounts.yaml"
    multi.write_text(yaml.safe_dump(config))
    return multi


def test_many_accounts_share_one_model_each_with_its_own_limits(governed, tmp_path, capsys):
    """Three accounts on one compiled problem: own restricted list, own bounds; one account
    whose bound cannot be met holds what it has and says why, the others trade."""
    multi = _accounts_config(tmp_path)
    code, reb = cli_json(capsys, "rebalance", "--config", str(multi), "--as", "dana")
    assert code == 0 and reb["portfolio"]["source"] == "model"
    by_name = {a["account"]: a for a in reb["portfolio"]["accounts"]}
    assert by_name["growth"]["source"] == by_name["esg"]["source"] == "model"
    assert by_name["odd"]["source"] == "hold" and by_name["odd"]["reasons"]
    trades = pd.read_csv(reb["portfolio"]["trades_path"])
    assert set(trades["account"]) == {"growth", "esg", "odd"}
    weights = pd.read_csv(reb["portfolio"]["weights_path"]).set_index(["account", "asset"])
    assert weights.loc[("esg", "A0001"), "weight"] == pytest.approx(0, abs=1e-6)
    assert weights.loc[("odd", "A0003"), "weight"] == 1.0  # held
    for name in ("growth", "esg"):
        assert weights.loc[name, "weight"].sum() == pytest.approx(1, abs=1e-6)
    _code, shown = cli_json(capsys, "ledger", "show", "--tail", "12")
    subjects = {e["subject"] for e in shown["entries"] if e["action"] == Action.PORTFOLIO_OPTIMISED}
    assert {s.rsplit(":", 1)[1] for s in subjects} == {"growth", "esg", "odd"}
    # monitoring reads the many-accounts book through the one reader
    code, mon = cli_json(capsys, "monitor", "--config", str(multi))
    assert (code, mon["status"], mon["killswitch"]) == (0, "ok", "armed")


def test_many_accounts_orders_a_breach_blocks_only_its_account(governed, tmp_path, capsys):
    """The three accounts' book (previous test) to orders under a sandbox policy whose
    orders: section caps an order at half the account's value: odd, which holds all of
    A0003, breaches it alone and is blocked (named, recorded); growth and esg are sent, one
    NewOrderList each."""
    policy = yaml.safe_load(Path(CONFIG).with_name("policy-sandbox.yaml").read_text())
    for tier in policy["tiers"].values():
        tier["orders"] = {"max_order_notional": 5.0e7}  # half of portfolio_value (1e8)
    policy_file = tmp_path / "policy-orders.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    multi = _accounts_config(tmp_path, policy_file)
    code, out = cli_json(capsys, "orders", "export", "--config", str(multi), "--as", "dana",
                         "--out", str(tmp_path / "outbox"), "--basket")  # fmt: skip
    assert (code, out["status"]) == (0, "completed")
    assert out["stages"]["orders"]["blocked_accounts"] == ["odd"]
    _code, shown = cli_json(capsys, "ledger", "show", "--tail", "8")
    gate = next(e for e in shown["entries"] if e["action"] == Action.GATE_PRESEND)
    breaches = gate["payload"]["evidence"]["breaches"]
    assert {(b["check"], b["account"]) for b in breaches} == {("max_order_notional", "odd")}
    (folder,) = (tmp_path / "outbox").iterdir()
    orders = pd.read_csv(folder / "orders.csv")
    assert set(orders["account"]) == {"growth", "esg"}
    lists = (folder / "orders.fix").read_bytes().splitlines()
    assert len(lists) == 2 and all(b"\x0135=E\x01" in m for m in lists)


def test_evidence_pack_from_the_pipeline_verifies_and_catches_one_byte(governed, tmp_path, capsys):
    pack = tmp_path / "evidence.zip"
    assert main(["evidence", "export", "--model-version", "1", "--out", str(pack)]) == 0
    assert main(["evidence", "verify", str(pack)]) == 0
    with zipfile.ZipFile(pack) as z:
        members = {n: z.read(n) for n in z.namelist()}
    victim = next(n for n in members if n.endswith(".json") and n != "manifest.json")
    members[victim] = bytes([members[victim][0] ^ 1]) + members[victim][1:]
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    capsys.readouterr()
    assert main(["evidence", "verify", str(forged)]) == 3
    assert victim in capsys.readouterr().err


def test_a_champion_that_cannot_score_falls_back_without_tripping(governed, tmp_path, capsys):
    """Features the champion needs cannot be computed: the day's market file has no volume,
    which its signed contract's volume features need (a config can no longer narrow the
    features: they come from the contract). The scoring gate halts (exit 3), the fallback
    is published with the reason, and the kill switch stays armed (a scoring halt says
    nothing about the model in the market; it is no optimiser failure)."""
    from flows.config import load_config
    from tasks.data.market import load_long

    cfg = load_config(CONFIG)
    long = load_long(cfg.data, cfg.base_dir, None)
    no_volume = tmp_path / "no-volume.csv"
    long.drop(columns=["volume"]).to_csv(no_volume, index=False)
    code, reb = cli_json(
        capsys, "rebalance", "--config", CONFIG, "--data", str(no_volume), "--as", "dana"
    )
    assert (code, reb["stage"], reb["portfolio"]["source"]) == (3, "scoring", "fallback")
    assert any("needs features not computed" in r for r in reb["portfolio"]["reasons"])
    code, status = cli_json(capsys, "killswitch", "status")
    assert status["state"] == "armed"


def test_impossible_constraints_halt_with_the_conflict_named(governed, tmp_path, capsys):
    """Sector caps summing below 100 % when fully invested: exit 3 naming the groups,
    the fallback published, and the strategy's kill switch tripped (policy: optimiser
    failure); the workspace-wide switch above it stays armed."""
    config = yaml.safe_load(Path(CONFIG).read_text())
    config["policy"]["file"] = str(Path(CONFIG).with_name("policy-sandbox.yaml"))
    config["portfolio"]["max_sector_weight"] = 0.2  # 4 sectors x 0.2 = 0.8 < 1
    tight = tmp_path / "tight.yaml"
    tight.write_text(yaml.safe_dump(config))
    code, reb = cli_json(capsys, "rebalance", "--config", str(tight), "--as", "dana")
    assert code == 3 and reb["stage"] == "optimiser"
    assert any("sector" in r and "full investment" in r for r in reb["reasons"])
    assert reb["portfolio"]["source"] == "fallback"
    code, status = cli_json(capsys, "killswitch", "status")
    assert status["state"] == "armed"
    assert status["strategies"]["small-gov"]["state"] == "tripped"
    assert status["strategies"]["small-gov"]["by"] == "alphagate"  # automatic
