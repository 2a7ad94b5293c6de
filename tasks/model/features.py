"""Point-in-time features: each declared once, computed from data up to each date only.

Every feature is a :class:`FeatureSpec` in :data:`FEATURES`: a name, a description, the
sign its economic rationale predicts for its relation to future returns (read by the model
card and the validator's sign checks), and a function ``panel -> dates × assets`` that uses
only backward-looking operations (``shift(k >= 0)``, trailing ``rolling`` windows, same-date
cross-sections). :func:`compute_features` then normalises each feature cross-sectionally
per date and returns a long table.

Windows are in trading days: one month = 21, one year = 252 (the usual convention, e.g.
Jegadeesh & Titman 1993 with monthly formation periods).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.ground.errors import InputError
from tasks.data.calendar import TRADING_DAYS
from tasks.data.market import MarketPanel
from tasks.model.config import FeaturesConfig, Normalise
from tasks.model.regimes import high_vol_indicator, regime_probability
from tasks.model.wide import wide_to_long

MONTH = 21

# Robust z-scores are clipped at this many robust standard deviations (1.4826 * MAD): a
# winsorisation so that one bad print cannot own a date's cross-section (trees are
# rank-invariant, but linear challengers and drift statistics are not).
ROBUST_Z_CLIP = 5.0
# Consistency constant of the MAD for a normal distribution (Rousseeuw & Croux 1993).
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class FeatureSpec:
    """One declared feature.

    Attributes
    ----------
    name : str
        Column name in every frame, model signature and report.
    description : str
        One sentence for the model card, with the reference it comes from.
    expected_sign : int
        +1 or -1: the sign of the relation to future returns its rationale predicts.
    fn : callable
        ``fn(panel) -> DataFrame`` of shape (n_dates, n_assets), aligned with
        ``panel.close``; NaN where the window is not yet full or prices are missing.
    requires : frozenset of str
        Panel parts it needs beyond ``close``: ``"volume"``, ``"sectors"``.
    market_state : bool
        A state of the market, one value per date (not normalised across assets); only
        when named in ``features.names`` (the regime ensemble's gate, tasks/model/regimes.py).
    """

    name: str
    description: str
    expected_sign: int
    fn: Callable[[MarketPanel], pd.DataFrame]
    requires: frozenset[str] = frozenset()
    market_state: bool = False

    def declaration(self) -> dict:
        """``{name, description, expected_sign}``: the ``features.json`` record."""
        return {
            "name": self.name,
            "description": self.description,
            "expected_sign": self.expected_sign,
        }


# ---------------------------------------------------------------------------------------
# Backward-looking building blocks
# ---------------------------------------------------------------------------------------


def _min_periods(window: int) -> int:
    # A trailing statistic needs 80 % of its window to be observed.
    return max(2, int(0.8 * window))


def daily_returns(close: pd.DataFrame) -> pd.DataFrame:
    """Simple daily returns ``close_t / close_{t-1} - 1``; NaN when either price is missing."""
    return close / close.shift(1) - 1.0


def trailing_return(close: pd.DataFrame, window: int, skip: int = 0) -> pd.DataFrame:
    """Return from ``t - window`` to ``t - skip``: ``close_{t-skip} / close_{t-window} - 1``."""
    return close.shift(skip) / close.shift(window) - 1.0


def realised_vol(close: pd.DataFrame, window: int) -> pd.DataFrame:
    """Annualised standard deviation of daily returns over the trailing ``window`` days."""
    r = daily_returns(close)
    return r.rolling(window, min_periods=_min_periods(window)).std() * np.sqrt(TRADING_DAYS)


def market_beta(close: pd.DataFrame, window: int) -> pd.DataFrame:
    """Trailing OLS beta of each asset's daily return on the equal-weight market return.

    The market return at ``t`` is the mean of the returns available at ``t``;
    ``beta = (E[r m] - E[r] E[m]) / (E[m^2] - E[m]^2)`` over the trailing window.
    """
    r = daily_returns(close)
    m = r.mean(axis=1, skipna=True)
    mp = _min_periods(window)
    both = r.notna()
    m_wide = both.mul(m, axis=0).where(both)  # the market restricted to the asset's days
    mean_rm = r.mul(m, axis=0).rolling(window, min_periods=mp).mean()
    mean_r = r.rolling(window, min_periods=mp).mean()
    mean_m = m_wide.rolling(window, min_periods=mp).mean()
    mean_mm = (m_wide**2).rolling(window, min_periods=mp).mean()
    var_m = mean_mm - mean_m**2
    return ((mean_rm - mean_r * mean_m) / var_m.where(var_m > 0)).astype(float)


def _dist_52w_high(panel: MarketPanel) -> pd.DataFrame:
    high = panel.close.rolling(TRADING_DAYS, min_periods=_min_periods(TRADING_DAYS)).max()
    return panel.close / high - 1.0


def _sector_relative(panel: MarketPanel) -> pd.DataFrame:
    mom = trailing_return(panel.close, 6 * MONTH)
    sectors = panel.sectors.reindex(mom.columns)
    # Assets without a sector fall in no group: their sector mean, and so the feature, is NaN.
    sector_mean = mom.T.groupby(sectors.to_numpy(), dropna=True).transform("mean").T
    return mom - sector_mean


def _amihud(panel: MarketPanel) -> pd.DataFrame:
    dollar_volume = (panel.close * panel.volume).where(lambda x: x > 0)
    ratio = daily_returns(panel.close).abs() / dollar_volume
    return ratio.rolling(MONTH, min_periods=_min_periods(MONTH)).mean()


def _volume_trend(panel: MarketPanel) -> pd.DataFrame:
    short = panel.volume.rolling(MONTH, min_periods=_min_periods(MONTH)).mean()
    long = panel.volume.rolling(TRADING_DAYS, min_periods=_min_periods(TRADING_DAYS)).mean()
    return short / long.where(long > 0) - 1.0


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "mom_1m",
        "Return over the last month (21 days).",
        -1,
        lambda p: trailing_return(p.close, MONTH),
    ),
    FeatureSpec(
        "mom_3m",
        "Return over the last 3 months (63 days); intermediate momentum.",
        1,
        lambda p: trailing_return(p.close, 3 * MONTH),
    ),
    FeatureSpec(
        "mom_6m",
        "Return over the last 6 months (126 days); Jegadeesh & Titman (1993).",
        1,
        lambda p: trailing_return(p.close, 6 * MONTH),
    ),
    FeatureSpec(
        "mom_12_1",
        "Return from 12 months to 1 month ago, skipping the last month; Carhart (1997).",
        1,
        lambda p: trailing_return(p.close, TRADING_DAYS, skip=MONTH),
    ),
    FeatureSpec(
        "rev_1w",
        "Return over the last week (5 days); short-term reversal, Lehmann (1990).",
        -1,
        lambda p: trailing_return(p.close, 5),
    ),
    FeatureSpec(
        "vol_1m",
        "Annualised volatility of daily returns over 1 month; low-volatility anomaly, "
        "Ang et al. (2006).",
        -1,
        lambda p: realised_vol(p.close, MONTH),
    ),
    FeatureSpec(
        "vol_6m",
        "Annualised volatility of daily returns over 6 months; Ang et al. (2006).",
        -1,
        lambda p: realised_vol(p.close, 6 * MONTH),
    ),
    FeatureSpec(
        "dist_52w_high",
        "Price over its 52-week high, minus one; George & Hwang (2004).",
        1,
        _dist_52w_high,
    ),
    FeatureSpec(
        "beta_1y",
        "Trailing 1-year beta to the equal-weight market; betting against beta, "
        "Frazzini & Pedersen (2014).",
        -1,
        lambda p: market_beta(p.close, TRADING_DAYS),
    ),
    FeatureSpec(
        "sector_mom_6m",
        "6-month return minus its sector's mean 6-month return; industry-adjusted "
        "momentum, Moskowitz & Grinblatt (1999).",
        1,
        _sector_relative,
        frozenset({"sectors"}),
    ),
    FeatureSpec(
        "amihud_1m",
        "Mean |daily return| per unit of dollar volume over 1 month; illiquidity premium, "
        "Amihud (2002).",
        1,
        _amihud,
        frozenset({"volume"}),
    ),
    FeatureSpec(
        "volume_trend",
        "1-month over 1-year mean volume, minus one; high-volume return premium, "
        "Gervais, Kaniel & Mingelgrin (2001).",
        1,
        _volume_trend,
        frozenset({"volume"}),
    ),
)

#: Market states: named explicitly, never among the defaults. Expected sign 0: a gate
#: chooses between per-regime models, it claims no direction.
MARKET_STATES: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "mkt_high_vol",
        "1 when the equal-weight market's 1-month volatility exceeds its 1-year trailing "
        "median, else 0: the regime ensemble's gate (tasks/model/regimes.py).",
        0,
        lambda p: high_vol_indicator(p.close),
        market_state=True,
    ),
    FeatureSpec(
        "mkt_p_turbulent",
        "Filtered probability that the equal-weight market is in the turbulent state of a "
        "two-state Gaussian HMM refitted each quarter on the trailing year: the weight of "
        "the probability-combined regime ensemble (tasks/model/mixture.py).",
        0,
        lambda p: regime_probability(p.close),
        market_state=True,
    ),
)
FEATURES_BY_NAME: Mapping[str, FeatureSpec] = {f.name: f for f in (*FEATURES, *MARKET_STATES)}


# ---------------------------------------------------------------------------------------
# Selection, normalisation, long format
# ---------------------------------------------------------------------------------------


def _panel_parts(panel: MarketPanel) -> set[str]:
    parts = set()
    if panel.volume is not None:
        parts.add("volume")
    if panel.sectors is not None and panel.sectors.notna().any():
        parts.add("sectors")
    return parts


def select_features(panel: MarketPanel, cfg: FeaturesConfig) -> tuple[FeatureSpec, ...]:
    """The features ``cfg`` asks for that ``panel`` supports, in model input order.

    Raises
    ------
    InputError
        A name in ``features.names`` is unknown, or needs volume/sectors the data lacks.
    """
    parts = _panel_parts(panel)
    if cfg.names is None:
        return tuple(f for f in FEATURES if f.requires <= parts)
    if len(set(cfg.names)) != len(cfg.names):
        raise InputError("features.names: duplicate feature name")
    chosen = []
    for name in cfg.names:
        spec = FEATURES_BY_NAME.get(name)
        if spec is None:
            raise InputError(
                f"features.names: unknown feature {name!r} (known: {', '.join(FEATURES_BY_NAME)})"
            )
        missing = spec.requires - parts
        if missing:
            raise InputError(
                f"features.names: {name!r} needs {', '.join(sorted(missing))} in the market data"
            )
        chosen.append(spec)
    return tuple(chosen)


def normalise_cross_section(wide: pd.DataFrame, method: Normalise) -> pd.DataFrame:
    """Normalise each row (date) of a dates × assets frame across assets.

    Parameters
    ----------
    wide : DataFrame, shape (n_dates, n_assets)
    method : Normalise

    Returns
    -------
    DataFrame, same shape. NaN stays NaN and is ignored by the statistics; a date with a
    single observation maps it to 0; a date whose values are all equal maps them to 0.
    """
    x = wide.astype(float).replace([np.inf, -np.inf], np.nan)
    if method is Normalise.NONE:
        return x
    if method is Normalise.RANK:
        n = x.notna().sum(axis=1)
        ranks = x.rank(axis=1, method="average")
        denom = (n - 1).where(n > 1)
        out = ranks.sub(1.0).div(denom, axis=0) - 0.5
        lone = x.notna().to_numpy() & (n == 1).to_numpy()[:, None]
        return out.mask(lone, 0.0)
    med = x.median(axis=1)
    dev = x.sub(med, axis=0)
    scale = dev.abs().median(axis=1) * MAD_TO_SD
    z = dev.div(scale.where(scale > 0), axis=0)
    flat = np.broadcast_to(scale.gt(0).to_numpy()[:, None], z.shape)
    z = z.where(flat, 0.0).where(x.notna())
    return z.clip(-ROBUST_Z_CLIP, ROBUST_Z_CLIP)


def feature_panels(
    panel: MarketPanel, cfg: FeaturesConfig, specs: tuple[FeatureSpec, ...] | None = None
) -> dict[str, pd.DataFrame]:
    """Normalised dates × assets frame of each selected feature, in model input order."""
    specs = select_features(panel, cfg) if specs is None else specs
    norm = {s.name: Normalise.NONE if s.market_state else cfg.normalise for s in specs}
    return {s.name: normalise_cross_section(s.fn(panel), norm[s.name]) for s in specs}


def compute_features(panel: MarketPanel, cfg: FeaturesConfig) -> pd.DataFrame:
    """Long table of point-in-time features.

    Parameters
    ----------
    panel : MarketPanel
    cfg : FeaturesConfig

    Returns
    -------
    DataFrame with columns ``date, asset, <feature>...`` (model input order), one row per
    (date, asset) with a price. A feature is NaN until its trailing window is filled.
    The value at date ``t`` depends on prices and volumes at dates ``<= t`` only.
    """
    return wide_to_long(feature_panels(panel, cfg), panel.close)
