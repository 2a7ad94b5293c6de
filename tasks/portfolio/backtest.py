"""Walk-forward backtest of the model portfolio beside the benchmarks.

At every ``rebalance_every``-th date of the scores frame the model portfolio is rebuilt
point-in-time with the live rebalance's own parts: the market inputs of
``tasks.portfolio.market`` (risk model, alphas, impact, tracking benchmark), one compiled
optimiser re-solved with the drifted holdings as previous weights, under the config
tightened to the policy's pre-trade limits, with the same funding-from-cash rule
(``governance.decisions.pretrade.funded_from_cash``). The benchmarks are rebuilt on the same dates. Between rebalances weights drift with prices; each trade pays the optimiser's
cost model (half-spread, plus 3/2-power impact when the panel has volume), charged on the
rebalance day. Returns are simple daily returns of the close; an asset without a price
on a day contributes a zero return that day.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from governance.ground.canonical import canonical_json
from governance.ground.errors import InputError
from governance.policy.schema import PretradeLimits
from tasks.data.calendar import TRADING_DAYS
from tasks.data.market import MarketPanel
from tasks.model.dataset import frame_to_parquet
from tasks.model.stats import (
    annualised_volatility,
    drawdown,
    forward_returns,
    panel_ic,
    sharpe_ratio,
    sortino_ratio,
)
from tasks.portfolio.config import BenchmarkKind, PortfolioConfig
from tasks.portfolio.costs import asset_costs
from tasks.portfolio.market import MarketHistory
from tasks.portfolio.optimiser.core import (
    Account,
    OptimisationError,
    PortfolioOptimiser,
    structural_factors,
)

MODEL = "model"
#: Fewest daily returns a rebalance needs before the first estimate (one month).
MIN_HISTORY = 21


@dataclass(frozen=True)
class Metrics:
    """Performance of one strategy; annualised with ``PortfolioConfig.annualisation``.

    ``annual_return`` is geometric; ``sharpe``/``sortino`` use a zero risk-free rate;
    ``max_drawdown`` is positive (0.2 = a 20 % fall from the peak), measured from the
    initial wealth (:func:`drawdown`); ``turnover`` is the
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
        Wall time of the model's rebalance: the wait for its market inputs (risk model,
        alphas, impact; computed one rebalance ahead on a second thread) + the solve.
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
    returns: pd.Series, turnover: pd.Series, costs: pd.Series, annualisation: int = TRADING_DAYS
) -> Metrics:
    """Metrics of a daily net return series (see :class:`Metrics`); Sharpe, Sortino,
    volatility and drawdown from ``tasks.model.stats`` (its NaN rule: skipped)."""
    r = returns.dropna().to_numpy()
    n = len(r)
    years = n / annualisation if n else np.nan
    growth = np.prod(1.0 + r) if n else 1.0
    return Metrics(
        annual_return=float(growth ** (1.0 / years) - 1.0) if growth > 0 else -1.0,
        annual_volatility=annualised_volatility(r, annualisation),
        sharpe=sharpe_ratio(r, annualisation),
        sortino=sortino_ratio(r, annualisation),
        max_drawdown=float(-drawdown(returns).min()) if n else 0.0,
        turnover=float(turnover.sum() / years),
        costs=float(costs.sum() / years),
        total_costs=float(costs.sum()),
        n_days=n,
        n_rebalances=len(turnover),
    )


def run_backtest(
    scores: pd.DataFrame,
    panel: MarketPanel,
    cfg: PortfolioConfig,
    limits: PretradeLimits | None = None,
    label: str | None = None,
) -> BacktestResult:
    """Walk-forward backtest of the model and ``cfg.benchmarks`` over the scores' dates.

    ``label`` (e.g. ``"small-e2e v3, holdout"``) names the model in the plots' titles.

    Parameters
    ----------
    scores : DataFrame, shape (n_dates, n_assets)
        Model predictions (e.g. on the holdout), dates × assets; NaN = no view.
    panel : MarketPanel
        Prices (and volume, sectors) covering the scores' dates and the look-back before.
    cfg : PortfolioConfig
    limits : PretradeLimits, optional
        The policy's pre-trade limits: the model is optimised under
        ``cfg.within(limits)``, as the live rebalance is, and every strategy (benchmarks
        too) pays that config's costs.

    Returns
    -------
    BacktestResult
    """
    tight = cfg if limits is None else cfg.within(limits)
    # Small dense algebra in a tight loop: one BLAS thread is faster, and several threads
    # on a shared 2-core machine oversubscribe it badly (measured: 30x slower eigh).
    with threadpool_limits(limits=1), ThreadPoolExecutor(1, "backtest-inputs") as ahead:
        return _run(scores, panel, tight, label, ahead)


def _run(
    scores: pd.DataFrame,
    panel: MarketPanel,
    cfg: PortfolioConfig,
    label: str | None,
    ahead: ThreadPoolExecutor,
) -> BacktestResult:
    mk = MarketHistory(panel, cfg, scores.columns.intersection(panel.close.columns))
    assets, n = mk.assets, len(mk.assets)
    if n < 2:
        raise InputError("backtest: scores and prices share fewer than 2 assets")
    values = scores.reindex(index=mk.index, columns=assets).to_numpy(dtype=float)
    in_scores = mk.index.isin(pd.DatetimeIndex(scores.index))
    positions = np.flatnonzero(in_scores)
    positions = positions[positions >= MIN_HISTORY]
    if not len(positions):
        raise InputError("backtest: no scored date with enough price history")
    rebal_pos = positions[:: cfg.rebalance_every]
    days = np.arange(rebal_pos[0], positions[-1] + 1)
    daily = np.nan_to_num(mk.returns[days])
    opt = PortfolioOptimiser(
        assets, structural_factors(cfg, n), cfg, mk.sectors, with_impact=mk.adv is not None
    )
    strategies = [MODEL, *[BenchmarkKind(b).value for b in cfg.benchmarks]]
    held = np.zeros((len(strategies), n))
    rets = np.zeros((len(days), len(strategies)))
    turn = np.zeros((len(rebal_pos), len(strategies)))
    paid = np.zeros_like(turn)
    targets, seconds, events = np.zeros((len(rebal_pos), n)), [], []
    half_spread = cfg.half_spread_bps * 1e-4

    def point_in_time(pos: int):
        """A rebalance's market inputs and benchmark weights: they read the market up to
        ``pos`` and nothing the backtest holds, so each is computed one rebalance ahead on
        ``ahead``'s thread while the optimiser solves the previous one (the eigen-
        decomposition and the solver release the GIL)."""
        bench = [mk.benchmark(BenchmarkKind(s), pos) for s in strategies[1:]]
        return mk.inputs(pos, values[pos]), bench

    pending = ahead.submit(point_in_time, rebal_pos[0])
    r = 0
    for i, pos in enumerate(days):
        rp = held @ daily[i]
        rets[i] = rp
        held = held * (1.0 + daily[i]) / np.where(rp > -1.0, 1.0 + rp, np.inf)[:, None]
        if r >= len(rebal_pos) or pos != rebal_pos[r]:
            continue
        t0 = time.perf_counter()
        market, bench = pending.result()
        if r + 1 < len(rebal_pos):
            pending = ahead.submit(point_in_time, rebal_pos[r + 1])
        try:
            current = pd.Series(held[0], index=assets)
            targets[r] = opt.solve(Account(current=current), market).weights.to_numpy()
        except OptimisationError as exc:
            targets[r] = held[0]
            events.append(f"{mk.index[pos].date()}: {exc}")
        seconds.append(time.perf_counter() - t0)
        new = np.vstack([targets[r], *bench])
        impact = None if market.impact is None else market.impact.to_numpy()
        paid[r] = asset_costs(new - held, half_spread, impact).sum(axis=1)
        turn[r] = np.abs(new - held).sum(axis=1)
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
        plots=backtest_plots(returns, weights, label=label),
    )


def backtest_plots(
    returns: pd.DataFrame, weights: pd.DataFrame, top: int = 10, label: str | None = None
) -> dict:
    """PNG bytes of the cumulative return, the drawdown and the model's weights over time.

    Returns and weights are fractions, drawn on percent axes; each series has its own colour
    (:func:`governance.ground.charts.palette`); titles name ``label`` (the model) and the period.
    """
    from governance.ground.charts import palette, percent_axis, png, pyplot, title

    plt = pyplot()
    period = (returns.index.min(), returns.index.max()) if len(returns) else None
    wealth = (1.0 + returns).cumprod()
    out = {}
    colours = palette(len(returns.columns))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    (wealth - 1.0).plot(ax=ax, lw=1.2, color=colours)
    ax.set(
        title=title("Cumulative return, net of costs", label, period), ylabel="return", xlabel=""
    )
    percent_axis(ax)
    ax.grid(alpha=0.3)
    out["cumulative_return.png"] = png(fig)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    drawdown(returns).plot(ax=ax, lw=1.0, color=colours)
    ax.set(title=title("Drawdown from the peak", label, period), ylabel="drawdown", xlabel="")
    percent_axis(ax)
    ax.grid(alpha=0.3)
    out["drawdown.png"] = png(fig)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    biggest = weights.abs().mean().nlargest(top).index
    shown = weights[biggest].copy()
    shown["other"] = weights.drop(columns=biggest).sum(axis=1)
    ax.stackplot(shown.index, shown.clip(lower=0.0).T.to_numpy(), labels=shown.columns,
                 step="post", colors=palette(len(shown.columns)))  # fmt: skip
    ax.set(title=title(f"Model weights at each rebalance (top {top} and other)", label, period),
           ylabel="weight", xlabel="")  # fmt: skip
    percent_axis(ax)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    out["weights.png"] = png(fig)
    return out


def _parquet(frame: pd.DataFrame) -> bytes:
    """A dates-indexed frame as Parquet with a ``date`` column (``frame_to_parquet``)."""
    return frame_to_parquet(frame.rename_axis("date").reset_index())


def store_backtest(store, result: BacktestResult) -> dict[str, str]:
    """Store a backtest's artifacts; return name -> SHA-256 for ``backtest.completed``.

    ``backtest/summary.json`` (:meth:`BacktestResult.summary`), ``backtest/returns.parquet``,
    ``backtest/weights.parquet``, ``backtest/turnover.parquet``, ``backtest/costs.parquet``
    (a ``date`` column, then one column per strategy or asset) and the PNG plots.
    """
    files = {
        "summary.json": canonical_json(result.summary()),
        "returns.parquet": _parquet(result.returns),
        "weights.parquet": _parquet(result.weights),
        "turnover.parquet": _parquet(result.turnover),
        "costs.parquet": _parquet(result.costs),
        **result.plots,
    }
    return {f"backtest/{name}": store.put_bytes(data) for name, data in files.items()}


def one_day_rank_ic(scores: pd.DataFrame, close: pd.DataFrame) -> pd.Series:
    """Each scored date's rank IC against the next day's return (dates × assets frames):
    what the holdout promised, the statistic a paper mark realises (tasks/portfolio/
    paper_record.py) and the graduation gate compares (validation/graduation.py)."""
    return panel_ic(scores, forward_returns(close.sort_index(), 1).reindex(columns=scores.columns))


def store_promise(store, rank_ic: pd.Series) -> dict[str, str]:
    """``backtest/rank_ic.parquet`` (``date``, ``ic``) beside the backtest's artifacts."""
    return {"backtest/rank_ic.parquet": store.put_bytes(_parquet(rank_ic.rename("ic").to_frame()))}


def read_promise(store, artifacts: dict) -> tuple[pd.Series, pd.Series]:
    """The holdout's daily one-day rank IC and the model's daily net return, from a
    ``backtest.completed`` entry's artifacts (re-hashed; ``KeyError``: not recorded)."""
    import io

    import pyarrow.parquet as pq

    def frame(name: str) -> pd.DataFrame:
        data = store.read_bytes(artifacts[f"backtest/{name}"])
        return pq.read_table(io.BytesIO(data)).to_pandas().set_index("date")

    return frame("rank_ic.parquet")["ic"], frame("returns.parquet")[MODEL]
