"""Attribution of realised returns against the benchmark, per period.

**Sector (Brinson–Fachler 1985).** With portfolio and benchmark sector weights ``wp_s``,
``wb_s``, sector returns ``rp_s``, ``rb_s`` and the benchmark return ``Rb``:

- allocation ``(wp_s - wb_s)(rb_s - Rb)``
- selection ``wb_s (rp_s - rb_s)``
- interaction ``(wp_s - wb_s)(rp_s - rb_s)``

summed over sectors they equal the active return ``Rp - Rb`` exactly (a sector the
portfolio does not hold takes ``rp_s = rb_s``: it has nothing to select; weight not
invested is the sector ``cash`` with return 0, so both sides' weights sum to one).

**Statistical factors.** The active weights ``a = w - b`` have exposures ``F' a`` to the
oriented factors of the risk model estimated at the period's start; the period's factor
returns are the least-squares fit ``f`` of ``r ~ F f`` across assets; factor ``k``
contributes ``(F' a)_k f_k`` and the rest of ``a' r`` is specific.

A period runs from one month end (or the first publication) to the next; the weights are
the book published last on or before the period's start, held without trading (buy and
hold), the benchmark the ``risk.benchmark`` portfolio of that date.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.data.market import MarketPanel
from tasks.portfolio.benchmarks import benchmark_weights
from tasks.portfolio.config import BenchmarkKind, PortfolioConfig
from tasks.portfolio.market import MarketHistory
from tasks.risk.decomposition import UNCLASSIFIED, oriented
from tasks.risk.scenarios import window_returns_between

CASH = "cash"


def brinson_fachler(
    weights: pd.Series, benchmark: pd.Series, returns: pd.Series, sectors: pd.Series | None
) -> pd.DataFrame:
    """Brinson–Fachler effects of one period, one row per sector.

    Parameters
    ----------
    weights, benchmark : Series
        Portfolio and benchmark weights by asset at the period's start.
    returns : Series
        Each asset's return over the period (NaN counts as 0).
    sectors : Series, optional
        asset -> sector; unmapped assets form :data:`UNCLASSIFIED`.

    Returns
    -------
    DataFrame
        ``sector, portfolio_weight, benchmark_weight, portfolio_return,
        benchmark_return, allocation, selection, interaction, total``.
    """
    index = weights.index.union(benchmark.index)
    wp = weights.reindex(index).fillna(0.0)
    wb = benchmark.reindex(index).fillna(0.0)
    r = returns.reindex(index).fillna(0.0)
    sec = (
        pd.Series(UNCLASSIFIED, index=index)
        if sectors is None
        else sectors.reindex(index).fillna(UNCLASSIFIED)
    )
    g = pd.DataFrame({"wp": wp, "wb": wb, "cp": wp * r, "cb": wb * r, "sector": sec})
    cash_p, cash_b = 1.0 - float(wp.sum()), 1.0 - float(wb.sum())
    if abs(cash_p) > 1e-12 or abs(cash_b) > 1e-12:  # uninvested weight earns 0: a sector
        g.loc[CASH] = [cash_p, cash_b, 0.0, 0.0, CASH]
    s = g.groupby("sector", sort=True)[["wp", "wb", "cp", "cb"]].sum()
    rb = (s.cb / s.wb).where(s.wb != 0, 0.0)
    rp = (s.cp / s.wp).where(s.wp != 0, rb)
    total_b = float((wb * r).sum())
    out = pd.DataFrame(
        {
            "sector": s.index.astype(str),
            "portfolio_weight": s.wp.to_numpy(),
            "benchmark_weight": s.wb.to_numpy(),
            "portfolio_return": rp.to_numpy(),
            "benchmark_return": rb.to_numpy(),
            "allocation": ((s.wp - s.wb) * (rb - total_b)).to_numpy(),
            "selection": (s.wb * (rp - rb)).to_numpy(),
            "interaction": ((s.wp - s.wb) * (rp - rb)).to_numpy(),
        }
    )
    out["total"] = out.allocation + out.selection + out.interaction
    return out


def factor_attribution(
    active: pd.Series, returns: pd.Series, exposures: pd.DataFrame
) -> pd.DataFrame:
    """Active return split into factor contributions and a specific remainder.

    Parameters
    ----------
    active : Series
        Active weights ``w - b`` by asset.
    returns : Series
        Asset returns over the period (NaN counts as 0).
    exposures : DataFrame, shape (n, k)
        Factor exposures by asset (columns are factor names).

    Returns
    -------
    DataFrame
        ``factor, active_exposure, factor_return, contribution`` with a last row
        ``specific`` (exposure and factor return NaN); contributions sum to ``a' r``.
    """
    assets = exposures.index
    a = active.reindex(assets).fillna(0.0).to_numpy()
    r = returns.reindex(assets).fillna(0.0).to_numpy()
    f_mat = exposures.to_numpy()
    f, *_ = np.linalg.lstsq(f_mat, r, rcond=None)
    x = f_mat.T @ a
    contrib = x * f
    specific = float(a @ r - contrib.sum())
    return pd.DataFrame(
        {
            "factor": [*exposures.columns.astype(str), "specific"],
            "active_exposure": [*x, np.nan],
            "factor_return": [*f, np.nan],
            "contribution": [*contrib, specific],
        }
    )


@dataclass(frozen=True)
class Attribution:
    """Per-period attribution of the live book.

    Attributes
    ----------
    periods : DataFrame
        ``period, start, end, portfolio, benchmark, active`` (buy-and-hold returns).
    sectors : DataFrame
        :func:`brinson_fachler` rows with a ``period`` column.
    factors : DataFrame
        :func:`factor_attribution` rows with a ``period`` column.
    """

    periods: pd.DataFrame
    sectors: pd.DataFrame
    factors: pd.DataFrame

    def summary(self) -> dict:
        """Totals over all periods: active return and each effect (sums of period effects)."""
        if self.periods.empty:
            return {"periods": 0}
        effects = self.sectors[["allocation", "selection", "interaction"]].sum()
        by_factor = self.factors.groupby("factor", sort=False)["contribution"].sum()
        return {
            "periods": len(self.periods),
            "active": float(self.periods.active.sum()),
            "brinson": {k: float(v) for k, v in effects.items()},
            "factors": {str(k): float(v) for k, v in by_factor.items()},
        }


def period_bounds(dates: pd.DatetimeIndex, start: pd.Timestamp, max_periods: int) -> list:
    """``(start, end)`` trading-date pairs: ``start``, then each month's last trading day."""
    after = dates[dates >= start]
    if len(after) < 2:
        return []
    ends = after.to_series().groupby(after.to_period("M")).max()
    edges = sorted({after[0], *ends.tolist()})
    pairs = list(itertools.pairwise(edges))
    return pairs[-max_periods:]


def attribute(
    close: pd.DataFrame,
    books: pd.DataFrame,
    sectors: pd.Series | None,
    cfg: PortfolioConfig,
    benchmark: BenchmarkKind = BenchmarkKind.EQUAL_WEIGHT,
    max_periods: int = 12,
) -> Attribution:
    """Sector and factor attribution of the published ``books`` (dates x assets), monthly.

    ``cfg`` is the portfolio config whose risk model (``risk_model``, ``n_factors``,
    ``lookback``) gives the factors, estimated point-in-time at each period's start.
    """
    empty = Attribution(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    if books.empty:
        return empty
    books = books.sort_index()
    history = MarketHistory(MarketPanel(close, None, None, "", "attribution"), cfg)
    rows, sec_rows, fac_rows = [], [], []
    for d0, d1 in period_bounds(close.index, books.index[0], max_periods):
        w = books.loc[:d0].iloc[-1].dropna()
        window = history.window_frame(history.position(d0))
        live = window.columns[close.loc[d0].notna()]
        b = benchmark_weights(benchmark, window[live]).reindex(close.columns, fill_value=0.0)
        r, _, _ = window_returns_between(close, d0, d1)
        r = r.fillna(0.0)
        label = str(pd.Timestamp(d1).date())
        rp, rb = float((w.reindex(r.index).fillna(0.0) * r).sum()), float((b * r).sum())
        rows.append([label, str(pd.Timestamp(d0).date()), label, rp, rb, rp - rb])
        bf = brinson_fachler(w, b, r, sectors)
        sec_rows.append(bf.assign(period=label))
        risk = oriented(history.risk(history.position(d0)))
        names = [f"factor_{k + 1}" for k in range(risk.n_factors)]
        expo = pd.DataFrame(risk.exposures, index=risk.assets, columns=names)
        active = w.reindex(close.columns).fillna(0.0) - b
        fac_rows.append(factor_attribution(active, r, expo).assign(period=label))
    if not rows:
        return empty
    periods = pd.DataFrame(
        rows, columns=["period", "start", "end", "portfolio", "benchmark", "active"]
    )
    return Attribution(
        periods, pd.concat(sec_rows, ignore_index=True), pd.concat(fac_rows, ignore_index=True)
    )
