"""``governed_pipeline``: the weekly retrain-and-validate flow, and the first rebalance.

ingest → DATA-QUALITY GATE → features + sealed split → train + register candidate →
independent validation → VALIDATION GATE → APPROVAL GATE → backtest on the holdout →
portfolio (champion if it may drive, else the policy's fallback) → PRE-TRADE GATE.

A data-quality halt stops everything. A validation or approval block stops the *candidate*
(status ``halted``, exit 3) but the remaining safe stages still run so the evidence is
complete and a portfolio is published from the champion or the fallback.
"""

from __future__ import annotations

from prefect import State, flow

from flows import stages
from flows.config import AlphagateConfig
from flows.halting import end_state, quiet_expected_failures
from flows.portfolio_stage import backtest, portfolio
from flows.risk_stage import risk_report
from flows.run import finish, open_run
from governance.ground.errors import GateHalt

#: What the stages import, in the order they need it: imported while Prefect's temporary
#: server starts (flows/temporary_server.py, ``wait_ready``), the rest by the stages.
STACK = (
    "great_expectations",  # ingest: the data-quality gate
    "great_expectations.expectations",
    "skfolio.datasets",  # ingest: the demo prices
    "mlflow",  # training: tracking, registry
    "mlflow.store.tracking.sqlalchemy_store",
    "lightgbm",
    "shap",  # validation
)


@flow(name="governed-pipeline", log_prints=False, validate_parameters=True)
def governed_pipeline(
    config: AlphagateConfig,
    data_path: str | None = None,
    user: str | None = None,
    key: str | None = None,
) -> dict | State:
    """Run the governed chain once; return the run summary (shared/DESIGN.md contract)."""
    quiet_expected_failures()
    run = open_run(config, user, kind="pipeline", key=key)
    try:
        run, panel = stages.ingest(run, data_path)
        sealed = stages.split(run, panel)
        model = stages.train(run, sealed, panel.fingerprint)
        verdict = stages.validate(run, model)
        if verdict != "pass" and not stages.review_cleared(run, model):
            run.summary.halt(
                "validation",
                [f"validation verdict of v{model.version} is {verdict or 'missing'}"],
            )
        stages.approval(run, model, verdict)
        backtest(run, panel, sealed, model)
        portfolio(run, panel)
        risk_report(run, panel)
    except GateHalt as exc:
        run.summary.halt(exc.gate, exc.reasons)
    return end_state(finish(run))
