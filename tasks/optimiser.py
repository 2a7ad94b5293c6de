"""Mean-variance optimiser in cvxpy, compiled once per universe and re-solved per date/account.

The problem (daily units; ``B = F chol(Omega)`` and ``d`` from :class:`tasks.risk.RiskModel`)

.. math::

    \\max_w \\; \\alpha^\\top w - \\gamma (\\|y\\|^2 + \\|\\sqrt{d} \\circ w\\|^2)
        - (s^\\top u + c^\\top u^{3/2}) / h
    \\quad \\text{s.t.} \\quad y = B^\\top w, \\; u \\ge |w - w_0|,

plus the constraint groups of :class:`ConstraintGroup` (budget, asset bounds, sector
bounds, turnover ``1'u <= tau``, gross leverage, tracking error, restricted list). ``s`` is
the half-spread and ``c_i = b sigma_i sqrt(V / ADV_i)`` the 3/2-power market-impact
coefficient of cvxportfolio's ``TransactionCost`` (Almgren et al. 2005); both cost terms
are divided by the holding period ``h = rebalance_every`` (alpha and risk are daily, a
trade is paid for once per period).

Every market or account input is a ``cp.Parameter``: the problem is DPP (asserted), so
cvxpy compiles it once and a re-solve only maps new parameter values into the solver's
data. :meth:`PortfolioOptimiser.solve_many` re-solves the one compiled problem for many
accounts (own holdings, restricted list and bounds).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import cvxpy as cp
import numpy as np
import pandas as pd

from governance.errors import GateHalt, InputError
from tasks.portfolio import Mode, PortfolioConfig, RestrictedMode, RiskModelKind
from tasks.risk import RiskModel

GATE = "optimiser"
#: The objective is solved in basis points of daily return: daily alphas and variances are
#: ~1e-4, so unscaled the solver's absolute gap tolerance would demand far more accuracy
#: than needed (more iterations). Reported objectives are unscaled.
OBJECTIVE_SCALE = 1e4


class ConstraintGroup(StrEnum):
    """Constraint groups, the unit of infeasibility diagnosis (``tasks.diagnose``)."""

    BUDGET = "budget"
    ASSET_BOUNDS = "asset bounds"
    SECTOR_BOUNDS = "sector caps"
    TURNOVER = "turnover cap"
    LEVERAGE = "gross leverage"
    TRACKING_ERROR = "tracking error"
    RESTRICTED = "restricted list"


class OptimisationError(GateHalt):
    """The optimiser could not produce a portfolio (gate ``optimiser``, exit 3)."""

    def __init__(self, reasons: list[str] | str, status: str = "error"):
        self.status = status
        super().__init__(GATE, reasons)


class Infeasible(OptimisationError):
    """No portfolio meets every constraint; ``groups`` names the conflicting groups."""

    def __init__(self, reasons: list[str] | str, groups: Sequence[ConstraintGroup] = ()):
        self.groups = tuple(groups)
        super().__init__(reasons, status="infeasible")


class Unbounded(OptimisationError):
    """The objective is unbounded (no risk aversion and no binding constraint)."""

    def __init__(self, reasons: list[str] | str):
        super().__init__(reasons, status="unbounded")


class NumericalError(OptimisationError):
    """The solver failed or returned no usable solution."""

    def __init__(self, reasons: list[str] | str):
        super().__init__(reasons, status="numerical")


@dataclass(frozen=True)
class MarketInputs:
    """What every account shares on one date.

    Attributes
    ----------
    alpha : Series, shape (n,)
        Expected daily returns (``tasks.alphas``); reindexed to the universe, NaN -> 0.
    risk : RiskModel
        Point-in-time risk model on the universe (any asset order; aligned by name).
    benchmark : Series or None
        Benchmark weights for the tracking-error limit (NaN -> 0).
    half_spread : Series or None
        Per-asset half-spread (fraction of traded value); default from config.
    impact : Series or None
        Per-asset 3/2-power impact coefficients (:func:`impact_coefficients`); None when
        no volume is known.
    tradable : Series of bool or None
        False where an asset has no price on the date: its weight is held at zero.
    """

    alpha: pd.Series
    risk: RiskModel
    benchmark: pd.Series | None = None
    half_spread: pd.Series | None = None
    impact: pd.Series | None = None
    tradable: pd.Series | None = None


@dataclass(frozen=True)
class Account:
    """One account's own state: holdings, restricted list, per-asset bound overrides.

    ``current`` is the weight vector held now (None: all cash); ``lower``/``upper``
    replace the config bounds for the assets they name.
    """

    name: str = "main"
    current: pd.Series | None = None
    restricted: tuple[str, ...] = ()
    lower: pd.Series | None = None
    upper: pd.Series | None = None


@dataclass(frozen=True)
class Solution:
    """An optimal portfolio and the solver's statistics.

    ``weights`` is None and ``error`` set when the account failed in
    :meth:`PortfolioOptimiser.solve_many` (``solve`` raises instead). ``variance`` is
    recomputed from the returned weights (``||B'w||^2 + ||sqrt(d) w||^2``), not read from
    the solver; ``costs`` are the un-amortised cost of the trades (fraction of value).
    """

    account: str
    weights: pd.Series | None
    status: str
    objective: float
    expected_return: float
    variance: float
    costs: float
    turnover: float
    solve_time: float
    iterations: int
    solver: str = cp.CLARABEL
    error: str | None = None

    @property
    def volatility(self) -> float:
        return float(np.sqrt(max(self.variance, 0.0)))

    def stats(self) -> dict:
        """Solver statistics for the ``portfolio.optimised`` ledger entry and artifacts."""
        keys = ("status", "objective", "expected_return", "variance", "costs", "turnover")
        out = {k: getattr(self, k) for k in keys}
        out.update(
            account=self.account,
            volatility=self.volatility,
            solve_time=self.solve_time,
            iterations=self.iterations,
            solver=self.solver,
        )
        return out


def impact_coefficients(
    close: pd.DataFrame,
    volume: pd.DataFrame,
    asof: pd.Timestamp,
    volatility: pd.Series,
    cfg: PortfolioConfig,
    window: int = 21,
) -> pd.Series:
    """cvxportfolio's impact coefficient ``b * sigma_i * sqrt(V / ADV_i)`` per asset.

    Cost of trading weight ``z_i`` is ``coef_i * |z_i|^{3/2}``. ``ADV_i`` is the mean
    dollar volume (close × volume) over the ``window`` days up to ``asof`` (21 days, one
    month, cvxportfolio's default); ``V`` is ``cfg.portfolio_value``. An asset with no
    volume gets the largest coefficient of the others (expensive, not free).
    """
    dollar = (close.loc[:asof] * volume.loc[:asof]).iloc[-window:].mean()
    sigma = volatility.reindex(dollar.index).to_numpy(dtype=float)
    coef = impact_from_adv(sigma, dollar.to_numpy(dtype=float), cfg)
    return pd.Series(coef, index=dollar.index, name="impact")


def impact_from_adv(sigma: np.ndarray, adv: np.ndarray, cfg: PortfolioConfig) -> np.ndarray:
    """``b * sigma * sqrt(V / ADV)`` elementwise; non-finite -> the largest finite value."""
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = cfg.impact_coefficient * sigma * np.sqrt(cfg.portfolio_value / adv)
    ok = np.isfinite(coef)
    return np.where(ok, coef, coef[ok].max() if ok.any() else 0.0)


def trading_costs(
    trades: pd.Series, half_spread: pd.Series | float, impact: pd.Series | None = None
) -> pd.Series:
    """Estimated cost of each trade, as a fraction of portfolio value.

    ``half_spread_i * |z_i| + impact_i * |z_i|^{3/2}`` (the optimiser's cost model).
    Missing inputs count as zero cost for that term.
    """
    z = trades.abs().fillna(0.0)
    hs = half_spread if np.isscalar(half_spread) else half_spread.reindex(z.index).fillna(0.0)
    cost = hs * z
    if impact is not None:
        cost = cost + impact.reindex(z.index).fillna(0.0) * z**1.5
    return cost.rename("cost")


def structural_factors(cfg: PortfolioConfig, n_assets: int) -> int:
    """Columns of ``B`` that every risk model estimated under ``cfg`` fits into.

    Ledoit–Wolf's low-rank part has rank <= min(n, lookback); the statistical model has
    ``n_factors`` (capped by n and lookback - 1). Build the optimiser with this number so
    one compiled problem serves every date.
    """
    if cfg.risk_model is RiskModelKind.LEDOIT_WOLF:
        return min(n_assets, cfg.lookback)
    return min(cfg.n_factors, n_assets, cfg.lookback - 1)


def _aligned(s: pd.Series | None, assets: pd.Index, fill: float) -> np.ndarray:
    if s is None:
        return np.full(len(assets), fill)
    if not s.index.equals(assets):
        s = s.reindex(assets)
    x = s.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(x), fill, x)


class PortfolioOptimiser:
    """The optimisation problem of one universe and constraint structure, compiled once.

    Parameters
    ----------
    assets : Index, shape (n,)
        The universe, in the order of the decision variable.
    n_factors : int
        Columns of the risk model's square-root exposures ``B`` (structural: a model with
        fewer columns is zero-padded, one with more is an error).
    cfg : PortfolioConfig
        Risk aversion, budget mode, bounds, sector caps, turnover, leverage, tracking error,
        restricted list and costs.
    sectors : Series or None
        asset -> sector; sector bounds apply when given.
    with_impact : bool
        Include the 3/2-power impact term (when the data have volume).
    with_restricted : bool or None
        Include the restricted-list group; default: ``cfg.restricted`` is non-empty. Pass
        True to let accounts bring their own lists.
    """

    def __init__(
        self,
        assets: Sequence[str],
        n_factors: int,
        cfg: PortfolioConfig,
        sectors: pd.Series | None = None,
        *,
        with_impact: bool = False,
        with_restricted: bool | None = None,
    ):
        self.assets = pd.Index(assets)
        self.cfg = cfg
        n, k = len(self.assets), int(n_factors)
        self.n_factors = k
        self.with_impact = with_impact
        self.with_restricted = bool(cfg.restricted) if with_restricted is None else with_restricted
        self.sectors = None if sectors is None else sectors.reindex(self.assets)
        self._market: MarketInputs | None = None
        self._account = Account()
        self.restricted_mask = np.zeros(n, dtype=bool)
        par = self.params = {
            "alpha": cp.Parameter(n, name="alpha"),
            "B": cp.Parameter((n, k), name="B"),
            "sqrt_d": cp.Parameter(n, nonneg=True, name="sqrt_d"),
            "w0": cp.Parameter(n, name="w0", value=np.zeros(n)),
            "lower": cp.Parameter(n, name="lower"),
            "upper": cp.Parameter(n, name="upper"),
            "half_spread": cp.Parameter(n, nonneg=True, name="half_spread"),
        }
        w = self.w = cp.Variable(n, name="w")
        y = cp.Variable(k, name="y")
        u = cp.Variable(n, name="u")  # u >= |w - w0|: trade sizes
        trade = w - par["w0"]
        #: Definitions (never relaxed by the diagnosis): factor exposures and trade sizes.
        self.definitions = [y == par["B"].T @ w, u >= trade, u >= -trade]
        self.groups: dict[ConstraintGroup, list[cp.Constraint]] = {
            ConstraintGroup.BUDGET: [cp.sum(w) == cfg.budget],
            ConstraintGroup.ASSET_BOUNDS: [w >= par["lower"], w <= par["upper"]],
        }
        self._add_sector_group(w)
        if cfg.max_turnover is not None:
            par["turnover"] = cp.Parameter(nonneg=True, name="turnover")
            self.groups[ConstraintGroup.TURNOVER] = [cp.sum(u) <= par["turnover"]]
        if cfg.mode is Mode.LONG_SHORT:
            par["leverage"] = cp.Parameter(nonneg=True, name="leverage")
            self.groups[ConstraintGroup.LEVERAGE] = [cp.norm1(w) <= par["leverage"]]
        specific = cp.multiply(par["sqrt_d"], w)
        if cfg.max_tracking_error is not None:
            par["B_wb"] = cp.Parameter(k, name="B_wb")  # B' w_b, precomputed: stays DPP
            par["sqrt_d_wb"] = cp.Parameter(n, name="sqrt_d_wb")
            par["te2"] = cp.Parameter(nonneg=True, name="te2")
            active = cp.sum_squares(y - par["B_wb"]) + cp.sum_squares(specific - par["sqrt_d_wb"])
            self.groups[ConstraintGroup.TRACKING_ERROR] = [active <= par["te2"]]
        if self.with_restricted:
            par["r_lo"] = cp.Parameter(n, name="r_lo")
            par["r_hi"] = cp.Parameter(n, name="r_hi")
            self.groups[ConstraintGroup.RESTRICTED] = [w >= par["r_lo"], w <= par["r_hi"]]
        costs = par["half_spread"] @ u
        if with_impact:
            par["impact"] = cp.Parameter(n, nonneg=True, name="impact")
            costs = costs + par["impact"] @ cp.power(u, 1.5)
        # Alpha and risk are per day; a trade's cost is paid once per holding period, so it
        # is amortised over ``rebalance_every`` days (cvxportfolio's multi-period view).
        costs = costs / cfg.rebalance_every
        risk = cp.sum_squares(y) + cp.sum_squares(specific)
        # risk aversion is a constant: a parameter times a parametrised risk is not DPP
        utility = par["alpha"] @ w - cfg.risk_aversion * risk - costs
        self.objective = cp.Maximize(OBJECTIVE_SCALE * utility)
        self.problem = cp.Problem(self.objective, self.constraints())
        assert self.problem.is_dpp(), "optimiser problem must be DPP (compiled once)"
        self._solver_opts = {
            "tol_gap_abs": cfg.solver_tolerance,
            "tol_gap_rel": cfg.solver_tolerance,
            "tol_feas": cfg.solver_tolerance,
        }

    # -- structure ------------------------------------------------------------------------

    def _add_sector_group(self, w: cp.Variable) -> None:
        cfg = self.cfg
        if self.sectors is None or (cfg.max_sector_weight is None and not cfg.sector_bounds):
            return
        names = sorted(self.sectors.dropna().unique())
        if not names:
            return
        member = (self.sectors.to_numpy()[None, :] == np.array(names)[:, None]).astype(float)
        # Defaults that are implied anyway (0 for long-only, the budget for an uncapped
        # sector) keep the constraint rows well scaled: a huge sentinel bound costs the
        # interior-point solver many iterations.
        cap = cfg.max_sector_weight
        if cap is None:
            cap = 1.0 if cfg.mode is Mode.LONG_ONLY else cfg.max_gross_leverage
        lo_default = -cap if cfg.mode is Mode.LONG_SHORT else 0.0
        lo = np.array([cfg.sector_bounds.get(s, (lo_default, cap))[0] for s in names])
        hi = np.array([cfg.sector_bounds.get(s, (lo_default, cap))[1] for s in names])
        self.sector_names = names
        self.params["sector_lo"] = cp.Parameter(len(names), name="sector_lo", value=lo)
        self.params["sector_hi"] = cp.Parameter(len(names), name="sector_hi", value=hi)
        sw = member @ w
        self.groups[ConstraintGroup.SECTOR_BOUNDS] = [
            sw >= self.params["sector_lo"],
            sw <= self.params["sector_hi"],
        ]
        self.sector_matrix = member

    def constraints(self, without: Sequence[ConstraintGroup] = ()) -> list[cp.Constraint]:
        """Definitions plus every constraint group not in ``without``."""
        out = list(self.definitions)
        for group, cons in self.groups.items():
            if group not in without:
                out += cons
        return out

    # -- parameter values ---------------------------------------------------------------

    def set_market(self, market: MarketInputs) -> None:
        """Fill the shared parameters (alpha, risk, costs, benchmark) for one date."""
        cfg, par, assets = self.cfg, self.params, self.assets
        risk = market.risk
        order = risk.assets.get_indexer(assets)
        if (order < 0).any():
            missing = assets[order < 0][:3].tolist()
            raise InputError(f"optimiser: risk model lacks assets {missing}")
        root = risk.factor_root()[order]
        if root.shape[1] > self.n_factors:
            raise InputError(
                f"optimiser: risk model has {root.shape[1]} factors, problem built for "
                f"{self.n_factors}"
            )
        b = np.zeros((len(assets), self.n_factors))
        b[:, : root.shape[1]] = root
        sqrt_d = np.sqrt(np.clip(risk.specific_var[order], 0.0, None))
        par["B"].value = b
        par["sqrt_d"].value = sqrt_d
        par["alpha"].value = _aligned(market.alpha, assets, 0.0)
        par["half_spread"].value = np.clip(
            _aligned(market.half_spread, assets, cfg.half_spread_bps * 1e-4), 0.0, None
        )
        if self.with_impact:
            par["impact"].value = np.clip(_aligned(market.impact, assets, 0.0), 0.0, None)
        if "te2" in par:
            if market.benchmark is None:
                raise InputError("optimiser: max_tracking_error is set but no benchmark given")
            wb = _aligned(market.benchmark, assets, 0.0)
            par["B_wb"].value = b.T @ wb
            par["sqrt_d_wb"].value = sqrt_d * wb
            par["te2"].value = cfg.max_tracking_error**2 / cfg.annualisation
        self._market = market

    def set_account(self, account: Account) -> None:
        """Fill the per-account parameters: holdings, bounds, restricted list, limits."""
        cfg, par, assets = self.cfg, self.params, self.assets
        w0 = _aligned(account.current, assets, 0.0)
        lower = _aligned(account.lower, assets, np.nan)
        upper = _aligned(account.upper, assets, np.nan)
        lower = np.where(np.isnan(lower), cfg.min_weight, lower)
        upper = np.where(np.isnan(upper), cfg.max_weight, upper)
        tradable = self._market.tradable if self._market is not None else None
        if tradable is not None:
            ok = _aligned(tradable.astype(float), assets, 0.0) > 0
            lower, upper = np.where(ok, lower, 0.0), np.where(ok, upper, 0.0)
        par["w0"].value, par["lower"].value, par["upper"].value = w0, lower, upper
        if "turnover" in par:
            # Funding from cash (no holdings) is not a rebalance: the cap does not apply.
            from_cash = not np.abs(w0).sum() > 0
            gross = max(1.0, cfg.max_gross_leverage)  # any portfolio from cash trades <= gross
            par["turnover"].value = 2.0 * gross if from_cash else cfg.max_turnover
        if "leverage" in par:
            par["leverage"].value = cfg.max_gross_leverage
        restricted = set(cfg.restricted) | set(account.restricted)
        if "r_lo" in par:
            mask = assets.isin(sorted(restricted))
            if cfg.restricted_mode is RestrictedMode.ZERO:
                r_lo, r_hi = np.zeros(len(assets)), np.zeros(len(assets))
            else:
                r_lo, r_hi = np.minimum(w0, 0.0), np.maximum(w0, 0.0)
            # unrestricted assets repeat their bounds (redundant rows, well scaled)
            par["r_lo"].value = np.where(mask, r_lo, lower)
            par["r_hi"].value = np.where(mask, r_hi, upper)
            self.restricted_mask = mask
        elif restricted & set(assets):
            raise InputError(
                "optimiser: account has a restricted list but the problem was built "
                "without one (with_restricted=True)"
            )
        self._account = account

    # -- solving --------------------------------------------------------------------------

    def solve(self, account: Account | None = None, market: MarketInputs | None = None):
        """Re-solve for ``account`` (default: the last one set) and return a Solution.

        Raises
        ------
        Infeasible
            With the conflicting constraint groups named (``tasks.diagnose``).
        Unbounded, NumericalError
            Other solver failures. All are ``GateHalt`` (exit 3) with gate ``optimiser``.
        """
        if market is not None:
            self.set_market(market)
        if self._market is None:
            raise InputError("optimiser: set_market() before solve()")
        if account is not None:
            self.set_account(account)
        t0 = time.perf_counter()
        try:
            self.problem.solve(solver=cp.CLARABEL, **self._solver_opts)
        except cp.SolverError as exc:
            raise NumericalError(f"solver error: {exc}") from None
        elapsed = time.perf_counter() - t0
        status = self.problem.status
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            from tasks.diagnose import diagnose_infeasibility

            diagnosis = diagnose_infeasibility(self)
            raise Infeasible(diagnosis.message, diagnosis.groups)
        if status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
            raise Unbounded("unbounded: the objective has no finite optimum (risk_aversion 0?)")
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or self.w.value is None:
            raise NumericalError(f"solver returned status {status!r} without a solution")
        return self._solution(elapsed)

    def _solution(self, elapsed: float) -> Solution:
        par = self.params
        w = np.asarray(self.w.value, dtype=float)
        trades = np.abs(w - par["w0"].value)
        cost = par["half_spread"].value @ trades
        if self.with_impact:
            cost += par["impact"].value @ trades**1.5
        b, sqrt_d = par["B"].value, par["sqrt_d"].value
        bw = b.T @ w
        stats = self.problem.solver_stats
        return Solution(
            account=self._account.name,
            weights=pd.Series(w, index=self.assets, name="weight"),
            status=self.problem.status,
            objective=float(self.problem.value) / OBJECTIVE_SCALE,
            expected_return=float(par["alpha"].value @ w),
            variance=float(bw @ bw + (sqrt_d * w) @ (sqrt_d * w)),
            costs=float(cost),
            turnover=float(trades.sum()),
            solve_time=float(stats.solve_time if stats.solve_time is not None else elapsed),
            iterations=int(stats.num_iters or 0),
        )

    def solve_many(
        self, accounts: Sequence[Account], market: MarketInputs | None = None
    ) -> list[Solution]:
        """Solve every account on the one compiled problem (only parameter values change).

        A failing account does not stop the others: its Solution has ``weights=None``,
        the failure ``status`` and ``error`` (the diagnosis for an infeasible one).
        """
        if market is not None:
            self.set_market(market)
        out = []
        for account in accounts:
            try:
                out.append(self.solve(account))
            except OptimisationError as exc:
                nan = float("nan")
                out.append(
                    Solution(
                        account.name,
                        None,
                        exc.status,
                        nan,
                        nan,
                        nan,
                        nan,
                        nan,
                        nan,
                        0,
                        error=str(exc),
                    )
                )
        return out
