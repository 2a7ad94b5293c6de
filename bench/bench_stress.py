"""Stress at scale: the many-accounts stress the rebalance runs, 10,000 sampled scenarios x
1,000 accounts of 100 assets (shared/DESIGN.md "Performance targets").

Times ``tasks.risk.stress.account_losses``, the function ``tasks/risk/gate.py`` calls for
every account of a rebalance: the holdings (a dict of 1,000 weight Series) aligned into one
dense matrix ``W`` (A x n), every account's loss in every named scenario and in every
sampled scenario as one product each (``-W R'``, A x S, account-major), and each account's
sampled tail loss, its expected shortfall at 99 % (the mean of its losses at or above their
``np.quantile``, selected from the losses above a sampled threshold,
``tasks.risk.tail.tail_means``). The floor, measured in the same run on the same arrays:
the bare product ``-R W'`` (one streaming pass over the S x A x n contributions, issue
28's floor); beside it, and checking the answer, the earlier selection on dense arrays:
that product plus ``np.quantile`` over every account's losses and the tail mean. Printed:
CPU of each and the ratios (target <= 1.5 against the bare product); the peak memory the
call allocates (tracemalloc) over the loss matrix it must hold (target <= 1.5).
Scenarios: ``--scenarios`` filtered-bootstrap draws (tasks/risk/sampling.py) on a synthetic year, the default config's
hypothetical shocks; accounts: random long-only books. Usage::

    .venv/bin/python bench/bench_stress.py [--scenarios 10000] [--accounts 1000] [--assets 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market
from tasks.risk.config import SampledConfig, StressConfig
from tasks.risk.sampling import filtered_bootstrap
from tasks.risk.stress import SAMPLED_TAIL, account_losses, build_scenarios, scenario_losses


def _floor(returns: np.ndarray, weights: np.ndarray, tail: float) -> np.ndarray:
    """ES at ``tail`` of each account from dense arrays by ``np.quantile`` over every row
    (account-major rows; S x A columns cost 1.4x): the reference answer."""
    losses = -(weights @ returns.T)  # account-major: the faster layout for the quantile
    var = np.quantile(losses, tail, axis=1, overwrite_input=True)
    rows = losses >= var[:, None]
    np.multiply(losses, rows, out=losses)
    return losses.sum(axis=1) / rows.sum(axis=1)


def _cpu(fn, repeat: int):
    """Best process CPU time of ``repeat`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=10_000)
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    panel = to_panel(generate_market(SyntheticSpec(n_assets=args.assets, n_days=253)))
    window = panel.close.pct_change(fill_method=None).iloc[1:]
    cfg = StressConfig()
    named, _ = build_scenarios(panel.close, panel.sectors, None, cfg)
    sampled = filtered_bootstrap(window, SampledConfig(n_scenarios=args.scenarios, seed=0))
    rng = np.random.default_rng(1)
    dense = rng.dirichlet(np.full(args.assets, 2.0), size=args.accounts)
    holdings = {f"acct{i:04d}": pd.Series(w, index=window.columns) for i, w in enumerate(dense)}
    tail = cfg.sampled.tail

    t_flow, table = _cpu(lambda: account_losses(holdings, named, sampled, tail), args.repeat)
    t_floor, es = _cpu(lambda: _floor(sampled.returns, dense, tail), args.repeat)
    t_pass, _ = _cpu(lambda: scenario_losses(sampled.returns, dense), args.repeat)
    np.testing.assert_allclose(table[SAMPLED_TAIL].to_numpy(), es, rtol=1e-12)  # same answer
    tracemalloc.start()
    account_losses(holdings, named, sampled, tail)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    loss_bytes = args.scenarios * args.accounts * 8
    print(
        f"stress (account_losses): {args.scenarios:,} sampled + {len(named)} named scenarios"
        f" x {args.accounts:,} accounts x {args.assets} assets, ES {tail:.0%} each"
    )
    contributions = args.scenarios * args.accounts * args.assets
    print(f"  account_losses CPU                {t_flow:7.3f} s")
    print(f"  floor: -R W' alone ({contributions:.0e} contributions, one pass) {t_pass:7.3f} s")
    print(f"  ratio to it                       {t_flow / t_pass:7.2f}x  (target <= 1.5)")
    print(f"  the earlier selection, -R W' + np.quantile over every row + tail (dense arrays;"
          f" the answer's check) {t_floor:7.3f} s: {t_flow / t_floor:.2f}x")  # fmt: skip
    print(
        f"  peak allocated {peak / 2**20:,.0f} MB over the loss matrix {loss_bytes / 2**20:,.0f} MB"
        f" = {peak / loss_bytes:.2f}x  (target <= 1.5)"
    )
    print(f"  median account ES {tail:.0%}: {np.median(es):.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
