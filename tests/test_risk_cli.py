"""``alphagate risk`` / ``alphagate stress`` on the demo data, and monitoring's attribution.

Published books are written through the production writer (``tasks.portfolio.book``) and
recorded as ``portfolio.published`` of the config's strategy.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from governance.decisions.context import RunContext
from governance.ground.vocabulary import Action
from tasks.portfolio.book import (
    MAIN,
    AccountBook,
    PortfolioResult,
    publish,
    trade_list,
    write_rebalance,
)
from tests.helpers_e2e import cli_json

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "configs" / "policy.yaml"
DEMO_ASSETS = ["AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO"]
DEMO_ASSETS += ["LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM"]
STRATEGY = "alphagate-demo"  # the default model.name of the configs below


def _config(tmp_path: Path, policy: Path = POLICY, **extra) -> str:
    cfg = {
        "data": {"source": "demo", "as_of": "2022-12-28"},
        "policy": {"file": str(policy), "tier": "high"},
        "stress": {"sampled": {"n_scenarios": 1000}},
        **extra,
    }
    path = tmp_path / f"config-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _publish(ws, asof: str, weights: pd.Series) -> None:
    ctx = RunContext.open(ws, actor="alphagate", flow_run_id=f"publish-{asof}")
    try:
        trades = trade_list(None, weights, 5e-4)
        book = AccountBook(MAIN, weights, trades, "fallback", (), {"status": "fallback"})
        result = write_rebalance(ctx.store, PortfolioResult(asof, "fallback", (book,)))
        publish(ctx, result, STRATEGY, {})
    finally:
        ctx.close()


@pytest.fixture
def published(workspace):
    _publish(workspace, "2022-12-28", pd.Series(1.0 / 20, index=DEMO_ASSETS))
    return workspace


def test_risk_of_the_latest_book_is_recorded_and_logged(published, tmp_path, capsys):
    from mlflow import MlflowClient

    from governance.log.ledger import Ledger

    code, out = cli_json(capsys, "risk", "--config", _config(tmp_path))
    assert code == 0 and out["source"] == "fallback" and out["asof"] == "2022-12-28"
    assert out["factor_share"] + out["specific_share"] == pytest.approx(1.0, abs=1e-12)
    assert sum(out["sectors"].values()) == pytest.approx(1.0, abs=1e-12)
    assert {(v["method"], v["confidence"], v["horizon"]) for v in out["var"]} == {
        (m, c, h) for m in ("parametric", "historical") for c in (0.95, 0.99) for h in (1, 21)
    }
    with Ledger.open(published) as ledger:
        entry = ledger.last(action=Action.RISK_ANALYSED)
        assert entry.seq == out["ledger_seq"] and entry.subject == "portfolio:2022-12-28:fallback"
        names = set(entry.payload["artifacts"])
        assert {"risk/contributions.png", "risk/assets.parquet", "risk/var.parquet"} <= names
        assets = pd.read_parquet(
            ledger.store.path(entry.payload["artifacts"]["risk/assets.parquet"])
        )
    assert assets.contribution.sum() == pytest.approx(
        out["annual_volatility"] / 252**0.5, rel=1e-12
    )
    files = {f.path for f in MlflowClient().list_artifacts(out["mlflow_run_id"], "risk")}
    assert "risk/contributions.png" in files
    # the terminal shows the contributions the help promises (issue 29), as the JSON has them
    from flows.cli import main

    assert main(["risk", "--config", _config(tmp_path)]) == 0
    text = capsys.readouterr().out
    top = max(out["top_contributors"], key=out["top_contributors"].get)  # JSON keys are sorted
    assert f"top contributors: {top} " in text and "by sector: " in text, text
    assert all(f"{sector} " in text for sector in out["sectors"]), text


def test_stress_of_a_weights_file_and_a_breach_exits_3(workspace, tmp_path, capsys):
    book = tmp_path / "book.csv"
    pd.DataFrame({"asset": DEMO_ASSETS, "weight": 1.0 / 20}).to_csv(book, index=False)
    args = ["stress", "--portfolio", str(book), "--scenarios", "500"]
    code, out = cli_json(capsys, *args, "--config", _config(tmp_path))
    assert code == 0 and out["breaches"] == []  # the equal-weight book is within `high`
    rows = {r["scenario"]: r for r in out["scenarios"]}
    assert [r["scenario"] for r in out["scenarios"] if r["kind"] == "historical"] == [
        "gfc-2008",
        "covid-2020",
        "rates-2022",
    ]
    assert rows["covid-2020"]["limit"] == 0.42 and out["sampled"]["n_scenarios"] == 500

    policy = yaml.safe_load(POLICY.read_text())
    policy["tiers"]["high"]["stress"]["scenarios"]["covid-2020"] = 0.10
    tight = tmp_path / "tight.yaml"
    tight.write_text(yaml.safe_dump(policy))
    code, out = cli_json(capsys, *args, "--config", _config(tmp_path, tight))
    assert code == 3
    assert len(out["breaches"]) == 1 and out["breaches"][0].startswith("stress covid-2020: 0.31")


def test_bad_inputs_exit_2_naming_the_field(workspace, tmp_path, capsys):
    from flows.cli import main

    assert main(["risk", "--config", _config(tmp_path)]) == 2  # nothing published yet
    assert "no portfolio has been published" in capsys.readouterr().err
    bad = _config(tmp_path, stress={"hypothetical": [{"name": "x", "market": -1.5}]})
    assert main(["stress", "--config", bad]) == 2
    assert "stress.hypothetical.0.market" in capsys.readouterr().err
    book = tmp_path / "odd.csv"
    pd.DataFrame({"asset": ["AAPL", "NOPE"], "weight": [0.5, 0.5]}).to_csv(book, index=False)
    assert main(["stress", "--config", _config(tmp_path), "--portfolio", str(book)]) == 2
    assert "assets not in the data: NOPE" in capsys.readouterr().err
    book.write_text("asset,weight\nAAPL,abc\n")
    assert main(["risk", "--config", _config(tmp_path), "--portfolio", str(book)]) == 2
    assert "weight" in capsys.readouterr().err


def test_monitoring_attribution_of_the_published_books(workspace, tmp_path):
    from flows.config import load_config
    from flows.monitoring import published_weights
    from flows.risk_stage import attribution_report
    from tasks.data.market import load_demo, to_panel

    _publish(workspace, "2022-09-30", pd.Series(0.2, index=DEMO_ASSETS[:5]))
    _publish(workspace, "2022-11-30", pd.Series(1.0 / 20, index=DEMO_ASSETS))
    config = load_config(_config(tmp_path))
    panel = to_panel(load_demo())
    ctx = RunContext.open(workspace, actor="alphagate")
    try:
        books = published_weights(ctx, STRATEGY)
        summary = attribution_report(ctx, config, panel, books)
        entry = ctx.ledger.last(action=Action.ATTRIBUTION_COMPLETED)
    finally:
        ctx.close()
    assert summary["periods"] == 3
    assert sum(summary["brinson"].values()) == pytest.approx(summary["active"], abs=1e-14)
    assert sum(summary["factors"].values()) == pytest.approx(summary["active"], abs=1e-14)
    assert "attribution/attribution.png" in entry.payload["artifacts"]


def test_stress_prints_gains_as_gains_limits_and_the_windows_it_dropped(
    workspace, tmp_path, capsys
):
    """A +20% market rally is a gain of 20.00% for the long equal-weight book (printed so,
    never as a negative loss); every scenario prints its policy limit; a window before the
    demo data (1987) is named as dropped, in the text and in ``--json``."""
    from flows.cli import main

    book = tmp_path / "book.csv"
    pd.DataFrame({"asset": DEMO_ASSETS, "weight": 1.0 / 20}).to_csv(book, index=False)
    stress_cfg = {
        "historical": [
            {"name": "crash-1987", "start": "1987-10-01", "end": "1987-10-30"},
            {"name": "covid-2020", "start": "2020-02-19", "end": "2020-03-23"},
        ],
        "hypothetical": [{"name": "rally", "market": 0.2}],
    }
    cfg = _config(tmp_path, stress=stress_cfg)
    args = ["stress", "--config", cfg, "--portfolio", str(book), "--scenarios", "0"]
    code, out = cli_json(capsys, *args)
    assert code == 0 and out["skipped_windows"] == ["crash-1987"]
    rows = {r["scenario"]: r for r in out["scenarios"]}
    assert rows["rally"]["loss"] == pytest.approx(-0.2, abs=1e-12)  # every asset +20%
    assert main(args) == 0
    text = capsys.readouterr().out
    (rally,) = [line for line in text.splitlines() if line.strip().startswith("rally")]
    assert "gain  20.00%" in rally and "loss" not in rally and "limit 25.00%" in rally
    (covid,) = [line for line in text.splitlines() if line.strip().startswith("covid-2020")]
    assert "loss" in covid and "limit 42.00%" in covid
    assert "not in the data: crash-1987" in text
