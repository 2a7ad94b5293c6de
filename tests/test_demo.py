"""The shipped demo: real S&P 500 prices from skfolio through the whole governed chain.

`alphagate demo` is what `make demo` runs; `alphagate run --config configs/demo.yaml --json`
must end with a contract-shaped JSON line. Whatever the verdict on this data, it is
reported with its findings, the gates act on it, and a portfolio is published.
"""

from __future__ import annotations

import json
from pathlib import Path

from flows.cli import main

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / "configs" / "demo.yaml")


def test_demo_runs_the_governed_chain_on_real_data(workspace, prefect_server, capsys):
    assert main(["demo", "--config", DEMO]) == 0
    out = capsys.readouterr().out
    for stage in ("data quality", "training", "validation", "approval", "backtest", "portfolio"):
        assert f"\n  {stage}" in out, stage
    assert "demo:skfolio-sp500" in out
    assert "alphagate approve " in out and "--model-version 1 --as " in out  # exact commands
    assert "Kill switch: armed" in out
    # the published book's three historical stress losses and its risk decomposition
    assert "historical losses: gfc-2008 " in out
    assert ", covid-2020 " in out and ", rates-2022 " in out
    assert "\n  risk " in out and "factor " in out and "VaR|ES" in out

    # the same inputs again: the deterministic stages are found in the ledger, not redone
    assert main(["run", "--config", DEMO, "--as", "dana", "--json"]) in (0, 3)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["model_version"] == 1
    assert summary["validation"]["verdict"] in {"pass", "fail", "review"}
    assert summary["validation"]["findings"] or summary["validation"]["verdict"] == "pass"
    assert summary["stage"] in {None, "validation", "approval"}
    weights = Path(summary["portfolio"]["weights_path"])
    assert weights.is_file() and weights.read_text().startswith("asset,weight")
    plots = summary["stages"]["backtest"]["files"]
    assert any(p.endswith("cumulative_return.png") for p in plots)
    from mlflow import MlflowClient

    run_id = summary["stages"]["risk"]["mlflow_run_id"]
    logged = {f.path for d in ("risk", "stress") for f in MlflowClient().list_artifacts(run_id, d)}
    assert {"risk/contributions.png", "stress/losses.png"} <= logged
    assert main(["ledger", "verify"]) == 0
