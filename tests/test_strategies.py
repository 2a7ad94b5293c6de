"""Two strategies in one workspace: the demo (20 S&P 500 stocks) and a synthetic market of
40 assets. Each rebalances, monitors and trips on its own book and its own kill switch;
the workspace-wide switch stops both.

Both run under tests/data/policy-sandbox.yaml (validation reports, blocks on nothing), so
each is promoted honestly by four eyes and drives its own rebalance.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.cli import main
from governance.ground.workspace import Workspace
from tests.helpers_e2e import DATA, cli_json
from tests.helpers_identity import enrol_cast

REPO = Path(__file__).resolve().parents[1]
SANDBOX = str(DATA / "policy-sandbox.yaml")
SYNTHETIC = "small-gov"  # model.name of tests/data/small-sandbox.yaml
DEMO = "demo-book"


def _demo_config(tmp: Path) -> str:
    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    cfg["model"]["name"] = DEMO
    cfg["model"]["search"] = [{}]  # one trial: the test is about books, not the model
    cfg["policy"] = {"file": SANDBOX, "tier": "sandbox"}
    cfg["validation"]["shap_sample"] = 300
    path = tmp / "demo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _synthetic_config(tmp: Path) -> str:
    cfg = yaml.safe_load((DATA / "small-sandbox.yaml").read_text())
    cfg["policy"]["file"] = SANDBOX
    path = tmp / "synthetic.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture(scope="module")
def two(tmp_path_factory, prefect_server):
    tmp = tmp_path_factory.mktemp("two")
    home = tmp / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        mp.delenv("ALPHAGATE_CONFIG", raising=False)
        enrol_cast(Workspace(home), sandbox=True, monkeypatch=mp)
        yield {"demo": _demo_config(tmp), "synthetic": _synthetic_config(tmp)}


def _promote(capsys, config: str) -> str:
    code, run = cli_json(capsys, "run", "--config", config, "--as", "dana")
    assert (code, run["stage"], run["validation"]["verdict"]) == (3, "approval", "pass")
    version = str(run["model_version"])
    for officer in ("vera", "rita"):
        argv = ["approve", "--model-version", version, "--as", officer, "--reason", "ok"]
        assert main([*argv, "--config", config]) == 0
    return version


def test_two_strategies_rebalance_monitor_and_trip_independently(two, capsys):
    demo, synthetic = two["demo"], two["synthetic"]
    _promote(capsys, synthetic)
    _promote(capsys, demo)

    # each rebalances from its own (empty) book: no breach measured against the other's
    for config, strategy in ((synthetic, SYNTHETIC), (demo, DEMO)):
        code, reb = cli_json(capsys, "rebalance", "--config", config, "--as", "dana")
        assert (code, reb["portfolio"]["source"], reb["portfolio"]["strategy"]) == (
            0,
            "model",
            strategy,
        )
    demo_assets = set(pd.read_csv(reb["portfolio"]["weights_path"])["asset"])
    assert "AAPL" in demo_assets and not any(a.startswith("A00") for a in demo_assets)

    # monitoring reads each strategy's own book
    for config in (synthetic, demo):
        code, mon = cli_json(capsys, "monitor", "--config", config)
        assert (code, mon["status"], mon["killswitch"]) == (0, "ok", "armed")

    # the synthetic strategy's switch trips: it falls back, the demo still trades
    trip = ["killswitch", "trip", "--as", "rita", "--reason", "drill", "--strategy", SYNTHETIC]
    assert main(trip) == 0
    code, reb = cli_json(capsys, "rebalance", "--config", synthetic, "--as", "dana")
    assert (code, reb["stage"], reb["portfolio"]["source"]) == (3, "kill_switch", "fallback")
    code, reb = cli_json(capsys, "rebalance", "--config", demo, "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (0, "model")
    code, status = cli_json(capsys, "killswitch", "status")
    assert status["state"] == "armed"  # the workspace-wide switch
    assert {k for k in ("state", "since", "by", "reason", "pending_reset")} <= set(status)
    assert status["strategies"][SYNTHETIC]["state"] == "tripped"
    assert status["strategies"][SYNTHETIC]["by"] == "rita"
    assert DEMO not in status["strategies"]

    # the workspace-wide switch stops both (the demo's equal-weight fallback from its model
    # book may breach the 0.5 turnover cap and publish nothing: either way, no model)
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "all stop"]) == 0
    code, reb = cli_json(capsys, "rebalance", "--config", demo, "--as", "dana")
    assert code == 3 and (reb["portfolio"] or {}).get("source") != "model"
    code, reb = cli_json(capsys, "rebalance", "--config", synthetic, "--as", "dana")
    assert (code, reb["stage"], reb["portfolio"]["source"]) == (3, "kill_switch", "fallback")
    assert any("all stop" in r for r in reb["portfolio"]["reasons"])

    # two officers reset each level; the strategy's reset leaves the workspace's alone
    for scope in ([], ["--strategy", SYNTHETIC]):
        for officer in ("rita", "omar"):
            argv = ["killswitch", "reset", "--as", officer, "--reason", "over"]
            assert main([*argv, "--incident", "INC-7", *scope, "--config", synthetic]) == 0
    code, status = cli_json(capsys, "killswitch", "status")
    assert status["state"] == "armed"
    assert status["strategies"][SYNTHETIC]["state"] == "armed"
    code, reb = cli_json(capsys, "rebalance", "--config", synthetic, "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (0, "model")
    assert main(["ledger", "verify"]) == 0
