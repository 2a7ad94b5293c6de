"""Market data: file formats, the demo data, the config-driven loader, panel and fingerprint."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.ground.configio import validate_model
from governance.ground.errors import InputError
from tasks.data.market import (
    DataConfig,
    DataSource,
    SyntheticConfig,
    fingerprint_long,
    load_demo,
    load_long,
    load_sectors,
    read_market_file,
    to_panel,
)
from tasks.data.synthetic import SyntheticSpec, generate_market

AS_OF = dt.date(2024, 6, 28)  # a Friday


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_market(SyntheticSpec(n_assets=6, n_days=40, seed=11))


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return load_demo()


def test_csv_round_trip_types_and_line_index(small, tmp_path):
    path = tmp_path / "m.csv"
    small.to_csv(path, index=False)
    long = read_market_file(path)
    assert long.index.name == "line"
    assert long.index[0] == 2 and long.index[-1] == len(small) + 1
    assert long["date"].dtype == "datetime64[ns]"
    assert pd.api.types.is_string_dtype(long["asset"])
    assert long["close"].dtype == "float64"
    assert long.attrs["source"] == str(path)
    assert fingerprint_long(long) == fingerprint_long(small)


def test_parquet_reads_like_csv(small, tmp_path):
    small.to_parquet(tmp_path / "m.parquet")
    small.to_csv(tmp_path / "m.csv", index=False)
    pq = read_market_file(tmp_path / "m.parquet")
    assert pq.index.name == "row"
    assert fingerprint_long(pq) == fingerprint_long(read_market_file(tmp_path / "m.csv"))


def test_fingerprint_ignores_order_index_and_extra_columns(small):
    fp = fingerprint_long(small)
    shuffled = small.sample(frac=1.0, random_state=0).assign(note="x")
    shuffled.index = np.arange(len(shuffled))[::-1]
    assert fingerprint_long(shuffled) == fp


def test_fingerprint_changes_with_any_value(small):
    fp = fingerprint_long(small)
    changed = small.copy()
    changed.loc[7, "close"] = changed.loc[7, "close"] * (1 + 1e-12)
    assert fingerprint_long(changed) != fp
    assert fingerprint_long(small.drop(columns="volume")) != fp
    assert fingerprint_long(small.iloc[:-1]) != fp


def test_to_panel_is_sorted_and_complete(small):
    panel = to_panel(small.sample(frac=1.0, random_state=1), source="test")
    assert panel.close.shape == (40, 6)
    assert panel.close.index.is_monotonic_increasing and panel.close.index.is_unique
    assert list(panel.close.columns) == sorted(panel.close.columns)
    assert panel.volume is not None and panel.volume.shape == panel.close.shape
    assert panel.sectors.to_dict()["A0001"] == "S01"
    assert panel.fingerprint == fingerprint_long(small)
    wide = small.pivot(index="date", columns="asset", values="close")
    np.testing.assert_array_equal(panel.close.to_numpy(), wide.to_numpy())


def test_to_panel_refuses_duplicates(small):
    with pytest.raises(InputError, match="duplicate"):
        to_panel(pd.concat([small, small.iloc[:1]]), source="dup")


def test_demo_is_real_sp500_with_every_sector(demo):
    assert demo.attrs["source"] == "demo:skfolio-sp500"
    assert demo["asset"].nunique() == 20
    assert demo["date"].min().year == 1990 and demo["date"].max().year == 2022
    assert demo["sector"].notna().all()
    assert set(load_sectors()) >= {"Energy", "Health Care", "Financials"}
    assert load_sectors()["XOM"] == "Energy"
    panel = to_panel(demo)
    assert panel.close.shape[1] == 20 and panel.volume is None
    assert (panel.close > 0).all().all()


def test_load_long_dispatches_and_filters(tmp_path, small):
    small.to_csv(tmp_path / "m.csv", index=False)
    cfg = DataConfig(source="file", path="m.csv", start="2010-01-11", end="2010-01-22")
    long = load_long(cfg, tmp_path)
    assert long["date"].min() == pd.Timestamp("2010-01-11")
    assert long["date"].max() == pd.Timestamp("2010-01-22")
    assert long.attrs["source"].endswith("m.csv")
    # --data overrides the configured source
    over = load_long(DataConfig(source="demo"), "/nonexistent", path=tmp_path / "m.csv")
    assert len(over) == len(small)


def test_synthetic_source_ends_on_as_of():
    cfg = DataConfig(
        source=DataSource.SYNTHETIC,
        as_of=dt.date(2024, 6, 30),  # a Sunday: the calendar ends on Friday
        synthetic=SyntheticConfig(n_assets=4, n_days=30, seed=2),
    )
    long = load_long(cfg, ".")
    assert long["date"].max() == pd.Timestamp(AS_OF)
    assert long["date"].nunique() == 30
    assert long.attrs["source"].startswith("synthetic:seed=2")
    again = load_long(cfg, ".")
    assert fingerprint_long(again) == fingerprint_long(long)


def test_data_config_validation():
    with pytest.raises(InputError, match=r"data\.yaml: <root>: .*needs a path"):
        validate_model(DataConfig, {"source": "file"}, "data.yaml")
    with pytest.raises(InputError, match="source"):
        validate_model(DataConfig, {"source": "ftp"}, "data.yaml")
    with pytest.raises(InputError, match="unknown key"):
        validate_model(DataConfig, {"sauce": "demo"}, "data.yaml")
    cfg = validate_model(DataConfig, {"as_of": "2022-12-28"}, "data.yaml")
    assert cfg.as_of_date() == dt.date(2022, 12, 28)
    assert DataConfig().as_of_date() == dt.datetime.now(dt.UTC).date()


def test_parse_errors_name_file_line_and_column(tmp_path):
    bad_date = tmp_path / "d.csv"
    bad_date.write_text("date,asset,close\n2024-01-02,A,1.0\n02/01/2024,A,1.1\n")
    with pytest.raises(InputError, match=r"d.csv: line 3: date: '02/01/2024'"):
        read_market_file(bad_date)
    bad_volume = tmp_path / "v.csv"
    bad_volume.write_text("date,asset,close,volume\n2024-01-02,A,1.0,many\n")
    with pytest.raises(InputError, match=r"v.csv: line 2: volume: 'many' is not a number"):
        read_market_file(bad_volume)
    ragged = tmp_path / "r.csv"
    ragged.write_text("date,asset,close\n2024-01-02,A,1.0\n2024-01-03,A,1.0,9,9\n")
    with pytest.raises(InputError, match=r"r\.csv: cannot parse CSV"):
        read_market_file(ragged)


def test_timezone_aware_dates_become_naive_utc(tmp_path):
    path = tmp_path / "tz.csv"
    path.write_text("date,asset,close\n2024-01-02T00:00:00+00:00,A,1.0\n")
    long = read_market_file(path)
    assert long["date"].iloc[0] == pd.Timestamp("2024-01-02")
    assert long["date"].dt.tz is None


def test_blank_cells_stay_missing_for_the_gate(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("date,asset,close,sector\n2024-01-02,A,,\n2024-01-02,B,2.0,Energy\n")
    long = read_market_file(path)
    assert np.isnan(long.loc[2, "close"])
    assert pd.isna(long.loc[2, "sector"])
    assert long.loc[3, "sector"] == "Energy"


@settings(max_examples=40, deadline=None)
@given(
    perm_seed=st.integers(0, 2**32 - 1),
    n_extra=st.integers(0, 3),
    drop=st.sets(st.integers(0, 239), max_size=5),
)
def test_fingerprint_and_panel_are_row_order_invariant(perm_seed, n_extra, drop):
    base = generate_market(SyntheticSpec(n_assets=6, n_days=40, seed=11)).drop(index=list(drop))
    rng = np.random.default_rng(perm_seed)
    shuffled = base.iloc[rng.permutation(len(base))]
    shuffled = shuffled.assign(**{f"extra{i}": rng.random(len(base)) for i in range(n_extra)})
    assert fingerprint_long(shuffled) == fingerprint_long(base)
    a, b = to_panel(base, source="a"), to_panel(shuffled, source="b")
    pd.testing.assert_frame_equal(a.close, b.close)
    assert a.fingerprint == b.fingerprint
    # a missing row is a NaN cell, not a shifted one
    assert int(a.close.isna().sum().sum()) == len(drop)
