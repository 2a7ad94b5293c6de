"""Stress losses: scenarios x weights, the contributors of each loss and the cost to exit.

Vectorised core (one matrix product for every scenario and account):

.. math:: L = -R W^\\top, \\qquad C_{s,i} = -R_{s,i} w_i

with scenario returns ``R`` (S x n), account weights ``W`` (A x n), losses ``L``
(S x A) and one book's per-asset contributions ``C`` (their row sums are the losses); a
scenario's ``k`` largest contributions are ``Series.nlargest`` of its row. Many accounts
(:func:`account_losses`) get their losses only: each named scenario's and each account's tail mean.

The cost to exit is the cost of selling the whole book under the scenario's cost
conditions, with the optimiser's cost model (``tasks.portfolio.costs.trading_costs``):
half-spread x ``spread_multiplier``, impact x ``impact_multiplier``, on today's weights.
The sampled tail loss is the expected shortfall of the sampled losses at ``tail``; its
contributors are the assets' mean contributions over the tail scenarios (they add up
to it: the Euler allocation of ES).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.portfolio.costs import trading_costs
from tasks.portfolio.risk import RiskModel
from tasks.risk.config import StressConfig
from tasks.risk.sampling import SampledScenarios, sample_scenarios
from tasks.risk.scenarios import (
    Scenario,
    historical_scenario,
    hypothetical_scenario,
    window_in_data,
)
from tasks.risk.tail import account_tail_means
from tasks.risk.var import expected_shortfall

#: Name of the sampled tail in the scenario table and the policy's stress limits.
SAMPLED_TAIL = "sampled-tail"


def scenario_losses(returns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``-R W'``: losses (S x A) of A weight vectors (A x n) in S scenarios (S x n)."""
    return -(np.asarray(returns) @ np.asarray(weights).T)


def cost_to_exit(
    weights: pd.Series,
    half_spread: float,
    impact: pd.Series | None,
    spread_multiplier: float = 1.0,
    impact_multiplier: float = 1.0,
) -> float:
    """Cost (fraction of value) of selling every holding under shocked cost conditions."""
    scaled = None if impact is None else impact * impact_multiplier
    return float(trading_costs(-weights, half_spread * spread_multiplier, scaled).sum())


@dataclass(frozen=True)
class StressResult:
    """Every scenario's loss, contributors and cost to exit, for one portfolio.

    Attributes
    ----------
    scenarios : DataFrame
        ``scenario, kind, description, loss, cost_to_exit, loss_after_costs, notes``;
        the last row is :data:`SAMPLED_TAIL` when sampling ran.
    contributors : DataFrame
        ``scenario, rank, asset, weight, asset_return, contribution`` (top ``k``).
    sampled_losses : ndarray, shape (n_scenarios,)
        Loss of each sampled scenario (empty when none).
    sampled : dict
        ``method, n_scenarios, horizon, tail, var, es`` of the sample (empty when none).
    """

    scenarios: pd.DataFrame
    contributors: pd.DataFrame
    sampled_losses: np.ndarray
    sampled: dict

    def losses(self) -> dict[str, float]:
        """scenario -> loss."""
        return dict(zip(self.scenarios.scenario, self.scenarios.loss, strict=True))

    def summary(self) -> dict:
        rows = self.scenarios[["scenario", "kind", "loss", "cost_to_exit"]]
        return {"scenarios": rows.to_dict(orient="records"), "sampled": self.sampled}


def _contributor_rows(name: str, w: pd.Series, r: pd.Series, contrib: pd.Series, k: int):
    top = contrib.nlargest(min(k, len(contrib)))
    return [
        {
            "scenario": name,
            "rank": rank + 1,
            "asset": str(asset),
            "weight": float(w[asset]),
            "asset_return": float(r[asset]),
            "contribution": float(c),
        }
        for rank, (asset, c) in enumerate(top.items())
    ]


def stress_portfolio(
    weights: pd.Series,
    scenarios: list[Scenario],
    sampled: SampledScenarios | None,
    half_spread: float,
    impact: pd.Series | None = None,
    *,
    top: int = 5,
    tail: float = 0.99,
) -> StressResult:
    """Loss, contributors and cost to exit of ``weights`` in each scenario.

    Parameters
    ----------
    weights : Series
        Weights by asset (assets absent from a scenario return 0 in it).
    scenarios : list of Scenario
        Named historical and hypothetical scenarios.
    sampled : SampledScenarios, optional
        Sampled scenarios; summarised as one :data:`SAMPLED_TAIL` row (ES at ``tail``).
    half_spread : float
        Today's half-spread (fraction), ``portfolio.half_spread_bps * 1e-4``.
    impact : Series, optional
        Impact coefficients by asset (None without volume data).
    """
    w = weights.astype(float)
    rows, contributors = [], []
    for sc in scenarios:
        r = sc.returns.reindex(w.index).fillna(0.0)
        contrib = -r * w
        cost = cost_to_exit(w, half_spread, impact, sc.spread_multiplier, sc.impact_multiplier)
        loss = float(contrib.sum())
        rows.append([sc.name, sc.kind.value, sc.description, loss, cost, "; ".join(sc.notes)])
        contributors += _contributor_rows(sc.name, w, r, contrib, top)
    sampled_losses, facts = np.empty(0), {}
    if sampled is not None:
        ws = w.reindex(sampled.assets).fillna(0.0).to_numpy()
        sampled_losses = scenario_losses(sampled.returns, ws[None, :])[:, 0]
        es = expected_shortfall(sampled_losses, tail)
        var = float(np.quantile(sampled_losses, tail))
        tail_rows = sampled_losses >= var
        mean_contrib = pd.Series(
            (-sampled.returns[tail_rows] * ws).mean(axis=0), index=sampled.assets
        )
        mean_return = pd.Series(sampled.returns[tail_rows].mean(axis=0), index=sampled.assets)
        cost = cost_to_exit(w, half_spread, impact)
        n, h = len(sampled_losses), sampled.horizon
        desc = f"ES {tail:.0%} of {n} {sampled.method.value} scenarios, {h}-day"
        rows.append([SAMPLED_TAIL, "sampled", desc, es, cost, ""])
        contributors += _contributor_rows(
            SAMPLED_TAIL, w.reindex(sampled.assets).fillna(0.0), mean_return, mean_contrib, top
        )
        facts = {
            "method": sampled.method.value,
            "n_scenarios": n,
            "horizon": h,
            "tail": tail,
            "var": var,
            "es": es,
        }
    table = pd.DataFrame(
        rows, columns=["scenario", "kind", "description", "loss", "cost_to_exit", "notes"]
    )
    table.insert(5, "loss_after_costs", table["loss"] + table["cost_to_exit"])
    return StressResult(table, pd.DataFrame(contributors), sampled_losses, facts)


def _aligned_books(holdings: dict[str, pd.Series]) -> pd.DataFrame:
    """The books as one frame (accounts x the sorted union of their assets, missing -> 0).

    Books on one shared index (a rebalance's, as ``RebalanceResult.holdings`` gives them)
    are stacked as arrays; iterating 1,000 string indexes for their union cost more than
    the stress itself (bench/bench_stress.py).
    """
    books = list(holdings.values())
    first = books[0].index if books else None
    if first is not None and first.is_unique and all(b.index is first for b in books):
        universe = first.sort_values()
        order = first.get_indexer(universe)
        # a float64 book's values as they are (half the CPU of converting each one)
        rows = [
            b.to_numpy() if b.dtype == np.float64 else b.to_numpy(dtype=float, na_value=np.nan)
            for b in books
        ]
        stacked = np.vstack(rows)[:, order]
        return pd.DataFrame(stacked, index=list(holdings), columns=universe).fillna(0.0)
    universe = pd.Index(sorted(set().union(*(w.index for w in books))))
    return pd.DataFrame(holdings).T.reindex(columns=universe).fillna(0.0)


def account_losses(
    holdings: dict[str, pd.Series],
    scenarios: list[Scenario],
    sampled: SampledScenarios | None,
    tail: float = 0.99,
) -> pd.DataFrame:
    """Loss of every account in every named scenario and in the sampled tail.

    One product ``-R W'`` for the named scenarios; the sampled ones give each account's ES
    at ``tail`` (the :data:`SAMPLED_TAIL` column), as :func:`stress_portfolio` computes it
    for one book: the mean of the losses at or above the account's ``np.quantile``. Their
    losses (A x S) are never held at once: :func:`tasks.risk.tail.account_tail_means`
    computes them a block of scenarios at a time and keeps each account's tail from the
    block while it is in cache (bench/bench_stress.py measures this function against the
    bare product and its peak memory against the loss matrix it does not allocate).

    Returns
    -------
    DataFrame, shape (n_accounts, n_scenarios [+ 1])
        Indexed by account, one column per scenario name.
    """
    w = _aligned_books(holdings)
    universe = w.columns
    out = pd.DataFrame(index=w.index)
    if scenarios:
        r = np.vstack([sc.returns.reindex(universe).fillna(0.0).to_numpy() for sc in scenarios])
        out = pd.DataFrame(
            scenario_losses(r, w.to_numpy()).T, index=w.index, columns=[s.name for s in scenarios]
        )
    if sampled is not None:
        ws = w.reindex(columns=sampled.assets).fillna(0.0).to_numpy()
        # the losses a block of scenarios at a time, each account's tail kept from the
        # block while it is in cache (tasks/risk/tail.py): no S x A matrix
        out[SAMPLED_TAIL] = account_tail_means(sampled.returns, ws, tail)
    return out


def build_scenarios(
    close: pd.DataFrame,
    sectors: pd.Series | None,
    risk: RiskModel | None,
    cfg: StressConfig,
) -> tuple[list[Scenario], list[str]]:
    """The configured named scenarios on this data, and the windows it does not cover."""
    found = [w for w in cfg.historical if window_in_data(close, w)]
    skipped = [w.name for w in cfg.historical if w not in found]
    named = [historical_scenario(close, w) for w in found]
    named += [hypothetical_scenario(s, close.columns, sectors, risk) for s in cfg.hypothetical]
    return named, skipped


def run_stress(
    weights: pd.Series,
    close: pd.DataFrame,
    sectors: pd.Series | None,
    risk: RiskModel | None,
    window: pd.DataFrame,
    cfg: StressConfig,
    half_spread: float,
    impact: pd.Series | None = None,
    n_scenarios: int | None = None,
) -> tuple[StressResult, list[str]]:
    """Named and sampled scenarios of ``cfg`` on ``weights``; ``(result, skipped windows)``.

    ``window`` is the daily returns the sampler draws from (the risk model's window);
    ``n_scenarios`` overrides ``cfg.sampled.n_scenarios`` (0: no sampling).
    """
    named, skipped = build_scenarios(close, sectors, risk, cfg)
    sampling = cfg.sampled
    if n_scenarios is not None and n_scenarios > 0:
        sampling = sampling.model_copy(update={"n_scenarios": n_scenarios})
    sampled = None if n_scenarios == 0 else sample_scenarios(window, sampling)
    result = stress_portfolio(
        weights,
        named,
        sampled,
        half_spread,
        impact,
        top=cfg.top_contributors,
        tail=sampling.tail,
    )
    return result, skipped
