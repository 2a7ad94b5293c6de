"""Operating boundaries (issue 24 item 6): the domain of the holdout, and live inputs held to it.

A synthetic market (60 assets, 1,300 days, sectors) goes through the production feature and
frame builders; its days 700-999 stand for the sealed holdout, whose domain
``operating_domain`` records. Later days of the same market are the live inputs: inside, on
every monthly date of a stable year (the false-alarm rate of each bound is 0.1 %,
validation/boundaries.py: twelve dates x four families x 0.001 = 5 % for the whole loop, so
a stable year passing is what the bound predicts on a fixed seed). Each family is then
pushed outside by the attack it names: a shifted column, a volatile market, a shrunken
universe, a missing column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.ground.refs import ModelRef
from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market
from tasks.model.dataset import build_frame, feature_columns
from tasks.model.features import FeaturesConfig, compute_features
from tests.helpers_forge import forge
from validation.boundaries import check_boundaries, operating_domain, outside_domain
from validation.monitoring_checks import Status

Z = 3.09
CFG = FeaturesConfig(normalise="robust_z")  # rank-normalised inputs cannot leave [-0.5, 0.5]


@pytest.fixture(scope="module")
def market():
    long = generate_market(SyntheticSpec(n_assets=60, n_days=1300, ic=0.05, seed=11, n_sectors=5))
    panel = to_panel(long)
    frame = build_frame(panel, CFG)
    dates = panel.close.index
    holdout = frame.loc[frame["date"].between(dates[700], dates[999])]
    names = feature_columns(frame)
    return panel, compute_features(panel, CFG), operating_domain(holdout, names), names


def _day(features: pd.DataFrame, date) -> pd.DataFrame:
    return features.loc[features["date"] == date]


def test_the_domain_records_quantiles_regime_universe_and_columns(market):
    _panel, _features, domain, names = market
    assert set(domain["features"]) == set(names)
    for q in domain["features"].values():
        assert q["min"] <= q["q01"] <= q["median"] <= q["q99"] <= q["max"]
    vol = domain["volatility"]
    assert vol["window"] == 63 and 0 < vol["min"] <= vol["max"] < 1
    assert domain["universe"] == {"min": 60, "max": 60}
    assert domain["columns"] == sorted([*names, "sector"])


def test_a_stable_year_stays_inside(market):
    panel, features, domain, _names = market
    for d in range(1030, 1290, 21):
        date = panel.close.index[d]
        live = _day(features, date)
        assert outside_domain(domain, live, panel.close.loc[:date], sectors=True, z=Z) == [], d


def test_a_feature_column_shifted_beyond_its_range_is_outside(market):
    panel, features, domain, names = market
    date = panel.close.index[1200]
    live = _day(features, date).copy()
    name = names[0]
    q = domain["features"][name]
    live[name] = live[name] + (q["max"] - q["min"])  # the column moved by its whole range
    (out,) = outside_domain(domain, live, panel.close.loc[:date], sectors=True, z=Z)
    assert out.about == f"feature:{name}" and out.value > 0.9 > out.threshold


def test_a_volatile_market_a_small_universe_and_a_missing_column_are_outside(market):
    panel, features, domain, names = market
    date = panel.close.index[1200]
    live = _day(features, date)
    close = panel.close.loc[:date]
    # four times the daily moves over the last quarter: the regime is outside
    r = close.pct_change(fill_method=None).fillna(0.0)
    r.iloc[-63:] *= 4.0
    wild = close.iloc[0] * (1 + r).cumprod()
    (out,) = outside_domain(domain, live, wild, sectors=True, z=Z)
    assert out.about == "volatility" and out.value > out.threshold
    half = live.iloc[: len(live) // 2]
    assert [o.about for o in outside_domain(domain, half, close, sectors=True, z=Z)] == ["universe"]
    assert [o.about for o in outside_domain(domain, live, close, sectors=False, z=Z)] == ["columns"]
    no_input = live.assign(**{names[1]: np.nan})
    assert "columns" in [
        o.about for o in outside_domain(domain, no_input, close, sectors=True, z=Z)
    ]


def test_the_monitor_warns_with_each_input_named(market):
    panel, features, domain, names = market
    date = panel.close.index[1200]
    shifted = features.assign(**{names[0]: features[names[0]] + 10.0})
    c = check_boundaries(domain, shifted, panel.close, date, sectors=True, z=Z)
    assert c.status is Status.WARNING
    assert [o["about"] for o in c.data["outside"]] == [f"feature:{names[0]}"]
    ok = check_boundaries(domain, features, panel.close, date, sectors=True, z=Z)
    assert ok.status is Status.OK
    assert check_boundaries(None, features, panel.close, date, sectors=True, z=Z).status is (
        Status.NOT_EVALUATED
    )


def test_a_forged_wider_domain_is_not_the_one_held(workspace, monkeypatch, market):
    """The attack: after vera's signed validation, a developer with the ledger appends an
    unsigned ``validation.completed`` whose report holds a domain wide enough for anything.
    The rebalance reads the domain of the latest *valid* signed validation only, by the
    report hash vera signed (``latest_validation`` + ``validated_domain``)."""
    from governance.decisions.promotion import latest_validation
    from governance.ground.vocabulary import Action, Subject
    from governance.identity.signing import append_signed
    from governance.log.ledger import Ledger
    from tests.helpers_identity import enrol_cast, signer
    from validation.records import validated_domain

    _panel, _features, domain, names = market
    enrol_cast(workspace, monkeypatch=monkeypatch)
    wide = {**domain, "features": {n: {**domain["features"][n], "q01": -1e9, "q99": 1e9,
                                       "worst": 1.0} for n in names}}  # fmt: skip
    subject = Subject.model("m", 1)
    with Ledger.open(workspace) as ledger:
        signed = append_signed(
            ledger, signer(workspace, "vera", ledger), Action.VALIDATION_COMPLETED,
            subject=subject,
            payload={"model_name": "m", "model_version": 1, "verdict": "pass", "findings": [],
                     "validator": "vera", "developer": "dana"},
            artifacts={"report.json": ledger.store.put_json({"domain": domain})},
        )  # fmt: skip
        forge(
            ledger, Action.VALIDATION_COMPLETED, actor="vera", role="validator", subject=subject,
            payload={"model_name": "m", "model_version": 1, "verdict": "pass", "findings": [],
                     "validator": "vera", "artifacts": {
                         "report.json": ledger.store.put_json({"domain": wide})}},
        )  # fmt: skip
        found = latest_validation(ledger, ModelRef.parse("m", 1))
        assert found.seq == signed.seq
        assert validated_domain(ledger.store, found.report_hash) == domain
