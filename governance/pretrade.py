"""Pre-trade limit gate: checks target weights against the policy, independently of the solver.

Defence in depth: the optimiser's own constraints are not trusted. This module uses only
numpy and pandas (no cvxpy), reads the limits from the policy's ``pretrade`` section
(:class:`governance.policy.PretradeLimits`) and returns every breach with the asset or
sector and the numbers. Any breach blocks the portfolio (``governance.gates.pretrade_gate``).

Checks, each within ``limits.tolerance``:

=============  ===========================================================================
check          rule
=============  ===========================================================================
finite         every weight is a finite number
budget         sum of weights equals ``budget`` (1 fully invested, 0 dollar-neutral)
max_weight     each weight <= ``max_weight``
min_weight     each weight >= ``min_weight``
sector         each sector's net weight within ``±max_sector_weight``
turnover       sum |w - w_prev| <= ``max_turnover`` (skipped when funding from cash)
leverage       sum |w| <= ``max_gross_leverage``
restricted     a restricted asset holds no more than before: |w| <= |w_prev|, same sign
=============  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.policy import PretradeLimits, StressLimits


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


def _each(check: str, values: pd.Series, limit: float, over: pd.Series) -> list[Breach]:
    return [Breach(check, str(k), float(values[k]), float(limit)) for k in values.index[over]]


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
        Weights held now; assets missing on either side count as 0. None: the portfolio
        is funded from cash, so turnover is not capped and restricted assets must be 0.
    sectors : Series or None
        asset -> sector; the sector check is skipped without it. Assets with no sector
        are not in any sector sum.
    limits : PretradeLimits
        The tier's ``pretrade`` section.

    Returns
    -------
    list of Breach
        In check order (finite, budget, weights, sectors, turnover, leverage, restricted).
    """
    tol = limits.tolerance
    w = pd.to_numeric(weights, errors="coerce").astype(float)
    finite = np.isfinite(w.to_numpy())
    out = [Breach("finite", str(a), float(w[a]), 0.0) for a in w.index[~finite]]
    w = w.where(finite, 0.0)
    prev = pd.Series(0.0, index=w.index) if prev_weights is None else prev_weights.astype(float)
    index = w.index.union(prev.index)
    w, prev = w.reindex(index, fill_value=0.0), prev.reindex(index).fillna(0.0)

    if limits.budget is not None and abs(w.sum() - limits.budget) > tol:
        out.append(Breach("budget", "", float(w.sum()), limits.budget))
    out += _each("max_weight", w, limits.max_weight, w > limits.max_weight + tol)
    out += _each("min_weight", w, limits.min_weight, w < limits.min_weight - tol)
    if sectors is not None:
        net = w.groupby(sectors.reindex(index)).sum()  # NaN sectors are dropped
        out += _each(
            "sector", net, limits.max_sector_weight, net.abs() > limits.max_sector_weight + tol
        )
    turnover = float((w - prev).abs().sum())
    if prev_weights is not None and turnover > limits.max_turnover + tol:
        out.append(Breach("turnover", "", turnover, limits.max_turnover))
    gross = float(w.abs().sum())
    if gross > limits.max_gross_leverage + tol:
        out.append(Breach("leverage", "", gross, limits.max_gross_leverage))
    restricted = index.intersection(pd.Index(limits.restricted))
    if len(restricted):
        wr, pr = w[restricted], prev[restricted]
        grown = (wr.abs() > pr.abs() + tol) | ((wr * pr < 0) & (wr.abs() > tol))
        out += [
            Breach("restricted", str(a), float(wr[a]), float(pr[a]))
            for a in restricted[grown.to_numpy()]
        ]
    return out


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
