"""One flow run's machinery: the :class:`Run` every stage receives, the :func:`stage`
decorator (Prefect task, retries, timings, progress), opening a run and finishing it.

The stages themselves live in ``flows/stages.py`` (data and model), ``flows/portfolio_stage.py``
and ``flows/risk_stage.py``; the flows (``flows/pipeline.py``, ``flows/rebalance.py``) open a
run here, call the stages, and finish it here.

Two run keys make reruns safe (issue 7, crash recovery):

- ``run.ctx`` records the *deterministic* stages (ingest, data quality, split, training,
  validation, backtest) under a content key — a hash of the flow kind, config, data
  fingerprint, actor and tier (:func:`keyed`). A process killed mid-run and started again with the
  same inputs finds the entries already written (idempotency keys) and reuses them: no
  duplicate ledger entries, no second model version.
- ``run.now`` records *decisions* (approval gate, kill-switch check, portfolio) under the
  flow-run id: they depend on the state of the world at the time and are made afresh on
  every run.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows import progress
from flows.config import AlphagateConfig
from flows.halting import retry_unexpected
from flows.runners import current_flow_run_id
from flows.summary import RunSummary
from flows.views import derive
from governance.decisions.context import RunContext
from governance.ground.canonical import sha256_json
from governance.ground.errors import Gate, GateHalt
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace


def stage(name: str, *, retries: int = 0, nested: bool = False):
    """A stage as a Prefect task whose own wall time lands in ``summary.timings`` and the
    process's CPU time during it (all threads) in ``summary.cpu_timings``.

    Tasks take the run's context (ledger, store), which Prefect cannot hash: no input
    caching. Idempotency comes from the ledger's keys instead, which auditors can see.
    A ``nested`` stage runs inside another stage, whose time already counts its own: it
    adds nothing to ``summary.timings`` (which bench/bench_pipeline.py sums).
    """

    def wrap(fn):
        @functools.wraps(fn)
        def timed(run: Run, *args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            progress.started(name)
            outcome = "failed"
            try:
                result = fn(run, *args, **kwargs)
                outcome = "ok"
                return result
            except GateHalt as exc:
                outcome = f"halted: {exc.gate}"
                raise
            finally:
                if not nested:
                    run.summary.timings[name] = round(time.perf_counter() - start, 3)
                    run.summary.cpu_timings[name] = round(time.process_time() - cpu, 3)
                progress.finished(name, outcome)

        delays = [2, 10][:retries]
        return task(
            name=name,
            cache_policy=NO_CACHE,
            retries=retries,
            retry_delay_seconds=delays,
            retry_condition_fn=retry_unexpected,
        )(timed)

    return wrap


def service_stage(name: str):
    """A stage that talks to services (MLflow, databases): retried with backoff."""
    return stage(name, retries=2)


@dataclass(frozen=True)
class Run:
    """What every stage of one flow run needs."""

    config: AlphagateConfig
    ws: Workspace
    ctx: RunContext
    now: RunContext
    tier: Any
    tier_name: str
    actor: str
    summary: RunSummary
    start_seq: int = 0
    #: The feature sources read at ingest (tasks.data.sources.source.SourceTable).
    sources: tuple = ()


def open_run(
    config: AlphagateConfig,
    user: str | None,
    kind: str,
    key: str | None = None,
    *,
    system: bool = False,
) -> Run:
    """Load the policy (exit 2 if invalid), prove who runs (``--as``/``--key``: exit 4
    without an identity or with a key that is not theirs), open the ledger for this run.

    ``system``: a run no person answers for, recorded as the system actor
    (``governance.identity.users.SYSTEM_ACTOR``, role ``system``, no signer): the scheduled
    monitoring run. It proves no identity and so may sign nothing and decide nothing a
    person must decide: it records what it observed (``monitoring.completed``, findings)
    and the automatic trips the adopted policy enables, which only ever stop a model
    (docs/governance.md, "Who acts in a scheduled monitoring run").
    """
    from governance.audit.door import prove_identity
    from governance.identity.duties import Act, require
    from governance.identity.users import SYSTEM_ACTOR
    from governance.policy.config import tier_for

    ws = Workspace.from_env().activate()
    in_force = tier_for(config)  # the adopted policy and the tier it assigns the strategy
    policy, tier, policy_hash = in_force.force.policy, in_force.tier, in_force.policy_hash
    ctx = RunContext.open(
        ws,
        actor="pending",
        flow_run_id=current_flow_run_id(),
        policy=policy,
        policy_hash=policy_hash,
        run_key="pending",
    )
    if system:
        ctx = dataclasses.replace(ctx, actor=SYSTEM_ACTOR, role="system")
    else:
        try:
            signer = prove_identity(ws, ctx.ledger, user, key, kind)
            if kind == "pipeline":  # whoever runs the pipeline signs the training: the developer
                require(Act.DEVELOP, signer)
        except Exception:
            ctx.close()
            raise
        ctx = dataclasses.replace(ctx, actor=signer.name, role=signer.role, signer=signer)
    # The policy file in force, by the hash every decision records (evidence packs read it).
    ctx.store.put_bytes(Path(config.resolve(config.policy.file)).read_bytes())
    now = dataclasses.replace(ctx, run_key=ctx.flow_run_id or os.urandom(16).hex())
    summary = RunSummary(
        kind=kind, flow_run_id=ctx.flow_run_id, model_name=config.model.name, sandbox=ctx.sandbox
    )
    start = ctx.ledger.head()[0]
    return Run(config, ws, ctx, now, tier, in_force.name, ctx.actor, summary, start)


def keyed(run: Run, fingerprint: str) -> Run:
    """The run with its content key set, once the data fingerprint is known."""
    key = sha256_json(
        [run.summary.kind, run.config.config_hash(), fingerprint, run.actor, run.tier_name]
    )[:32]
    return dataclasses.replace(run, ctx=dataclasses.replace(run.ctx, run_key=key))


def finish(run: Run) -> dict:
    """Record how the run ended, fill in the ledger head, and close the run
    (:func:`close_witnessed`)."""
    from governance.log.readtime import record_refusal

    s = run.summary
    if s.stage == Gate.INTEGRITY:  # a verified read refused an entry: recorded as such
        record_refusal(run.now.ledger, s.kind, s.reasons)
    action = Action.RUN_COMPLETED if s.status == "completed" else Action.RUN_HALTED
    run.now.record(
        action,
        subject=Subject.flow(s.kind),
        payload={"stage": s.stage, "reasons": s.reasons, "model_version": s.model_version},
    )
    seq, head = run.now.ledger.head()
    s.ledger_head = {"seq": seq, "hash": head}
    close_run(run)
    return s.to_json()


def close_run(run: Run) -> None:
    """Close the run (:func:`close_witnessed` on the entries it appended) without recording
    how it ended: :func:`finish` does both; a monitoring run, whose record is its
    ``monitoring.completed`` entry, only closes."""
    close_witnessed(run.ws, run.ctx, run_entries(run))


def close_witnessed(ws: Workspace, ctx: RunContext, entries: list) -> None:
    """The end of every flow run (pipeline, rebalance, monitoring): write the views of the
    run's ``entries`` (MLflow, Prefect), close the ledger, and hand a signed checkpoint to the
    witnesses, also when a deployment (not the CLI, which checkpoints after every command)
    ran the flow: a trip that a scheduled monitoring run records is witnessed at once."""
    from governance.policy.witnesses import witness_after

    try:  # views, not decisions: written as the rows stand (a run halted by a verified
        # read that refused a row still ends with its summary; verify names the row)
        derive(ws, getattr(ctx.ledger, "unwrapped", ctx.ledger), entries)
    finally:
        ctx.close()
    first = min((e.seq for e in entries), default=None)
    problem, _fatal = witness_after(ws, None if first is None else first - 1)
    if problem is not None:
        print(f"alphagate: {problem}", file=sys.stderr)


def run_entries(run: Run) -> list:
    """The entries this flow run appended (its id is in their payload), and the decisions
    people made while it waited (UI approvals carry no run key)."""
    mine = run.ctx.flow_run_id
    return [
        e
        for e in run.now.ledger.entries(after_seq=run.start_seq)
        if "run_key" not in e.payload or (mine and e.payload.get("flow_run_id") == mine)
    ]
