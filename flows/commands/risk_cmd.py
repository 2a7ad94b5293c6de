"""``alphagate risk`` and ``alphagate stress``: analyse a published (or given) portfolio.

Both read the market as the run config says, take the optimiser's risk model at the
portfolio's date, record their result in the ledger (``risk.analysed``,
``stress.completed``) and log one MLflow run with the figures (experiment
``<strategy>-risk``). ``stress`` exits 3 when a loss breaches the policy tier's stress
limits (as ``monitor`` does for its checks); it halts nothing by itself.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flows.commands import add_config_arg, add_json_arg, add_user_arg, config_path
from governance.ground.errors import Exit


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "risk",
        help="risk decomposition, exposures, tracking error and VaR/ES of a portfolio",
        description="Ex-ante volatility, factor vs specific share, Euler contributions by "
        "asset, sector and factor, active exposures, tracking error, VaR and ES "
        "(parametric and historical; 21-day = sqrt(21) x 1-day).",
    )
    _common(r)
    r.set_defaults(handler=_risk)
    s = sub.add_parser(
        "stress",
        help="historical, hypothetical and sampled stress losses of a portfolio",
        description="Loss, top contributors and cost to exit in each scenario of the "
        "config's stress: section; exit 3 when a loss breaches the policy's stress limits.",
    )
    _common(s)
    s.add_argument(
        "--scenarios",
        type=int,
        default=None,
        metavar="N",
        help="sampled scenarios (default: stress.sampled.n_scenarios; 0: none)",
    )
    s.set_defaults(handler=_stress)


def _common(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    p.add_argument(
        "--portfolio",
        default="latest",
        metavar="latest|PATH",
        help="the last published portfolio (default), or a weights CSV (asset,weight) / JSON",
    )
    p.add_argument("--data", default=None, help="market data file overriding the config")
    add_user_arg(p)
    add_json_arg(p)


def read_weights_file(path: str):
    """Weights from ``asset,weight`` CSV or ``{"weights": {...}}`` / ``{asset: w}`` JSON."""
    import pandas as pd

    from governance.ground.errors import InputError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    try:
        if p.suffix.lower() == ".json":
            doc = json.loads(p.read_text(encoding="utf-8"))
            doc = doc.get("weights", doc) if isinstance(doc, dict) else doc
            if not isinstance(doc, dict):
                raise InputError(f"{p}: weights: expected a mapping asset -> weight")
            w = pd.Series(doc, dtype=float)
        else:
            frame = pd.read_csv(p)
            missing = {"asset", "weight"} - set(frame.columns)
            if missing:
                raise InputError(f"{p}: missing column(s) {', '.join(sorted(missing))}")
            w = pd.Series(
                pd.to_numeric(frame["weight"], errors="raise").to_numpy(),
                index=frame["asset"].astype(str),
            )
    except (ValueError, TypeError) as exc:
        raise InputError(f"{p}: weight: not a number ({exc})") from None
    if w.empty or not w.map(lambda v: v == v and abs(v) != float("inf")).all():
        raise InputError(f"{p}: weight: every weight must be a finite number")
    return w


def _load(args: argparse.Namespace):
    """``(config, tier, ctx, panel, weights, asof, source)`` for either command."""
    from flows.config import load_config
    from flows.risk_stage import published_book
    from governance.decisions.context import RunContext
    from governance.ground.errors import InputError
    from governance.ground.workspace import Workspace
    from governance.policy.config import load_policy_for
    from tasks.data.market import fingerprint_long, load_long, to_panel

    config = load_config(config_path(args))
    policy, tier, policy_hash = load_policy_for(config)
    long = load_long(config.data, config.base_dir, args.data)
    panel = to_panel(long, long.attrs.get("source"), fingerprint=fingerprint_long(long))
    ws = Workspace.from_env().activate()
    ctx = RunContext.open(
        ws, actor=args.user or "alphagate", policy=policy, policy_hash=policy_hash
    )
    if args.portfolio == "latest":
        entry, weights = published_book(ctx, config.model.name)
        if entry is None:
            ctx.close()
            raise InputError("--portfolio latest: no portfolio has been published yet")
        if weights is None:
            ctx.close()
            raise InputError(f"--portfolio latest: ledger seq {entry.seq} holds no weights")
        asof, source = entry.payload["asof"], entry.payload.get("source", "model")
    else:
        weights = read_weights_file(args.portfolio)
        asof, source = str(panel.close.index[-1].date()), "file"
    unknown = sorted(set(weights.index) - set(panel.close.columns))
    if unknown:
        ctx.close()
        raise InputError(f"{args.portfolio}: assets not in the data: {', '.join(unknown[:5])}")
    return config, tier, ctx, panel, weights, asof, source


def _risk(args: argparse.Namespace) -> int:
    from flows.risk_stage import contribution_lines, log_mlflow
    from tasks.risk.gate import portfolio_subject
    from tasks.risk.record import analyse, record_risk, risk_files, risk_inputs, store_files

    config, _tier, ctx, panel, weights, asof, source = _load(args)
    try:
        inputs = risk_inputs(panel, config.portfolio, config.risk, asof=asof)
        analysis = analyse(weights, inputs, panel.sectors, config.portfolio, config.risk)
        subject = portfolio_subject(asof, source)
        shas = store_files(ctx, risk_files(analysis, subject))
        run_id = log_mlflow(ctx, config.model.name, subject, analysis, None, shas)
        facts = {"source": source, "asof": asof, "mlflow_run_id": run_id}
        entry = record_risk(ctx, analysis, subject, facts, shas)
    finally:
        ctx.close()
    out = {
        "asof": asof,
        "source": source,
        **analysis.summary(),
        "ledger_seq": entry.seq,
        "mlflow_run_id": run_id,
        "artifacts": shas,
    }
    if args.json:
        from flows.commands import emit_json

        emit_json(out)
    else:
        print(f"risk of the {source} portfolio as of {asof}:")
        print(
            f"  volatility {out['annual_volatility']:.1%}/yr, factor {out['factor_share']:.0%}, "
            f"tracking error {out['annual_tracking_error']:.1%}/yr"
        )
        print(
            "\n".join(f"  {line}" for line in contribution_lines(out, sectors=len(out["sectors"])))
        )
        for row in out["var"]:
            print(
                f"  {row['method']:<10} {row['confidence']:.0%} {row['horizon']:>2}-day "
                f"VaR {row['var']:.2%}  ES {row['es']:.2%}"
            )
    return 0


def _stress(args: argparse.Namespace) -> int:
    import pandas as pd

    from flows.risk_stage import log_mlflow, move_text
    from governance.decisions.pretrade import check_stress
    from governance.ground.errors import InputError
    from tasks.risk.gate import portfolio_subject
    from tasks.risk.record import record_stress, risk_inputs, stress, with_limits

    if args.scenarios is not None and args.scenarios < 0:
        raise InputError("--scenarios: must be >= 0")
    if args.scenarios is not None and 0 < args.scenarios < 100:
        raise InputError("--scenarios: at least 100 for a tail estimate (or 0 for none)")
    config, tier, ctx, panel, weights, asof, source = _load(args)
    try:
        inputs = risk_inputs(panel, config.portfolio, config.risk, asof=asof)
        res, skipped = stress(weights, panel, inputs, config.stress, args.scenarios)
        breaches = check_stress(res.losses(), tier.stress)
        subject = portfolio_subject(asof, source)
        facts = {"source": source, "asof": asof}
        shas = record_stress(ctx, res, skipped, tier.stress, breaches, subject, facts)
        run_id = log_mlflow(ctx, config.model.name, subject, None, res.losses(), shas)
        seq = ctx.ledger.head()[0]
    finally:
        ctx.close()
    table = with_limits(res, tier.stress)
    out = {
        "asof": asof,
        "source": source,
        "scenarios": table.drop(columns=["notes"]).to_dict(orient="records"),
        "sampled": res.sampled,
        "skipped_windows": skipped,
        "breaches": [str(b) for b in breaches],
        "ledger_seq": seq,
        "mlflow_run_id": run_id,
        "artifacts": shas,
    }
    if args.json:
        from flows.commands import emit_json

        emit_json(out)
    else:
        print(f"stress of the {source} portfolio as of {asof}:")
        for r in table.itertuples():
            mark = "  BREACH" if r.breach else ""
            limit = "no limit" if pd.isna(r.limit) else f"limit {r.limit:.2%}"
            print(
                f"  {r.scenario:<18} {move_text(r.loss)}  {limit}  cost to exit {r.cost_to_exit:.2%}{mark}"
            )
        if skipped:
            print(f"  dropped, window not in the data: {', '.join(skipped)}")
        for b in breaches:
            print(f"  breach: {b}")
    return Exit.HALTED if breaches else Exit.DONE
