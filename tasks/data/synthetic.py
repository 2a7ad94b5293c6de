"""Synthetic market with a planted, known signal: for tests and scale benchmarks.

The generator draws daily log returns with a factor structure (``n_factors`` statistical
factors with per-asset betas, one factor per sector) plus idiosyncratic noise, and adds a
**planted signal observable from past prices**: the expected next-day return of asset
``i`` is proportional to the cross-sectional z-score of its trailing 63-day log return,
computed from the prices generated so far. The scale is chosen so that the mean
cross-sectional rank information coefficient (IC) between that characteristic at ``t``
and the forward ``horizon``-day return is approximately ``ic`` (derivation in
:func:`signal_scale`). After ``flip_day`` the sign of the signal flips (a regime change
that monitoring must catch).

The planted characteristic is deliberately *not* 12-1 momentum, which the validator uses
as a naive challenger.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.ground.errors import InputError

#: Look-back of the planted characteristic, in trading days (one quarter).
LOOKBACK = 63

# Return-model constants, chosen so that daily total volatility is ~1.5-2.5 %
# (plausible large-cap equity figures).
_MARKET_DRIFT = 0.0003  # daily log drift of the market factor (~7.5 % a year)
_MARKET_VOL = 0.010  # daily vol of factor 0 (the market)
_FACTOR_VOL = 0.005  # daily vol of factors 1..k-1
_SECTOR_VOL = 0.005  # daily vol of each sector factor
_IDIO_VOL_RANGE = (0.012, 0.018)  # per-asset idiosyncratic daily vol, uniform
_MARKET_BETA = (1.0, 0.3)  # mean, sd of market betas
_OTHER_BETA_SD = 0.5  # sd of betas on factors 1..k-1 (mean 0)


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of a synthetic market.

    Attributes
    ----------
    n_assets, n_days : int
        Universe size and number of business days.
    ic : float
        Target mean cross-sectional rank IC of the planted characteristic against the
        forward ``horizon``-day return, in (-1, 1); 0 plants no signal.
    seed : int
        Seed of :func:`numpy.random.default_rng`; equal specs give equal frames.
    n_factors, n_sectors : int
        Statistical factors (the first is the market) and sectors (asset ``i`` is in
        sector ``i % n_sectors``).
    horizon : int
        Forward horizon, in days, at which the IC is calibrated.
    flip_day : int or None
        Index into the days: returns realised on day index ``>= flip_day`` carry the signal
        with the opposite sign. None: no flip.
    with_volume : bool
        Whether to emit a ``volume`` column.
    start : str
        First business day (ISO date).
    """

    n_assets: int = 50
    n_days: int = 2520
    ic: float = 0.05
    seed: int = 0
    n_factors: int = 3
    n_sectors: int = 5
    horizon: int = 21
    flip_day: int | None = None
    with_volume: bool = True
    start: str = "2010-01-04"

    def __post_init__(self) -> None:
        checks = {
            "n_assets": self.n_assets >= 1,
            "n_days": self.n_days >= 2,
            "ic": -1.0 < self.ic < 1.0,
            "n_factors": self.n_factors >= 1,
            "n_sectors": self.n_sectors >= 1,
            "horizon": 1 <= self.horizon < LOOKBACK,
            "flip_day": self.flip_day is None or 0 <= self.flip_day <= self.n_days,
        }
        for name, ok in checks.items():
            if not ok:
                raise InputError(f"synthetic spec: {name}: invalid value {getattr(self, name)!r}")


def noise_variance(n_factors: int, n_sectors: int) -> float:
    """Expected cross-sectional variance of one day's non-signal log return.

    ``E[σ_ε²] + Var(β_0) σ_m² + (k-1) sd_β² σ_f² + (1 - 1/S) σ_s²``: idiosyncratic part,
    dispersion of factor betas times factor variance, and the between-sector variance of
    the sector factors (equal-sized sectors; the market drift is common to every asset).
    """
    lo, hi = _IDIO_VOL_RANGE
    idio = (lo * lo + lo * hi + hi * hi) / 3.0  # E[σ²] for σ ~ U(lo, hi)
    factors = _MARKET_BETA[1] ** 2 * _MARKET_VOL**2
    factors += (n_factors - 1) * _OTHER_BETA_SD**2 * _FACTOR_VOL**2
    sectors = (1.0 - 1.0 / n_sectors) * _SECTOR_VOL**2
    return idio + factors + sectors


def signal_scale(ic: float, horizon: int, n_factors: int, n_sectors: int) -> float:
    """Daily expected log return per unit of characteristic z-score, to plant rank IC ``ic``.

    Derivation. Let ``z_t`` be the characteristic (cross-sectional z-score: mean 0, sd 1)
    and the daily return ``r_{t+1} = a z_t + ε_{t+1}`` with cross-sectional noise variance
    ``σ²`` (:func:`noise_variance`). The forward ``h``-day return is
    ``R = a Σ_{k<h} z_{t+k} + Σ_{k<h} ε_{t+k+1}``. Trailing windows of length ``L = 63``
    shifted by ``k`` days overlap on ``L - k`` days, so ``corr(z_t, z_{t+k}) ≈ 1 - k/L``
    and ``cov(z_t, R) ≈ a h ρ̄`` with ``ρ̄ = 1 - (h-1)/(2L)``. The signal part has
    sd ``s = a h ρ̄``, the noise part sd ``σ √h``, so the Pearson IC is
    ``ρ = s / √(s² + h σ²)``, i.e. ``s = ρ σ √h / √(1 - ρ²)``. For jointly normal variables
    Spearman's rank correlation is ``(6/π) arcsin(ρ/2)``, hence
    ``ρ = 2 sin(π ic / 6)`` and ``a = ρ σ √h / (√(1 - ρ²) h ρ̄)``.
    The approximation ignores the small feedback of the drift into ``z`` and the day-to-day
    variation of factor dispersion; tests measure the realised IC.
    """
    rho = 2.0 * math.sin(math.pi * ic / 6.0)
    sigma = math.sqrt(noise_variance(n_factors, n_sectors))
    rho_bar = 1.0 - (horizon - 1) / (2.0 * LOOKBACK)
    s = rho * sigma * math.sqrt(horizon) / math.sqrt(1.0 - rho * rho)
    return s / (horizon * rho_bar)


def zscore_rows(x: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score of each row of ``x`` (shape (n_days, n_assets)).

    NaN in, NaN out; a row with fewer than two finite values or zero spread is all NaN.
    """
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are expected
        z = (x - np.nanmean(x, axis=1, keepdims=True)) / np.nanstd(x, axis=1, keepdims=True)
    z[~np.isfinite(z)] = np.nan
    return z


def _simulate_log_prices(spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """Log prices, shape (n_days, n_assets), with the planted signal fed back day by day."""
    n, t_max = spec.n_assets, spec.n_days
    k = spec.n_factors
    betas = np.empty((k, n))
    betas[0] = rng.normal(_MARKET_BETA[0], _MARKET_BETA[1], n)
    betas[1:] = rng.normal(0.0, _OTHER_BETA_SD, (k - 1, n))
    factor_vol = np.r_[_MARKET_VOL, np.full(k - 1, _FACTOR_VOL)]
    f = rng.standard_normal((t_max, k)) * factor_vol
    f[:, 0] += _MARKET_DRIFT
    sector_of = np.arange(n) % spec.n_sectors
    s = rng.normal(0.0, _SECTOR_VOL, (t_max, spec.n_sectors))
    idio_vol = rng.uniform(*_IDIO_VOL_RANGE, n)
    eps = rng.standard_normal((t_max, n)) * idio_vol
    # Ito correction keeps each asset's expected simple return at its factor drift.
    base = f @ betas + s[:, sector_of] + eps - 0.5 * idio_vol**2

    a = signal_scale(spec.ic, spec.horizon, spec.n_factors, spec.n_sectors)
    logp = np.empty((t_max, n))
    logp[0] = np.log(rng.uniform(20.0, 200.0, n))
    for t in range(1, t_max):
        prev = logp[t - 1]
        if a != 0.0 and t - 1 >= LOOKBACK:
            c = prev - logp[t - 1 - LOOKBACK]
            sd = c.std()
            z = (c - c.mean()) / sd if sd > 0 else np.zeros(n)
            sign = -1.0 if spec.flip_day is not None and t >= spec.flip_day else 1.0
            logp[t] = prev + base[t] + sign * a * z
        else:
            logp[t] = prev + base[t]
    return logp


def _volume(logp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Daily share volume: lognormal around a per-asset level, rising with |return|."""
    t_max, n = logp.shape
    level = np.exp(rng.normal(np.log(2e6), 0.8, n))
    absret = np.abs(np.diff(logp, axis=0, prepend=logp[:1]))
    shock = np.exp(rng.normal(0.0, 0.3, (t_max, n)) + 20.0 * absret)
    return np.round(level * shock)


def generate_market(spec: SyntheticSpec) -> pd.DataFrame:
    """Generate a synthetic market as the long table.

    Parameters
    ----------
    spec : SyntheticSpec

    Returns
    -------
    DataFrame, shape (n_days * n_assets, 4 or 5)
        Columns ``date`` (datetime64[ns], business days from ``spec.start``), ``asset``
        (str, ``A0000``...), ``close`` (float, > 0), ``volume`` (float, only when
        ``spec.with_volume``), ``sector`` (str, ``S00``...). Sorted by date then asset;
        no NaN. Deterministic in ``spec``.
    """
    rng = np.random.default_rng(spec.seed)
    logp = _simulate_log_prices(spec, rng)
    dates = pd.bdate_range(spec.start, periods=spec.n_days).as_unit("ns")
    assets = np.array([f"A{i:04d}" for i in range(spec.n_assets)], dtype=object)
    sectors = np.array([f"S{i % spec.n_sectors:02d}" for i in range(spec.n_assets)], dtype=object)
    cols: dict[str, object] = {
        "date": np.repeat(dates.values, spec.n_assets),
        "asset": pd.array(np.tile(assets, spec.n_days), dtype="str"),
        "close": np.exp(logp).ravel(),
    }
    if spec.with_volume:
        cols["volume"] = _volume(logp, rng).ravel()
    cols["sector"] = pd.array(np.tile(sectors, spec.n_days), dtype="str")
    return pd.DataFrame(cols)


def planted_characteristic(long: pd.DataFrame) -> pd.DataFrame:
    """The planted characteristic: cross-sectional z-score of the trailing 63-day log return.

    Parameters
    ----------
    long : DataFrame
        Long table with ``date, asset, close`` (any row order).

    Returns
    -------
    DataFrame, shape (n_dates, n_assets)
        Sorted dates × sorted assets. NaN for the first 63 dates and wherever a price is
        missing at ``t`` or ``t - 63`` rows.
    """
    close = long.pivot(index="date", columns="asset", values="close").sort_index()
    logc = np.log(close.sort_index(axis=1).to_numpy(dtype=float))
    c = np.full_like(logc, np.nan)
    c[LOOKBACK:] = logc[LOOKBACK:] - logc[:-LOOKBACK]
    return pd.DataFrame(zscore_rows(c), index=close.index, columns=close.columns.sort_values())
