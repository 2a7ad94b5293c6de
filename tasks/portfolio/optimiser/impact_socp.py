"""The optimiser's problem with the 3/2-power impact, handed to QOCO without cvxpy.

When the problem has the impact term and no tracking-error limit (long only),
:class:`tasks.portfolio.optimiser.core.PortfolioOptimiser` solves it here first. The variables
are ``x = [w, y, u, s, t]`` (weights, factor exposures ``y = B'w``, trade sizes
``u >= |w - w0|`` and two auxiliaries per asset), and the problem is

.. math::

    \\min_x \\; S \\big[ -\\alpha^\\top w + \\gamma (\\|y\\|^2 + d^\\top w^2)
        + (s_h^\\top u + c^\\top t) / h \\big]

subject to the budget, the weight bounds (the restricted list's intersected in), the
sector bounds, the turnover row ``1'u <= tau`` and, per asset, the two second-order cones
``s^2 <= k u`` and ``(k u)^2 <= s t``, which hold exactly when ``t >= (k u)^{3/2}``
(``k = IMPACT_UNIT``, ``c`` the impact coefficients over ``k^{3/2}``, ``s_h`` the
half-spread, ``h`` the holding period, ``S`` the objective scale). It is the
cvxpy problem's own conic form (cvxpy writes ``u^{3/2}`` with the same two cones), built
once with its sparsity fixed; a re-solve writes new values into QOCO's data and keeps its
symbolic factorisation, without cvxpy's parameter mapping, checks and inversion (about 5
ms of a 30 ms re-solve at 500 assets: docs/benchmarks.md). CLARABEL on the cvxpy problem
stays the fail-safe; tests/test_native_forms.py checks both reach the same optimum.

QOCO's convention: ``min 1/2 x'Px + c'x`` s.t. ``Ax = b`` and ``h - Gx`` in the product
of the nonnegative orthant (``l`` rows) and the second-order cones (``q`` rows each, the
first entry bounding the norm of the rest).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tasks.portfolio.optimiser.native import NativeForm, NativeResult, changed
from tasks.portfolio.optimiser.values import IMPACT_UNIT, weight_box

#: QOCO's statuses in cvxpy's words.
STATUS = {
    "QOCO_SOLVED": "optimal",
    "QOCO_SOLVED_INACCURATE": "optimal_inaccurate",
    "QOCO_MAX_ITER": "user_limit",
    "QOCO_NUMERICAL_ERROR": "solver_error",
}


class ImpactSOCP(NativeForm):
    """QOCO's data for one universe and constraint structure (:class:`NativeForm`)."""

    def _build(self) -> None:
        n, k = self.n, self.k
        nv = self.nv = 4 * n + k
        self.w, self.y = np.arange(n), n + np.arange(k)
        self.u, self.s, self.t = (
            n + k + np.arange(n),
            2 * n + k + np.arange(n),
            3 * n + k + np.arange(n),
        )
        # P: diagonal over w (2 S gamma d) and y (2 S gamma); zero elsewhere
        diag = np.concatenate([self.w, self.y])
        self._p_pattern = sp.csc_matrix((np.ones(n + k), (diag, diag)), shape=(nv, nv))
        # A: B'w - y = 0 (k rows), 1'w = budget; the w columns hold (B_j, 1)
        col = np.arange(k + 1)
        self._a_indices = np.concatenate([np.tile(col, n), np.arange(k)])
        self._a_indptr = np.concatenate(
            [(k + 1) * np.arange(n + 1), (k + 1) * n + np.arange(1, k + 1)]
        )
        self._a_indptr = np.concatenate([self._a_indptr, np.full(3 * n, self._a_indptr[-1])])
        self.G, self.l_rows = self._rows()
        self.q = np.full(2 * n, 3, dtype=np.int32)

    def _rows(self) -> tuple[sp.csc_matrix, int]:
        """``G`` (constant): the nonnegative rows, then the 2n cones; and their count."""
        n, cfg = self.n, self.cfg
        eye = sp.eye(n, format="csr")

        def at(cols: np.ndarray, block) -> sp.csr_matrix:
            out = sp.lil_matrix((block.shape[0], self.nv))
            out[:, cols] = block
            return out.tocsr()

        rows = [
            at(self.w, -eye),  # -w <= -lower
            at(self.w, eye),  # w <= upper
            at(self.w, eye) + at(self.u, -eye),  # w - u <= w0
            at(self.w, -eye) + at(self.u, -eye),  # -w - u <= -w0
        ]
        if cfg.max_turnover is not None:
            rows.append(at(self.u, np.ones((1, n))))
        if self.sector_matrix is not None:
            m = self.sector_matrix
            rows += [at(self.w, m), at(self.w, -m)]
        nonneg = sum(r.shape[0] for r in rows)
        kap = IMPACT_UNIT
        cones = sp.lil_matrix((6 * n, self.nv))
        i = np.arange(n)
        # cone 1, h - Gx = (k u + 1, 2 s, k u - 1)
        cones[6 * i, self.u] = -kap
        cones[6 * i + 1, self.s] = -2.0
        cones[6 * i + 2, self.u] = -kap
        # cone 2, h - Gx = (s + t, 2 k u, s - t)
        cones[6 * i + 3, self.s] = -1.0
        cones[6 * i + 3, self.t] = -1.0
        cones[6 * i + 4, self.u] = -2.0 * kap
        cones[6 * i + 5, self.s] = -1.0
        cones[6 * i + 5, self.t] = 1.0
        return sp.vstack([*rows, cones.tocsr()]).tocsc(), nonneg

    def data(self, values: dict) -> dict:
        """QOCO's ``P`` and ``A`` values and ``c, b, h`` for one date's and account's
        values (the optimiser's parameters: ``alpha, B, sqrt_d, w0, lower, upper, half_spread,
        impact``, and ``r_lo, r_hi``, ``sector_lo, sector_hi``, ``turnover`` if present)."""
        n, k, cfg, s = self.n, self.k, self.cfg, self.scale
        w0 = np.asarray(values["w0"], dtype=float)
        b_mat = np.asarray(values["B"], dtype=float)
        two_sg = 2.0 * s * cfg.risk_aversion
        p_data = np.concatenate(
            [two_sg * np.square(np.asarray(values["sqrt_d"], dtype=float)), np.full(k, two_sg)]
        )
        a_data = np.concatenate([np.hstack([b_mat, np.ones((n, 1))]).ravel(), -np.ones(k)])
        c = np.zeros(self.nv)
        c[self.w] = -s * np.asarray(values["alpha"], dtype=float)
        c[self.u] = s * np.asarray(values["half_spread"], dtype=float) / cfg.rebalance_every
        c[self.t] = s * np.asarray(values["impact"], dtype=float) / cfg.rebalance_every
        b = np.concatenate([np.zeros(k), [cfg.budget]])
        lower, upper = weight_box(values)
        h = [-lower, upper, w0, -w0]
        if cfg.max_turnover is not None:
            h.append([float(values["turnover"])])
        if self.sector_matrix is not None:
            h += [np.asarray(values["sector_hi"]), -np.asarray(values["sector_lo"])]
        h.append(np.tile([1.0, 0.0, -1.0, 0.0, 0.0, 0.0], n))
        return {
            "P": p_data, "A": a_data, "c": c, "b": b, "h": np.concatenate(h),
            "feasible_bounds": bool(np.all(lower <= upper)),
        }  # fmt: skip

    def _setup(self, data: dict):
        import qoco

        n, k = self.n, self.k
        P = self._p_pattern.copy()
        P.data = data["P"]
        A = sp.csc_matrix((data["A"], self._a_indices, self._a_indptr), shape=(k + 1, self.nv))
        solver = qoco.QOCO()
        solver.setup(
            self.nv, self.G.shape[0], k + 1, P, data["c"], A, data["b"], self.G, data["h"],
            self.l_rows, 2 * n, self.q, **self.options,
        )  # fmt: skip
        return solver

    def solve(self, values: dict) -> NativeResult:
        """Solve for ``values``; QOCO's factorisation pattern is set up once and kept."""
        data = self.data(values)
        if not data.pop("feasible_bounds"):
            return NativeResult(None, "infeasible (a lower bound above its upper bound)", 0)
        if self._solver is None:
            self._solver = self._setup(data)
        else:
            update = changed(data, self._last)
            vectors = {key: update[key] for key in ("c", "b", "h") if key in update}
            matrices = {key: update[key] for key in ("P", "A") if key in update}
            if vectors:
                self._solver.update_vector_data(**vectors)
            if matrices:
                self._solver.update_matrix_data(**matrices)
        self._last = data
        result = self._solver.solve()
        status = STATUS.get(result.status, result.status)
        if status != "optimal":
            return NativeResult(None, status, int(result.iters))
        return NativeResult(np.asarray(result.x)[: self.n].copy(), status, int(result.iters))
