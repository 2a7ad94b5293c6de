"""Pre-trade limit gate: checks target weights against the policy, independently of the solver.

Defence in depth: the optimiser's own constraints are not trusted. This module uses only
numpy and pandas (no cvxpy), reads the limits from the policy's ``pretrade`` section
(:class:`governance.policy.schema.PretradeLimits`) and returns every breach with the asset or
sector and the numbers. Any breach blocks the portfolio (``governance.decisions.gates.pretrade_gate``).

Checks, each within ``limits.tolerance`` (one function each, run in :data:`CHECKS` order;
a new limit is one more function ``(Proposal, PretradeLimits) -> list[Breach]``):

=============  ===========================================================================
check          rule
=============  ===========================================================================
finite         every weight is a finite number
budget         sum of weights equals ``budget`` (1 fully invested, 0 dollar-neutral);
               skipped for an all-cash target
max_weight     each weight <= ``max_weight``
min_weight     each weight >= ``min_weight``
sector         each sector's net weight within ``±max_sector_weight``
turnover       sum |w - w_prev| <= ``max_turnover`` (skipped when funding from cash or
               going to cash)
leverage       sum |w| <= ``max_gross_leverage``
restricted     a restricted asset holds no more than before: |w| <= |w_prev|, same sign
=============  ===========================================================================

:func:`funded_from_cash` is the one rule for "this is a first investment, not a
rebalance": the optimiser, the backtest and this gate all ask it. Its mirror: an all-cash
target (the policy's ``flat`` fallback) sells everything; it adds no risk, so neither the
budget nor the turnover cap may block it (every other check still applies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.policy.schema import PretradeLimits, StressLimits


def funded_from_cash(prev_weights: pd.Series | np.ndarray | None) -> bool:
    """True when nothing is held: no previous weights, or all of them zero (e.g. after a
    ``flat`` fallback). Such a portfolio is bought from cash, so no turnover cap applies.

    Non-finite previous weights count as zero.
    """
    if prev_weights is None:
        return True
    held = np.asarray(prev_weights, dtype=float)
    return not np.any(np.isfinite(held) & (held != 0.0))


@dataclass(frozen=True)
class Breach:
    """One limit breach: which check, on which asset or sector, value against limit."""

    check: str
    subject: str
    value: float
    limit: float

    def __str__(self) -> str:
        where = f" {self.subject}" if self.subject else ""
        return f"{self.check}{where}: {self.value:.6g} breaches limit {self.limit:.6g}"

    def payload(self) -> dict:
        return {
            "check": self.check,
            "subject": self.subject,
            "value": self.value if np.isfinite(self.value) else None,
            "limit": self.limit,
        }


@dataclass(frozen=True)
class Proposal:
    """What the checks see: target and previous weights on one index, and the sectors.

    ``weights`` has non-finite values set to 0 (reported once, by the ``finite`` check,
    from ``raw``); ``prev`` is 0 where nothing was held; ``to_cash``: every target weight
    is exactly 0.
    """

    raw: pd.Series
    weights: pd.Series
    prev: pd.Series
    sectors: pd.Series | None
    from_cash: bool
    to_cash: bool


def _each(check: str, values: pd.Series, limit: float, over: pd.Series) -> list[Breach]:
    return [Breach(check, str(k), float(values[k]), float(limit)) for k in values.index[over]]


def check_finite(p: Proposal, limits: PretradeLimits) -> list[Breach]:
    bad = ~np.isfinite(p.raw.to_numpy())
    return [Breach("finite", str(a), float(p.raw[a]), 0.0) for a in p.raw.index[bad]]


def check_budget(p: Proposal, limits: PretradeLimits) -> list[Breach]:
    total = float(p.weights.sum())
    if p.to_cash or limits.budget is None:
        return []
    if abs(total - limits.budget) > limits.tolerance:
        return [Breach("budget", "", total, limits.budget)]
    return []


def check_weights(p: Proposal, limits: PretradeLimits) -> list[Breach]:
    w, tol = p.weights, limits.tolerance
    return _each("max_weight", w, limits.max_weight, w > limits.max_weight + tol) + _each(
        "min_weight", w, limits.min_weight, w < limits.min_weight - tol
    )


def check_sectors(p: Proposal, limits: PretradeLimits) -> list[Breach]:
    if p.sectors is None:
        return []
    net = p.weights.groupby(p.sectors.reindex(p.weights.index)).sum()  # NaN sectors dropped
    cap = limits.max_sector_weight
    return _each("sector", net, cap, net.abs() > cap + limits.tolerance)


def check_turnover(p: Proposal, limits: PretradeLimits) -> list[Breach]:
    turnover = float((p.weights - p.prev).abs().sum())
    if not (p.from_cash or p.to_cash) and turnover > limits.max_turnover + limits.tolerance:
        return [Breach("turnover", "", turnover, limits.max_turnover)]
    return []


def check_leverage(p: Proposal, limits: PretradeLimits) -> list[Breach]:
    gross = float(p.weights.abs().sum())
    if gross > limits.max_gross_leverage + limits.tolerance:
        return [Breach("leverage", "", gross, limits.max_gross_leverage)]
    return []


def check_restricted(p: Proposal, limits: PretradeLimits) -> list[Breach]:
    restricted = p.weights.index.intersection(pd.Index(limits.restricted))
    if not len(restricted):
        return []
    tol = limits.tolerance
    wr, pr = p.weights[restricted], p.prev[restricted]
    grown = (wr.abs() > pr.abs() + tol) | ((wr * pr < 0) & (wr.abs() > tol))
    return [
        Breach("restricted", str(a), float(wr[a]), float(pr[a]))
        for a in restricted[grown.to_numpy()]
    ]


Check = Callable[[Proposal, PretradeLimits], list[Breach]]
#: The checks in report order.
CHECKS: tuple[Check, ...] = (
    check_finite,
    check_budget,
    check_weights,
    check_sectors,
    check_turnover,
    check_leverage,
    check_restricted,
)


def proposal(
    weights: pd.Series, prev_weights: pd.Series | None, sectors: pd.Series | None
) -> Proposal:
    """Align target and previous weights (missing = 0) for the checks."""
    raw = pd.to_numeric(weights, errors="coerce").astype(float)
    w = raw.where(np.isfinite(raw.to_numpy()), 0.0)
    prev = pd.Series(0.0, index=w.index) if prev_weights is None else prev_weights.astype(float)
    index = w.index.union(prev.index)
    return Proposal(
        raw=raw,
        weights=w.reindex(index, fill_value=0.0),
        prev=prev.reindex(index).fillna(0.0),
        sectors=sectors,
        from_cash=funded_from_cash(prev_weights),
        to_cash=bool(np.isfinite(raw.to_numpy()).all() and (raw == 0.0).all()),
    )


def check_pretrade(
    weights: pd.Series,
    prev_weights: pd.Series | None,
    sectors: pd.Series | None,
    limits: PretradeLimits,
) -> list[Breach]:
    """Every limit breach of ``weights`` (empty list: the portfolio may trade).

    Parameters
    ----------
    weights : Series, shape (n,)
        Target weights by asset. NaN or infinite weights are breaches (``finite``) and are
        counted as 0 in the aggregate checks so that each problem is reported once.
    prev_weights : Series or None
        Weights held now; assets missing on either side count as 0. None or all zero:
        funded from cash (:func:`funded_from_cash`), so turnover is not capped and
        restricted assets must be 0.
    sectors : Series or None
        asset -> sector; the sector check is skipped without it. Assets with no sector
        are not in any sector sum.
    limits : PretradeLimits
        The tier's ``pretrade`` section.

    Returns
    -------
    list of Breach
        In :data:`CHECKS` order (finite, budget, weights, sectors, turnover, leverage,
        restricted).
    """
    p = proposal(weights, prev_weights, sectors)
    return [b for check in CHECKS for b in check(p, limits)]


def check_stress(
    losses: dict[str, float], limits: StressLimits, sampled_tail: str = "sampled-tail"
) -> list[Breach]:
    """Every stressed loss above its limit (empty list: the portfolio may trade).

    Parameters
    ----------
    losses : dict
        scenario name -> loss (fraction of value, positive = loss), as
        ``tasks.risk.stress.StressResult.losses()`` returns; ``sampled_tail`` names the
        expected shortfall of the sampled scenarios.
    limits : StressLimits
        The tier's ``stress`` section: a scenario's own limit, else ``max_scenario_loss``;
        the sampled tail against ``max_sampled_tail_loss``.

    Returns
    -------
    list of Breach
        Check ``stress``, subject the scenario, in the order of ``losses``. A loss that is
        not a finite number breaches any limit set for it (fail closed).
    """
    out = []
    for name, loss in losses.items():
        if name == sampled_tail:
            limit = limits.max_sampled_tail_loss
        else:
            limit = limits.scenarios.get(name, limits.max_scenario_loss)
        if limit is not None and not float(loss) <= limit:
            out.append(Breach("stress", name, float(loss), float(limit)))
    return out
