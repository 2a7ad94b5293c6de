"""Monitoring as a time series: every run appends its point to the strategy's series, which
is derived from the ledger (it survives a restart), is charted (trend PNG in MLflow and in
the report) and is logged as MLflow metrics with steps; a critical value trips the switch
once, not once per run while it stays critical.

The reports are the real ``assess_monitoring`` on a planted market whose signal flips on
day 900 (tests/test_monitoring_cusum.py), scored by the planted characteristic, recorded
through the monitoring flow's own recorder into a real SQLite ledger and MLflow store.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.policy.schema import Tier
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from validation.monitoring import assess_monitoring
from validation.monitoring_checks import Check, CheckResult, Status
from validation.monitoring_series import newly_breached, series_point

STRATEGY, VERSION = "flipper", 1
DAYS = range(847, 847 + 8 * 21, 21)  # eight monthly runs: three before the flip, five after


def test_a_point_is_the_finite_numbers_of_the_checks():
    checks = (
        CheckResult(Check.REALISED_IC, Status.OK, 0.05, 0.0, "", {"mean": 0.05, "se": 0.02}),
        CheckResult(Check.FEATURE_DRIFT, Status.OK, 0.3, 0.25, "", {"psi": {"a": 0.3, "b": 0.1}}),
        CheckResult(Check.DRAWDOWN, Status.NOT_EVALUATED, None, 0.25, "no live portfolio"),
    )
    assert series_point(checks) == {
        "realised_ic": 0.05, "realised_ic.tstat": 2.5,
        "feature_drift": 0.3, "psi.a": 0.3, "psi.b": 0.1,
    }  # fmt: skip
    assert newly_breached(None, ["ic_cusum: x"]) == ["ic_cusum: x"]
    assert newly_breached(["ic_cusum: x"], ["ic_cusum: y", "drawdown: z"]) == ["drawdown: z"]


@pytest.fixture(scope="module")
def reports():
    long = generate_market(SyntheticSpec(n_assets=100, n_days=1400, ic=0.2, seed=0, flip_day=900))
    close = long.pivot(index="date", columns="asset", values="close").sort_index()
    scores = planted_characteristic(long)
    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "x": []})
    header = {"model": {"name": STRATEGY, "version": VERSION}}
    return [
        assess_monitoring(
            as_of=close.index[d],
            scores=scores,
            features=empty,
            reference=empty[["x"]],
            close=close,
            horizon=21,
            feature_names=["x"],
            policy=Tier().monitoring,
            header=header,
        )
        for d in DAYS
    ]


def _record(ws, report, key):
    from flows.monitoring import record_monitoring
    from governance.decisions.context import RunContext

    ctx = RunContext.open(ws, actor="alphagate", role="system", run_key=key)
    try:
        return record_monitoring(ctx, Tier(), report)
    finally:
        ctx.close()


def test_series_survives_restarts_charts_and_trips_once(workspace, reports, monkeypatch):
    from mlflow import MlflowClient

    from flows.monitoring_mlflow import monitoring_run
    from governance.decisions import killswitch
    from governance.decisions.context import RunContext
    from governance.log.ledger import Ledger
    from tests.helpers_identity import enrol_cast, signer
    from validation.monitoring_series import load_series

    enrol_cast(workspace, monkeypatch=monkeypatch)
    statuses = [("breach" if r.breaches else "ok") for r in reports]
    assert statuses == ["ok"] * 4 + ["breach"] * 4  # the CUSUM enters breach on day 931
    outcomes = [_record(workspace, r, f"mon-{i}") for i, r in enumerate(reports[:6])]
    assert [o.tripped for o in outcomes] == [False] * 4 + [True, False]

    # Two officers reset the switch while the value is still critical: the next runs do
    # not trip again (the check did not *enter* breach), the series goes on.
    with Ledger.open(workspace) as ledger:
        for officer in ("rita", "omar"):
            killswitch.reset(
                ledger, signer(workspace, officer, ledger), "reviewed", "INC-1", Tier(),
                strategy=STRATEGY,
            )  # fmt: skip
    # A "restart": every run below opens the workspace afresh (new ledger connection, new
    # context); nothing is carried in memory between runs.
    later = [_record(workspace, r, f"mon-{i}") for i, r in enumerate(reports[6:], start=6)]
    assert [o.tripped for o in later] == [False, False]
    assert not later[-1].killswitch.tripped

    with Ledger.open(workspace) as ledger:
        assert len(ledger.entries(action=Action.KILLSWITCH_TRIPPED)) == 1
        series = load_series(ledger, STRATEGY)
        last = ledger.entries(action=Action.MONITORING_COMPLETED)[-1]
        stored = pd.read_parquet(
            io.BytesIO(ledger.store.read_bytes(last.artifacts["series.parquet"]))
        )
        trend = ledger.store.read_bytes(last.artifacts["trend.png"])
        html = ledger.store.read_bytes(last.artifacts["report.html"]).decode()
    assert list(series["as_of"]) == [r.as_of for r in reports]
    assert list(series["status"]) == statuses
    assert list(stored["as_of"]) == list(series["as_of"])
    assert trend.startswith(b"\x89PNG")
    assert "data:image/png;base64," in html and "Trend" in html

    ctx = RunContext.open(workspace, actor="alphagate", role="system")
    try:
        run_id = monitoring_run(ctx, ModelRef(STRATEGY, VERSION))
    finally:
        ctx.close()
    client = MlflowClient()
    history = client.get_metric_history(run_id, "ic_cusum")
    assert [m.step for m in history] == list(range(8))
    assert [m.value for m in history] == pytest.approx(list(series["ic_cusum"]))
    names = {a.path for a in client.list_artifacts(run_id, "monitoring")}
    assert names == {"monitoring/trend.png", "monitoring/series.parquet"}
