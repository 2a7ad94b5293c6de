"""The daily monitoring flow: check the champion, record the report, trip on a breach.

For the champion (the version the signed approvals make: governance/registry/champion.py):
score the market with its point-in-time features, run every check of
``validation.monitoring`` against the policy tier's ``monitoring`` section, store the report
(JSON + self-contained HTML) in the artifact store and record ``monitoring.completed``.
A breach trips the kill switch automatically (``killswitch.auto_trip``, trigger
``monitoring_breach``, when the tier enables it) with the report hash and the breaches as
evidence, and logs a notification line (logger ``alphagate.notify``, also in the Prefect UI).

Composition only: the maths lives in ``validation.monitoring``, the switch in
``governance.decisions.killswitch``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import State, flow, get_run_logger
from prefect.states import Completed

from flows.challenger_stage import shadow_history
from flows.config import AlphagateConfig
from flows.halting import end_state, quiet_expected_failures
from flows.monitoring_inputs import (
    ChampionFacts,
    champion_facts,
    load_reference,
    published_weights,
    score_panel,
)
from flows.monitoring_mlflow import log_series
from flows.run import Run, close_run, open_run, service_stage, stage
from governance.decisions import killswitch
from governance.decisions.context import RunContext
from governance.decisions.promotion import latest_validation
from governance.decisions.trips import escalate_overdue
from governance.findings.escalation import finding, raise_once
from governance.findings.review import record_expiries, use_checks
from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.log.ledger import LedgerEntry
from governance.log.readtime import record_refusal
from governance.policy.schema import Tier
from governance.registry.champion import champion
from tasks.data.market import MarketPanel
from tasks.data.sources.record import joined_features, live_lineage, read_sources
from tasks.data.sources.source import SourceTable
from tasks.model.dataset import frame_to_parquet
from tasks.model.features import FeaturesConfig
from validation.monitoring import MonitoringReport, assess_monitoring, render_monitoring_html
from validation.monitoring_series import (
    last_breaches,
    load_series,
    newly_breached,
    series_point,
    trend_png,
)
from validation.records import validated_domain

NOTIFY = logging.getLogger("alphagate.notify")


@dataclass(frozen=True)
class MonitoringOutcome:
    """A recorded monitoring run: the report, its ledger entry and the switch afterwards."""

    report: MonitoringReport
    entry: LedgerEntry
    report_json_sha256: str
    report_html_sha256: str
    tripped: bool
    killswitch: killswitch.KillSwitchState
    findings_raised: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {
            "status": "breach" if self.report.breaches else "ok",
            "as_of": self.report.as_of,
            "breaches": self.report.reasons(),
            "tripped": self.tripped,
            "killswitch": self.killswitch.state.value,
            "ledger_seq": self.entry.seq,
            "report_json_sha256": self.report_json_sha256,
            "findings_raised": list(self.findings_raised),
            "checks": [
                {
                    "check": str(c.check),
                    "status": str(c.status),
                    "value": c.value,
                    "threshold": c.threshold,
                    "detail": c.detail,
                }
                for c in self.report.checks
            ],
            "challengers": next(
                (
                    dict(c.data).get("signals")
                    for c in self.report.checks
                    if c.check == "challengers"
                ),
                None,
            ),
        }


# -- recording -----------------------------------------------------------------------------


def record_monitoring(ctx: RunContext, tier: Tier, report: MonitoringReport) -> MonitoringOutcome:
    """Store the report and the strategy's series, record ``monitoring.completed`` (with
    this run's point), raise a finding for each warning the version does not already stand
    under, trip the switch when a check *enters* breach (a value that stays critical trips
    once: ``validation.monitoring_series``)."""
    doc = {**report.to_json(), "sandbox": ctx.sandbox}  # labelled (governance/identity/sandbox.py)
    model = report.header.get("model") or {}
    strategy = model.get("name")
    ref = ModelRef.parse(strategy, model.get("version"))  # the champion this run scored
    previous = last_breaches(ctx.ledger, strategy)
    point = series_point(report.checks)
    series = pd.concat(
        [load_series(ctx.ledger, strategy).drop(columns="seq"), pd.DataFrame([{
            "as_of": report.as_of, "model_version": model.get("version"),
            "status": doc["status"], **point,
        }])], ignore_index=True,
    )  # fmt: skip
    thresholds = {c.check.value: c.threshold for c in report.checks}
    trend = trend_png(series, thresholds, f"{strategy} v{model.get('version')}")
    json_sha = ctx.store.put_json(doc)
    html_sha = ctx.store.put_text(render_monitoring_html(doc, trend))
    files = {
        "report.json": json_sha,
        "report.html": html_sha,
        "series.parquet": ctx.store.put_bytes(frame_to_parquet(series)),
        "trend.png": ctx.store.put_bytes(trend),
    }
    subject = ref.subject
    payload = {
        "as_of": report.as_of,
        "model_name": strategy,
        "model_version": model.get("version"),
        "status": doc["status"],
        "breaches": doc["breaches"],
        "warnings": [f"{c.check.value}: {c.detail}" for c in report.warnings],
        "metrics": point,
        "policy_hash": ctx.policy_hash,
    }
    entry = ctx.record(
        Action.MONITORING_COMPLETED, subject=subject, payload=payload, artifacts=files
    )
    log_series(ctx, ref, series, files)
    # warning -> finding, once per check while it stands (governance/findings/escalation.py)
    raised = raise_once(
        ctx.ledger, ref,
        [finding(c.check.value, o.get("detail", c.detail), about=o.get("about", ""),
                 value=o.get("value", c.value), threshold=o.get("threshold", c.threshold))
         for c in report.warnings for o in (c.data or {}).get("outside") or [{}]],
        origin="monitoring", evidence={"monitoring_seq": entry.seq, "as_of": report.as_of},
    )  # fmt: skip
    state = killswitch.effective(ctx, strategy)
    tripped = False
    entering = newly_breached(previous, doc["breaches"])
    if report.breaches:
        NOTIFY.warning(
            "alphagate monitoring BREACH %s v%s as of %s: %s (report %s)",
            model.get("name"), model.get("version"), report.as_of,
            "; ".join(doc["breaches"]), json_sha[:12],
        )  # fmt: skip
        if not state.tripped and entering:
            reason = f"monitoring breach on {subject}: " + "; ".join(entering)
            evidence = {
                "monitoring_seq": entry.seq,
                "report_json_sha256": json_sha,
                "breaches": doc["breaches"],
                "as_of": report.as_of,
            }
            new = killswitch.auto_trip(
                ctx, tier, killswitch.Trigger.MONITORING_BREACH, reason, evidence,
                strategy=strategy,
            )  # fmt: skip
            if new is not None:
                state, tripped = new, True
                NOTIFY.warning("alphagate kill switch TRIPPED by monitoring: %s", reason)
    ids = tuple(r.id for r in raised)
    return MonitoringOutcome(report, entry, json_sha, html_sha, tripped, state, ids)


def run_monitoring(
    ctx: RunContext,
    tier: Tier,
    panel: MarketPanel,
    champion: ChampionFacts,
    model,
    reference: pd.DataFrame,
    features_cfg: FeaturesConfig,
    *,
    as_of: pd.Timestamp | None = None,
    weights: pd.DataFrame | None = None,
    extra: dict | None = None,
    sources: Sequence[SourceTable] = (),
) -> MonitoringOutcome:
    """Score, assess and record one monitoring run of ``champion`` at ``as_of`` (default the
    panel's last date); ``model`` predicts long feature rows (``ScoringModel``). ``sources``:
    the feature sources read today, held to the validated domain's as the rebalance holds
    them (validation/boundaries.py)."""
    as_of = pd.Timestamp(as_of if as_of is not None else panel.close.index[-1])
    features, scores = score_panel(model, panel, features_cfg, extra)
    validation = latest_validation(ctx.ledger, champion.ref)
    uses = use_checks(ctx.ledger, champion.ref, validation, tier)
    domain = validated_domain(ctx.store, validation.report_hash) if validation else None
    report = assess_monitoring(
        as_of=as_of,
        scores=scores,
        features=features,
        reference=reference,
        close=panel.close,
        horizon=champion.horizon,
        feature_names=champion.features,
        policy=tier.monitoring,
        validated_ic=champion.validated_ic,
        validated_se=champion.validated_se,
        weights=weights,
        validated_at=champion.validated_at,
        now=pd.Timestamp.now(tz="UTC"),
        revalidation_due=uses.due and (str(uses.due.date), uses.due.reason, uses.due.at_once),
        expired_acceptances=[(r.id, r.acceptance.until) for r in uses.expired],
        domain=domain,
        shadow=shadow_history(ctx.ledger, champion.name),
        boundaries=tier.boundaries,
        sectors=panel.sectors is not None,
        sources=live_lineage(sources, (domain or {}).get("sources") or []),
        header={
            "model": {
                "name": champion.name,
                "version": champion.version,
                "run_id": champion.run_id,
                "validation_seq": champion.validation_seq,
            },
            "data": {"fingerprint": panel.fingerprint, "source": panel.source},
        },
    )
    out = record_monitoring(ctx, tier, report)
    record_expiries(ctx.ledger, uses.expired, monitoring_seq=out.entry.seq)
    escalate_overdue(ctx, uses.overdue, champion.name, {"monitoring_seq": out.entry.seq})
    return out


# -- Prefect -------------------------------------------------------------------------------


@service_stage("champion")
def load_champion(run: Run):
    """Registry and MLflow reads (retried: they touch a service). ``(facts, model, ref)``."""
    from tasks.model.scoring import load_scoring_model

    ctx, name = run.now, run.config.model.name
    promoted = champion(ctx.ledger, name)  # what the signed approvals make
    if promoted is None:
        return None, None, None
    ref = promoted.ref
    model = load_scoring_model(ctx.ws, ref)
    facts = champion_facts(ctx, model)
    return facts, model, load_reference(ctx.ws, facts.run_id)


@stage("monitoring")
def monitor(run: Run, facts: ChampionFacts, model, reference, data_path: str | None) -> dict:
    """Monitor the champion on the market file: the checks, the report, a trip on entering
    breach, and the live book's attribution. The summary the command prints."""
    from flows.risk_stage import attribution_report
    from tasks.data.market import load_long, to_panel

    ctx, config = run.now, run.config
    panel = to_panel(load_long(config.data, config.base_dir, data_path))
    books = published_weights(ctx, config.model.name)
    # the sources are read (the run and rebalance gate them), joined as of publication
    tables = read_sources(config.sources, config.base_dir, "")[0] if config.sources else []
    out = run_monitoring(
        ctx, run.tier, panel, facts, model, reference, config.features, weights=books,
        extra=joined_features(tables, panel), sources=tables,
    )  # fmt: skip
    logger = get_run_logger()
    for line in out.report.reasons():
        logger.warning("monitoring breach: %s", line)
    if out.tripped:
        logger.warning("kill switch TRIPPED by monitoring (ledger seq %s)", out.entry.seq)
    return {**out.summary(), "attribution": attribution_report(ctx, config, panel, books)}


@flow(name="monitoring-flow")
def monitoring_flow(config: AlphagateConfig, data_path: str | None = None) -> dict | State:
    """Daily monitoring of the champion (drift, realised IC and decay, drawdown, tracking
    error; a breach trips the switch). One run of the run framework (``flows/run.py``), opened as the system actor
    (``open_run(system=True)``) and closed with a checkpoint handed to the witnesses, also
    when its deployment runs it. Its record is ``monitoring.completed`` (no ``run.*``)."""
    quiet_expected_failures()
    run = open_run(config, None, kind="monitoring", system=True)  # the adopted policy
    try:
        facts, model, reference = load_champion(run)
        if facts is None:
            name = config.model.name
            entry = run.now.record(
                Action.MONITORING_COMPLETED,
                subject=Subject.model(name),
                payload={"status": "no_champion", "model_name": name},
            )
            get_run_logger().warning("no champion for %s: nothing to monitor", name)
            return Completed(
                name="No champion",
                message=f"no champion for {name}: nothing to monitor",
                data={"status": "no_champion", "ledger_seq": entry.seq},
            )
        summary = monitor(run, facts, model, reference, data_path)
        return end_state(summary, halted=summary.get("status") == "breach")
    except TamperDetected as exc:  # a verified read refused a row: recorded as such
        record_refusal(run.now.ledger, "monitoring", exc.reasons)
        raise
    finally:
        close_run(run)
