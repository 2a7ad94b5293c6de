"""Walk-forward backtest of the model portfolio beside the benchmarks.

At every ``rebalance_every``-th date of the scores frame the model portfolio is rebuilt
point-in-time (risk model and alphas from data up to that close, one compiled optimiser
re-solved with the drifted holdings as previous weights); the benchmarks are rebuilt on the
same dates. Between rebalances weights drift with prices; each trade pays the optimiser's
cost model (half-spread, plus 3/2-power impact when the panel has volume), charged on the
rebalance day. Returns are simple daily returns of the close; an asset without a price
on a day contributes a zero return that day.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from governance.errors import InputError
from tasks.data.market import MarketPanel
from tasks.portfolio.alphas import grinold
from tasks.portfolio.benchmarks import benchmark_weights
from tasks.portfolio.config import BenchmarkKind, PortfolioConfig
from tasks.portfolio.costs import impact_from_adv
from tasks.portfolio.optimiser import (
    Account,
    MarketInputs,
    OptimisationError,
    PortfolioOptimiser,
    structural_factors,
)
from tasks.portfolio.risk import risk_from_returns

MODEL = "model"
#: Fewest daily returns a rebalance needs before the first estimate (one month).
MIN_HISTORY = 21


@dataclass(frozen=True)
class Metrics:
    """Performance of one strategy; annualised with ``PortfolioConfig.annualisation``.

    ``annual_return`` is geometric; ``sharpe``/``sortino`` use a zero risk-free rate;
    ``max_drawdown`` is positive (0.2 = a 20 % fall from the peak); ``turnover`` is the
    annualised sum of ``sum |w - w_prev|`` over rebalances; ``costs`` the annualised
    fraction of value paid in trading costs, ``total_costs`` the sum over the backtest.
    """

    annual_return: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    turnover: float
    costs: float
    total_costs: float
    n_days: int
    n_rebalances: int


@dataclass(frozen=True)
class BacktestResult:
    """Everything a backtest produced.

    Attributes
    ----------
    metrics : dict
        strategy -> Metrics (``model`` first, then each benchmark).
    returns : DataFrame, shape (n_days, n_strategies)
        Net daily returns (after costs).
    weights : DataFrame, shape (n_rebalances, n_assets)
        The model's target weights at each rebalance.
    turnover, costs : DataFrame, shape (n_rebalances, n_strategies)
        Per rebalance.
    solve_seconds : Series, shape (n_rebalances,)
        Wall time of the model's rebalance (risk model + alphas + solve).
    events : tuple of str
        Rebalances where the optimiser failed and the model held its drifted weights.
    plots : dict
        ``cumulative_return.png``, ``drawdown.png``, ``weights.png`` -> PNG bytes.
    """

    metrics: dict[str, Metrics]
    returns: pd.DataFrame
    weights: pd.DataFrame
    turnover: pd.DataFrame
    costs: pd.DataFrame
    solve_seconds: pd.Series
    events: tuple[str, ...]
    plots: dict[str, bytes]

    def metrics_frame(self) -> pd.DataFrame:
        """Strategies × metrics."""
        return pd.DataFrame({k: vars(v) for k, v in self.metrics.items()}).T

    def summary(self) -> dict:
        """JSON-ready summary for the ledger and MLflow."""
        return {
            "metrics": {k: vars(v) for k, v in self.metrics.items()},
            "rebalances": len(self.weights),
            "mean_rebalance_seconds": float(self.solve_seconds.mean()),
            "events": list(self.events),
        }


def performance_metrics(
    returns: pd.Series, turnover: pd.Series, costs: pd.Series, annualisation: int = 252
) -> Metrics:
    """Metrics of a daily net return series (see :class:`Metrics`); NaN returns count 0."""
    r = returns.fillna(0.0).to_numpy()
    n = len(r)
    years = n / annualisation if n else np.nan
    wealth = np.cumprod(1.0 + r)
    growth = wealth[-1] if n else 1.0
    sd = r.std(ddof=1) if n > 1 else np.nan
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if n else np.nan
    peak = np.maximum.accumulate(wealth) if n else np.ones(1)
    scale = np.sqrt(annualisation)
    return Metrics(
        annual_return=float(growth ** (1.0 / years) - 1.0) if growth > 0 else -1.0,
        annual_volatility=float(sd * scale),
        sharpe=float(r.mean() / sd * scale) if sd and sd > 0 else np.nan,
        sortino=float(r.mean() / downside * scale) if downside and downside > 0 else np.nan,
        max_drawdown=float(np.max(1.0 - wealth / peak)) if n else 0.0,
        turnover=float(turnover.sum() / years),
        costs=float(costs.sum() / years),
        total_costs=float(costs.sum()),
        n_days=n,
        n_rebalances=len(turnover),
    )


class _Market:
    """Point-in-time market inputs by row position, from arrays computed once."""

    def __init__(self, scores: pd.DataFrame, panel: MarketPanel, cfg: PortfolioConfig):
        self.cfg = cfg
        self.assets = scores.columns.intersection(panel.close.columns)
        if len(self.assets) < 2:
            raise InputError("backtest: scores and prices share fewer than 2 assets")
        close = panel.close[self.assets]
        self.index = close.index
        self.close = close.to_numpy(dtype=float)
        self.returns = close.pct_change(fill_method=None).to_numpy()
        self.scores = scores.reindex(index=close.index, columns=self.assets).to_numpy(float)
        self.adv = None
        if panel.volume is not None:
            # cvxportfolio's ADV: mean dollar volume of the last 21 days (one month)
            dollar = close * panel.volume.reindex(index=close.index, columns=self.assets)
            self.adv = dollar.rolling(21, min_periods=1).mean().to_numpy()

    def inputs(self, pos: int) -> MarketInputs:
        """Risk model, alphas and cost coefficients at row ``pos`` (point in time)."""
        cfg = self.cfg
        window = self.returns[max(1, pos - cfg.lookback + 1) : pos + 1]
        risk = risk_from_returns(window, cfg, self.assets)
        vol = risk.volatility()
        alpha = grinold(self.scores[pos], vol.to_numpy(), cfg.information_coefficient, cfg.z_clip)
        impact = None
        if self.adv is not None:
            coef = impact_from_adv(vol.to_numpy(), self.adv[pos], cfg)
            impact = pd.Series(coef, index=self.assets)
        tradable = pd.Series(np.isfinite(self.close[pos]), index=self.assets)
        return MarketInputs(
            alpha=pd.Series(alpha, index=self.assets),
            risk=risk,
            impact=impact,
            tradable=tradable,
        )


def run_backtest(scores: pd.DataFrame, panel: MarketPanel, cfg: PortfolioConfig) -> BacktestResult:
    """Walk-forward backtest of the model and ``cfg.benchmarks`` over the scores' dates.

    Parameters
    ----------
    scores : DataFrame, shape (n_dates, n_assets)
        Model predictions (e.g. on the holdout), dates × assets; NaN = no view.
    panel : MarketPanel
        Prices (and volume, sectors) covering the scores' dates and the look-back before.
    cfg : PortfolioConfig

    Returns
    -------
    BacktestResult
    """
    # Small dense algebra in a tight loop: one BLAS thread is faster, and several threads
    # on a shared 2-core machine oversubscribe it badly (measured: 30x slower eigh).
    with threadpool_limits(limits=1):
        return _run(scores, panel, cfg)


def _run(scores: pd.DataFrame, panel: MarketPanel, cfg: PortfolioConfig) -> BacktestResult:
    mk = _Market(scores, panel, cfg)
    assets, n = mk.assets, len(mk.assets)
    in_scores = mk.index.isin(pd.DatetimeIndex(scores.index))
    positions = np.flatnonzero(in_scores)
    positions = positions[positions >= MIN_HISTORY]
    if not len(positions):
        raise InputError("backtest: no scored date with enough price history")
    rebal_pos = positions[:: cfg.rebalance_every]
    days = np.arange(rebal_pos[0], positions[-1] + 1)
    daily = np.nan_to_num(mk.returns[days])
    sectors = None if panel.sectors is None else panel.sectors.reindex(assets)
    opt = PortfolioOptimiser(
        assets, structural_factors(cfg, n), cfg, sectors, with_impact=mk.adv is not None
    )
    strategies = [MODEL, *[b.value for b in cfg.benchmarks]]
    held = np.zeros((len(strategies), n))
    rets = np.zeros((len(days), len(strategies)))
    turn = np.zeros((len(rebal_pos), len(strategies)))
    paid = np.zeros_like(turn)
    targets, seconds, events = np.zeros((len(rebal_pos), n)), [], []
    half_spread = cfg.half_spread_bps * 1e-4
    r = 0
    for i, pos in enumerate(days):
        rp = held @ daily[i]
        rets[i] = rp
        held = held * (1.0 + daily[i]) / np.where(rp > -1.0, 1.0 + rp, np.inf)[:, None]
        if r >= len(rebal_pos) or pos != rebal_pos[r]:
            continue
        t0 = time.perf_counter()
        market = mk.inputs(pos)
        current = pd.Series(held[0], index=assets) if held[0].any() else None
        try:
            targets[r] = opt.solve(Account(current=current), market).weights.to_numpy()
        except OptimisationError as exc:
            targets[r] = held[0]
            events.append(f"{mk.index[pos].date()}: {exc}")
        seconds.append(time.perf_counter() - t0)
        new = np.vstack([targets[r], *(_benchmark(s, mk, pos) for s in strategies[1:])])
        z = np.abs(new - held)
        impact = 0.0 if market.impact is None else z**1.5 @ market.impact.to_numpy()
        paid[r] = half_spread * z.sum(axis=1) + impact
        turn[r] = z.sum(axis=1)
        rets[i] -= paid[r]
        held = new
        r += 1
    when = mk.index[rebal_pos]
    returns = pd.DataFrame(rets, index=mk.index[days], columns=strategies)
    turnover = pd.DataFrame(turn, index=when, columns=strategies)
    costs = pd.DataFrame(paid, index=when, columns=strategies)
    metrics = {
        s: performance_metrics(returns[s], turnover[s], costs[s], cfg.annualisation)
        for s in strategies
    }
    weights = pd.DataFrame(targets, index=when, columns=assets)
    return BacktestResult(
        metrics=metrics,
        returns=returns,
        weights=weights,
        turnover=turnover,
        costs=costs,
        solve_seconds=pd.Series(seconds, index=when, name="seconds"),
        events=tuple(events),
        plots=backtest_plots(returns, weights),
    )


def _benchmark(kind: str, mk: _Market, pos: int) -> np.ndarray:
    window = mk.returns[max(1, pos - mk.cfg.lookback + 1) : pos + 1]
    frame = pd.DataFrame(window, columns=mk.assets)
    return benchmark_weights(BenchmarkKind(kind), frame).to_numpy()


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def backtest_plots(returns: pd.DataFrame, weights: pd.DataFrame, top: int = 10) -> dict:
    """PNG bytes of the cumulative return, the drawdown and the model's weights over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wealth = (1.0 + returns).cumprod()
    out = {}
    fig, ax = plt.subplots(figsize=(9, 4.5))
    (wealth - 1.0).plot(ax=ax, lw=1.2)
    ax.set(title="Cumulative return (net of costs)", ylabel="return", xlabel="")
    ax.grid(alpha=0.3)
    out["cumulative_return.png"] = _png(fig)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    (wealth / wealth.cummax() - 1.0).plot(ax=ax, lw=1.0)
    ax.set(title="Drawdown", ylabel="drawdown", xlabel="")
    ax.grid(alpha=0.3)
    out["drawdown.png"] = _png(fig)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    biggest = weights.abs().mean().nlargest(top).index
    shown = weights[biggest].copy()
    shown["other"] = weights.drop(columns=biggest).sum(axis=1)
    ax.stackplot(shown.index, shown.clip(lower=0.0).T.to_numpy(), labels=shown.columns, step="post")
    ax.set(title=f"Model weights at each rebalance (top {top})", ylabel="weight", xlabel="")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    out["weights.png"] = _png(fig)
    return out


def backtest_files(result: BacktestResult) -> dict[str, bytes]:
    """Artifacts of a backtest: metrics JSON, returns/weights/turnover/costs Parquet, PNGs."""
    from governance.canonical import canonical_json

    def parquet(frame: pd.DataFrame) -> bytes:
        buf = io.BytesIO()
        out = frame.copy()
        out.index = out.index.rename("date")
        out.reset_index().to_parquet(buf, index=False)
        return buf.getvalue()

    return {
        "backtest_metrics.json": canonical_json(result.summary()),
        "backtest_returns.parquet": parquet(result.returns),
        "backtest_weights.parquet": parquet(result.weights),
        "backtest_turnover.parquet": parquet(result.turnover),
        "backtest_costs.parquet": parquet(result.costs),
        **result.plots,
    }


def record_backtest(ctx, result: BacktestResult, subject: str = "") -> dict[str, str]:
    """Store :func:`backtest_files` and record ``backtest.completed``; return name -> sha."""
    shas = {name: ctx.store.put_bytes(data) for name, data in backtest_files(result).items()}
    ctx.record("backtest.completed", subject=subject, payload=result.summary(), artifacts=shas)
    return shas
