"""Portfolio construction configuration: risk model, alphas, constraints, costs, backtest.

One :class:`PortfolioConfig` (the ``portfolio:`` section of the run config) drives
``tasks.portfolio.risk``, ``tasks.portfolio.alphas``, ``tasks.portfolio.optimiser.core``, ``tasks.portfolio.benchmarks``,
``tasks.portfolio.backtest`` and ``tasks.portfolio.rebalance``. This module imports no numerical stack, so the
run config validates without loading cvxpy.

Units: weights are fractions of portfolio value; returns, alphas and variances are *daily*
(the risk models are estimated on daily returns); limits stated per year
(``max_tracking_error``) are converted with ``annualisation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field, model_validator

from governance.ground.configio import StrictModel
from governance.policy.schema import MAX_TURNOVER, PretradeLimits
from tasks.data.calendar import TRADING_DAYS


class RiskModelKind(StrEnum):
    """Covariance estimator (``tasks.portfolio.risk``)."""

    LEDOIT_WOLF = "ledoit_wolf"  # Ledoit & Wolf (2004), scikit-learn's LedoitWolf
    FACTOR = "factor"  # statistical factor model: k principal components + specific


class Mode(StrEnum):
    """Budget constraint: fully invested long-only, or dollar-neutral long-short."""

    LONG_ONLY = "long_only"
    LONG_SHORT = "long_short"


class RestrictedMode(StrEnum):
    """What a restricted asset may hold: nothing, or no more than it holds now."""

    ZERO = "zero"
    NO_INCREASE = "no_increase"


class BenchmarkKind(StrEnum):
    """Reference portfolios run beside the model (``tasks.portfolio.benchmarks``)."""

    EQUAL_WEIGHT = "equal_weight"
    INVERSE_VOLATILITY = "inverse_volatility"
    MIN_VARIANCE = "min_variance"
    HRP = "hrp"  # hierarchical risk parity, Lopez de Prado (2016)


class Linkage(StrEnum):
    """Agglomerative linkage of the HRP tree (scipy / skfolio ``LinkageMethod`` names)."""

    SINGLE = "single"  # Lopez de Prado (2016), "Building diversified portfolios ..."
    WARD = "ward"  # skfolio's default
    AVERAGE = "average"
    COMPLETE = "complete"


class SolverChoice(StrEnum):
    """Solver tried first by the optimiser (``tasks.portfolio.optimiser.solve``); CLARABEL
    solves whenever it fails or reports anything but optimal."""

    AUTO = "auto"  # PIQP for a quadratic program, QOCO when the problem has cones
    CLARABEL = "clarabel"
    PIQP = "piqp"
    QOCO = "qoco"


class AccountConfig(StrictModel):
    """One account of ``portfolio.accounts``.

    ``holdings`` seeds the first rebalance (later ones start from the account's last
    published weights); ``bounds`` maps an asset to ``[lower, upper]`` for this account.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    holdings: dict[str, float] = Field(default_factory=dict)
    restricted: list[str] = Field(default_factory=list)
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)


class PortfolioConfig(StrictModel):
    """The ``portfolio:`` section of the run config.

    Every field has a default that suits the demo (20 large caps, daily data). Every
    number is finite; weights are fractions of value, so ``0 < max_weight <= 1``.
    """

    # risk model (tasks/portfolio/risk.py)
    risk_model: RiskModelKind = RiskModelKind.FACTOR
    n_factors: int = Field(5, ge=1)
    lookback: int = Field(TRADING_DAYS, ge=20)  # one trading year of daily returns
    # alphas (tasks/portfolio/alphas.py): Grinold's rule alpha = IC x sigma x z
    information_coefficient: float = Field(0.05, gt=0.0, lt=1.0)
    z_clip: float = Field(3.0, gt=0.0)  # winsorise z-scores at +-3 (Grinold & Kahn ch. 14)
    # objective: max alpha'w - risk_aversion * w'Sigma w - costs (daily units)
    risk_aversion: float = Field(5.0, ge=0.0)
    # constraints (tasks/portfolio/optimiser/core.py)
    mode: Mode = Mode.LONG_ONLY
    max_weight: float = Field(0.10, gt=0.0, le=1.0)
    min_weight: float = Field(0.0, ge=-1.0)  # long-short: set negative, e.g. -0.10
    max_sector_weight: float | None = Field(0.40, gt=0.0, le=1.0)
    sector_bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    # L1 sum |w - w_prev| per rebalance (the cap written once: governance.policy.schema); None:
    # only the policy's pre-trade cap (``pretrade.max_turnover``, applied by :meth:`within`)
    max_turnover: float | None = Field(MAX_TURNOVER, gt=0.0)
    max_gross_leverage: float = Field(1.0, gt=0.0)  # sum |w|; binding for long-short only
    max_tracking_error: float | None = Field(None, gt=0.0)  # annualised, vs tracking_benchmark
    tracking_benchmark: BenchmarkKind = BenchmarkKind.EQUAL_WEIGHT
    restricted: list[str] = Field(default_factory=list)
    # The accounts of one model and risk model (tasks/portfolio/rebalance.py); empty: the
    # one account "main".
    accounts: list[AccountConfig] = Field(default_factory=list)
    restricted_mode: RestrictedMode = RestrictedMode.ZERO
    # costs: half-spread (linear) + cvxportfolio's 3/2-power impact when volume is known
    half_spread_bps: float = Field(5.0, ge=0.0)
    impact_coefficient: float = Field(1.0, ge=0.0)  # b in b*sigma*|z|^1.5*(V/ADV)^0.5
    portfolio_value: float = Field(1e8, gt=0.0)  # currency units, for V/ADV in the impact
    # Trades smaller than this (fraction of value) are not made: the asset keeps its weight
    # and the costs are recomputed (1e-4 = 1 bp of value; interior-point solvers leave
    # ~1e-9 "trades" on assets they do not mean to trade).
    min_trade_weight: float = Field(1e-4, ge=0.0, le=0.01)
    # backtest (tasks/portfolio/backtest.py)
    rebalance_every: int = Field(21, ge=1)  # trading days between rebalances
    benchmarks: list[BenchmarkKind] = Field(default_factory=lambda: list(BenchmarkKind))
    annualisation: int = Field(TRADING_DAYS, ge=1)
    # HRP tree linkage (tasks/portfolio/benchmarks.py); single is the paper's choice.
    hrp_linkage: Linkage = Linkage.SINGLE
    # CLARABEL gap/feasibility tolerance, on the objective in basis points of daily return
    # (tasks/portfolio/optimiser/core.py OBJECTIVE_SCALE): 1e-7 bp is 1e-11 in return units. CLARABEL's
    # default 1e-8 stalls at "almost solved" on the 3/2-power impact cones.
    solver_tolerance: float = Field(1e-7, gt=0.0, lt=1e-3)
    # The solver tried first (CLARABEL is the fail-safe) and its iteration budget.
    solver: SolverChoice = SolverChoice.AUTO
    solver_max_iter: int = Field(200, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> PortfolioConfig:
        if self.min_weight > self.max_weight:
            raise ValueError(f"min_weight {self.min_weight} > max_weight {self.max_weight}")
        if self.mode is Mode.LONG_ONLY and self.min_weight < 0:
            raise ValueError("min_weight must be >= 0 when mode is long_only")
        for sector, (lo, hi) in self.sector_bounds.items():
            if lo > hi:
                raise ValueError(f"sector_bounds.{sector}: lower {lo} > upper {hi}")
            if not -1.0 <= lo <= 1.0 or not -1.0 <= hi <= 1.0:
                raise ValueError(f"sector_bounds.{sector}: bounds must be within [-1, 1]")
        return self

    @property
    def budget(self) -> float:
        """Sum of weights: 1 fully invested (long-only), 0 dollar-neutral (long-short)."""
        return 1.0 if self.mode is Mode.LONG_ONLY else 0.0

    def within(self, limits: PretradeLimits) -> PortfolioConfig:
        """This config tightened to the policy's pre-trade limits.

        The optimiser then aims inside the limits the independent gate enforces, so a
        clean solve never breaches by construction; the gate still checks (defence in
        depth).
        """
        update: dict = {
            "max_weight": min(self.max_weight, limits.max_weight),
            "min_weight": max(self.min_weight, limits.min_weight),
            "max_gross_leverage": min(self.max_gross_leverage, limits.max_gross_leverage),
            "restricted": sorted(set(self.restricted) | set(limits.restricted)),
        }
        caps = [c for c in (self.max_sector_weight, limits.max_sector_weight) if c is not None]
        update["max_sector_weight"] = min(caps) if caps else None
        turn = [t for t in (self.max_turnover, limits.max_turnover) if t is not None]
        update["max_turnover"] = min(turn) if turn else None
        return self.model_copy(update=update)


@dataclass(frozen=True)
class Mandate:
    """What the books of one stage may hold: the run's portfolio config tightened to the
    policy's pre-trade limits (``cfg``, :meth:`PortfolioConfig.within`: the optimiser aims
    inside them) and the limits themselves (``limits``: the independent gate checks them).

    Computed once per stage (:meth:`of`) and handed as one value to every solve, fallback
    and pre-trade gate of the stage: the model's book, the fallback, every account, every
    paper book.
    """

    cfg: PortfolioConfig
    limits: PretradeLimits

    @classmethod
    def of(cls, cfg: PortfolioConfig, limits: PretradeLimits) -> Mandate:
        return cls(cfg.within(limits), limits)
