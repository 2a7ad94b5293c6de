"""Risk analytics and stress configuration: the ``risk:`` and ``stress:`` run-config sections.

This module imports no numerical stack, so the run config validates without numpy work.

Units: returns and losses are fractions of portfolio value (a loss of 0.12 is -12 %);
hypothetical moves are simple returns over the scenario; factor moves are in standard
deviations of the statistical factor's daily return.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field, model_validator

from governance.ground.configio import StrictModel
from tasks.portfolio.config import BenchmarkKind


class RiskConfig(StrictModel):
    """The ``risk:`` section: decomposition and VaR of each published portfolio.

    The risk model itself is the optimiser's (``portfolio.risk_model``, ``n_factors``,
    ``lookback`` in ``tasks/portfolio/risk.py``); this section only says what to report.
    """

    # 95 % and 99 %: the Basel market-risk confidence levels (VaR 99 %, ES 97.5 %) bracketed.
    confidence: list[float] = Field(default_factory=lambda: [0.95, 0.99], min_length=1)
    # 1 day and one month (21 trading days); the 21-day figures scale with sqrt(h) (var.py).
    horizons: list[int] = Field(default_factory=lambda: [1, 21], min_length=1)
    benchmark: BenchmarkKind = BenchmarkKind.EQUAL_WEIGHT
    top_contributors: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _levels(self) -> RiskConfig:
        for c in self.confidence:
            if not 0.5 < c < 1.0:
                raise ValueError(f"confidence {c} must be in (0.5, 1)")
        for h in self.horizons:
            if h < 1:
                raise ValueError(f"horizon {h} must be >= 1 day")
        return self


class HistoricalWindow(StrictModel):
    """A named window replayed on today's weights: buy and hold from ``start`` to ``end``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    start: dt.date
    end: dt.date
    description: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> HistoricalWindow:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class Shock(StrictModel):
    """A hypothetical scenario: moves added together per asset, plus a cost shock.

    Asset ``i`` in sector ``s`` returns ``market + sectors[s] + assets[i] +
    sum_k factors[k] * sigma_k * F[i, k]``, with ``F`` the statistical factor exposures
    (factor 1 oriented so the equal-weight book is long it) and ``sigma_k`` its daily
    volatility. The cost to exit multiplies the half-spread by ``spread_multiplier`` and
    the impact coefficient by ``impact_multiplier`` (``tasks/portfolio/costs.py``).
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    description: str = ""
    market: float = Field(0.0, gt=-1.0)
    sectors: dict[str, float] = Field(default_factory=dict)
    assets: dict[str, float] = Field(default_factory=dict)
    factors: dict[int, float] = Field(default_factory=dict)  # 1-based factor -> sigmas
    spread_multiplier: float = Field(1.0, ge=0.0)
    impact_multiplier: float = Field(1.0, ge=0.0)

    @model_validator(mode="after")
    def _moves(self) -> Shock:
        for where, moves in (("sectors", self.sectors), ("assets", self.assets)):
            for key, move in moves.items():
                if move <= -1.0:
                    raise ValueError(f"{where}.{key}: a move of {move} loses more than all")
        for k in self.factors:
            if k < 1:
                raise ValueError(f"factors.{k}: factors are numbered from 1")
        return self


class SamplingMethod(StrEnum):
    """How sampled scenarios are drawn (``tasks/risk/sampling.py``)."""

    FILTERED_BOOTSTRAP = "filtered_bootstrap"  # Barone-Adesi et al. (1999)
    VINE_COPULA = "vine_copula"  # skfolio.distribution.VineCopula


class SampledConfig(StrictModel):
    """Sampled conditional scenarios: the distribution of losses, not one story.

    ``filtered_bootstrap`` rescales each day's returns by its EWMA volatility
    (RiskMetrics 1996, lambda 0.94) and draws whole days (the cross-section keeps its
    correlation) scaled to today's volatility, summed over ``horizon`` days;
    ``market_quantile`` keeps only the draws whose equal-weight market return is in that
    lower quantile (conditional on a market fall). ``vine_copula`` fits skfolio's
    VineCopula on the window and samples one-day returns, ``conditioning`` fixing assets'
    returns.
    """

    method: SamplingMethod = SamplingMethod.FILTERED_BOOTSTRAP
    n_scenarios: int = Field(10_000, ge=100)
    horizon: int = Field(1, ge=1)
    seed: int = 0
    ewma_lambda: float = Field(0.94, gt=0.0, lt=1.0)
    market_quantile: float | None = Field(None, gt=0.0, lt=1.0)
    conditioning: dict[str, float] = Field(default_factory=dict)
    # The sampled tail loss is the expected shortfall of the sampled losses at this level.
    tail: float = Field(0.99, gt=0.5, lt=1.0)


def _default_windows() -> list[HistoricalWindow]:
    return [
        HistoricalWindow(
            name="gfc-2008",
            start=dt.date(2008, 9, 1),
            end=dt.date(2008, 11, 28),
            description="Lehman to the November 2008 low",
        ),
        HistoricalWindow(
            name="covid-2020",
            start=dt.date(2020, 2, 19),
            end=dt.date(2020, 3, 23),
            description="S&P 500 peak to trough, February-March 2020",
        ),
        HistoricalWindow(
            name="rates-2022",
            start=dt.date(2022, 1, 3),
            end=dt.date(2022, 10, 12),
            description="2022 rate rises: first trading day to the October low",
        ),
    ]


def _default_shocks() -> list[Shock]:
    # Illustrative sizes of the order of recent episodes (not calibrated): 2022 hit long
    # duration growth hardest and helped energy; 2008/2023 bank stress hit financials;
    # March 2020 and October 1987 widened spreads several-fold.
    return [
        Shock(
            name="rate-shock",
            description="+200 bp in rates: long-duration growth falls, energy holds",
            market=-0.05,
            sectors={
                "Information Technology": -0.08,
                "Consumer Discretionary": -0.06,
                "Real Estate": -0.08,
                "Utilities": -0.04,
                "Financials": 0.02,
                "Energy": 0.03,
            },
        ),
        Shock(
            name="credit-event",
            description="a large bank default: financials fall, spreads triple",
            market=-0.08,
            sectors={"Financials": -0.20, "Real Estate": -0.10},
            spread_multiplier=3.0,
            impact_multiplier=2.0,
        ),
        Shock(
            name="liquidity-crisis",
            description="markets gap down, spreads x5 and impact x3 to exit",
            market=-0.10,
            factors={1: -3.0},
            spread_multiplier=5.0,
            impact_multiplier=3.0,
        ),
    ]


class StressConfig(StrictModel):
    """The ``stress:`` section: historical replays, hypothetical shocks, sampled scenarios."""

    historical: list[HistoricalWindow] = Field(default_factory=_default_windows)
    hypothetical: list[Shock] = Field(default_factory=_default_shocks)
    sampled: SampledConfig = Field(default_factory=SampledConfig)
    top_contributors: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _unique(self) -> StressConfig:
        names = [w.name for w in self.historical] + [s.name for s in self.hypothetical]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes or "sampled-tail" in names:
            raise ValueError(f"scenario names must be unique: {dupes or ['sampled-tail']}")
        return self
