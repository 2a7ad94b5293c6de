"""Mean-variance optimiser, compiled once per universe and re-solved per date/account.

The problem is stated once in cvxpy (:mod:`tasks.portfolio.optimiser.problem`: alpha minus
risk aversion times a factor-model variance minus half-spread and 3/2-power impact costs,
under the constraint groups of :class:`ConstraintGroup`). Trades below
``min_trade_weight`` are not made (:meth:`PortfolioOptimiser.solve`). ``c_i = b sigma_i
sqrt(V / ADV_i)`` is the 3/2-power market-impact coefficient of cvxportfolio's
``TransactionCost`` (Almgren et al. 2005).

Every market or account input is a ``cp.Parameter``: the problem is DPP (asserted), so
cvxpy compiles it once and a re-solve only maps new parameter values into the solver's
data. For a long-only problem without a tracking-error limit the fast solver first solves
its own form of the same problem, built once without cvxpy (:mod:`tasks.portfolio.optimiser.native`:
PIQP on the trade form of a QP, QOCO on the impact cones); CLARABEL on this cvxpy problem
is the fail-safe and the diagnosis of infeasibility. ``tasks.portfolio.accounts.solve_many``
re-solves the one compiled problem for many accounts (own holdings, restricted list and
bounds).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import cvxpy as cp
import numpy as np
import pandas as pd

from governance.ground.errors import InputError
from tasks.portfolio.config import PortfolioConfig, RiskModelKind
from tasks.portfolio.optimiser.contract import (
    GATE,
    Account,
    ConstraintGroup,
    Infeasible,
    MarketInputs,
    NumericalError,
    OptimisationError,
    Solution,
    Unbounded,
)
from tasks.portfolio.optimiser.diagnose import diagnose_infeasibility
from tasks.portfolio.optimiser.dust import SectorLimits, dust_mask, undo_dust
from tasks.portfolio.optimiser.native import NativeResult, violation
from tasks.portfolio.optimiser.problem import OBJECTIVE_SCALE, cvxpy_form
from tasks.portfolio.optimiser.solve import (
    Solved,
    native_form,
    plan,
    solve_clarabel,
    solver_options,
    try_fast,
)
from tasks.portfolio.optimiser.values import (
    account_values,
    figures,
    market_values,
    positions_of,
    restricted_mask,
    tradable_mask,
)

__all__ = [
    "GATE",
    "OBJECTIVE_SCALE",
    "Account",
    "ConstraintGroup",
    "Infeasible",
    "MarketInputs",
    "NumericalError",
    "OptimisationError",
    "PortfolioOptimiser",
    "Solution",
    "Unbounded",
    "structural_factors",
]


def structural_factors(cfg: PortfolioConfig, n_assets: int) -> int:
    """Columns of ``B`` that every risk model estimated under ``cfg`` fits into.

    Ledoit–Wolf's low-rank part has rank <= min(n, lookback); the statistical model has
    ``n_factors`` (capped by n and lookback - 1). Build the optimiser with this number so
    one compiled problem serves every date.
    """
    if cfg.risk_model is RiskModelKind.LEDOIT_WOLF:
        return min(n_assets, cfg.lookback)
    return min(cfg.n_factors, n_assets, cfg.lookback - 1)


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
        # the caller's own Index when given one: holdings on it align without a lookup
        self.assets = assets if isinstance(assets, pd.Index) else pd.Index(assets)
        self.cfg = cfg
        n, k = len(self.assets), int(n_factors)
        self.n_factors = k
        self.with_impact = with_impact
        self.with_restricted = bool(cfg.restricted) if with_restricted is None else with_restricted
        self.sectors = None if sectors is None else sectors.reindex(self.assets)
        self._market: MarketInputs | None = None
        self._tradable: np.ndarray | None = None
        self._account = Account()
        self.restricted_mask = np.zeros(n, dtype=bool)
        self._positions: dict | None = None  # asset -> column (values.positions_of)
        form = cvxpy_form(n, k, cfg, self.sectors, with_impact, self.with_restricted)
        self.params, self.w = form.params, form.w
        #: Definitions (never relaxed by the diagnosis): factor exposures and trade sizes.
        self.definitions, self.groups = form.definitions, form.groups
        self.objective, self.sector_matrix = form.objective, form.sector_matrix
        #: The utility's terms (:class:`tasks.portfolio.optimiser.problem.CvxpyForm`).
        self.terms = form.terms
        self.problem = cp.Problem(self.objective, self.constraints())
        assert self.problem.is_dpp(), "optimiser problem must be DPP (compiled once)"
        #: CLARABEL settings of every solve of this problem (also the accounts' fast path).
        self.solver_options = solver_options(cp.CLARABEL, cfg)
        #: The fast solver tried first (``cfg.solver``), on its own copy of the problem
        #: (cvxpy caches one compiled chain per problem: a fallback recompiles nothing).
        tracking = cfg.max_tracking_error is not None
        self.plan = plan(cfg.solver, conic=with_impact or tracking, tracking=tracking)
        #: The fast solver's own form of the problem (:mod:`tasks.portfolio.optimiser.native`) when
        #: one holds every constraint; otherwise the fast solver on the cvxpy problem.
        self.native = native_form(
            self.plan.fast, n, k, cfg, self.sector_matrix,
            with_impact=with_impact, scale=OBJECTIVE_SCALE,
            options=solver_options(self.plan.fast, cfg),
        )  # fmt: skip
        self.fast_problem = None
        if self.native is None and self.plan.fast is not None:
            self.fast_problem = cp.Problem(self.objective, self.problem.constraints)
        #: The last solve: which solver, why CLARABEL solved (or None), status, iterations.
        self.solved = Solved(cp.CLARABEL, None, cp.OPTIMAL, 0, None)

    # -- structure ------------------------------------------------------------------------

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
        values = market_values(
            market, self.assets, self.n_factors, self.cfg,
            with_impact=self.with_impact, with_tracking="B_wb" in self.params,
        )  # fmt: skip
        for name, value in values.items():
            self.params[name].value = value
        self._market = market
        self._tradable = tradable_mask(market, self.assets)

    def account_values(self, account: Account) -> dict[str, np.ndarray | float]:
        """The per-account parameter values (holdings, bounds, restricted list, limits)."""
        if self._positions is None:
            self._positions = positions_of(self.assets)
        return account_values(
            account, self.assets, self.cfg, set(self.params), self._tradable, self._positions
        )

    def set_account(self, account: Account) -> None:
        """Fill the per-account parameters: holdings, bounds, restricted list, limits."""
        for name, value in self.account_values(account).items():
            self.params[name].value = value
        if "r_lo" in self.params:
            names = set(self.cfg.restricted) | set(account.restricted)
            self.restricted_mask = restricted_mask(self.assets, names, self._positions)
        self._account = account

    # -- solving --------------------------------------------------------------------------

    def solve(self, account: Account | None = None, market: MarketInputs | None = None):
        """Re-solve for ``account`` (default: the last one set) and return a Solution.

        Trades below ``cfg.min_trade_weight`` are not made (:meth:`dust`): round-off dust is
        set to zero, larger dust is held by a second solve with those assets fixed at
        their current weights; the reported costs and objective are those of the weights
        returned.

        Raises
        ------
        Infeasible
            With the conflicting constraint groups named (``tasks.portfolio.optimiser.diagnose``).
        Unbounded, NumericalError
            Other solver failures. All are ``GateHalt`` (exit 3) with gate ``optimiser``.
        """
        if market is not None:
            self.set_market(market)
        if self._market is None:
            raise InputError("optimiser: set_market() before solve()")
        if account is not None:
            self.set_account(account)
        account = self._account
        t0 = time.perf_counter()
        w = self._solve_problem()
        first = self.solved
        iterations, objective = first.iterations, first.objective
        mask, _moved = self.dust(w)
        if mask.any():
            undone = self.without_dust(w)
            if undone is None:  # no trade can absorb the dust: hold it by a re-solve
                w, extra = self._hold_dust(mask, w)
                iterations += extra
                undone = np.where(self.dust(w)[0], self.params["w0"].value, w)
            w, objective = undone, None  # objective recomputed from the weights returned
        elapsed = time.perf_counter() - t0
        return self.solution_from(
            w, self.params["w0"].value, account.name, first.status, elapsed,
            iterations, objective=objective, solver=first.solver, fallback=first.fallback,
        )  # fmt: skip

    def _solve_problem(self) -> np.ndarray:
        """One solve of the problem as parametrised: the fast solver when it reports
        optimal, else CLARABEL (:mod:`tasks.portfolio.optimiser.solve`); the weights, or
        raise. ``self.solved`` records which solved and why CLARABEL did."""
        fallback = self.plan.skipped
        name = self.plan.fast
        if self.native is not None:
            try:
                result = self.native.solve(self._values(None))
            except (RuntimeError, ValueError) as exc:  # it refused its data: CLARABEL solves
                self.native.reset()
                result = NativeResult(None, f"error: {exc}", 0)
            fallback = f"{name}: status {result.status}"
            if result.weights is not None:
                fallback = self._infeasible(name, result.weights)
                if fallback is None:
                    self.solved = Solved(name, None, cp.OPTIMAL, result.iterations, None)
                    return result.weights
        elif self.fast_problem is not None:
            fallback = try_fast(self.fast_problem, name, solver_options(name, self.cfg))
            if fallback is None:
                w = np.array(self.w.value)
                fallback = self._infeasible(name, w)
                if fallback is None:
                    self.solved = Solved.of(self.fast_problem, name, None, OBJECTIVE_SCALE)
                    return w
        status = solve_clarabel(self.problem, self.solver_options)
        self.solved = Solved.of(self.problem, cp.CLARABEL, fallback, OBJECTIVE_SCALE)
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            diagnosis = diagnose_infeasibility(self)
            raise Infeasible(diagnosis.message, diagnosis.groups)
        if status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
            raise Unbounded("unbounded: the objective has no finite optimum (risk_aversion 0?)")
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or self.w.value is None:
            raise NumericalError(f"solver returned status {status!r} without a solution")
        return np.array(self.w.value)

    def _infeasible(self, name: str, w: np.ndarray) -> str | None:
        """Why the fast solver's "optimal" weights are not accepted (None: they are)."""
        broken = violation(w, self._values(None), self.cfg, self.sector_matrix)
        return None if broken is None else f"{name}: status optimal but {broken}"

    def _values(self, values: dict | None) -> dict:
        return values if values is not None else {n: p.value for n, p in self.params.items()}

    def dust(self, weights: np.ndarray, values: dict | None = None) -> tuple[np.ndarray, float]:
        """:func:`tasks.portfolio.optimiser.dust.dust_mask` under this problem (``values``: one
        account's parameter values, :meth:`account_values`; default the ones set)."""
        return dust_mask(weights, self._values(values), self.cfg.min_trade_weight)

    def without_dust(self, weights: np.ndarray, values: dict | None = None) -> np.ndarray | None:
        """:func:`tasks.portfolio.optimiser.dust.undo_dust` under this problem's sector bounds; only
        round-off is undone in place when tracking error or gross leverage could move."""
        sectors = None
        if ConstraintGroup.SECTOR_BOUNDS in self.groups:
            lo, hi = self.params["sector_lo"].value, self.params["sector_hi"].value
            sectors = SectorLimits(self.sector_matrix, lo, hi)
        exact = ConstraintGroup.TRACKING_ERROR in self.groups or (
            ConstraintGroup.LEVERAGE in self.groups
        )
        return undo_dust(
            weights, self._values(values), self.cfg.min_trade_weight, sectors, exact_only=exact
        )

    def _hold_dust(self, mask: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, int]:
        """Re-solve with the dust assets fixed at their current weights; restore the bounds.

        Returns the weights and the re-solve's iterations. Should holding the dust make
        the problem infeasible (it cannot with a feasible current book), the first
        solution's weights stand and the dust is then set to zero in place.
        """
        par = self.params
        saved = {n: par[n].value.copy() for n in ("lower", "upper", "r_lo", "r_hi") if n in par}
        w0 = par["w0"].value
        for name, value in saved.items():
            par[name].value = np.where(mask, w0, value)
        try:
            w = self._solve_problem()
            return w, self.solved.iterations
        except OptimisationError:
            return first, 0
        finally:
            for name, value in saved.items():
                par[name].value = value

    def solution_from(
        self,
        weights: np.ndarray,
        w0: np.ndarray,
        account: str,
        status: str,
        solve_time: float,
        iterations: int,
        objective: float | None = None,
        solver: str = cp.CLARABEL,
        fallback: str | None = None,
        market: dict | None = None,
        figs: tuple[float, float, float, float] | None = None,
    ) -> Solution:
        """A Solution for ``weights`` under the current market (figures recomputed).

        ``objective`` defaults to the utility recomputed from the weights; ``solver`` is
        the one that solved, ``fallback`` why CLARABEL solved instead of the fast solver;
        ``market`` the market's parameter values when the caller holds them, ``figs`` the
        weights' :func:`figures` when the caller computed them (many accounts at once).
        """
        w = np.asarray(weights, dtype=float)
        trades = w - w0
        if figs is None:
            values = market if market is not None else {n: p.value for n, p in self.params.items()}
            figs = figures(w, trades, values, self.cfg)
        expected, variance, cost, utility = figs
        return Solution(
            account=account,
            weights=pd.Series(w, index=self.assets, name="weight"),
            status=status,
            objective=float(utility if objective is None else objective),
            expected_return=expected,
            variance=variance,
            costs=cost,
            turnover=float(np.abs(trades).sum()),
            solve_time=float(solve_time),
            iterations=int(iterations),
            solver=solver,
            fallback=fallback,
        )

    def spec(self) -> dict:
        """Constructor arguments: rebuilds the same problem (in another process)."""
        return {
            "assets": list(self.assets),
            "n_factors": self.n_factors,
            "cfg": self.cfg,
            "sectors": self.sectors,
            "with_impact": self.with_impact,
            "with_restricted": self.with_restricted,
        }

    @property
    def market(self) -> MarketInputs | None:
        """The market last set (:meth:`set_market`)."""
        return self._market

    def solve_or_record(self, account: Account) -> Solution:
        """:meth:`solve`, with a failure returned as a Solution (``weights=None``, ``error``)."""
        try:
            return self.solve(account)
        except OptimisationError as exc:
            return Solution.failed(account.name, exc)
