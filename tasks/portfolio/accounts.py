"""Many accounts on one compiled problem: only the solver's data for the account changes.

Where the optimiser has a fast solver's own form of the problem
(:mod:`tasks.portfolio.optimiser.native`), each account is a re-solve of it. Otherwise:

An account's parameters (holdings ``w0``, bounds, restricted list, turnover cap) enter the
optimiser's constraints only as constants, so in cvxpy's conic form ``A x + s = b`` they
move ``b`` alone; the market (alphas, risk model, costs) fixes ``P``, ``q`` and ``A``.
:class:`AccountSolver` measures that affine map once per market (a few probes through
cvxpy's own canonicalisation, checked against cvxpy before use), keeps one CLARABEL
solver, and per account only updates ``b`` and re-solves: no re-canonicalisation, no
parameter validation, no chain inversion. Any account the fast path does not solve to
optimality is re-solved through cvxpy (:meth:`PortfolioOptimiser.solve`), which raises
or diagnoses exactly as for a single account.

:func:`solve_many` is the entry point: serial, or contiguous chunks over worker processes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import clarabel
import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from cvxpy.reductions.solvers.conic_solvers.clarabel_conif import dims_to_solver_cones
from cvxpy.reductions.solvers.conic_solvers.conic_solver import ConicSolver

from tasks.portfolio.optimiser.core import (
    OBJECTIVE_SCALE,
    Account,
    MarketInputs,
    OptimisationError,
    PortfolioOptimiser,
    Solution,
)
from tasks.portfolio.optimiser.native import violation
from tasks.portfolio.optimiser.trade_qp import TradeQP
from tasks.portfolio.optimiser.values import figures

#: Largest difference allowed between the fast path's ``b`` and cvxpy's (self-check).
B_CHECK_TOL = 1e-9


class AccountSolver:
    """Fast re-solves of ``opt`` for many accounts under one market.

    Parameters
    ----------
    opt : PortfolioOptimiser
        Its market must be set (``set_market``); it is solved once through cvxpy here.
    """

    def __init__(self, opt: PortfolioOptimiser, probe: Account | None = None):
        self.opt = opt
        self.names = [
            n
            for n in ("w0", "lower", "upper", "turnover", "leverage", "r_lo", "r_hi")
            if n in opt.params
        ]
        opt.set_account(probe or Account())
        self.base = {n: np.array(opt.params[n].value, dtype=float) for n in self.names}
        data = self._data()
        self.b0 = np.asarray(data[cp.settings.B], dtype=float)
        self.maps = {n: self._probe(n) for n in self.names}
        for n in self.names:
            opt.params[n].value = self.base[n]
        p = data.get(cp.settings.P)
        nvar = len(data[cp.settings.C])
        self.P = sp.triu(p if p is not None else sp.csc_array((nvar, nvar))).tocsc()
        self.q = np.asarray(data[cp.settings.C], dtype=float)
        self.A = sp.csc_matrix(data[cp.settings.A])
        self.cones = dims_to_solver_cones(data[ConicSolver.DIMS])
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.presolve_enable = False  # keeps data updates allowed
        for key, value in opt.solver_options.items():
            setattr(settings, key, value)
        self.solver = clarabel.DefaultSolver(self.P, self.q, self.A, self.b0, self.cones, settings)
        self.w_cols = self._locate_w()

    def _data(self) -> dict:
        data, _, _ = self.opt.problem.get_problem_data(cp.CLARABEL)
        return data

    def _probe(self, name: str) -> sp.csr_matrix:
        """Sparse ``M`` with ``b(p) = b0 + M (p - p0)``: each row moves with one element."""
        par, base = self.opt.params[name], self.base[name]
        size = base.size
        par.value = base + 1.0
        d_one = np.asarray(self._data()[cp.settings.B]) - self.b0
        rows = np.flatnonzero(np.abs(d_one) > 1e-12)
        coef = d_one[rows]
        if size == 1:
            idx = np.zeros(len(rows), dtype=int)
        else:
            par.value = base + np.arange(1.0, size + 1.0)
            d_ramp = np.asarray(self._data()[cp.settings.B]) - self.b0
            idx = np.rint(d_ramp[rows] / coef).astype(int) - 1
        par.value = base
        return sp.csr_matrix((coef, (rows, idx)), shape=(len(self.b0), size))

    def b(self, values: dict) -> np.ndarray:
        out = self.b0.copy()
        for n in self.names:
            delta = np.atleast_1d(np.asarray(values[n], dtype=float) - self.base[n])
            if delta.any():
                out += self.maps[n] @ delta
        return out

    def _locate_w(self) -> np.ndarray:
        """Columns of ``x`` holding ``w``: read off cvxpy's own solution of the base point."""
        opt = self.opt
        opt.problem.solve(solver=cp.CLARABEL, **opt.solver_options)
        x = np.asarray(self.solver.solve().x)
        w = np.asarray(opt.w.value)
        param_prob = self._data()[cp.settings.PARAM_PROB]
        start = param_prob.var_id_to_col[opt.w.id]
        cols = np.arange(start, start + len(w))
        if not np.allclose(x[cols], w, atol=1e-6):
            raise RuntimeError("AccountSolver: cannot locate w in the conic form")
        return cols

    def check(self, account: Account) -> float:
        """Max |b_fast - b_cvxpy| for ``account`` (the self-check; leaves it set)."""
        self.opt.set_account(account)
        fast = self.b(self.opt.account_values(account))
        return float(np.max(np.abs(fast - self._data()[cp.settings.B])))

    def solve(self, account: Account) -> Solution:
        opt = self.opt
        values = opt.account_values(account)
        self.solver.update(b=self.b(values))
        result = self.solver.solve()
        if str(result.status) != "Solved":
            return opt.solve_or_record(account)  # cvxpy path: errors and diagnosis
        w = np.asarray(result.x)[self.w_cols]
        mask, _ = opt.dust(w, values)
        if mask.any():
            w = opt.without_dust(w, values)
            if w is None:
                return opt.solve_or_record(account)  # cvxpy path holds the dust by a re-solve
        return opt.solution_from(
            w,
            values["w0"],
            account.name,
            "optimal",
            result.solve_time,
            result.iterations,
            objective=None if mask.any() else -result.obj_val / OBJECTIVE_SCALE,
        )


#: The optimiser's per-account parameters (:func:`tasks.portfolio.optimiser.values.account_values`).
ACCOUNT_PARAMS = frozenset({"w0", "lower", "upper", "turnover", "leverage", "r_lo", "r_hi"})


def _one_by_one(native, market: dict, rows: list[dict]):
    """Solve account ``i`` from its own values (any native form)."""
    return lambda i: native.solve({**market, **rows[i]})


def _all_at_once(native: TradeQP, market: dict, batch: dict):
    """Solve account ``i`` from its row of the data built for all accounts at once."""
    prepared = native.data({**market, **batch})
    shared = {key: value for key, value in prepared.items() if key in ("P", "A") or value is None}
    own = [key for key in prepared if key not in shared]
    w0 = batch["w0"]
    return lambda i: native.solve_data({**shared, **{k: prepared[k][i] for k in own}}, w0[i])


def solve_native(opt: PortfolioOptimiser, accounts: Sequence[Account]) -> list[Solution]:
    """Each account a re-solve of ``opt``'s native form with only its own values changed.

    The market's values are read once and, on PIQP's trade form, every account's solver
    data built at once (one row per account, :meth:`TradeQP.data`; the risk model's ``P``
    and ``A`` are the market's, built once; QOCO's form builds each account's in turn);
    per account the solver gets only its own vectors and solves. No cvxpy
    parameter is set. Each answer is checked as :meth:`PortfolioOptimiser.solve` checks it
    (:func:`violation`, the dust rule) and the figures are computed for all accounts at
    once. Anything but a checked optimum is solved through
    :meth:`PortfolioOptimiser.solve_or_record`, as for a single account: the same solver
    on the same data, so the same optimum as a loop of ``opt.solve`` (to 1e-8,
    tests/test_accounts_native.py).
    """
    native, name = opt.native, opt.plan.fast
    market = {n: p.value for n, p in opt.params.items() if n not in ACCOUNT_PARAMS}
    rows = [opt.account_values(a) for a in accounts]
    batch = {key: np.array([r[key] for r in rows], dtype=float) for key in rows[0]}
    one = _one_by_one(native, market, rows)
    if isinstance(native, TradeQP):  # its data for every account at once
        one = _all_at_once(native, market, batch)
    found: list[tuple | None] = []
    for i, values in enumerate(rows):
        t0 = time.perf_counter()
        try:
            result = one(i)
        except (RuntimeError, ValueError):  # it refused its data: the single-account path
            native.reset()
            found.append(None)
            continue
        w = result.weights
        if w is None or violation(w, {**market, **values}, opt.cfg, opt.sector_matrix):
            found.append(None)
            continue
        if opt.dust(w, values)[0].any():
            w = opt.without_dust(w, values)
            if w is None:  # the dust is held by a re-solve: the single-account path
                found.append(None)
                continue
        found.append((w, time.perf_counter() - t0, result.iterations))
    done = [i for i, f in enumerate(found) if f is not None]
    weights = np.array([found[i][0] for i in done]).reshape(len(done), len(opt.assets))
    held = batch["w0"][done]
    figs = np.column_stack(figures(weights, weights - held, market, opt.cfg))
    out, row = [], dict(zip(done, range(len(done)), strict=True))
    for i, account in enumerate(accounts):
        if found[i] is None:
            out.append(opt.solve_or_record(account))
            continue
        w, elapsed, iterations = found[i]
        out.append(opt.solution_from(
            w, held[row[i]], account.name, cp.OPTIMAL, elapsed, iterations,
            solver=name, figs=tuple(figs[row[i]]),
        ))  # fmt: skip
    return out


def solve_accounts(
    opt: PortfolioOptimiser, accounts: Sequence[Account], market: MarketInputs | None = None
) -> list[Solution]:
    """Solve ``accounts``: on the fast solver's own form when ``opt`` has one (only the
    account's values change in its data: about 1.8x the throughput of CLARABEL's conic
    form, docs/benchmarks.md), else with an :class:`AccountSolver` (self-checked on the
    first account). One account alone is solved through cvxpy (:meth:`solve_or_record`):
    the fast path's set-up (a cvxpy solve and a few canonicalisations) costs more than it
    saves on one solve."""
    if market is not None:
        opt.set_market(market)
    if not accounts:
        return []
    if len(accounts) == 1:
        return [opt.solve_or_record(accounts[0])]
    if opt.native is not None:
        return solve_native(opt, accounts)
    fast = AccountSolver(opt)
    if fast.check(accounts[0]) > B_CHECK_TOL:
        raise OptimisationError("account fast path disagrees with cvxpy's canonical form")
    return [fast.solve(a) for a in accounts]


_WORKER: PortfolioOptimiser | None = None  # one per worker process


def _init_worker(spec: dict, market: MarketInputs) -> None:
    global _WORKER
    _WORKER = PortfolioOptimiser(**spec)
    _WORKER.set_market(market)


def _solve_chunk(accounts: list[Account]) -> list[Solution]:
    return solve_accounts(_WORKER, accounts)


def solve_parallel(
    spec: dict, market: MarketInputs, accounts: list[Account], n_jobs: int
) -> list[Solution]:
    """Contiguous chunks over a process pool (fork: the parent's imports are reused)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in mp.get_all_start_methods() else None
    chunks = [list(c) for c in np.array_split(np.array(accounts, dtype=object), n_jobs * 4)]
    with ProcessPoolExecutor(
        n_jobs,
        mp_context=mp.get_context(method),
        initializer=_init_worker,
        initargs=(spec, market),
    ) as pool:
        return [s for part in pool.map(_solve_chunk, [c for c in chunks if c]) for s in part]


def solve_many(
    opt: PortfolioOptimiser,
    accounts: Sequence[Account],
    market: MarketInputs | None = None,
    n_jobs: int = 1,
) -> list[Solution]:
    """Solve every account on ``opt``'s one compiled problem (only parameter values change).

    A failing account does not stop the others: its Solution has ``weights=None``, the
    failure ``status`` and ``error`` (the diagnosis for an infeasible one). With
    ``n_jobs > 1`` the accounts are split into contiguous chunks solved by worker
    processes, each compiling the problem once; results keep the input order.
    """
    if market is not None:
        opt.set_market(market)
    if n_jobs > 1 and len(accounts) > n_jobs:
        return solve_parallel(opt.spec(), opt.market, list(accounts), n_jobs)
    return solve_accounts(opt, accounts)
