"""Entry point of independent validation: check who validates, assess, report, record.

:func:`validate_model_version` is what ``alphagate validate`` and the governed pipeline call.
It never promotes and never touches aliases: it only tags the version (``validation.*``),
writes a validation MLflow run, stores the report by hash and appends
``validation.completed`` (or ``validation.refused``) to the ledger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Any

import pandas as pd

from governance.decisions.context import RunContext
from governance.decisions.rows import decision_rows
from governance.findings.mlflow_tags import sync_findings
from governance.findings.register import load_register
from governance.ground.canonical import canonical_json, to_jsonable
from governance.ground.errors import Forbidden
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.duties import Act, duty_refusal
from governance.identity.sandbox import run_tags
from governance.identity.signing import append_signed
from governance.policy.schema import Tier
from governance.registry.change_control import version_change
from governance.registry.recorder import log_run, mlflow_client, mlflow_error
from validation.assess import PREDICTION, Assessment, assess
from validation.boundaries import operating_domain
from validation.comparison import compare_with_baseline
from validation.config import ValidationConfig
from validation.findings import Finding, Verdict, summarise, with_ids
from validation.inputs import ValidationInputs, load_inputs, predict, training_facts
from validation.looks import holdout_looks
from validation.metrics import regime_metrics
from validation.report import render_html
from validation.robustness import mlflow_metrics, robustness

__all__ = ["ValidationResult", "check_validator", "validate_model_version"]

ACTION = "validate"


@dataclass(frozen=True)
class ValidationResult:
    """What a validation concluded and where its evidence is.

    Attributes
    ----------
    model_name, version : str, int
    verdict : Verdict
    findings : tuple of Finding
    metrics : dict
        The report's JSON twin (every number), as recorded in the artifact store.
    report_json_sha256, report_html_sha256 : str
        Artifact-store hashes of the JSON twin and the HTML report.
    mlflow_run_id : str
        The validation run (experiment ``<strategy>-validation``).
    holdout_fingerprint : str
    ledger_seq : int
        Sequence number of the ``validation.completed`` entry.
    """

    model_name: str
    version: int
    verdict: Verdict
    findings: tuple[Finding, ...]
    metrics: dict[str, Any]
    report_json_sha256: str
    report_html_sha256: str
    mlflow_run_id: str
    holdout_fingerprint: str
    ledger_seq: int

    def summary(self) -> dict[str, Any]:
        """``{verdict, findings}``: the ``validation`` field of the CLI's JSON."""
        return to_jsonable({"verdict": self.verdict, "findings": list(self.findings)})


def check_validator(ctx: RunContext, ref: ModelRef, validator) -> None:
    """Refuse a validator without the role, or who developed the version (Forbidden).

    ``validator`` is the proven :class:`~governance.identity.signing.Signer`. A refusal is recorded
    as ``validation.refused`` before it is raised.
    """
    from governance.identity.duties import developer_of

    model_name, version = ref.name, ref.version
    try:
        run_id = mlflow_client(ctx.ws).get_model_version(*ref.mlflow).run_id
    except mlflow_error():  # unknown version: load_inputs raises the InputError later
        run_id = None
    developer = developer_of(ctx.ledger, run_id)
    reason = (
        f"{ACTION}: {model_name} v{version} has no valid signed model.trained entry: its"
        " developer is unknown, so independence cannot be checked"
        if run_id is not None and developer is None
        else None
    )
    reason = reason or duty_refusal(
        Act.VALIDATE, validator.name, validator.role, developer=developer,
        subject=f"{model_name} v{version}",
    )  # fmt: skip
    if reason:
        ctx.ledger.append(
            Action.VALIDATION_REFUSED,
            actor=validator.name,
            role=validator.role,
            subject=Subject.model(model_name, version),
            payload={"reason": reason, "developer": developer},
        )
        raise Forbidden(reason)


def _header(
    inp: ValidationInputs, validator: str, tier_name: str | None, ctx: RunContext, tier: Tier
):
    hold = inp.holdout
    trained = training_facts(ctx.ledger, inp.strategy, inp.run_id)
    return {
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "training": {"fold_rounds": trained.get("fold_rounds") or []},
        "approvals": decision_rows(ctx.ledger, inp.ref),
        "model": {
            "intended_use": trained.get("intended_use"),
            "name": inp.model_name,
            "version": inp.version,
            "run_id": inp.run_id,
            "developer": inp.developer,
            "strategy": inp.strategy,
            "horizon": inp.horizon,
            "features": inp.features,
            "sources": trained.get("sources") or [],  # lineage (tasks/data/sources/)
        },
        "validator": validator,
        "holdout": {
            "fingerprint": inp.holdout_fingerprint,
            "rows": len(hold),
            "dates": int(hold["date"].nunique()),
            "assets": int(hold["asset"].nunique()),
            "period": [str(hold["date"].min().date()), str(hold["date"].max().date())],
        },
        "sandbox": ctx.sandbox,
        "policy": {
            "tier": tier_name,
            "hash": ctx.policy_hash,
            "thresholds": tier.validation,
        },
    }


def _selected_trial(inp: ValidationInputs) -> str | None:
    best = inp.accounting.best_trial
    return None if best is None else f"{inp.run_id[:8]}:trial_{best}"


def _mlflow_record(
    ctx,
    inp: ValidationInputs,
    a: Assessment,
    files: dict[str, bytes],
    *,
    validator: str,
    experiment: str,
    html_sha: str,
) -> str:
    """Log the validation run, link it to the version (tags + description); return run id.

    Uses the client API, not the fluent ``mlflow.start_run``: a flow may already have an
    active run in this thread, and the validation run must be its own.
    """
    m = a.metrics
    tags = {
        "mlflow.runName": f"validate-{inp.model_name}-v{inp.version}",
        "model_name": inp.model_name,
        "model_version": inp.ref.version_text,
        "model_run_id": inp.run_id,
        "validator": validator,
        "mlflow.user": validator,  # the proven validator, not the OS account ("root")
        "developer": inp.developer or "",
        "verdict": a.verdict.value,
        "holdout_fingerprint": inp.holdout_fingerprint,
        "report_sha256": html_sha,
        "mlflow.note.content": _note(inp, a),
        **run_tags(ctx.policy_hash, ctx.sandbox),
    }
    over = a.report["overfitting"]
    metrics = {
        "rank_ic_mean": m.rank_ic_mean,
        "rank_ic_tstat": m.rank_ic_tstat,
        "icir": m.icir,
        "hit_rate": m.hit_rate,
        "ls_sharpe": m.ls_sharpe,
        "turnover": m.turnover,
        "dsr": over["dsr"],
        "psr": over["psr"],
        "pbo": over["pbo"].get("pbo"),
        **regime_metrics(m.ic_by_state),  # rank_ic_<regime>_<state>
        **mlflow_metrics(a.report),
    }
    run_id, exp_id = log_run(
        ctx.ws, experiment, tags=tags, metrics=metrics, files=files, artifact_path="validation"
    )
    client = mlflow_client(ctx.ws)
    version_tags = {
        "validation.verdict": a.verdict.value,
        "validation.run_id": run_id,
        "validation.report_sha256": html_sha,
        "validation.findings": summarise(a.findings),
        "validation.report": f"runs:/{run_id}/validation/report.html",
    }
    for key, value in version_tags.items():
        client.set_model_version_tag(*inp.ref.mlflow, key, value)
    # One click from the version page: its description links the validation run's report.
    link = f"#/experiments/{exp_id}/runs/{run_id}/artifacts/validation/report.html"
    mv = client.get_model_version(*inp.ref.mlflow)
    line = f"Validation {a.verdict.value.upper()} by {validator}: [report]({link})"
    desc = "\n\n".join(x for x in ((mv.description or "").strip(), line) if x)
    client.update_model_version(*inp.ref.mlflow, description=desc)
    return run_id


def with_predictions(inp: ValidationInputs) -> pd.DataFrame:
    """The sealed holdout with the registered model's ``prediction`` column."""
    holdout = inp.holdout.copy()
    holdout[PREDICTION] = predict(inp.booster, holdout, inp.features)
    return holdout


def assess_inputs(
    ctx: RunContext,
    inp: ValidationInputs,
    cfg: ValidationConfig,
    tier: Tier,
    *,
    validator: str,
    tier_name=None,
):
    """Every statistic, finding and figure of the validation of ``inp`` (no recording)."""
    return assess(
        with_predictions(inp),
        inp.reference,
        inp.trials,
        inp.booster,
        features=inp.features,
        expected_signs=inp.expected_signs,
        horizon=inp.horizon,
        n_trials=inp.accounting.n_trials or max(inp.trials.shape[1], 1),
        trial_sharpes_annual=inp.accounting.trial_sharpes,
        selected_trial=_selected_trial(inp),
        cfg=cfg,
        policy=tier.validation,
        header=_header(inp, validator, tier_name, ctx, tier),
        holdout_looks=holdout_looks(ctx.ledger, inp.holdout_fingerprint, inp.run_id).count,
        robustness=robustness(ctx.ledger, ctx.store, inp, cfg),
    )


def validate_model_version(
    ctx: RunContext,
    ref: ModelRef,
    cfg: ValidationConfig,
    tier: Tier,
    *,
    validator,
    tier_name: str | None = None,
) -> ValidationResult:
    """Independently validate a registered model version on its sealed holdout.

    Parameters
    ----------
    ctx : governance.decisions.context.RunContext
        Ledger, artifact store and workspace; ``ctx.policy_hash`` is recorded.
    ref : ModelRef
        The registered version (read from the MLflow registry only).
    cfg : ValidationConfig
    tier : Tier
        Policy tier: ``validation`` thresholds and severities, ``change.comparison`` bounds.
    validator : governance.identity.signing.Signer
        The proven acting user (a validator, not the version's developer); the verdict is
        their signed act over the report's digests, the holdout fingerprint, the policy hash.
    tier_name : str, optional
        Name of the tier, for the report.

    Raises
    ------
    Forbidden
        The validator lacks the role or developed the version (recorded in the ledger).
    InputError
        Unknown version, or a required tag or run artifact is missing.
    TamperDetected
        The holdout is not the sealed one recorded, or its bytes changed.
    """
    check_validator(ctx, ref, validator)
    signer, validator = validator, validator.name
    model_name, version = ref.name, ref.version
    inp = load_inputs(ctx.ws, ctx.ledger, ctx.store, ref)
    a = assess_inputs(ctx, inp, cfg, tier, validator=validator, tier_name=tier_name)
    a = _identified(ctx, a, ref)
    # the operating domain (with the sources' signed lineage) travels in the signed report
    sources = a.report["model"]["sources"]
    domain = operating_domain(inp.holdout, inp.features, tier.boundaries.window, sources)
    # minor or material, from the signed training entries (never the config), and a minor
    # change compared with its baseline on this holdout (validation/comparison.py): signed
    change = version_change(ctx.ledger, ref).to_json()
    change["comparison"] = compare_with_baseline(ctx.ledger, inp, change, tier, 1 / cfg.n_quantiles)
    a = replace(a, report={**a.report, "domain": to_jsonable(domain), "change": change})
    report_json = canonical_json(a.report)
    report_html = render_html(a.report, a.figures).encode("utf-8")
    json_sha = ctx.store.put_bytes(report_json)
    html_sha = ctx.store.put_bytes(report_html)
    figure_shas = {cap: ctx.store.put_bytes(png) for cap, png in a.figures.items()}
    files = {"report.json": report_json, "report.html": report_html}
    files.update({_png_name(cap): png for cap, png in a.figures.items()})
    run_id = _mlflow_record(
        ctx,
        inp,
        a,
        files,
        validator=validator,
        experiment=f"{inp.strategy}{cfg.experiment_suffix}",
        html_sha=html_sha,
    )
    # The validator's signed act, whoever opened the context (the pipeline runs as developer).
    entry = append_signed(
        ctx.ledger,
        signer,
        Action.VALIDATION_COMPLETED,
        subject=Subject.model(model_name, version),
        payload={
            "model_name": model_name,
            "model_version": version,  # recorded as a number (a validation's payload)
            "verdict": a.verdict.value,
            "findings": to_jsonable(list(a.findings)),
            "report_json_sha256": json_sha,
            "report_html_sha256": html_sha,
            "holdout_fingerprint": inp.holdout_fingerprint,
            "policy_hash": ctx.policy_hash,
            "policy_tier": tier_name,
            "validator": validator,
            "developer": inp.developer,
            "mlflow_run_id": run_id,
            "model_run_id": inp.run_id,
            "n_trials": a.report["overfitting"]["n_trials"],
            "change_class": change["class"],
            "comparison": change["comparison"],  # judged again at each approval
            "holdout_looks": a.report["overfitting"]["holdout_looks"],
            "flow_run_id": ctx.flow_run_id,
            "run_key": ctx.run_key,
            **({"sandbox": True} if ctx.sandbox else {}),  # as every entry of a sandbox
        },
        artifacts={
            "report.json": json_sha,
            "report.html": html_sha,
            **{_png_name(c): s for c, s in figure_shas.items()},
        },
        idempotency_key=ctx.idempotency_key(
            Action.VALIDATION_COMPLETED, Subject.model(model_name, version)
        ),
    )
    sync_findings(ctx.ws, ctx.ledger, ref, entry.seq)
    return ValidationResult(
        model_name=model_name,
        version=version,
        verdict=a.verdict,
        findings=a.findings,
        metrics=a.report,
        report_json_sha256=json_sha,
        report_html_sha256=html_sha,
        mlflow_run_id=run_id,
        holdout_fingerprint=inp.holdout_fingerprint,
        ledger_seq=entry.seq,
    )


def _identified(ctx: RunContext, a: Assessment, ref: ModelRef) -> Assessment:
    """The assessment with register ids on its findings, in the report too."""
    findings = with_ids(a.findings, load_register(ctx.ledger).of_version(ref), ref)
    report = {**a.report, "findings": to_jsonable([asdict(f) for f in findings])}
    return replace(a, findings=findings, report=report)


def _png_name(caption: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in caption.lower()).strip("_") + ".png"


def _note(inp: ValidationInputs, a: Assessment) -> str:
    """Markdown description of the validation run shown on its MLflow page."""
    head = (
        f"Independent validation of **{inp.model_name} v{inp.version}**: "
        f"**{a.verdict.value.upper()}**. Report: `validation/report.html` (JSON twin "
        "`validation/report.json`)."
    )
    return "\n".join([head, "", *[f"- {f}" for f in a.findings]])
