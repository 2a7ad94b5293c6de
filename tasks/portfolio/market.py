"""The market inputs of a rebalance, point in time: one home for the live rebalance, the
many-accounts path and the backtest.

:class:`MarketHistory` turns a price panel into arrays once (daily returns, the dollar
volume's one-month mean); :meth:`MarketHistory.inputs` builds, at one row, the risk model
(``tasks.portfolio.risk``), Grinold's alphas (``tasks.portfolio.alphas``), the 3/2-power
impact coefficients (``tasks.portfolio.costs``), the tracking benchmark when
``max_tracking_error`` is set (``tasks.portfolio.benchmarks``) and the tradable mask.
:func:`market_inputs` is the same for one date of a panel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.ground.errors import InputError
from tasks.data.market import MarketPanel
from tasks.portfolio.alphas import grinold
from tasks.portfolio.benchmarks import benchmark_weights
from tasks.portfolio.config import BenchmarkKind, PortfolioConfig
from tasks.portfolio.costs import impact_from_adv
from tasks.portfolio.optimiser.contract import MarketInputs
from tasks.portfolio.risk import RiskModel, risk_from_returns

#: cvxportfolio's average daily volume window: one month of trading days.
ADV_WINDOW = 21


class MarketHistory:
    """A panel as arrays, for point-in-time inputs at any row.

    Parameters
    ----------
    panel : MarketPanel
    cfg : PortfolioConfig
        The config the portfolio is built under (already tightened to the policy's
        limits with :meth:`PortfolioConfig.within`).
    assets : Index, optional
        The universe (default: every asset of the panel).
    """

    def __init__(self, panel: MarketPanel, cfg: PortfolioConfig, assets: pd.Index | None = None):
        self.cfg = cfg
        self.assets = panel.close.columns if assets is None else pd.Index(assets)
        close = panel.close[self.assets]
        self.index = close.index
        self.close = close.to_numpy(dtype=float)
        self.returns = close.pct_change(fill_method=None).to_numpy()
        self.sectors = None if panel.sectors is None else panel.sectors.reindex(self.assets)
        self.adv = None
        if panel.volume is not None:
            dollar = close * panel.volume.reindex(index=close.index, columns=self.assets)
            self.adv = dollar.rolling(ADV_WINDOW, min_periods=1).mean().to_numpy()

    def position(self, asof: pd.Timestamp) -> int:
        """Row of the last date at or before ``asof``."""
        pos = int(self.index.searchsorted(pd.Timestamp(asof), side="right")) - 1
        if pos < 1:
            raise InputError(f"portfolio: no prices on or before {pd.Timestamp(asof).date()}")
        return pos

    def window(self, pos: int) -> np.ndarray:
        """The ``lookback`` daily returns ending at row ``pos`` (inclusive), T × n."""
        return self.returns[max(1, pos - self.cfg.lookback + 1) : pos + 1]

    def window_frame(self, pos: int) -> pd.DataFrame:
        """:meth:`window` as a DataFrame (dates × assets)."""
        start = max(1, pos - self.cfg.lookback + 1)
        return pd.DataFrame(
            self.window(pos), index=self.index[start : pos + 1], columns=self.assets
        )

    def risk(self, pos: int) -> RiskModel:
        """The risk model ``cfg.risk_model`` estimated on the window ending at ``pos``."""
        return risk_from_returns(self.window(pos), self.cfg, self.assets)

    def impact(self, pos: int, risk: RiskModel | None = None) -> pd.Series | None:
        """3/2-power impact coefficients at ``pos`` (None without volume); the volatility is
        ``risk``'s (default: the risk model estimated at ``pos``)."""
        if self.adv is None:
            return None
        vol = (self.risk(pos) if risk is None else risk).volatility().to_numpy()
        return pd.Series(impact_from_adv(vol, self.adv[pos], self.cfg), index=self.assets)

    def benchmark(self, kind: BenchmarkKind, pos: int) -> np.ndarray:
        """Weights of benchmark ``kind`` estimated on the window ending at ``pos``."""
        return benchmark_weights(kind, self.window_frame(pos), self.cfg.hrp_linkage).to_numpy()

    def inputs(
        self, pos: int, scores: np.ndarray, information_coefficient: float | None = None
    ) -> MarketInputs:
        """Risk model, alphas, costs, tracking benchmark and tradable mask at row ``pos``.

        Parameters
        ----------
        pos : int
            Row of the rebalance date; nothing after it is read.
        scores : ndarray, shape (n,)
            Model scores aligned to ``assets`` (NaN: no view).
        information_coefficient : float, optional
            Overrides ``cfg.information_coefficient`` (e.g. validation's holdout rank IC).
        """
        cfg, assets = self.cfg, self.assets
        risk = self.risk(pos)
        vol = risk.volatility().to_numpy()
        ic = (
            cfg.information_coefficient
            if information_coefficient is None
            else information_coefficient
        )
        alpha = grinold(scores, vol, ic, cfg.z_clip)
        impact = self.impact(pos, risk)
        benchmark = None
        if cfg.max_tracking_error is not None:
            benchmark = pd.Series(self.benchmark(cfg.tracking_benchmark, pos), index=assets)
        return MarketInputs(
            alpha=pd.Series(alpha, index=assets, name="alpha"),
            risk=risk,
            benchmark=benchmark,
            impact=impact,
            tradable=pd.Series(np.isfinite(self.close[pos]), index=assets),
        )


def market_inputs(
    scores: pd.Series,
    panel: MarketPanel,
    asof: pd.Timestamp,
    cfg: PortfolioConfig,
    information_coefficient: float | None = None,
) -> MarketInputs:
    """:meth:`MarketHistory.inputs` at ``asof`` for scores by asset (missing: no view)."""
    history = MarketHistory(panel, cfg)
    values = pd.to_numeric(scores.reindex(history.assets), errors="coerce").to_numpy(dtype=float)
    return history.inputs(history.position(asof), values, information_coefficient)
