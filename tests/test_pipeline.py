"""End to end: `alphagate run` and `alphagate rebalance` through the real stack.

One small synthetic market (tests/data/small.yaml), one temporary Prefect server for the
module, real GX, LightGBM, MLflow, SHAP and cvxpy. The governance path is walked the way
people would: the pipeline registers and validates a candidate; a validator and a risk
officer approve it; the rebalance uses the champion; a tripped kill switch forces the
fallback; a two-officer reset restores the model path.

Outcome on these fixed seeds (pinned, not "any outcome"): the candidate v1 fails
validation on its deflated Sharpe ratio (two trials, a short development period: DSR far
below 0.95) with two SHAP sign warnings; the pipeline halts at the validation gate (exit 3)
and publishes the policy's fallback portfolio.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from flows.cli import main
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from tests.helpers_e2e import DECISION_ACTIONS, DETERMINISTIC_ACTIONS, SMALL, cli_json
from tests.helpers_identity import enrol_cast

CONTRACT = {
    "status",
    "stage",
    "reasons",
    "flow_run_id",
    "mlflow_run_id",
    "model_version",
    "validation",
    "portfolio",
    "ledger_head",
}


@pytest.fixture(scope="module")
def pipeline_home(tmp_path_factory, prefect_server):
    """A workspace in which the small pipeline has run once, as dana (developer)."""
    home = tmp_path_factory.mktemp("e2e") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        enrol_cast(Workspace(home), monkeypatch=mp)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["run", "--config", SMALL, "--as", "dana", "--json"])
        yield home, code, json.loads(out.getvalue().strip().splitlines()[-1])


def test_run_prints_the_contract_json(pipeline_home, capsys):
    # the fixture's output is gone; the ledger and registry tell what happened
    code, summary = cli_json(capsys, "ledger", "verify")
    assert code == 0 and summary["ok"] is True
    code, shown = cli_json(capsys, "ledger", "show")
    actions = [e["action"] for e in shown["entries"]]
    for expected in (*DETERMINISTIC_ACTIONS, *DECISION_ACTIONS):
        assert expected in actions, expected
    assert actions[-1] == Action.RUN_HALTED


def test_run_json_has_every_contract_field(pipeline_home, capsys):
    """A second run with the same inputs reuses the deterministic stages (same run key)."""
    code, summary = cli_json(capsys, "run", "--config", SMALL, "--as", "dana")
    assert summary.keys() >= CONTRACT
    assert (code, summary["status"], summary["stage"]) == (3, "halted", "validation")
    assert summary["reasons"] == ["validation verdict of v1 is fail"]
    assert summary["model_version"] == 1  # no second version for identical inputs
    assert summary["validation"]["verdict"] == "fail"
    findings = summary["validation"]["findings"]
    # "[severity] <id> check: message" (the id may be absent on a resumed run)
    found = [re.match(r"\[(\w+)\] (?:F-\S+ )?(\w+):", f).groups() for f in findings]
    shap = ("warning", "shap_sign")
    # Issue 27's sensitivity section: with 1.33x the leaves the refitted model's holdout rank
    # IC turns negative (loses 115 % of a weak IC, paired Newey-West t 3.98 > the tier's bar),
    # a real fragility of this weak model, reported as a warning beside its failed DSR.
    assert found == [("critical", "dsr_below_min"), shap, shap, ("warning", "sensitivity_ic_loss")]
    assert summary["portfolio"]["source"] == "fallback"
    assert Path(summary["portfolio"]["weights_path"]).is_file()
    assert Path(summary["portfolio"]["trades_path"]).is_file()
    assert summary["ledger_head"]["seq"] > 0 and len(summary["ledger_head"]["hash"]) == 64
    assert summary["flow_run_id"]


def test_candidate_is_registered_with_governance_tags(pipeline_home):
    from mlflow import MlflowClient

    mv = MlflowClient().get_model_version("small-e2e", "1")
    assert mv.tags["status"] == "candidate"  # failed validation: never promoted
    assert mv.tags["developer"] == "dana"
    for tag in ("data_fingerprint", "holdout_fingerprint", "config_hash", "ledger_seq"):
        assert mv.tags[tag]
    assert mv.tags["validation.verdict"] == "fail"


def test_without_a_champion_the_rebalance_publishes_the_fallback(pipeline_home, capsys):
    code, summary = cli_json(capsys, "rebalance", "--config", SMALL, "--as", "dana")
    assert summary["portfolio"]["source"] == "fallback"
    assert any("champion" in r for r in summary["portfolio"]["reasons"])
    assert code == 3 and summary["stage"] == "approval"


def test_critical_data_failure_halts_before_training(pipeline_home, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,asset,close\n2024-01-02,AAA,10\n2024-01-02,AAA,-3\n")
    code, summary = cli_json(capsys, "run", "--config", SMALL, "--data", str(bad), "--as", "dana")
    assert code == 3
    assert summary["status"] == "halted" and summary["stage"] == "data_quality"
    assert summary["model_version"] is None and summary["portfolio"] is None
    assert main(["ledger", "verify"]) == 0


def _model_and_portfolio(home: Path) -> tuple[str, bytes]:
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    with Ledger.open(Workspace(home)) as ledger:
        model_hash = ledger.last(action=Action.MODEL_TRAINED).payload["model_hash"]
        published = ledger.last(action=Action.PORTFOLIO_PUBLISHED)
        return model_hash, ledger.store.read_bytes(published.payload["artifacts"]["weights.csv"])


def test_dask_runner_gives_the_same_model_and_portfolio(
    pipeline_home, tmp_path, monkeypatch, capsys
):
    """The CV trials run on the workers of a local Dask cluster (the run summary names the
    worker of each trial): identical model bytes and weights, the same pinned outcome."""
    threads_home, _, _ = pipeline_home
    home = tmp_path / "dask-home"
    monkeypatch.setenv("ALPHAGATE_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    enrol_cast(Workspace(home), monkeypatch=monkeypatch)
    dask_config = str(Path(SMALL).with_name("small-dask.yaml"))
    code, summary = cli_json(capsys, "run", "--config", dask_config, "--as", "dana")
    assert (code, summary["stage"], summary["validation"]["verdict"]) == (3, "validation", "fail")
    workers = summary["stages"]["training"]["trial_workers"]
    assert workers and all(w.startswith("dask:tcp://127.0.0.1:") for w in workers), workers
    assert _model_and_portfolio(home) == _model_and_portfolio(threads_home)


def test_first_run_trains_in_threads_of_this_process(pipeline_home):
    """The counterpart of the Dask test: by default the trials run in this process."""
    import os

    _, code, summary = pipeline_home
    assert (code, summary["stage"]) == (3, "validation")
    workers = summary["stages"]["training"]["trial_workers"]
    assert workers and all(w.startswith(f"pid {os.getpid()} ") for w in workers), workers
