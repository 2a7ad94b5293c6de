"""The optimiser's quadratic program in trade form, handed to PIQP without cvxpy.

When the problem is a QP (no 3/2-power impact, no tracking-error limit, long only, so
no gross-leverage row), :class:`tasks.portfolio.optimiser.core.PortfolioOptimiser` solves it
here first (:mod:`tasks.portfolio.optimiser.native`). The decision variable is the trade split into buys and sells,
``w = w0 + p - m`` with ``p, m >= 0``, and the factor exposures ``y = B'w``:

.. math::

    \\min_{p, m, y} \\; S \\big[ -\\alpha^\\top w + \\gamma (\\|y\\|^2 + d^\\top w^2)
        + s^\\top (p + m) / h \\big]
    \\quad \\text{s.t.} \\quad B^\\top (p - m) - y = -B^\\top w_0, \\;
        1^\\top (p - m) = b - 1^\\top w_0,

    l_s - M w_0 \\le M (p - m) \\le u_s - M w_0, \\quad 1^\\top (p + m) \\le \\tau,

with the weight bounds ``l <= w <= u`` (the restricted list's bounds intersected in)
written as PIQP's native variable bounds: ``p`` in ``[(l - w0)^+, (u - w0)^+]`` and ``m``
in ``[(w0 - u)^+, (w0 - l)^+]``, which admit exactly the weights in ``[l, u]`` (also when
``w0`` lies outside them). The turnover row bounds ``1'(p + m) >= |w - w0|_1``, with
equality at the cheapest split, so the feasible weights and the optimum are those of the
cvxpy problem (``S`` is ``OBJECTIVE_SCALE``, ``h`` the holding period; the constant
``gamma d'w0^2`` is left out of the solver's objective).

Why (docs/benchmarks.md): the cvxpy form carries ``4n`` inequality rows (bounds and
``u >= |w - w0|``) that PIQP must treat as constraints, and a re-solve passes through
cvxpy's parameter mapping; here the only rows are the sector and turnover rows, PIQP's
symbolic factorisation is kept across re-solves, and only values change. The cvxpy problem
stays the reference: when PIQP reports anything but solved, CLARABEL solves the cvxpy
problem (which also diagnoses infeasibility), and tests/test_native_forms.py checks both
forms reach the same optimum.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tasks.portfolio.optimiser.native import NativeForm, NativeResult, changed
from tasks.portfolio.optimiser.values import weight_box

#: PIQP's statuses in cvxpy's words (cvxpy's own PIQP interface maps them the same way).
STATUS = {
    "PIQP_SOLVED": "optimal",
    "PIQP_MAX_ITER_REACHED": "user_limit",
    "PIQP_PRIMAL_INFEASIBLE": "infeasible",
    "PIQP_DUAL_INFEASIBLE": "unbounded",
}


class TradeQP(NativeForm):
    """PIQP's data for one universe and constraint structure (:class:`NativeForm`)."""

    def _build(self) -> None:
        n, k = self.n, self.k
        # P (upper triangle, CSC): p_j and m_j columns carry a_j = 2 S gamma d_j on the
        # diagonal and -a_j at (p_j, m_j); the y columns 2 S gamma.
        idx = np.arange(n)
        m_rows = np.column_stack([idx, n + idx]).ravel()
        self._p_indices = np.concatenate([idx, m_rows, 2 * n + np.arange(k)])
        self._p_indptr = np.concatenate([np.arange(n + 1), n + 2 * np.arange(1, n + 1)])
        self._p_indptr = np.concatenate([self._p_indptr, self._p_indptr[-1] + np.arange(1, k + 1)])
        # A: rows 0..k-1 the factor rows, row k the budget; p columns (B_j, 1), m columns
        # (-B_j, -1), y columns -e_i.
        col = np.arange(k + 1)
        self._a_indices = np.concatenate([np.tile(col, 2 * n), np.arange(k)])
        self._a_indptr = np.concatenate(
            [(k + 1) * np.arange(2 * n + 1), (k + 1) * 2 * n + np.arange(1, k + 1)]
        )
        self.G = self._inequality_rows()
        self._market = None  # (B, sqrt_d, (P, A, a)) of the last risk model

    def _inequality_rows(self) -> sp.csc_matrix | None:
        """Sector rows ``M (p - m)`` and the turnover row ``1'(p + m)`` (constant)."""
        n, k = self.n, self.k
        blocks = []
        if self.sector_matrix is not None:
            m = self.sector_matrix
            blocks.append(np.hstack([m, -m, np.zeros((len(m), k))]))
        if self.cfg.max_turnover is not None:
            blocks.append(np.concatenate([np.ones(2 * n), np.zeros(k)])[None, :])
        return sp.csc_matrix(np.vstack(blocks)) if blocks else None

    def data(self, values: dict) -> dict:
        """PIQP's ``P, c, A, b, h_l, h_u, x_l, x_u`` for one date's and account's values
        (the optimiser's parameter values: ``alpha, B, sqrt_d, w0, lower, upper, half_spread``,
        and ``r_lo, r_hi``, ``sector_lo, sector_hi``, ``turnover`` when present).

        The account's values may carry a leading axis, one row per account (``w0`` of shape
        (A, n), ``turnover`` (A,)): every vector then has one row per account (``P`` and
        ``A`` are the market's, shared) and ``feasible_bounds`` is one flag per account.
        """
        k, cfg, s = self.k, self.cfg, self.scale
        w0 = np.asarray(values["w0"], dtype=float)
        rows = w0.shape[:-1]
        b_mat = np.asarray(values["B"], dtype=float)
        P, A, a = self._market_part(b_mat, np.asarray(values["sqrt_d"], dtype=float))
        b = np.concatenate([-(w0 @ b_mat), (cfg.budget - w0.sum(axis=-1))[..., None]], axis=-1)
        gain = s * np.asarray(values["alpha"], dtype=float) - a * w0
        spread = s * np.asarray(values["half_spread"], dtype=float) / cfg.rebalance_every
        c = np.concatenate([spread - gain, spread + gain, np.zeros((*rows, k))], axis=-1)
        lower, upper = weight_box(values)
        x_l = [
            np.maximum(lower - w0, 0.0),
            np.maximum(w0 - upper, 0.0),
            np.full((*rows, k), -np.inf),
        ]
        x_u = [
            np.maximum(upper - w0, 0.0),
            np.maximum(w0 - lower, 0.0),
            np.full((*rows, k), np.inf),
        ]
        h_l, h_u = [], []
        if self.sector_matrix is not None:
            held = w0 @ self.sector_matrix.T
            h_l.append(np.asarray(values["sector_lo"]) - held)
            h_u.append(np.asarray(values["sector_hi"]) - held)
        if cfg.max_turnover is not None:
            h_l.append(np.full((*rows, 1), -np.inf))
            h_u.append(np.asarray(values["turnover"], dtype=float)[..., None])
        return {
            "P": P, "c": c, "A": A, "b": b,
            "h_l": np.concatenate(h_l, axis=-1) if h_l else None,
            "h_u": np.concatenate(h_u, axis=-1) if h_u else None,
            "x_l": np.concatenate(x_l, axis=-1),
            "x_u": np.concatenate(x_u, axis=-1),
            "feasible_bounds": np.all(lower <= upper, axis=-1),
        }  # fmt: skip

    def _market_part(self, b_mat: np.ndarray, sqrt_d: np.ndarray):
        """``P``, ``A`` and the diagonal ``a`` for the risk model ``(B, sqrt_d)``: built
        when it changes (compared by value, not identity: an array edited in place is a
        new model), the same objects otherwise, so that many accounts under one market
        re-send the solver only their own data (:func:`changed` sees the same object)."""
        cached = self._market
        same = cached is not None and np.array_equal(cached[0], b_mat)
        if same and np.array_equal(cached[1], sqrt_d):
            return cached[2]
        n, k, scale = self.n, self.k, self.scale
        a = 2.0 * scale * self.cfg.risk_aversion * np.square(sqrt_d)
        y_diag = np.full(k, 2.0 * scale * self.cfg.risk_aversion)
        p_data = np.concatenate([a, np.column_stack([-a, a]).ravel(), y_diag])
        P = sp.csc_matrix((p_data, self._p_indices, self._p_indptr), shape=(2 * n + k,) * 2)
        with_one = np.hstack([b_mat, np.ones((n, 1))]).ravel()
        a_data = np.concatenate([with_one, -with_one, -np.ones(k)])
        A = sp.csc_matrix((a_data, self._a_indices, self._a_indptr), shape=(k + 1, 2 * n + k))
        self._market = (b_mat.copy(), sqrt_d.copy(), (P, A, a))
        return P, A, a

    def solve(self, values: dict) -> NativeResult:
        """Solve for ``values``; PIQP's factorisation pattern is set up once and kept."""
        return self.solve_data(self.data(values), values["w0"])

    def solve_data(self, data: dict, w0: np.ndarray) -> NativeResult:
        """Solve one account's :meth:`data` (its holdings ``w0``): only what changed since
        the last solve is handed to PIQP."""
        import piqp

        data = dict(data)
        if not data.pop("feasible_bounds"):
            return NativeResult(None, "infeasible (a lower bound above its upper bound)", 0)
        if self._solver is None:
            solver = piqp.SparseSolver()
            for name, value in self.options.items():
                setattr(solver.settings, name, value)
            solver.setup(G=self.G, **data)
            self._solver = solver
        else:
            update = changed(data, self._last)
            if update:
                self._solver.update(**update)
        self._last = data
        name = self._solver.solve().name
        status = STATUS.get(name, name)
        iterations = int(self._solver.result.info.iter)
        if status != "optimal":
            return NativeResult(None, status, iterations)
        x = np.asarray(self._solver.result.x)
        w = np.asarray(w0, dtype=float) + x[: self.n] - x[self.n : 2 * self.n]
        return NativeResult(w, status, iterations)
