"""Scenarios as asset returns: historical replays of named windows and hypothetical shocks.

A :class:`Scenario` is one vector of asset returns over the scenario plus the cost
conditions of exiting in it; ``tasks/risk/stress.py`` turns scenarios and weights into
losses. Sampled scenarios come from ``tasks/risk/sampling.py`` as a matrix instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from tasks.portfolio.risk import RiskModel
from tasks.risk.config import HistoricalWindow, Shock
from tasks.risk.decomposition import oriented


class ScenarioKind(StrEnum):
    HISTORICAL = "historical"
    HYPOTHETICAL = "hypothetical"
    SAMPLED = "sampled"


@dataclass(frozen=True)
class Scenario:
    """One named scenario.

    Attributes
    ----------
    name, kind, description : str
    returns : Series
        Simple return of each asset over the scenario (0 where unknown; see ``notes``).
    spread_multiplier, impact_multiplier : float
        Cost conditions of exiting in this scenario (1: today's costs).
    notes : tuple of str
        What the scenario could not cover (assets without prices, sectors not held ...).
    """

    name: str
    kind: ScenarioKind
    description: str
    returns: pd.Series
    spread_multiplier: float = 1.0
    impact_multiplier: float = 1.0
    notes: tuple[str, ...] = ()


def window_in_data(close: pd.DataFrame, window: HistoricalWindow) -> bool:
    """The data starts on or before ``window.start`` and ends on or after ``window.end``."""
    first, last = close.index[0], close.index[-1]
    return first <= pd.Timestamp(window.start) and last >= pd.Timestamp(window.end)


def window_returns_between(close: pd.DataFrame, start, end) -> tuple[pd.Series, tuple, tuple]:
    """Buy-and-hold return of each asset from ``start`` to ``end``.

    ``P_0`` is the last close on or before ``start``, ``P_1`` the last on or before
    ``end``: ``r = P_1 / P_0 - 1``. Returns ``(returns, (date0, date1), missing)`` with
    the assets lacking either price (their return is NaN).
    """
    before = close.loc[: pd.Timestamp(start)]
    upto = close.loc[: pd.Timestamp(end)]
    p0, p1 = before.iloc[-1], upto.iloc[-1]
    returns = p1 / p0 - 1.0
    missing = tuple(str(a) for a in returns.index[returns.isna()])
    return returns, (before.index[-1], upto.index[-1]), missing


def historical_scenario(close: pd.DataFrame, window: HistoricalWindow) -> Scenario:
    """Replay ``window`` on today's weights: each asset's buy-and-hold return in it.

    Assets without a price at either end (not listed yet, delisted) return 0 and are
    named in ``notes``: the replay says what it could not price.
    """
    returns, (d0, d1), missing = window_returns_between(close, window.start, window.end)
    notes = (f"no price for {', '.join(missing)}: counted as 0",) if missing else ()
    return Scenario(
        name=window.name,
        kind=ScenarioKind.HISTORICAL,
        description=window.description or f"{d0.date()}..{d1.date()}",
        returns=returns.fillna(0.0).rename(window.name),
        notes=(f"{d0.date()}..{d1.date()}", *notes),
    )


def hypothetical_scenario(
    shock: Shock, assets: pd.Index, sectors: pd.Series | None, risk: RiskModel | None
) -> Scenario:
    """Asset returns of ``shock`` (additive moves, see :class:`~tasks.risk.config.Shock`).

    Parameters
    ----------
    shock : Shock
    assets : Index
        The universe.
    sectors : Series, optional
        asset -> sector (sector moves need it).
    risk : RiskModel, optional
        Statistical factors for factor moves (oriented: factor 1 is the market).
    """
    r = pd.Series(shock.market, index=assets, dtype=float)
    notes = []
    if shock.sectors:
        if sectors is None:
            notes.append("no sector map: sector moves not applied")
        else:
            sec = sectors.reindex(assets)
            r += sec.map(shock.sectors).fillna(0.0).astype(float)
            absent = sorted(set(shock.sectors) - set(sec.dropna()))
            if absent:
                notes.append(f"sectors not in the universe: {', '.join(absent)}")
    for asset, move in shock.assets.items():
        if asset in r.index:
            r[asset] += move
        else:
            notes.append(f"asset {asset} not in the universe")
    if shock.factors:
        if risk is None:
            notes.append("no risk model: factor moves not applied")
        else:
            model = oriented(risk)
            sigma = np.sqrt(np.clip(np.diag(model.factor_cov), 0.0, None))
            moves = np.zeros(model.n_factors)
            for k, sigmas in shock.factors.items():
                if k <= model.n_factors:
                    moves[k - 1] = sigmas * sigma[k - 1]
                else:
                    notes.append(f"factor {k} not in the risk model ({model.n_factors})")
            r += pd.Series(model.exposures @ moves, index=model.assets).reindex(assets).fillna(0)
    return Scenario(
        name=shock.name,
        kind=ScenarioKind.HYPOTHETICAL,
        description=shock.description,
        # a move below -100 % would lose more than the holding
        returns=r.clip(lower=-1.0).rename(shock.name),
        spread_multiplier=shock.spread_multiplier,
        impact_multiplier=shock.impact_multiplier,
        notes=tuple(notes),
    )
