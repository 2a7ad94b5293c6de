"""Overlays and restrictions at the moment of use: pure functions the rebalance composes.

The documents and who may sign them: governance/decisions/overlays.py. Here:

- :func:`market_vol`: the market's realised volatility over the last ``window`` days (the
  equal-weighted average of the assets' daily simple returns; its standard deviation times
  the square root of the days in a year), the market state a ``max_market_vol`` restriction
  reads;
- :func:`restriction_breaches`: one line per restriction the day breaches (the model may not
  drive: the rebalance publishes the fallback and records ``gate.restriction``);
- :func:`tightened` and :func:`alpha_scale`: the overlays as the rebalance applies them — the
  tier's pre-trade limits with the excluded names restricted and the single-name cap
  tightened (so the independent pre-trade gate enforces them too), and the factor on the
  alphas;
- :func:`impact`: the book with the overlays against the book the model alone would have
  made (L1 distance and each asset's change), shown with every publication.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from governance.decisions.overlays import OVERLAY_KIND, RESTRICTION_KIND, Adjustment

__all__ = ["alpha_scale", "impact", "market_vol", "restriction_breaches", "tightened"]

#: One month of trading days, the window of ``max_market_vol``.
MONTH = 21


def market_vol(close: pd.DataFrame, annualisation: int, window: int = MONTH) -> float:
    """Annualised realised volatility of the equal-weighted market over the last ``window``
    daily returns (NaN returns skipped per day; NaN when fewer than two days)."""
    market = close.pct_change(fill_method=None).mean(axis=1, skipna=True).dropna()
    tail = market.iloc[-window:]
    return float(tail.std(ddof=1) * math.sqrt(annualisation)) if len(tail) > 1 else math.nan


def restriction_breaches(
    adjustments: Sequence[Adjustment], *, book_value: float, vol: float
) -> list[str]:
    """One line per restriction of use the day breaches (an unknown state breaches)."""
    out = []
    for a in adjustments:
        if a.kind != RESTRICTION_KIND:
            continue
        if a.rule == "max_book_value" and not book_value <= a.value:
            out.append(f"{a.line()}: book value {book_value:,.0f} above {a.value:,.0f}")
        if a.rule == "max_market_vol" and not vol <= a.value:
            out.append(f"{a.line()}: 1-month realised market volatility {vol:.4f} above"
                       f" {a.value}")  # fmt: skip
    return out


def overlays(adjustments: Sequence[Adjustment]) -> list[Adjustment]:
    """The overlays among ``adjustments`` (restrictions left out)."""
    return [a for a in adjustments if a.kind == OVERLAY_KIND]


def tightened(limits, adjustments: Sequence[Adjustment]):
    """``limits`` (a tier's ``PretradeLimits``) with the overlays' exclusions and caps."""
    excluded = {x for a in overlays(adjustments) if a.rule == "exclude" for x in a.value}
    caps = [float(a.value) for a in overlays(adjustments) if a.rule == "cap"]
    update = {"restricted": sorted(set(limits.restricted) | excluded)}
    if caps:
        update["max_weight"] = min([limits.max_weight, *caps])
    return limits.model_copy(update=update)


def alpha_scale(adjustments: Sequence[Adjustment]) -> float:
    """The product of the overlays' alpha scales (1.0: none)."""
    return math.prod(float(a.value) for a in overlays(adjustments) if a.rule == "scale")


def impact(adjusted: pd.Series, unadjusted: pd.Series | None) -> dict:
    """``{l1, changes: {asset: adjusted - unadjusted}}`` (None: no unadjusted book)."""
    if unadjusted is None:
        return {"l1": None, "changes": {}}
    both = pd.concat([adjusted, unadjusted], axis=1).fillna(0.0)
    delta = both.iloc[:, 0] - both.iloc[:, 1]
    changed = delta[delta.abs() > 1e-9].sort_index()
    return {
        "l1": float(delta.abs().sum()),
        "changes": {str(k): float(v) for k, v in changed.items()},
    }
