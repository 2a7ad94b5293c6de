"""Use-time checks before a model drives a rebalance, on a 10,000-entry ledger.

Target (shared/DESIGN.md, issue 22): the checks, read-time verification included, take at
most 50 ms on 10,000 entries and 100 ms on 1,000,000. Printed beside the same decision with
read-time verification switched off (its floor, measured in the same run). Measured here,
printed, never asserted: :func:`governance.decisions.model_use.drive_decision` on a promoted tiny
LightGBM champion (real MLflow, SQLite ledger) after 10,000 entries, split into its parts:
the incremental ledger check (:func:`governance.audit.intact.ledger_problem`), the registry fold,
the promotion's backing (signatures, roles at the time, developer, policy in force, model
files re-hashed). Median of 20 warm calls after one cold call.

    PYTHONPATH=. python bench/bench_use_checks.py [--entries 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _median_ms(fn, n: int = 20) -> float:
    fn()  # warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000)
    args = ap.parse_args()

    from governance.ground.workspace import QUIET_STACK_ENV

    for k, v in QUIET_STACK_ENV.items():
        os.environ.setdefault(k, v)
    home = Path(tempfile.mkdtemp(prefix="agbench-use-")) / "home"
    os.environ["ALPHAGATE_HOME"] = str(home)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
    os.environ["ALPHAGATE_WITNESS"] = str(home.parent / "witness")
    os.environ["XDG_DATA_HOME"] = str(home.parent / "xdg")  # the verified head, outside
    from governance.audit.intact import ledger_problem
    from governance.decisions.approvals import approve
    from governance.decisions.model_use import drive_decision
    from governance.ground.vocabulary import Action, Subject
    from governance.ground.workspace import Workspace
    from governance.identity.users import load_registry
    from governance.log.ledger import Ledger
    from governance.policy.config import load_policy_for
    from tests.helpers_identity import POLICY, enrol_cast, signer, tiny_version

    ws = Workspace(home).ensure()
    enrol_cast(ws)
    version, _ = tiny_version(ws, "bench-use")

    class Cfg:  # the run config's policy and model sections, as load_policy_for reads them
        policy = type("P", (), {"file": str(POLICY), "tier": None})()
        model = type("M", (), {"name": "bench-use"})()

        @staticmethod
        def resolve(p):
            return Path(p)

    with Ledger.open(ws) as ledger:
        _policy, tier, digest = load_policy_for(Cfg, ledger)
        kw = {"tier": tier, "tier_name": "high", "policy_hash": digest}
        for who in ("vera", "rita"):
            approve(ws, ledger, "bench-use", version, signer(ws, who, ledger), "ok", **kw)
        n = max(args.entries - ledger.head()[0], 0)
        with ledger.transaction() as tx:  # one commit: filler of the shape a year leaves
            for i in range(n):
                tx.append(Action.GATE_PRETRADE, actor="alphagate", subject=Subject.portfolio(str(i)),
                          payload={"decision": "pass", "i": i})  # fmt: skip
        size = ledger.head()[0]
        assert drive_decision(ws, ledger, "bench-use", tier).allowed
        whole = _median_ms(lambda: drive_decision(ws, ledger, "bench-use", tier))
        import governance.decisions.model_use as model_use

        reader, model_use.VerifiedReader = model_use.VerifiedReader, lambda led: led
        try:  # the floor: the same decision reading unverified
            unverified = _median_ms(lambda: drive_decision(ws, ledger, "bench-use", tier))
        finally:
            model_use.VerifiedReader = reader
        intact = _median_ms(lambda: ledger_problem(ws, ledger))
        fold = _median_ms(lambda: load_registry(ledger))
    print(f"use-time checks on a {size:,}-entry ledger (median of 20 warm calls)")
    target = 50 if size <= 10_000 else 100
    print(f"  drive_decision, all checks   {whole:8.1f} ms   (target <= {target} ms)")
    print(
        f"    without read-time checks   {unverified:8.1f} ms   (read-time verification"
        f" {whole - unverified:+.1f} ms, {whole / unverified:.2f}x)"
    )
    print(f"    incremental ledger check   {intact:8.1f} ms")
    print(f"    user registry fold         {fold:8.1f} ms")
    print(f"    the rest (backing, files)  {whole - intact:8.1f} ms")


if __name__ == "__main__":
    main()
