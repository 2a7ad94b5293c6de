"""The shipped demo: real S&P 500 prices from skfolio through the whole governed chain.

`alphagate demo` is what `make demo` runs; `alphagate run --config configs/demo.yaml --json`
must end with a contract-shaped JSON line. The outcome on the shipped prices is pinned:
the candidate v1 fails validation (its holdout rank IC is negative and not significant, the
DSR below 0.95, and it does not beat the momentum or random challengers); the pipeline halts
at the validation gate (exit 3 for `run`; `demo` exits 0 because the halt is the
demonstration) and publishes the fallback portfolio with the kill switch armed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flows.cli import main

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / "configs" / "demo.yaml")


def test_demo_runs_the_governed_chain_on_real_data(
    workspace, prefect_server, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("ALPHAGATE_KEYRING", str(tmp_path / "demo-keyring"))
    assert main(["demo", "--config", DEMO]) == 0
    out = capsys.readouterr().out
    assert "DEMO KEYS" in out and "they are demo keys" in out.lower()
    assert not list(workspace.home.rglob("*.key"))  # no private key inside the workspace
    for stage in ("data quality", "training", "validation", "approval", "backtest", "portfolio"):
        assert f"\n  {stage}" in out, stage
    assert "demo:skfolio-sp500" in out
    assert "alphagate approve " in out and "--model-version 1 --as " in out  # exact commands
    assert "Kill switch: armed" in out
    # the published book's three historical stress losses and its risk decomposition
    flat = " ".join(out.split())  # the summary wraps long lines at 100 columns
    assert "historical: gfc-2008 " in flat
    assert ", covid-2020 " in flat and ", rates-2022 " in flat
    assert "\n  risk " in out and "factor " in out and "VaR|ES" in out
    assert "Independent validation says FAIL" in out
    # where the version stands in its life under the shipped high tier (paper before live),
    # and the honest next step of a FAIL
    assert "Where v1 stands: [candidate] ─► validated ─► paper ─► live ─► retired" in out
    assert "next: none: validation FAIL, it may not enter paper or go live" in out
    assert "alphagate approve --stage paper --model alphagate-demo --model-version 1" in out

    # the same inputs again: the deterministic stages are found in the ledger, not redone
    assert main(["run", "--config", DEMO, "--as", "dana", "--json"]) == 3
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["model_version"] == 1
    assert (summary["status"], summary["stage"]) == ("halted", "validation")
    assert summary["validation"]["verdict"] == "fail"
    critical = {
        re.match(r"\[critical\] \S+ (\w+):", f).group(1)
        for f in summary["validation"]["findings"]
        if f.startswith("[critical]")
    }
    assert critical == {"rank_ic_below_min", "ic_tstat_below_min", "dsr_below_min"}
    assert summary["portfolio"]["source"] == "fallback"
    weights = Path(summary["portfolio"]["weights_path"])
    assert weights.is_file() and weights.read_text().startswith("asset,weight")
    plots = summary["stages"]["backtest"]["files"]
    assert any(p.endswith("cumulative_return.png") for p in plots)
    from mlflow import MlflowClient

    run_id = summary["stages"]["risk"]["mlflow_run_id"]
    logged = {f.path for d in ("risk", "stress") for f in MlflowClient().list_artifacts(run_id, d)}
    assert {"risk/contributions.png", "stress/losses.png"} <= logged
    assert main(["ledger", "verify"]) == 0
