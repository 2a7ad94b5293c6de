"""The data and model stages of the governed chain as Prefect tasks: composition only.

Each stage calls the domain functions of ``tasks/``, ``validation/`` and ``governance/`` and
notes its outcome on the run's :class:`~flows.summary.RunSummary`. The run they share, the
``stage`` decorator and the two run keys (content key for the deterministic stages, flow-run
id for decisions) are in ``flows/run.py``; the portfolio and risk stages in
``flows/portfolio_stage.py`` and ``flows/risk_stage.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex

import pandas as pd

from flows.run import Run, keyed, service_stage, stage
from flows.runners import map_on_task_runner
from flows.summary import capped
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from tasks.model.candidate import Trained, registered_earlier, trials_mean_ic

# -- ingest and data quality ---------------------------------------------------------------


@stage("ingest-and-data-quality")
def ingest(run: Run, data_path: str | None):
    """Load the data, run the data-quality gate, record both. Returns ``(run, panel)``."""
    from tasks.data.market import load_long, to_panel
    from tasks.data.quality.gate import evaluate_quality, record_quality

    cfg = run.config
    long = load_long(cfg.data, cfg.base_dir, data_path)
    result = evaluate_quality(long, cfg.quality, cfg.data.as_of_date())
    fingerprint = result.fingerprint
    if cfg.sources:  # read before anything is recorded; the run is keyed by them too
        from tasks.data.sources.record import read_sources

        tables, fingerprint = read_sources(cfg.sources, cfg.base_dir, result.fingerprint)
        run = dataclasses.replace(run, sources=tables)
    run = keyed(run, fingerprint)
    run.ctx.record(
        Action.RUN_STARTED, subject=Subject.flow(run.summary.kind), payload=_run_facts(run)
    )
    run.summary.note(
        "data quality",
        headline=f"{'pass' if result.ok else 'HALT'} — {long.attrs.get('source', '?')}, "
        f"fingerprint {result.fingerprint[:12]}",
        details=capped(
            [f"warning: {w.message}" for w in result.warnings], 3, "the data-quality report"
        ),
        fingerprint=result.fingerprint,
        warnings=len(result.warnings),
    )
    run.summary.note("data quality", report=_quality_copy(run, result))
    record_quality(run.ctx, result, long)  # raises GateHalt after recording a critical failure
    panel = to_panel(long, long.attrs.get("source"), fingerprint=result.fingerprint)
    if run.sources:
        from tasks.data.sources.record import gate_sources

        run.summary.note(
            "data quality",
            sources=[dict(t.lineage(), rows=len(t.rows)) for t in run.sources],
            dataset_fingerprint=fingerprint,
        )
        universe = [str(a) for a in panel.close.columns]
        gate_sources(run.ctx, run.sources, universe, cfg.data.as_of_date(), fingerprint)
        panel = dataclasses.replace(panel, fingerprint=fingerprint)
    return run, panel


def _quality_copy(run: Run, result) -> str:
    """The data-quality report's readable copy under ``reports/data-quality/`` (the store
    holds the same bytes under the hash the gate entry records)."""
    from tasks.data.quality.report import readable_copy, render_quality_html

    sha = run.ctx.store.put_text(render_quality_html(result, sandbox=run.ctx.sandbox))
    return readable_copy(run.ctx.store, run.ws.home, result, sha)


def _run_facts(run: Run) -> dict:
    return {
        "config_hash": run.config.config_hash(),
        "config": run.config.resolved(),
        "policy_hash": run.ctx.policy_hash,
        "tier": run.tier_name,
    }


# -- features, split, training -------------------------------------------------------------


@stage("features-and-sealed-split")
def split(run: Run, panel):
    from tasks.data.sources.record import joined_features
    from tasks.model.dataset import build_frame, split_and_seal

    frame = build_frame(panel, run.config.features, joined_features(run.sources, panel))
    sealed = split_and_seal(run.ctx, frame, run.config.model)
    run.summary.note(
        "split",
        headline=f"dev {_period(sealed.dev_period)} | holdout {_period(sealed.holdout_period)}",
        dev_fingerprint=sealed.dev_fingerprint,
        holdout_fingerprint=sealed.holdout_fingerprint,
    )
    return sealed


def _period(p) -> str:
    return f"{pd.Timestamp(p[0]).date()}..{pd.Timestamp(p[1]).date()}"


@service_stage("train-and-register")
def train(run: Run, sealed, data_fingerprint: str) -> Trained:
    from tasks.model.register import train_and_register

    found = registered_earlier(run.ctx, run.config.model.name)
    workers: list[str] = []
    if found is None:
        from governance.registry.recorder import fail_runs

        # A crashed earlier attempt's runs still RUNNING end FAILED (the workspace's run lock
        # is held, so no live run has this key).
        fail_runs(run.ws, run.config.model.name, run.ctx.run_key)
        res = train_and_register(
            run.ctx,
            sealed,
            run.config.features,
            run.config.model,
            developer=run.actor,
            tier=run.tier_name,
            config_hash=run.config.config_hash(),
            data_fingerprint=data_fingerprint,
            resolved_config=run.config.resolved(),
            sources=_source_facts(run.sources, sealed.holdout_period[1]),
            trial_map=functools.partial(map_on_task_runner, where=workers),
        )
        found = Trained(
            res.model_name,
            res.version,
            res.mlflow_run_id,
            float(res.cv.rank_ic_mean),
            float(res.cv.rank_ic_std),
            len(res.trials),
            resumed=False,
            cv_rank_ic_trials_mean=trials_mean_ic(res.trials),
            trials_total=res.trials_total,
        )
    s = run.summary
    s.mlflow_run_id, s.model_version = found.mlflow_run_id, found.version
    report = s.stages.get("data quality", {}).get("report")
    if report:  # the data-quality report beside the training run it admitted
        from governance.registry.recorder import attach

        attach(run.ws, found.mlflow_run_id, report, "data_quality")
    s.note(
        "training",
        headline=f"candidate {found.name} v{found.version} — purged CV rank IC "
        + found.cv_headline()
        + (" (resumed: already registered by this run key)" if found.resumed else ""),
        mlflow_run_id=found.mlflow_run_id,
        trials=found.trials,
        trials_total=found.trials_total,
        cv_rank_ic_best=found.cv_rank_ic,
        cv_rank_ic_trials_mean=found.cv_rank_ic_trials_mean,
        trial_workers=sorted(set(workers)),  # empty when resumed: nothing was trained
    )
    return found


def _source_facts(tables, cutoff) -> tuple[dict, ...]:
    """Each source's lineage, its history known on ``cutoff`` and its features'
    declarations, for training's records (tasks/data/sources/record.py)."""
    if not tables:
        return ()
    from tasks.data.sources.record import training_lineage

    return training_lineage(tables, cutoff)


# -- validation and approval ---------------------------------------------------------------


@service_stage("independent-validation")
def validate(run: Run, model: Trained) -> str | None:
    """Validate the candidate as the configured validator; record the validation gate."""
    from governance.decisions import decide
    from governance.decisions.promotion import latest_validation
    from validation.run import validate_model_version

    validator = _validator(run, run.config.validation.validator)
    if isinstance(validator, str):
        run.summary.note(
            "validation",
            headline=f"not run: {validator}",
            details=[  # runnable as printed: the model and the config this run read
                f"alphagate validate --model {model.name} --model-version {model.version}"
                + (f" --config {shlex.quote(run.config.file)}" if run.config.file else "")
                + " --as <validator> --key <their key>"
            ],
        )
        return None
    facts = latest_validation(run.ctx.ledger, ModelRef(model.name, model.version))
    entry = None if facts is None else run.ctx.ledger.entries_between(facts.seq, facts.seq)[0]
    # validated by an earlier run on the same content, or by this run before a retry of this
    # task (its validation.completed is keyed by the run: validating again would conflict)
    if entry is not None and (model.resumed or entry.payload.get("run_key") == run.ctx.run_key):
        verdict, findings = facts.verdict, entry.payload.get("findings", [])
    else:
        res = validate_model_version(
            run.ctx,
            ModelRef(model.name, model.version),
            run.config.validation,
            run.tier,
            validator=validator,
            tier_name=run.tier_name,
        )
        verdict, findings = res.verdict, list(res.findings)
    verdict = getattr(verdict, "value", verdict)
    lines = [_finding_line(f) for f in findings]
    run.summary.validation = {"verdict": verdict, "findings": lines}
    run.summary.note(
        "validation",
        headline=f"{verdict.upper()} (by {validator.name}, independent of {run.actor})",
        details=capped(lines, 6, "the validation report"),
    )
    decide.validation(run.ctx, verdict, findings, Subject.model(model.name, model.version))
    return verdict


def review_cleared(run: Run, model: Trained) -> bool:
    """True when a non-pass verdict's findings are all accepted (the review path): the
    candidate then waits for approvals only, not for a human to look at the findings."""
    from governance.decisions.promotion import latest_validation, verdict_blockers

    facts = latest_validation(run.ctx.ledger, ModelRef(model.name, model.version))
    return facts is not None and not verdict_blockers(run.ctx.ledger, model.version, facts)


def _validator(run: Run, name: str | None):
    """The configured validator's proven identity (their key from the keyring), or why the
    pipeline cannot validate in-flow (a string)."""
    from governance.audit.door import prove_identity
    from governance.ground.errors import InputError
    from governance.identity.keys import keyring_path

    if name is None:
        return "no validator configured (validation.validator)"
    if keyring_path(name) is None:
        return f"the validator {name!r} signs the verdict with their own key, not in this run"
    try:
        return prove_identity(run.ws, run.ctx.ledger, name, str(keyring_path(name)), "validate")
    except InputError as exc:
        return str(exc)


def _finding_line(f) -> str:
    """``[severity] ID check: message`` of a Finding or of its recorded JSON form."""
    field = f.get if isinstance(f, dict) else lambda k, d="": getattr(f, k, d)
    sev, fid = field("severity", ""), field("id", "")
    head = f"[{getattr(sev, 'value', sev)}] " + (f"{fid} " if fid else "")
    return f"{head}{field('check', '')}: {field('message', '')}"


@stage("approval-gate")
def approval(run: Run, model: Trained, verdict: str | None) -> None:
    """Record where the candidate stands on its way to champion, and what it still needs."""
    from governance.decisions import decide
    from governance.decisions.promotion import promotion_state

    ref = ModelRef(model.name, model.version)
    state = promotion_state(run.ws, ref, run.tier, ledger=run.now.ledger)
    review = []
    if (
        not state.complete
        and not state.blocked
        and verdict == "pass"
        and _ui_approvals_enabled(run)
    ):
        from flows.review import hand_off  # the review flow gathers them (docs/deploy.md)

        review = hand_off(run.config.file, ref)
    decide.approval(run.now, state, Subject.model(model.name, model.version))
    if state.champion:
        headline = f"v{model.version} is the champion"
    elif state.blocked:
        headline = "not eligible: " + "; ".join(state.blocked)
    else:
        headline = f"awaiting {', '.join(state.missing) or 'promotion'}"
    run.summary.note(
        "approval",
        headline=headline,
        details=[*state.commands, *review],
        state=state.to_json(),
    )


def _ui_approvals_enabled(run: Run) -> bool:
    return bool(run.config.governance.ui_approval and os.environ.get("PREFECT_API_URL"))
