"""The mean-variance optimiser: its cvxpy problem stated once (problem), solved and re-solved
(core, solve), with native forms for the common cases (native, trade_qp, impact_socp), the
values it reports (values, dust) and its diagnosis of infeasible constraint sets (diagnose).
"""
