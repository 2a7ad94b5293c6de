"""``orders_flow`` and ``fills_flow``: from a published book to the OMS, and back.

orders: load the data → DATA-QUALITY GATE → orders from the last published book (shares,
lots) → PRE-SEND GATE (governance/decisions/presend.py) → record ``orders.sent`` while the
kill switch is armed → the outbox adapter writes the FIX file and the CSV.

fills: read the fills file (FIX or CSV; a bad line is exit 2, nothing imported) →
reconcile against the last order set sent → implementation shortfall against the cost
model → record ``holdings.reconciled``: the book now holds what was filled.
"""

from __future__ import annotations

from pathlib import Path

from prefect import State, flow

from flows import stages
from flows.config import AlphagateConfig
from flows.halting import end_state, quiet_expected_failures
from flows.run import Run, finish, open_run, stage
from governance.ground.errors import GateHalt
from governance.ground.vocabulary import Subject


@stage("orders")
def export_orders(
    run: Run, panel, out: str | None, basket: bool, instruments: str | None, kind: tuple
):
    from governance.decisions import decide, killswitch
    from governance.decisions.presend import OrderView
    from tasks.orders.fix import order_messages
    from tasks.orders.instruments import load_instruments
    from tasks.orders.orders import order_files, restrict
    from tasks.orders.plan import plan_orders
    from tasks.orders.record import Outbox, send_order_set, sent_history

    ctx, cfg, limits = run.now, run.config.portfolio, run.tier.orders
    strategy = run.config.model.name
    order_set, market = plan_orders(
        ctx.ledger, ctx.store, strategy, panel, cfg, load_instruments(instruments), kind[0],
        kind[1] / 1e4,
    )  # fmt: skip
    history = sent_history(ctx.ledger, ctx.store, strategy, limits.duplicate_window_minutes)
    state = killswitch.effective(ctx.ledger, strategy)
    view = OrderView(
        order_set.orders, market.last, market.table["adv"], history.recent, history.ids,
        history.today, tripped=f"{state.by}: {state.reason}" if state.tripped else None,
    )  # fmt: skip
    decision = decide.presend(ctx, view, limits, Subject.book(strategy)).decision
    blocked = decision.evidence["blocked_accounts"]
    sending = restrict(order_set, blocked)
    files = {**order_files(sending), "orders.fix": order_messages(sending.orders, basket=basket)}
    payload = {
        "strategy": strategy, "book": sending.book, "asof": sending.asof,
        "orders": len(sending.orders), "accounts": sending.accounts(),
        "blocked_accounts": blocked, "order_type": kind[0].value,
        "limit_offset_bp": kind[1],
        "gross_notional": float(sending.orders["notional"].sum()),
    }  # fmt: skip
    folder = Path(out) if out else run.ws.home / "outbox" / strategy
    entry, paths = send_order_set(ctx, strategy, files, payload, Outbox(folder))
    if entry is None:  # tripped between the checks and the send: nothing leaves
        now = killswitch.effective(ctx.ledger, strategy)
        decide.switch_still_armed(now)
    errors = [r["error_weight"] for r in sending.residuals]
    run.summary.note(
        "orders",
        headline=f"{len(sending.orders)} orders for {len(sending.residuals)} account(s) sent "
        f"to {folder}" + (f"; blocked: {', '.join(blocked)}" if blocked else ""),
        details=[str(r) for r in decision.reasons][:5],
        files=paths,
        orders=len(sending.orders),
        order_type=kind[0].value,
        blocked_accounts=blocked,
        max_residual_weight=max(errors, default=0.0),
        sent_seq=entry.seq,
    )


@stage("fills")
def import_fills(run: Run, path: str):
    from flows.mlflow_runs import log_run
    from tasks.orders.fills import read_fills
    from tasks.orders.imports import reconcile_import

    strategy = run.config.model.name
    fills = read_fills(path)  # exit 2 naming the line: nothing is imported
    shas, outcome = reconcile_import(run.now, strategy, fills, run.config.portfolio,
                                     run.tier.orders)  # fmt: skip
    cost = outcome["shortfall"]
    metrics = {k: cost[k] for k in ("shortfall_bp", "estimated_bp", "notional") if cost.get(k)}
    outcome["mlflow_run_id"] = log_run(
        run.now, f"{strategy}-orders", f"fills-{outcome['reconciled_seq']}",
        {**metrics, "fills": outcome["fills"]}, shas, {"book": Subject.book(strategy)},
    )  # fmt: skip
    run.summary.note("fills", **outcome)


@flow(name="orders", log_prints=False, validate_parameters=True)
def orders_flow(
    config: AlphagateConfig,
    data_path: str | None = None,
    user: str | None = None,
    key: str | None = None,
    out: str | None = None,
    basket: bool = False,
    instruments: str | None = None,
    order_type: str = "moc",
    limit_offset_bp: float | None = None,
) -> dict | State:
    """Orders from the last published book, checked, sent to the outbox; the run summary.
    ``order_type`` ``moc`` or ``limit`` (``limit_offset_bp`` from the last close:
    :func:`tasks.orders.orders.order_kind`)."""
    from tasks.orders.orders import order_kind

    kind = order_kind(order_type, limit_offset_bp)  # exit 2 before anything runs
    quiet_expected_failures()
    run = open_run(config, user, kind="orders", key=key)
    try:
        run, panel = stages.ingest(run, data_path)
        export_orders(run, panel, out, basket, instruments, kind)
    except GateHalt as exc:
        run.summary.halt(exc.gate, exc.reasons)
    return end_state(finish(run))


@flow(name="fills", log_prints=False, validate_parameters=True)
def fills_flow(
    config: AlphagateConfig, path: str, user: str | None = None, key: str | None = None
) -> dict | State:
    """Import a fills file, reconcile it, and make the book hold what was filled."""
    quiet_expected_failures()
    run = open_run(config, user, kind="fills", key=key)
    try:
        import_fills(run, path)
    except GateHalt as exc:
        run.summary.halt(exc.gate, exc.reasons)
    return end_state(finish(run))
