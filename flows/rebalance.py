"""``rebalance_flow``: the daily rebalance.

load the latest data → DATA-QUALITY GATE → may the champion drive? (KILL-SWITCH and
approval state) → score with the champion → optimise → PRE-TRADE GATE → publish; then each
version in paper marks and books its paper book, never published (flows/paper_stage.py).
With no champion, a tripped kill switch or a failed solve it publishes the policy's fallback
and says why. A critical data-quality failure on live data trips the kill switch when the
policy says so, and publishes nothing.
"""

from __future__ import annotations

from prefect import State, flow

from flows import stages
from flows.config import AlphagateConfig
from flows.halting import end_state, quiet_expected_failures
from flows.paper_stage import paper_books
from flows.portfolio_stage import portfolio
from flows.risk_stage import risk_report
from flows.run import finish, open_run
from governance.decisions.trips import trip_on_live_data_halt
from governance.ground.errors import GateHalt


@flow(name="rebalance", log_prints=False, validate_parameters=True)
def rebalance_flow(
    config: AlphagateConfig,
    data_path: str | None = None,
    user: str | None = None,
    key: str | None = None,
) -> dict | State:
    """Publish target weights and a trade list; return the run summary."""
    quiet_expected_failures()
    run = open_run(config, user, kind="rebalance", key=key)
    try:
        try:
            run, panel = stages.ingest(run, data_path)
        except GateHalt as exc:
            trip_on_live_data_halt(run.now, run.tier, exc, run.config.model.name)
            raise
        portfolio(run, panel)
        paper_books(run, panel)
        risk_report(run, panel)
    except GateHalt as exc:
        run.summary.halt(exc.gate, exc.reasons)
    return end_state(finish(run))
