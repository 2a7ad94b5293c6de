"""The data-quality gate: real Great Expectations runs on small frames and on the demo data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from governance.ground.canonical import canonical_json
from governance.ground.configio import validate_model
from governance.ground.errors import GateHalt, InputError
from governance.ground.vocabulary import Action
from tasks.data.market import SyntheticConfig, fingerprint_long, load_demo, load_synthetic
from tasks.data.quality.gate import (
    QualityConfig,
    Severity,
    error_result,
    evaluate_quality,
    per_asset_frame,
    record_quality,
    render_quality_html,
    run_quality_gate,
)

AS_OF = dt.date(2024, 6, 28)
DEFAULT = QualityConfig()


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    """8 assets x 300 business days ending on AS_OF; clean."""
    return load_synthetic(SyntheticConfig(n_assets=8, n_days=300, seed=5).to_spec(AS_OF))


@pytest.fixture(scope="module")
def clean(base):
    return run_quality_gate(base, DEFAULT, AS_OF)


def _names(failures) -> set[str]:
    return {f.expectation for f in failures}


def test_clean_synthetic_passes(clean, base):
    assert clean.ok and not clean.critical_failures and not clean.warnings
    assert clean.fingerprint == fingerprint_long(base)
    assert clean.stats["rows"] == 2400 and clean.stats["assets"] == 8
    assert set(clean.results) == {"rows", "dates", "assets"}
    assert all(c.success for c in clean.checks)
    assert len(clean.checks) == 17
    canonical_json(clean.to_json())  # the stored artifact is valid canonical JSON


def test_demo_passes_with_honest_warnings():
    result = run_quality_gate(load_demo(), DEFAULT, dt.date(2022, 12, 28))
    assert result.ok
    assert _names(result.warnings) == {"return_warning"}
    (warning,) = result.warnings
    assert warning.message.startswith("return_warning: 8 of 166260 rows")
    assert "asset=RRC" in warning.message


def test_bad_rows_are_named(base):
    bad = base.copy()
    bad.loc[18, "close"] = -3.2
    bad.loc[25, "close"] = np.nan
    bad = pd.concat([bad, bad.loc[[40, 41]]])
    result = run_quality_gate(bad, DEFAULT, AS_OF)
    assert not result.ok
    by_name = {f.expectation: f for f in result.critical_failures}
    assert set(by_name) >= {"close_positive", "not_null.close", "unique_date_asset"}
    row18 = base.loc[18]
    expected = f"row 18: date={row18['date'].date()} asset={row18['asset']} close=-3.2"
    assert expected in by_name["close_positive"].message
    assert "row 25:" in by_name["not_null.close"].message
    assert len(by_name["unique_date_asset"].examples) == 3  # max_examples


def test_return_bounds_warning_and_critical(base):
    jump = base.copy()
    a0 = jump["asset"] == "A0003"
    late = jump["date"] >= jump["date"].iloc[1600]
    jump.loc[a0 & late, "close"] *= 11.0  # a 1000 % one-day jump
    result = run_quality_gate(jump, DEFAULT, AS_OF)
    assert _names(result.critical_failures) == {"return_critical"}
    assert _names(result.warnings) == {"return_warning"}
    assert "log_return=2.39" in result.critical_failures[0].message
    lenient = DEFAULT.model_copy(
        update={
            "return_critical": DEFAULT.return_critical.model_copy(update={"severity": "warning"})
        }
    )
    assert run_quality_gate(jump, lenient, AS_OF).ok


def test_aggregate_checks(base):
    gappy = base.drop(base.index[(base["asset"] == "A0002").to_numpy()][10:80])
    result = run_quality_gate(gappy, DEFAULT, AS_OF)
    assert _names(result.critical_failures) == {"missing_share"}
    assert "asset=A0002" in result.critical_failures[0].message
    assert per_asset_frame(gappy).loc["A0002", "missing_share"] == pytest.approx(70 / 300)

    few = base[base["asset"].isin(["A0000", "A0001"])]
    assert "assets_per_date" in _names(run_quality_gate(few, DEFAULT, AS_OF).critical_failures)

    short = base[base["date"] >= base["date"].iloc[-8 * 100]]
    result = run_quality_gate(short, DEFAULT, AS_OF)
    assert result.ok and _names(result.warnings) == {"history_per_asset_warning"}


def test_dates_against_as_of(base):
    stale = run_quality_gate(base, DEFAULT, AS_OF + dt.timedelta(days=30))
    assert _names(stale.critical_failures) == {"staleness"}
    assert "last date 2024-06-28" in stale.critical_failures[0].message
    early = run_quality_gate(base, DEFAULT, AS_OF - dt.timedelta(days=3))
    assert _names(early.critical_failures) == {"no_future_dates"}


def test_missing_column_and_uncomparable_types_fail_closed(base):
    result = run_quality_gate(base.drop(columns="close"), DEFAULT, AS_OF)
    assert _names(result.critical_failures) == {"required_columns"}
    mixed = base.assign(close=base["close"].astype(object))
    mixed.loc[3, "close"] = "n/a"
    result = run_quality_gate(mixed, DEFAULT, AS_OF)
    assert not result.ok
    assert "column_type.close" in _names(result.critical_failures)


def test_error_result_is_a_critical_halt(base):
    result = error_result(base, AS_OF, RuntimeError("boom"))
    assert not result.ok
    assert result.critical_failures[0].message.endswith("(RuntimeError: boom)")


def test_quality_config_from_yaml_mapping():
    cfg = validate_model(
        QualityConfig,
        {"close_positive": {"severity": "warning"}, "staleness": {"max_business_days": 2}},
        "q.yaml",
    )
    assert cfg.close_positive.severity is Severity.WARNING
    assert cfg.staleness.max_business_days == 2
    with pytest.raises(InputError, match=r"q\.yaml: staleness\.max_days: unknown key"):
        validate_model(QualityConfig, {"staleness": {"max_days": 2}}, "q.yaml")
    with pytest.raises(InputError, match=r"q\.yaml: close_positive\.severity"):
        validate_model(QualityConfig, {"close_positive": {"severity": "fatal"}}, "q.yaml")


def test_html_is_self_contained(base):
    bad = base.copy()
    bad.loc[5, "asset"] = "<script>alert(1)</script>"
    bad.loc[5, "close"] = 0.0
    result = run_quality_gate(bad, DEFAULT, AS_OF)
    page = render_quality_html(result)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "HALT" in page and "close_positive" in page
    assert "<script" not in page and "&lt;script&gt;" in page
    for external in ("http://", "https://", "<link", "src="):
        assert external not in page


def test_record_quality_pass_and_halt(workspace, base, clean):
    from governance.decisions.context import RunContext
    from governance.decisions.gates import PAYLOAD_FIELDS

    ctx = RunContext.open(workspace, actor="tester")
    try:
        entry = record_quality(ctx, clean, base)
        assert entry.action == Action.GATE_DATA_QUALITY
        assert entry.payload["decision"] == "pass"
        assert entry.payload["evidence"]["fingerprint"] == clean.fingerprint
        assert set(entry.payload) == {*PAYLOAD_FIELDS, "flow_run_id", "run_key", "artifacts"}
        assert ctx.store.read_json(entry.artifacts["quality_report"])["ok"] is True
        html = ctx.store.read_bytes(entry.artifacts["quality_html"]).decode()
        assert "PASS" in html

        bad = base.copy()
        bad.loc[9, "close"] = -1.0
        halted = evaluate_quality(bad, DEFAULT, AS_OF)
        with pytest.raises(GateHalt) as info:
            record_quality(ctx, halted, bad)
        assert info.value.gate == "data_quality"
        assert len(info.value.reasons) == 1 and "row 9:" in info.value.reasons[0]
        last = ctx.ledger.last(Action.GATE_DATA_QUALITY)
        assert last.payload["decision"] == "halt"
        assert last.payload["reasons"] == info.value.reasons
        actions = [e.action for e in ctx.ledger.entries()]
        assert actions == [Action.DATA_INGESTED, Action.GATE_DATA_QUALITY] * 2
        assert ctx.ledger.verify().ok
    finally:
        ctx.close()
