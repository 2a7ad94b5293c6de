"""Parameter values of the optimiser's compiled problem: one date's market, one account.

``tasks.portfolio.optimiser.core.PortfolioOptimiser`` fills its ``cp.Parameter``s from these
(and the accounts' fast path, ``tasks.portfolio.accounts``, maps the account values onto
the solver's right-hand side). Names are the optimiser's parameter names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.decisions.pretrade import funded_from_cash
from governance.ground.errors import InputError
from tasks.portfolio.config import Mode, PortfolioConfig, RestrictedMode
from tasks.portfolio.costs import asset_costs
from tasks.portfolio.optimiser.contract import Account, MarketInputs

#: Trades enter the 3/2-power impact cones in units of 1 % of value: raw trades of ~1e-3
#: sit so close to the cones' apex that CLARABEL stalls ("almost solved", up to 100
#: iterations at 500 assets). Measured on bench/bench_backtest.py's market, 12 re-solves
#: at 500 assets: units of 0.1 % take 29-39 iterations, 1 % 20-27 (same optima: reported
#: objectives within 5e-7 relative), 0.01 % 35-40 and optima off by 4e-4.
IMPACT_UNIT = 100.0


def aligned(
    s: pd.Series | None, assets: pd.Index, fill: float, positions: dict | None = None
) -> np.ndarray:
    """``s`` on ``assets`` as floats, missing or NaN -> ``fill`` (None: all ``fill``).

    ``positions`` (asset -> its place in ``assets``, :func:`positions_of`) places a short
    series (an account's few bound overrides) without pandas' reindex; the answer is the
    same (duplicate labels are refused as reindex refuses them).
    """
    if s is None:
        return np.full(len(assets), fill)
    if positions is not None and s.index is not assets and 8 * len(s) < len(assets):
        names = s.index.tolist()
        if len(set(names)) != len(names):
            raise ValueError("cannot reindex on an axis with duplicate labels")
        out = np.full(len(assets), fill)
        for name, value in zip(names, s.to_numpy(dtype=float, na_value=np.nan), strict=True):
            place = positions.get(name)
            if place is not None and not np.isnan(value):
                out[place] = value
        return out
    if s.index is not assets and not s.index.equals(assets):
        s = s.reindex(assets)
    x = s.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(x), fill, x)


def positions_of(assets: pd.Index) -> dict:
    """asset -> its place in ``assets`` (the accounts' lookups without pandas)."""
    return {name: i for i, name in enumerate(assets)}


def restricted_mask(assets: pd.Index, names: set, positions: dict | None = None) -> np.ndarray:
    """True at the assets named in ``names`` (``assets.isin``; by ``positions`` when given)."""
    if positions is None:
        return assets.isin(sorted(names))
    mask = np.zeros(len(assets), dtype=bool)
    for name in names:
        place = positions.get(name)
        if place is not None:
            mask[place] = True
    return mask


def weight_box(values: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each weight's bounds: the asset bounds intersected with the restricted list's."""
    lower, upper = np.asarray(values["lower"]), np.asarray(values["upper"])
    if "r_lo" in values:
        lower = np.maximum(lower, values["r_lo"])
        upper = np.minimum(upper, values["r_hi"])
    return lower, upper


def tradable_mask(market: MarketInputs, assets: pd.Index) -> np.ndarray | None:
    """True where an asset may trade on the date (None: every asset)."""
    if market.tradable is None:
        return None
    return aligned(market.tradable.astype(float), assets, 0.0) > 0


def market_values(
    market: MarketInputs,
    assets: pd.Index,
    n_factors: int,
    cfg: PortfolioConfig,
    *,
    with_impact: bool,
    with_tracking: bool,
) -> dict[str, np.ndarray]:
    """Values of the shared parameters (alpha, risk, costs, benchmark) for one date.

    ``B`` is the risk model's factor root zero-padded to ``n_factors`` columns; ``sqrt_d``
    the roots of the specific variances ``d``.
    """
    risk = market.risk
    # the same universe (every rebalance of one history): no index lookup
    same = risk.assets is assets or risk.assets.equals(assets)
    order = np.arange(len(assets)) if same else risk.assets.get_indexer(assets)
    if (order < 0).any():
        missing = assets[order < 0][:3].tolist()
        raise InputError(f"optimiser: risk model lacks assets {missing}")
    root = risk.factor_root()[order]
    if root.shape[1] > n_factors:
        raise InputError(
            f"optimiser: risk model has {root.shape[1]} factors, problem built for {n_factors}"
        )
    b = np.zeros((len(assets), n_factors))
    b[:, : root.shape[1]] = root
    sqrt_d = np.sqrt(np.clip(risk.specific_var[order], 0.0, None))
    half_spread = aligned(market.half_spread, assets, cfg.half_spread_bps * 1e-4)
    values = {
        "B": b,
        "sqrt_d": sqrt_d,
        "alpha": aligned(market.alpha, assets, 0.0),
        "half_spread": np.clip(half_spread, 0.0, None),
    }
    if with_impact:
        impact = np.clip(aligned(market.impact, assets, 0.0), 0.0, None)
        values["impact"] = impact / IMPACT_UNIT**1.5
    if with_tracking:
        if market.benchmark is None:
            raise InputError("optimiser: max_tracking_error is set but no benchmark given")
        wb = aligned(market.benchmark, assets, 0.0)
        values["B_wb"] = b.T @ wb
        values["sqrt_d_wb"] = sqrt_d * wb
    return values


def account_values(
    account: Account,
    assets: pd.Index,
    cfg: PortfolioConfig,
    present: set[str],
    tradable: np.ndarray | None,
    positions: dict | None = None,
) -> dict[str, np.ndarray | float]:
    """Values of the per-account parameters in ``present`` (holdings, bounds, restricted
    list, turnover and leverage limits); ``positions``: :func:`positions_of` ``assets``."""
    w0 = aligned(account.current, assets, 0.0, positions)
    lower = aligned(account.lower, assets, cfg.min_weight, positions)
    upper = aligned(account.upper, assets, cfg.max_weight, positions)
    if tradable is not None:
        lower, upper = np.where(tradable, lower, 0.0), np.where(tradable, upper, 0.0)
    values: dict[str, np.ndarray | float] = {"w0": w0, "lower": lower, "upper": upper}
    if "turnover" in present:
        # Funding from cash is not a rebalance: the cap does not apply (the pre-trade
        # gate's rule). Any portfolio bought from cash trades at most its gross.
        gross = max(1.0, cfg.max_gross_leverage)
        values["turnover"] = 2.0 * gross if funded_from_cash(w0) else cfg.max_turnover
    if "leverage" in present:
        values["leverage"] = cfg.max_gross_leverage
    restricted = set(cfg.restricted) | set(account.restricted)
    if "r_lo" in present:
        mask = restricted_mask(assets, restricted, positions)
        if cfg.restricted_mode is RestrictedMode.ZERO:
            r_lo, r_hi = np.zeros(len(assets)), np.zeros(len(assets))
        else:
            r_lo, r_hi = np.minimum(w0, 0.0), np.maximum(w0, 0.0)
        # unrestricted assets repeat their bounds (redundant rows, well scaled)
        values["r_lo"] = np.where(mask, r_lo, lower)
        values["r_hi"] = np.where(mask, r_hi, upper)
    elif restricted and restricted & set(assets):
        raise InputError(
            "optimiser: account has a restricted list but the problem was built "
            "without one (with_restricted=True)"
        )
    return values


def sector_bounds(
    sectors: pd.Series | None, cfg: PortfolioConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Sector membership (sectors x assets) and the sectors' lower and upper bounds, or
    None when no sector group applies (no sectors, or no cap and no per-sector bounds).

    Defaults that are implied anyway (0 for long-only, the budget for an uncapped sector)
    keep the constraint rows well scaled: a huge sentinel bound costs the interior-point
    solver many iterations.
    """
    if sectors is None or (cfg.max_sector_weight is None and not cfg.sector_bounds):
        return None
    names = sorted(sectors.dropna().unique())
    if not names:
        return None
    member = (sectors.to_numpy()[None, :] == np.array(names)[:, None]).astype(float)
    cap = cfg.max_sector_weight
    if cap is None:
        cap = 1.0 if cfg.mode is Mode.LONG_ONLY else cfg.max_gross_leverage
    lo_default = -cap if cfg.mode is Mode.LONG_SHORT else 0.0
    lo = np.array([cfg.sector_bounds.get(s, (lo_default, cap))[0] for s in names])
    hi = np.array([cfg.sector_bounds.get(s, (lo_default, cap))[1] for s in names])
    return member, lo, hi


def figures(w: np.ndarray, trades: np.ndarray, values: dict, cfg: PortfolioConfig):
    """Expected return, variance (``||B'w||^2 + ||sqrt(d) w||^2``), un-amortised costs and
    utility of weights ``w`` under the parameter ``values`` of one date and account: floats,
    or arrays of one per row when ``w`` and ``trades`` have one row per account."""
    impact = values.get("impact")
    impact = None if impact is None else impact * IMPACT_UNIT**1.5
    cost = asset_costs(trades, values["half_spread"], impact).sum(axis=-1)
    bw, sw = w @ values["B"], values["sqrt_d"] * w
    variance = np.einsum("...i,...i->...", bw, bw) + np.einsum("...i,...i->...", sw, sw)
    expected = w @ values["alpha"]
    utility = expected - cfg.risk_aversion * variance - cost / cfg.rebalance_every
    if np.ndim(w) == 1:
        return float(expected), float(variance), float(cost), float(utility)
    return expected, variance, cost, utility
