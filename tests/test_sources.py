"""Feature sources with data contracts (issue 26, items 1-4): contract, types, gate, lineage.

Every rule of a source's gate is broken alone, and ends in one line naming the source, the
column and the rule: exit 2 for what the user wrote wrong (a contract, a value of the wrong
type), exit 3 for what the data gate halts on.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from governance.ground.errors import Exit, GateHalt, InputError
from tasks.data.sources.gate import check_source, enforce_sources
from tasks.data.sources.source import (
    SourceConfig,
    dataset_fingerprint,
    load_source,
    source_features,
)
from tests.helpers_sources import write_contract, write_source

ASSETS = [f"A{i:02d}" for i in range(10)]
PERIODS = pd.bdate_range("2022-01-03", periods=60)
AS_OF = dt.date(2022, 4, 15)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    grid = pd.MultiIndex.from_product([PERIODS, ASSETS], names=["period", "asset"]).to_frame(
        index=False
    )
    grid["available_at"] = grid["period"] + pd.Timedelta(days=3)
    grid["score"] = rng.standard_normal(len(grid)).round(4)
    return grid[["asset", "period", "available_at", "score"]]


def _source(tmp_path, frame=None, cfg: dict | None = None, **contract):
    write_contract(tmp_path / "sentiment.odcs.yaml", **contract)
    write_source(tmp_path / "sentiment.csv", _frame() if frame is None else frame)
    conf = SourceConfig(
        name="sentiment", path="sentiment.csv", contract="sentiment.odcs.yaml", **(cfg or {})
    )
    return load_source(conf, tmp_path)


def _gate(table):
    return check_source(table, ASSETS, AS_OF)


def test_a_clean_source_passes_and_names_its_owner_and_version(tmp_path):
    table = _source(tmp_path, staleness_days=30, coverage=0.9)
    result = _gate(table)
    assert result.ok and result.critical_failures == () and result.warnings == ()
    assert (result.owner, result.contract_version) == ("olga", "1.0.0")
    assert table.lineage()["contract_sha256"] == table.contract.sha256
    enforce_sources([result])  # no halt


def _only_failure(tmp_path, rule: str, column: str, frame=None, **contract):
    result = _gate(_source(tmp_path, frame, **contract))
    assert not result.ok
    (line,) = result.critical_failures
    assert line.startswith(f"source sentiment: column {column}: rule {rule}"), line
    with pytest.raises(GateHalt) as info:
        enforce_sources([result])
    assert info.value.exit_code == Exit.HALTED == 3
    return line


def test_schema_rule(tmp_path):
    frame = _frame().assign(extra=1.0)  # an undeclared column: the vendor changed the schema
    line = _only_failure(tmp_path, "schema", "*", frame)
    assert "undeclared ['extra']" in line


def test_duplicate_keys_rule(tmp_path):
    frame = _frame()
    frame = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)
    _only_failure(tmp_path, "duplicate_keys", "asset,period,available_at", frame)


def test_range_rule(tmp_path):
    frame = _frame()
    frame.loc[7, "score"] = 55.0
    assert "1 of 600 rows" in _only_failure(tmp_path, "range", "score", frame)


def test_null_share_rule(tmp_path):
    frame = _frame()
    frame.loc[frame.index[:60], "score"] = np.nan  # 10 % missing, the contract allows 5 %
    _only_failure(tmp_path, "null_share", "score", frame)


def test_staleness_rule(tmp_path):
    # newest available_at 2022-03-31 + 3 days; as-of 2022-04-15 with at most 7 days allowed
    _only_failure(tmp_path, "staleness", "available_at", staleness_days=7)


def test_coverage_rule(tmp_path):
    frame = _frame()
    frame = frame[~frame["asset"].isin(ASSETS[:3])]  # 70 % of the universe
    _only_failure(tmp_path, "coverage", "asset", frame, coverage=0.9)


def test_a_rule_may_be_lowered_to_a_warning(tmp_path):
    frame = _frame()
    frame.loc[7, "score"] = 55.0
    result = _gate(_source(tmp_path, frame, cfg={"severities": {"range": "warning"}}))
    assert result.ok and result.warnings[0].startswith("source sentiment: column score: rule range")


def test_a_value_of_the_wrong_type_is_exit_2_naming_line_and_column(tmp_path):
    frame = _frame().astype({"score": object})
    frame.loc[4, "score"] = "n/a!"
    with pytest.raises(InputError) as info:
        _source(tmp_path, frame)
    msg = str(info.value)
    assert info.value.exit_code == 2 and "\n" not in msg
    assert "source sentiment:" in msg and "line 6: column score: rule type" in msg


@pytest.mark.parametrize(
    ("contract", "needle"),
    [
        ({"owner": None}, "team: Value error, needs exactly one member with role owner"),
        ({"available_at": False}, "available_at: the contract declares no available_at"),
    ],
)
def test_a_contract_without_owner_or_timing_is_exit_2(tmp_path, contract, needle):
    with pytest.raises(InputError, match=needle) as info:
        _source(tmp_path, **contract)
    assert info.value.exit_code == 2


def test_a_declared_publication_lag_stands_in_for_available_at(tmp_path):
    frame = _frame().drop(columns="available_at")
    table = _source(tmp_path, frame, cfg={"publication_lag_days": 30}, available_at=False)
    lag = (table.rows["available_at"] - table.rows["period"]).dt.days
    assert set(lag) == {30}


def test_the_dataset_fingerprint_covers_each_source_and_its_contract_version(tmp_path):
    a = _source(tmp_path)
    b = _source(tmp_path, version="1.1.0")  # same data, a new contract version
    market = "m" * 64
    assert dataset_fingerprint(market, []) == market
    assert dataset_fingerprint(market, [a]) != dataset_fingerprint(market, [b])
    assert a.fingerprint == b.fingerprint  # the table's own hash did not change


def test_source_features_are_joined_as_of(tmp_path):
    table = _source(tmp_path)
    dates = pd.bdate_range("2022-01-03", periods=10)
    asof = source_features(table, dates, ASSETS)["sentiment_score"]
    leak = source_features(table, dates, ASSETS, join_on="period")["sentiment_score"]
    # published 3 days after the period: nothing on the first three days, then the value
    # of the period three calendar days earlier; the period-date join uses it at once
    assert asof.loc["2022-01-03":"2022-01-05"].isna().all().all()
    frame = table.rows.set_index(["period", "asset"])["score"]
    assert asof.at[pd.Timestamp("2022-01-06"), "A01"] == frame[(pd.Timestamp("2022-01-03"), "A01")]
    assert leak.at[pd.Timestamp("2022-01-03"), "A01"] == frame[(pd.Timestamp("2022-01-03"), "A01")]
