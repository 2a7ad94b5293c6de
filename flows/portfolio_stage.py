"""Portfolio stages: the holdout backtest of a candidate, and the governed rebalance.

Composition only: risk models, alphas, the optimiser, the pre-trade checks, the fallback
rules and the artifact files live in ``tasks/`` and ``governance/``. The rebalance works on
the strategy's own book (``tasks.portfolio.book``, strategy = ``model.name``).
"""

from __future__ import annotations

import pandas as pd

from flows.challenger_stage import shadow_challengers
from flows.run import Run, service_stage, stage
from flows.summary import capped
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import PortfolioSource
from tasks.model.candidate import Trained


@stage("holdout-backtest")
def backtest(run: Run, panel, sealed, model: Trained) -> None:
    """Walk-forward backtest of the candidate's holdout scores beside the benchmarks, under
    the policy's pre-trade limits (as the live rebalance)."""
    from governance.registry.recorder import attach
    from tasks.model.dataset import load_sealed
    from tasks.model.scoring import load_scoring_model, score_wide
    from tasks.portfolio.backtest import (
        one_day_rank_ic,
        run_backtest,
        store_backtest,
        store_promise,
    )

    holdout = load_sealed(run.ctx.store, sealed.holdout_fingerprint)
    scores = score_wide(load_scoring_model(run.ws, ModelRef(model.name, model.version)), holdout)
    result = run_backtest(
        scores, panel, run.config.portfolio, run.tier.pretrade,
        label=f"{model.name} v{model.version}, holdout",
    )  # fmt: skip
    summary = result.summary()
    store = run.ctx.store
    artifacts = store_backtest(store, result)
    artifacts.update(store_promise(store, one_day_rank_ic(scores, panel.close)))
    run.ctx.record(
        Action.BACKTEST_COMPLETED,
        subject=Subject.model(model.name, model.version),
        payload=summary,
        artifacts=artifacts,
    )
    # MLflow gets the readable copies: named files with extensions (previewable in its UI),
    # logged to fixed paths, so a rerun replaces them instead of adding hash-named twins.
    folder = run.ws.home / "reports" / model.name / f"v{model.version}"
    files = store.copy_out(folder, artifacts)
    attach(run.ws, model.mlflow_run_id, folder / "backtest", "backtest")
    metrics = result.metrics_frame()
    rows = [
        f"{name:<20} return {m['annual_return']:+7.2%}  vol {m['annual_volatility']:6.2%}  "
        f"Sharpe {m['sharpe']:+5.2f}  maxDD {m['max_drawdown']:6.2%}"
        for name, m in metrics.iterrows()
    ]
    run.summary.note(
        "backtest",
        headline=f"holdout, {summary['rebalances']} rebalances, model vs benchmarks (net of costs)",
        details=rows,
        files=files,
    )


@service_stage("portfolio")
def portfolio(run: Run, panel) -> None:
    """Champion-driven portfolio when the model may drive, else the policy's fallback.

    KILL-SWITCH CHECK → (champion may drive?) → score → OPERATING BOUNDARIES → optimise
    every account → PRE-TRADE and STRESS GATES per account → publish → the challengers
    scored in shadow. One account is the list of one (``tasks.portfolio.rebalance``): an
    account refused by its solve or a gate holds what it has; when every account is
    refused the model's book is, the kill switch trips when the policy says so
    (``governance.decisions.trips``), and the fallback is published instead.
    """
    from flows.overlay_stage import adjusted_portfolio, restrictions_hold
    from flows.risk_stage import stress_gate
    from governance.decisions import decide, killswitch
    from governance.decisions.model_use import drive_decision
    from governance.decisions.overlays import OVERLAY_KIND, in_force
    from governance.decisions.trips import trip_on_model_book_halt
    from governance.ground.errors import GateHalt
    from tasks.portfolio.book import current_holdings
    from tasks.portfolio.config import Mandate
    from tasks.portfolio.rebalance import accounts_of, fallback_accounts

    ctx, cfg = run.now, run.config.portfolio
    mandate = Mandate.of(cfg, run.tier.pretrade)  # once for the stage: every book below
    strategy = run.config.model.name
    state = killswitch.effective(ctx.ledger, strategy)  # workspace-wide, else the strategy's
    decide.kill_switch(ctx, state, Subject.killswitch(strategy), stops_run=False)
    run.summary.note("kill switch", headline=_switch_line(state))
    flag_dependencies(run, strategy)
    drive = drive_decision(run.ws, ctx.ledger, strategy, run.tier)
    allowed, reasons, champion = drive.allowed, list(drive.reasons), drive.champion
    adjustments = in_force(ctx.ledger, strategy, run.tier)  # signed overlays, restrictions
    breaches = restrictions_hold(run, panel, adjustments) if allowed else []
    if breaches:  # a restriction of use: the model may not drive today
        allowed, reasons = False, breaches
        run.summary.halt("restriction", breaches)
    # one account is the list of one (tasks/portfolio/rebalance.py): one path, one rule
    accounts = accounts_of(cfg, current_holdings(ctx.ledger, ctx.store, strategy))
    result, scores = None, None
    if allowed:
        try:
            ref = champion
            scores, features = version_inputs(run, panel, ref, drive.model_hash)
            hold_to_domain(run, panel, features, ref)  # GateHalt: fallback
            book = adjusted_portfolio(run, scores, panel, accounts, adjustments, mandate)
            result = stress_gate(run, panel, book, accounts=accounts)
        except GateHalt as exc:  # every account refused, or the model may not drive
            reasons = [f"{exc.gate}: {r}" for r in exc.reasons]
            trip_on_model_book_halt(run.now, run.tier, exc, strategy)
            if run.summary.status == "completed":
                run.summary.halt(exc.gate, reasons)

    def fallback(why: list[str]):
        kind = run.tier.fallback
        book = fallback_accounts(ctx, kind, panel, accounts, mandate, "; ".join(why))
        return stress_gate(run, panel, book, accounts=accounts)

    if result is None:
        if run.summary.status == "completed":
            run.summary.halt("kill_switch" if state.tripped else "approval", reasons)
        result = fallback(reasons)
    version = drive.version if result.source == PortfolioSource.MODEL else None
    shown = [a.to_json() for a in adjustments if version and a.kind == OVERLAY_KIND]
    if not publish_book(run, result, version, reasons, panel.sectors, shown):
        # A trip recorded after the kill-switch gate: the model portfolio is not published.
        reasons = ["kill switch: tripped during the rebalance; model portfolio withheld"]
        run.summary.halt("kill_switch", reasons)
        result = fallback(reasons)
        publish_book(run, result, None, reasons, panel.sectors)
    shadow_challengers(run, panel, champion, scores)  # records only: the book is published


def flag_dependencies(run: Run, strategy: str) -> None:
    """A finding on the champion when a vendor component it was trained with (solver,
    library, price vendor) has another version here (governance/decisions/dependencies.py),
    or when its owner's attestation is overdue (governance/decisions/stewardship.py)."""
    from governance.decisions.dependencies import flag_dependency_changes
    from governance.decisions.stewardship import flag_overdue_attestation
    from tasks.model.tracking import python_environment, vendor_components

    now = vendor_components(python_environment(), {"source": run.config.data.source.value})
    raised = flag_dependency_changes(run.now.ledger, now, strategies=(strategy,))
    if raised:
        about = ", ".join(sorted({r.about for r in raised}))
        run.summary.note("dependencies", headline=f"changed since training: {about} (finding)")
    # the owner's periodic attestation (issue 27): overdue is a finding on the champion
    if flag_overdue_attestation(run.now.ledger, strategy, run.tier):
        run.summary.note("attestation", headline="overdue (finding)")


def _switch_line(state) -> str:
    if not state.tripped:
        return "armed"
    from governance.ground.text import printable

    return f"TRIPPED since {state.since} by {printable(state.by)}: {printable(state.reason)}"


def version_scores(run: Run, panel, ref: ModelRef, model_hash: str | None) -> pd.Series:
    """A version's scores on the panel's last date (features computed point-in-time), from
    model files whose hash is re-checked as they are loaded (the champion, a paper version)."""
    return version_inputs(run, panel, ref, model_hash)[0]


def version_inputs(run: Run, panel, ref: ModelRef, model_hash: str | None):
    """:func:`version_scores` and the point-in-time features they were computed from."""
    from governance.ground.errors import Gate, GateHalt, InputError
    from tasks.model.dataset import scoring_rows
    from tasks.model.scoring import latest_scores, load_scoring_model

    model = load_scoring_model(run.ws, ref, expected_hash=model_hash)
    from tasks.data.sources.record import joined_features

    extra = joined_features(run.sources, panel)  # a source's features, as of publication
    # the signed contract's features, order and normalisation, never the MLflow tags
    try:
        features = scoring_rows(panel, model.features_config(run.config.features), extra)
    except InputError as exc:  # the day's data cannot give what the contract needs
        raise GateHalt(Gate.SCORING, f"{ref} needs features not computed: {exc}") from None
    missing = sorted(set(model.features) - set(features.columns))
    if missing:
        raise GateHalt(Gate.SCORING, f"{ref} needs features not computed: {missing}")
    return latest_scores(model, features), features


def hold_to_domain(run: Run, panel, features: pd.DataFrame, ref: ModelRef) -> None:
    """Operating boundaries: the champion's inputs on the day against the domain its latest
    valid validation recorded (validation/boundaries.py). Recorded as ``gate.boundary``;
    outside, a finding on the version (once: governance/findings/escalation.py) and the
    tier's ``boundaries.action``: ``warn`` drives on and says so, ``fallback`` raises the
    gate's halt (the stage publishes the fallback)."""
    from governance.decisions import decide
    from governance.decisions.promotion import latest_validation
    from governance.findings.escalation import finding, raise_once
    from validation.boundaries import outside_domain
    from validation.records import validated_domain

    ctx, policy = run.now, run.tier.boundaries
    strategy, version = ref.name, ref.version
    validation = latest_validation(ctx.ledger, ref)
    domain = validated_domain(ctx.store, validation.report_hash) if validation else None
    if domain is None:
        run.summary.note("boundaries", headline=f"v{version}: no operating domain on record")
        return
    today = features.loc[features["date"] == features["date"].max()]
    from tasks.data.sources.record import live_lineage

    live = live_lineage(run.sources, domain.get("sources") or [])  # held to the signed ones
    outside = outside_domain(
        domain, today, panel.close, sectors=panel.sectors is not None, z=policy.z, sources=live
    )
    decided = decide.boundary(
        ctx, [f"operating boundary {o.about}: {o.detail}" for o in outside], policy.action,
        Subject.model(strategy, version),
        validation_seq=validation.seq, outside_of=[o.to_json() for o in outside],
    )  # fmt: skip
    entry = decided.entry
    raised = raise_once(
        ctx.ledger, ref,
        [finding("operating_boundary", o.detail, about=o.about, value=o.value,
                 threshold=o.threshold) for o in outside],
        origin="boundary", evidence={"gate_seq": entry.seq},
    ) if outside else []  # fmt: skip
    run.summary.note(
        "boundaries",
        headline=f"inside the domain v{version} was validated on"
        if not outside
        else f"OUTSIDE the validated domain of v{version}: {policy.action}",
        details=list(decided.reasons),
        findings_raised=[r.id for r in raised],
        gate_seq=entry.seq,
    )
    decided.enforce()


def _chart(result, sectors, folder, label: str) -> str:
    """``portfolio.png`` beside the readable copies: sector weights before/after, trades."""
    from tasks.portfolio.charts import portfolio_png

    png = portfolio_png(
        result.trades, sectors, f"{result.source} portfolio as of {result.asof}", label
    )
    path = folder / "portfolio.png"
    path.write_bytes(png)
    return str(path)


@stage("publish", nested=True)  # inside the portfolio stage
def publish_book(run: Run, result, version, reasons: list[str], sectors=None, overlays=()) -> bool:
    """Record and copy out the portfolio; False, nothing recorded, for a model portfolio
    when the kill switch tripped since the gate (checked in the recording transaction).

    Its own stage (a Prefect task) after every decision of the rebalance: a hook on its
    start (``publish_book.on_running``) is the moment just before publication.
    """
    from tasks.portfolio.book import publish

    strategy = run.config.model.name
    pcfg = run.config.portfolio
    accounts = len(pcfg.accounts) or 1  # portfolio_value is per account
    payload = {"model_name": strategy, "model_version": version, "reasons": reasons,
               # materiality drivers and dependencies the inventory of record reads
               "book_value": pcfg.portfolio_value * accounts, "accounts": accounts,
               "risk_model": pcfg.risk_model.value,
               # the signed overlays the model's book was adjusted by (flows/overlay_stage.py)
               "overlays": list(overlays)}  # fmt: skip
    if (
        publish(run.now, result, strategy, payload, if_armed=result.source == PortfolioSource.MODEL)
        is None
    ):
        return False
    folder = run.ws.portfolios / strategy / f"{result.asof}-{result.source}"
    paths = run.now.store.copy_out(folder, result.artifacts)
    run.summary.portfolio = {
        "source": result.source,
        "asof": result.asof,
        "strategy": strategy,
        "model_version": version,
        "weights_path": paths["weights.csv"],
        "trades_path": paths["trades.csv"],
        "reasons": reasons,
    }
    accounts = result.summary()
    run.summary.portfolio["accounts"] = accounts  # one account: the list of one
    if result.many:
        shown = [
            f"account {a['account']}: {a['source']}"
            + (f" ({'; '.join(a['reasons'])})" if a["reasons"] else "")
            for a in accounts
        ]
    else:
        top = result.weights.sort_values(ascending=False).head(5)
        shown = ["top weights: " + ", ".join(f"{a} {w:.1%}" for a, w in top.items())]
        label = f"{strategy} v{version}" if version else strategy
        run.summary.portfolio["chart_path"] = _chart(result, sectors, folder, label)
    run.summary.note(
        "portfolio",
        headline=f"{result.source} portfolio as of {result.asof}"
        + (f" (champion v{version})" if version else ""),
        details=[f"because {r}" for r in reasons] + capped(shown, 10, paths["weights.csv"]),
    )
    return True
