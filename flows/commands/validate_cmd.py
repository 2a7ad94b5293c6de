"""``alphagate validate --model-version N [--config FILE] [--as USER] [--json]``.

Exit 0 when the verdict is ``pass``, 3 on ``fail`` or ``review`` (the validation gate would
not let the version through without a human), 4 when the acting user is not a validator or
developed the version.
"""

from __future__ import annotations

import argparse

from flows.commands import (
    add_config_arg,
    add_json_arg,
    add_user_arg,
    config_path,
    prove,
    say_sandbox,
    version_number,
)
from governance.ground.errors import Exit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="independently validate a registered model version")
    p.add_argument("--model-version", required=True, type=version_number, metavar="N")
    add_config_arg(p, "run config naming the model, validation settings and policy")
    p.add_argument("--model", default=None, metavar="NAME", help="registered model name")
    add_user_arg(p)
    add_json_arg(p)
    p.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from flows.config import load_config
    from governance.decisions.context import RunContext
    from governance.decisions.revalidation import trip_if_champion_failed
    from governance.ground.errors import TamperDetected
    from governance.ground.refs import ModelRef
    from governance.ground.workspace import Workspace
    from governance.log.readtime import record_refusal
    from governance.policy.config import tier_for
    from validation.run import validate_model_version

    cfg = load_config(config_path(args))
    name = args.model or cfg.model.name
    in_force = tier_for(cfg, strategy=name)  # the tier the adopted policy assigns `name`
    ws = Workspace.from_env().ensure()
    ctx = RunContext.open(ws, actor="pending", policy_hash=in_force.policy_hash)
    try:
        signer = prove(args, ws, ctx.ledger, "validate")
        try:  # the run context's reads are verified: an entry edited after a verify is exit 3
            result = validate_model_version(
                ctx,
                ModelRef(name, args.model_version),
                cfg.validation,
                in_force.tier,
                validator=signer,
                tier_name=in_force.name,
            )
        except TamperDetected as exc:
            record_refusal(ctx.ledger, "validate", exc.reasons, exc.gate)
            raise
        trip_if_champion_failed(  # policy kill_switch.trip_on_champion_validation_fail
            ws, ctx, in_force.tier, ModelRef(name, args.model_version), result.verdict.value,
            result.ledger_seq,
        )  # fmt: skip
        # the readable copy beside the run's other reports (the store names files by hash)
        folder = ws.home / "reports" / name / f"v{args.model_version}" / "validation"
        html = ctx.store.copy_out(folder, {"report.html": result.report_html_sha256})
    finally:
        ctx.close()
    sandbox = say_sandbox(ctx.sandbox)
    print(f"validation of {name} v{args.model_version}: {result.verdict.value.upper()}")
    for f in result.findings:
        print(f"  [{f.severity.value}] {f.id} {f.check}: {f.message}")
    print(
        f"report: {html['report.html']}\n"
        f"  (artifact sha256 {result.report_html_sha256[:12]}; MLflow run {result.mlflow_run_id})"
    )
    print(f"next: alphagate status --model {name} --model-version {args.model_version}")
    if args.json:
        emit_json(
            {
                "model_name": name,
                "model_version": args.model_version,
                "validation": result.summary(),
                "mlflow_run_id": result.mlflow_run_id,
                "report_html_sha256": result.report_html_sha256,
                "report_html_path": html["report.html"],
                "report_json_sha256": result.report_json_sha256,
                "holdout_fingerprint": result.holdout_fingerprint,
                "ledger_seq": result.ledger_seq,
                "sandbox": sandbox,
            }
        )
    return Exit.DONE if result.verdict.value == "pass" else Exit.HALTED
