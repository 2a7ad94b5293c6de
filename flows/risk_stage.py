"""Risk stages of a rebalance: the stress gate before publishing, the risk report after.

Composition only: the analytics and the stress gate of a book live in ``tasks/risk``
(``gate.stress_accounts``), the limits and the gate's rule in ``governance/``
(``pretrade.check_stress``, ``gates.stress_gate``).

- :func:`stress_gate` runs inside the portfolio stage on the book about to be published
  (the model's, then the fallback's if the model's was refused): every scenario of the
  ``stress:`` section on the book and on each account, ``stress.completed`` and each
  account's ``gate.stress`` recorded, the stress artifacts added to the book's (so
  ``portfolio.published`` carries them). An account whose loss is above the tier's
  ``stress`` limits holds what it has; when every account is refused the book is (exit 3,
  ``GateHalt("stress")`` naming the scenario): one account is the list of one.
- :func:`risk_report` runs after the portfolio stage on the published book:
  ``risk.analysed`` with the decomposition and VaR, and one MLflow run (experiment
  ``<strategy>-risk``) holding the risk and stress figures and tables.
"""

from __future__ import annotations

import pandas as pd

from flows.run import Run, service_stage
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import PortfolioSource
from tasks.risk.gate import portfolio_subject


def stress_gate(run: Run, panel, result, book: str | None = None, accounts=None):
    """Stress ``result`` (a PortfolioResult), record, gate (``tasks.risk.gate``); return it
    with the stress files (an account in breach holds). ``book``: a book never published
    (subjects ``portfolio:<asof>:<book>...``, no note on the run's summary); ``accounts``:
    what each account holds now (default: the strategy's published book).

    Raises
    ------
    GateHalt
        Gate ``stress``: every account's stressed loss above the tier's limit, or an error
        while stressing (fail closed), after recording the decisions.
    """
    from tasks.portfolio.book import current_holdings
    from tasks.portfolio.rebalance import accounts_of
    from tasks.risk.gate import stress_accounts

    cfg, ctx = run.config, run.now
    if accounts is None:
        held = current_holdings(ctx.ledger, ctx.store, cfg.model.name)
        accounts = accounts_of(cfg.portfolio, held)
    done = stress_accounts(
        ctx, panel, result, cfg.portfolio, cfg.risk, cfg.stress, run.tier.stress, accounts,
        book,
    )  # fmt: skip
    if book is None:
        note_stress(run, done, result.source)
    if done.halt is not None:
        raise done.halt
    return done.result


def _stress_stage(source: str) -> str:
    return "stress" if source == PortfolioSource.MODEL else f"{source} stress"


def move_text(loss: float, spec: str = "7.2%") -> str:
    """A scenario's result in words: ``loss 12.00%`` or, when the book gains, ``gain 3.00%``
    (never a negative loss)."""
    return f"gain {-loss:{spec}}" if loss < 0 else f"loss {loss:{spec}}"


def note_stress(run: Run, done, source: str) -> None:
    """The book's historical losses in the headline; every scenario (and its limit) in the
    details, then each account that holds because of its own losses."""
    from tasks.risk.stress import SAMPLED_TAIL

    res, breaches = done.stressed, done.breaches
    rows = res.scenarios if res is not None else pd.DataFrame(columns=["kind", "scenario"])
    hist = rows[rows.kind == "historical"]
    head = ", ".join(f"{r.scenario} {move_text(r.loss, '.1%')}" for r in hist.itertuples())
    breached = {b.subject: b for b in breaches}
    details = []
    for r in rows.itertuples():
        mark = f"  BREACH limit {breached[r.scenario].limit:.1%}" if r.scenario in breached else ""
        label = "sampled tail (ES)" if r.scenario == SAMPLED_TAIL else r.scenario
        details.append(
            f"{label:<18} {move_text(r.loss, '6.1%')}  cost to exit {r.cost_to_exit:.2%}{mark}"
        )
    if done.result.many:
        details += [f"account {a} holds: {'; '.join(r)}" for a, r in done.breached.items()][:10]
    accounts = f" of {len(done.result.accounts)} accounts" if done.result.many else ""
    run.summary.note(
        _stress_stage(source),
        headline=f"{source} book{accounts}, historical: {head or 'none in data'}",
        details=details,
        losses={} if res is None else {k: float(v) for k, v in res.losses().items()},
        breaches=[str(b) for b in breaches],
    )


def published_book(ctx, strategy: str, flow_run_id: str | None = None):
    """``(entry, weights)`` of the strategy's last publication (of that flow run, if given),
    read through ``tasks.portfolio.book`` (many accounts: their average book)."""
    from tasks.portfolio.book import latest_publication, read_rebalance

    entry = latest_publication(ctx.ledger, strategy)
    if entry is None or (
        flow_run_id is not None and entry.payload.get("flow_run_id") != flow_run_id
    ):
        return None, None
    weights = read_rebalance(ctx.store, entry.payload["artifacts"]).book()
    return entry, (weights if len(weights) else None)


@service_stage("risk")
def risk_report(run: Run, panel) -> None:
    """Decompose the risk of the book this run published; record and log it."""
    from tasks.risk.record import analyse, record_risk, risk_files, risk_inputs, store_files

    entry, weights = published_book(run.now, run.config.model.name, run.now.flow_run_id)
    if entry is None or weights is None:
        return
    cfg, p = run.config, entry.payload
    asof, source = p["asof"], p.get("source", "model")
    subject = portfolio_subject(asof, source)
    inputs = risk_inputs(panel, cfg.portfolio, cfg.risk, asof=asof)
    analysis = analyse(weights, inputs, panel.sectors, cfg.portfolio, cfg.risk)
    shas = store_files(run.now, risk_files(analysis, subject))
    stressed = run.now.ledger.by_key(run.now.idempotency_key(Action.STRESS_COMPLETED, subject))
    losses = stressed.payload.get("losses") if stressed else None
    artifacts = {**{k: v for k, v in p["artifacts"].items() if k.startswith("stress/")}, **shas}
    mlflow_id = log_mlflow(run.now, cfg.model.name, subject, analysis, losses, artifacts)
    facts = {"source": source, "asof": asof, "portfolio_seq": entry.seq, "mlflow_run_id": mlflow_id}
    record_risk(run.now, analysis, subject, facts, shas)
    note_risk(run, analysis, source, mlflow_id)


def contribution_lines(s: dict, sectors: int = 4) -> list[str]:
    """The top assets' and the largest sectors' shares of risk (Euler contributions) of a
    risk analysis's summary: the rebalance's risk note and ``alphagate risk`` print them."""
    by_sector = sorted(s["sectors"].items(), key=lambda kv: -kv[1])[:sectors]
    return [
        "top contributors: " + ", ".join(f"{a} {v:.0%}" for a, v in s["top_contributors"].items()),
        "by sector: " + ", ".join(f"{k} {v:.0%}" for k, v in by_sector),
    ]


def note_risk(run: Run, analysis, source: str, mlflow_run_id: str | None) -> None:
    s = analysis.summary()
    var = {(v["method"], v["confidence"], v["horizon"]): v for v in s["var"]}
    details = contribution_lines(s)
    for method in sorted({m for m, _c, _h in var}):
        cells = [
            f"{c:.0%} {h}d {v['var']:.1%}|{v['es']:.1%}"
            for (m, c, h), v in sorted(var.items())
            if m == method
        ]
        details.append(f"{method} VaR|ES: " + "  ".join(cells))
    run.summary.note(
        "risk",
        headline=f"{source} book: volatility {s['annual_volatility']:.1%}/yr, "
        f"factor {s['factor_share']:.0%} / specific {s['specific_share']:.0%}, "
        f"tracking error {s['annual_tracking_error']:.1%}/yr",
        details=details,
        mlflow_run_id=mlflow_run_id,
    )


def log_mlflow(ctx, strategy: str, subject: str, analysis, losses, artifacts) -> str:
    """One MLflow run in ``<strategy>-risk``: metrics, the risk/stress files; its id."""
    from flows.mlflow_runs import log_run

    metrics = {}
    if analysis is not None:
        s = analysis.summary()
        metrics |= {k: s[k] for k in ("annual_volatility", "annual_tracking_error", "factor_share")}
    for name, loss in (losses or {}).items():
        metrics[f"stress_loss.{name}"] = loss
    name = f"risk-{subject.partition(':')[2].replace(':', '-')}"
    return log_run(ctx, f"{strategy}-risk", name, metrics, artifacts, {"portfolio": subject})


def attribution_report(ctx, config, panel, books: pd.DataFrame) -> dict:
    """Attribute the live book's realised returns (monitoring): record, log, summarise.

    Monthly Brinson–Fachler by sector and statistical-factor attribution against the
    ``risk.benchmark`` (``tasks.risk.attribution.attribute``), stored as Parquet + PNG and
    recorded as ``attribution.completed`` (subject ``portfolio:live``).
    """
    from tasks.model.dataset import frame_to_parquet
    from tasks.risk.attribution import attribute
    from tasks.risk.plots import attribution_png
    from tasks.risk.record import store_files

    att = attribute(panel.close, books, panel.sectors, config.portfolio, config.risk.benchmark)
    if att.periods.empty:
        return {"periods": 0}
    files = {
        "attribution/periods.parquet": frame_to_parquet(att.periods),
        "attribution/sectors.parquet": frame_to_parquet(att.sectors),
        "attribution/factors.parquet": frame_to_parquet(att.factors),
        "attribution/attribution.png": attribution_png(att, "live book vs benchmark"),
    }
    shas = store_files(ctx, files)
    run_id = log_mlflow(ctx, config.model.name, Subject.LIVE_PORTFOLIO, None, None, shas)
    summary = {**att.summary(), "mlflow_run_id": run_id}
    ctx.record(
        Action.ATTRIBUTION_COMPLETED,
        subject=Subject.LIVE_PORTFOLIO,
        payload=summary,
        artifacts=shas,
    )
    return summary
