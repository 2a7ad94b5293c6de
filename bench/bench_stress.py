"""Stress at scale: the many-accounts stress the rebalance runs, 10,000 sampled scenarios x
1,000 accounts of 100 assets (shared/DESIGN.md "Performance targets").

Times ``tasks.risk.stress.account_losses``, the function ``tasks/risk/gate.py`` calls for
every account of a rebalance: the holdings (a dict of 1,000 weight Series) aligned into one
dense matrix ``W`` (A x n), every account's loss in every named scenario (one product), and
each account's sampled tail loss, its expected shortfall at 99 % (the mean of its losses at
or above their ``np.quantile``) by ``tasks.risk.tail.account_tail_means``: a threshold per
account from every tenth scenario, then the losses ``-R_b W'`` a block of scenarios at a
time (1 MiB, in the L2 cache), each block's losses at or above their account's threshold
kept, and each account's quantile and tail mean from those (an account with too few is
passed again whole); the S x A losses are never held at once; one BLAS thread.

The floor, measured in the same run on the same arrays, interleaved: the bare product
``-R W'`` (one streaming pass over the S x A x n contributions, issue 28's floor), with
the default BLAS threads and with one (the lower is the floor: CPU, and two threads cost
more CPU on a loaded machine). Beside it, and checking the answer (1e-12 relative), the
earlier selection on dense arrays: that product plus ``np.quantile`` over every account's
losses and the tail mean. Printed: median (min-max) CPU of each over ``--repeat`` runs and
the ratios (target <= 1.5 against the floor: of the medians, and of the minima, the runs
the other jobs on the machine disturbed least); the peak memory the call allocates
(tracemalloc) over the loss matrix (target <= 1.5), the inputs and the output table
beside it. Scenarios: ``--scenarios`` filtered-bootstrap draws (tasks/risk/sampling.py) on
a synthetic year, the default config's hypothetical shocks; accounts: random long-only
books. Usage::

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
from threadpoolctl import threadpool_limits

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


def _cpu(fns: dict, repeat: int):
    """Process CPU seconds of each of ``fns`` over ``repeat`` interleaved rounds, and the
    last result of each."""
    times = {k: [] for k in fns}
    out = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.process_time()
            out[name] = fn()
            times[name].append(time.process_time() - t0)
    return {k: np.array(v) for k, v in times.items()}, out


def _fmt(t: np.ndarray) -> str:
    return f"{np.median(t):.3f} s ({t.min():.3f}-{t.max():.3f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=10_000)
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
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

    def one_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            return scenario_losses(sampled.returns, dense)

    times, out = _cpu(
        {
            "flow": lambda: account_losses(holdings, named, sampled, tail),
            "pass": lambda: scenario_losses(sampled.returns, dense),
            "pass1": one_thread,
            "earlier": lambda: _floor(sampled.returns, dense, tail),
        },
        args.repeat,
    )
    es = out["earlier"]
    np.testing.assert_allclose(out["flow"][SAMPLED_TAIL].to_numpy(), es, rtol=1e-12)
    tracemalloc.start()
    table = account_losses(holdings, named, sampled, tail)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    loss_bytes = args.scenarios * args.accounts * 8
    flow, floor = np.median(times["flow"]), min(np.median(times["pass"]), np.median(times["pass1"]))
    print(
        f"stress (account_losses): {args.scenarios:,} sampled + {len(named)} named scenarios"
        f" x {args.accounts:,} accounts x {args.assets} assets, ES {tail:.0%} each;"
        f" CPU medians (min-max) of {args.repeat} interleaved rounds"
    )
    contributions = args.scenarios * args.accounts * args.assets
    print(f"  account_losses CPU                         {_fmt(times['flow'])}")
    print(f"  floor: -R W' alone ({contributions:.0e} contributions, one pass)")
    print(f"    default BLAS threads                     {_fmt(times['pass'])}")
    print(f"    one BLAS thread                          {_fmt(times['pass1'])}")
    print(f"  ratio to the floor (the lower median)      {flow / floor:7.2f}x  (target <= 1.5)")
    least = min(times["pass"].min(), times["pass1"].min())
    print(f"  ratio of the minima (least disturbed runs) {times['flow'].min() / least:7.2f}x")
    print(f"  the earlier selection, -R W' + np.quantile over every row + tail (dense arrays;"
          f" the answer's check) {_fmt(times['earlier'])}: {flow / np.median(times['earlier']):.2f}x")  # fmt: skip
    inputs = sampled.returns.nbytes + dense.nbytes
    print(
        f"  peak allocated {peak / 2**20:,.1f} MB over the loss matrix {loss_bytes / 2**20:,.0f} MB"
        f" = {peak / loss_bytes:.2f}x  (target <= 1.5; inputs R and W {inputs / 2**20:,.1f} MB,"
        f" the output table {table.memory_usage().sum() / 2**20:,.2f} MB)"
    )
    print(f"  median account ES {tail:.0%}: {np.median(es):.2%}")
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
