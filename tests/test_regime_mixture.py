"""The regime ensemble combined by the regime probabilities (issue 26 item 6): its parts.

- The weight ``mkt_p_turbulent`` is point in time: its value at ``t`` does not change when
  data after ``t`` is appended, whatever is appended (tasks/model/regimes.py
  ``regime_probability``).
- On a planted market whose signal has opposite signs in the two regimes, the
  probability-combined ensemble's holdout rank IC exceeds a single booster's by the planted
  margin (derived below).
- Its SHAP values sum to its prediction minus its base value (additivity), and the MLflow
  pyfunc that carries the boosters predicts what they predict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.ground.errors import GateHalt
from tasks.model.mixture import WEIGHT, RegimeEnsemble, artifacts, python_model
from tasks.model.regime_ensemble import fit_regime_ensemble
from tasks.model.regimes import regime_probability

#: The planted market: a two-state market (persistence 0.98; daily market volatility
#: 0.8 % calm, 2.5 % turbulent), N assets, T days, a cross-sectional signal x of rank IC
#: +RHO in calm days and -RHO in turbulent days.
N, T, TRAIN, RHO = 60, 1500, 1000, 0.3
SEED = 7
PARAMS = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 8,
          "min_data_in_leaf": 50, "verbose": -1, "seed": 0, "deterministic": True,
          "num_threads": 1}  # fmt: skip
ROUNDS = 60


def _market(seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    state = np.zeros(T, int)
    for t in range(1, T):
        state[t] = state[t - 1] if rng.random() < 0.98 else 1 - state[t - 1]
    market = rng.normal(0.0, np.where(state == 1, 0.025, 0.008))
    rets = market[:, None] + rng.normal(0.0, 0.01, (T, N))
    dates = pd.bdate_range("2015-01-01", periods=T)
    close = pd.DataFrame(100 * np.cumprod(1 + rets, axis=0), index=dates,
                         columns=[f"A{i:02d}" for i in range(N)])  # fmt: skip
    return close, state


@pytest.fixture(scope="module")
def planted():
    close, state = _market()
    p = regime_probability(close)
    rng = np.random.default_rng(SEED + 1)
    x = rng.normal(size=(T, N))
    b = RHO / np.sqrt(1 - RHO**2)  # corr(b x + e, x) = RHO for unit-variance e
    sign = np.where(state == 1, -1.0, 1.0)[:, None]
    y = sign * b * x + rng.normal(size=(T, N))
    long = pd.DataFrame({
        "date": np.repeat(close.index, N), "asset": np.tile(close.columns, T),
        "x": x.ravel(), "y": y.ravel(), WEIGHT: p.to_numpy().ravel(),
        "state": np.repeat(state, N),
    }).dropna(subset=[WEIGHT])  # fmt: skip
    cut = close.index[TRAIN]
    return close, p, long[long["date"] < cut], long[long["date"] >= cut]


def _mean_ic(frame: pd.DataFrame, pred: np.ndarray) -> tuple[float, float]:
    """Mean daily Spearman IC of ``pred`` with ``y`` and its standard error."""
    f = frame.assign(pred=pred)
    ic = f.groupby("date").apply(lambda d: d["pred"].corr(d["y"], method="spearman"))
    return float(ic.mean()), float(ic.std(ddof=1) / np.sqrt(len(ic)))


# -- point in time ---------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [400, 700, 701, 1100])
def test_p_t_does_not_change_when_data_after_t_is_appended(planted, cut):
    close, full, *_ = planted
    alone = regime_probability(close.iloc[:cut])
    pd.testing.assert_frame_equal(alone, full.iloc[:cut])
    # whatever comes after t: a crash appended instead of the real continuation
    crash = close.iloc[cut:].mul(np.linspace(1.0, 0.2, T - cut), axis=0)
    other = regime_probability(pd.concat([close.iloc[:cut], crash]))
    pd.testing.assert_frame_equal(other.iloc[:cut], full.iloc[:cut])
    assert full.iloc[:cut, 0].notna().sum() > 0


def test_the_probability_tracks_the_planted_regime(planted):
    _, p, *_ = planted
    _, state = _market()
    known = p.iloc[:, 0].notna().to_numpy()
    agree = ((p.iloc[:, 0].to_numpy()[known] > 0.5) == (state[known] == 1)).mean()
    assert agree > 0.75


# -- the planted market ----------------------------------------------------------------------


def test_the_probability_combined_ensemble_beats_a_single_booster(planted):
    """Derivation of the margin. On a day where the weight is on the right side of 1/2 the
    ensemble ranks by ``+-x`` with the day's sign: its IC is ``+RHO``; on a day where it is
    on the wrong side, ``-RHO``. A single booster on ``x`` learns the training period's net
    slope, of the sign of its majority regime: its IC is ``+RHO`` on the holdout's days of
    that regime and ``-RHO`` on the others. With ``eps`` the holdout share of days the
    weight misclassifies and ``pi_c, pi_t`` the holdout shares of calm and turbulent days,
    the planted gap is ``G = RHO * (1 - 2 eps - |pi_c - pi_t|)``. The boosters fit ``x``'s
    linear effect imperfectly (a fraction of RHO is lost by each alike; allowance a quarter
    of G) and each mean IC has a sampling error ``se`` (day-to-day sd over sqrt(days)):
    the test asserts ``gap >= 0.75 G - 4 sqrt(se_e^2 + se_s^2)``, and that the gap is
    significant at 4 standard errors."""
    _, _, train, hold = planted
    ens = fit_regime_ensemble(train, train["y"], ["x"], PARAMS, ROUNDS)
    import lightgbm as lgb

    single = lgb.train(PARAMS, lgb.Dataset(train[["x"]].to_numpy(), train["y"].to_numpy()),
                       num_boost_round=ROUNDS)  # fmt: skip
    ic_e, se_e = _mean_ic(hold, ens.predict(hold))
    ic_s, se_s = _mean_ic(hold, single.predict(hold[["x"]].to_numpy()))
    days = hold.drop_duplicates("date")
    eps = float(((days[WEIGHT] > 0.5) != (days["state"] == 1)).mean())
    pi_t = float((days["state"] == 1).mean())
    planted_gap = RHO * (1 - 2 * eps - abs(1 - 2 * pi_t))
    se = np.hypot(se_e, se_s)
    assert planted_gap > 0.1, (eps, pi_t)  # the setting plants a gap worth testing
    assert ic_e - ic_s >= 0.75 * planted_gap - 4 * se, (ic_e, ic_s, planted_gap, se)
    assert ic_e - ic_s > 4 * se


# -- SHAP and the MLflow model ---------------------------------------------------------------


def test_shap_values_sum_to_the_prediction_minus_the_base_value(planted):
    _, _, train, hold = planted
    rng = np.random.default_rng(3)
    train = train.assign(z=rng.normal(size=len(train)))
    hold = hold.assign(z=rng.normal(size=len(hold)))
    ens = fit_regime_ensemble(train, train["y"], ["x", "z"], PARAMS, ROUNDS)
    phi, base = ens.shap(hold)
    pred = ens.predict(hold)
    np.testing.assert_allclose(phi.sum(axis=1).to_numpy() + base, pred, rtol=0, atol=1e-9)
    # the base is the probability-weighted mixture of the boosters' own base values
    p = hold[WEIGHT].to_numpy()
    b = [bo.predict(hold[["x", "z"]].to_numpy(), pred_contrib=True)[0, -1] for bo in ens.boosters]
    np.testing.assert_allclose(base, (1 - p) * b[0] + p * b[1], atol=1e-12)


def test_the_mlflow_model_carries_the_boosters(planted, tmp_path):
    import mlflow

    _, _, train, hold = planted
    ens = fit_regime_ensemble(train, train["y"], ["x"], PARAMS, ROUNDS)
    paths = ens.save(tmp_path / "boosters")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=python_model(ens),
            artifacts=artifacts(paths), pip_requirements=["lightgbm"],
        )  # fmt: skip
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    rows = hold[["x", WEIGHT]].iloc[:500]
    np.testing.assert_array_equal(np.asarray(loaded.predict(rows)), ens.predict(rows))
    with pytest.raises(GateHalt, match=WEIGHT):  # no weight, no prediction: a halt
        RegimeEnsemble.load(paths, ["x"]).predict(rows.assign(**{WEIGHT: np.nan}))


def test_the_weight_is_a_market_state_feature_not_normalised_nor_a_default():
    """Through the feature pipeline: one value per date in [0, 1], as regime_probability
    computes it (never normalised), point in time, never a default feature."""
    from dataclasses import replace

    from tasks.model.features import FEATURES, FeaturesConfig, compute_features
    from tests.helpers_train import panel_from_long
    from tests.test_regime_ensemble import reversal_in_volatile_markets

    panel = panel_from_long(reversal_in_volatile_markets(n_assets=10, n_days=600))
    cfg = FeaturesConfig(names=(WEIGHT,))
    full = compute_features(panel, cfg).dropna()
    assert full[WEIGHT].between(0, 1).all() and len(full) > 0
    assert (full.groupby("date")[WEIGHT].nunique() == 1).all()
    direct = regime_probability(panel.close).stack().rename("direct").reset_index()
    direct.columns = ["date", "asset", "direct"]
    both = full.merge(direct, on=["date", "asset"])
    np.testing.assert_array_equal(both[WEIGHT].to_numpy(), both["direct"].to_numpy())
    head = compute_features(replace(panel, close=panel.close.iloc[:450]), cfg).dropna()
    merged = head.merge(full, on=["date", "asset"], suffixes=("_cut", "_full"))
    assert len(merged) == len(head) > 0
    assert (merged[f"{WEIGHT}_cut"] == merged[f"{WEIGHT}_full"]).all()
    assert WEIGHT not in {f.name for f in FEATURES}
