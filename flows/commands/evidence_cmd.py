"""``alphagate evidence export|verify`` (governance/evidence/pack.py, governance/evidence/verify.py)."""

from __future__ import annotations

import argparse

from flows.commands import (
    add_config_arg,
    add_json_arg,
    add_user_arg,
    config_path,
    version_number,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evidence", help="export and verify evidence packs")
    esub = p.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    ex = esub.add_parser(
        "export", help="write the evidence pack of a model version, a run or a period"
    )
    which = ex.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-version", type=version_number, metavar="N")
    which.add_argument("--run-id", metavar="ID", help="Prefect flow-run id or MLflow run id")
    which.add_argument("--strategy", metavar="NAME", help="a period's evidence of a strategy")
    ex.add_argument("--from", dest="start", metavar="DATE", help="first day (with --strategy)")
    ex.add_argument("--to", dest="end", metavar="DATE", help="last day (with --strategy)")
    ex.add_argument("--out", required=True, metavar="FILE.zip")
    add_config_arg(ex)
    ex.add_argument("--model", default=None, metavar="NAME", help="registered model name")
    add_user_arg(ex)  # optional: the export is recorded as the identity the key proves
    add_json_arg(ex)
    ex.set_defaults(handler=_export)
    co = esub.add_parser(
        "committee", help="write the committee pack of a model version: one self-contained HTML"
    )
    co.add_argument("--model-version", type=version_number, default=None, metavar="N",
                    help="default: the latest registered version")  # fmt: skip
    add_config_arg(co)
    co.add_argument("--model", default=None, metavar="NAME", help="registered model name")
    co.add_argument("--out", required=True, metavar="FILE.html")
    co.add_argument("--pdf", default=None, metavar="FILE.pdf",
                    help="also print it to PDF (WeasyPrint: pip install 'alphagate[pdf]')")  # fmt: skip
    add_user_arg(co)  # optional: the export is recorded as the identity the key proves
    add_json_arg(co)
    co.set_defaults(handler=_committee)
    ve = esub.add_parser("verify", help="re-check an evidence pack offline")
    ve.add_argument("file", metavar="FILE.zip")
    ve.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a witness's verifier key (or a file holding it), obtained from the witness;"
        " repeatable: the checkpoint needs a quorum of cosignatures by these keys",
    )
    add_json_arg(ve)
    ve.set_defaults(handler=_verify)


def _export(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from flows.config import load_config
    from governance.evidence.pack import PackSubject, export_pack
    from governance.ground.errors import InputError, TamperDetected
    from governance.ground.workspace import Workspace

    path = config_path(args)
    cfg = load_config(path)
    if args.strategy is not None:
        from governance.evidence.period import parse_day

        if not (args.start and args.end):
            raise InputError("evidence export --strategy: needs --from DATE and --to DATE")
        days = (str(parse_day(args.start, "--from")), str(parse_day(args.end, "--to")))
        subject = PackSubject(args.strategy, period=days)
    elif args.start or args.end:
        raise InputError("evidence export: --from/--to go with --strategy only")
    elif args.model_version is not None:
        subject = PackSubject(args.model or cfg.model.name, args.model_version)
    else:
        subject = PackSubject(run_id=args.run_id)
    files = {"run.yaml": path, "policy.yaml": cfg.resolve(cfg.policy.file)}
    ws = Workspace.from_env()
    out, summary = export_pack(ws, subject, args.out, config_files=files, actor=_exporter(args, ws))
    v = summary["verification"]
    print(f"evidence pack {out}: {summary['subject']}, {len(summary['entries'])} ledger entries")
    if args.json:
        emit_json({"out": str(out), **{k: summary[k] for k in ("subject", "head", "verification")}})
    if not v["ok"]:
        raise TamperDetected(f"exported, but the workspace failed verification: {v['reason']}")
    return 0


def _committee(args: argparse.Namespace) -> int:
    """``evidence committee``: read, render, record as the proven identity, then write."""
    from pathlib import Path

    from flows.commands import emit_json
    from flows.config import load_config
    from flows.status import latest_version, status_report
    from governance.audit.integrity import verify_workspace
    from governance.ground.errors import InputError, TamperDetected
    from governance.ground.files import write_atomic
    from governance.ground.html import render_page
    from governance.ground.pdf import render_pdf
    from governance.ground.refs import ModelRef
    from governance.ground.workspace import Workspace
    from governance.log.readtime import verified_ledger
    from governance.policy.config import tier_for
    from governance.views.committee import committee_page, decision_requested, record_committee
    from governance.views.committee_facts import committee_facts
    from validation.report import LIMITATIONS
    from validation.report_robustness import robustness_sections
    from validation.report_sections import analyst_sections

    out = Path(args.out)
    pdf = Path(args.pdf) if args.pdf else None
    for flag, path, suffix in (("--out", out, ".html"), ("--pdf", pdf, ".pdf")):
        if path is not None and path.suffix.lower() != suffix:
            raise InputError(f"{flag} {path}: must end in {suffix}")
        if path is not None and not path.parent.is_dir():
            raise InputError(f"{flag} {path}: folder {path.parent} does not exist")
    cfg = load_config(config_path(args))
    name = args.model or cfg.model.name
    t = tier_for(cfg, strategy=name)
    ws = Workspace.from_env().ensure()
    version = args.model_version or latest_version(ws, name)
    if version is None:
        raise InputError(f"--model {name}: no registered version yet (alphagate run)")
    actor = _exporter(args, ws)
    with verified_ledger(ws, "evidence committee") as ledger:
        # as evidence export: no pack from a workspace that fails verification (exit 3)
        check = verify_workspace(ws, ledger.unwrapped, incremental=True)
        if not check.ok:
            raise TamperDetected(
                f"evidence committee: the workspace fails verification at seq"
                f" {check.first_bad_seq}: {check.reason}"
            )
        ref = ModelRef(name, version)
        state = status_report(ws, ledger, ref, t.tier)
        facts = committee_facts(ledger, ref)
        parts = (
            (*analyst_sections(facts.report, facts.validation_figures()),
             *robustness_sections(facts.report))
            if facts.report
            else ()
        )  # fmt: skip
        page = committee_page(
            facts, state, tier=t.name, policy_hash=t.policy_hash,
            validation_limits=LIMITATIONS, validation_parts=parts,
        )  # fmt: skip
        html = render_page(page)
        printed = render_pdf(html) if pdf is not None else None
        html = html.encode("utf-8")
        entry = record_committee(ledger, facts, html, decision_requested(state)[1], actor, printed)
    write_atomic(out, html)
    if pdf is not None:
        write_atomic(pdf, printed)
    print(f"committee pack {out}: {name} v{version}, {page.verdict}; ledger #{entry.seq}")
    if args.json:
        emit_json({"out": str(out.resolve()), "model_name": name, "version": ref.version_text,
                   "state": page.verdict, "decision_requested": entry.payload["decision"],
                   "html_sha256": entry.artifacts["committee.html"],
                   "pdf": str(pdf.resolve()) if pdf else None,
                   "pdf_sha256": entry.artifacts.get("committee.pdf"),
                   "ledger_entry": entry.seq, "sandbox": facts.sandbox})  # fmt: skip
    return 0


def _exporter(args: argparse.Namespace, ws) -> tuple[str, str]:
    """Who the export is recorded as: the identity a key proves (``--key``,
    ``$ALPHAGATE_KEY`` or the keyring's key of ``--as``; a key that is not ``--as``'s is
    exit 4, recorded), else alphagate itself. ``--as``/``$ALPHAGATE_USER`` alone is a claim
    and is never recorded as the actor."""
    from flows.commands import prove
    from governance.identity.keys import resolve_key_path
    from governance.log.ledger import Ledger

    if resolve_key_path(args.key, args.user) is None:
        return ("alphagate", "system")
    with Ledger.open(ws) as ledger:
        signer = prove(args, ws, ledger, "evidence export")
    return (signer.name, signer.role)


def _verify(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.evidence.verify import verify_pack

    report = verify_pack(args.file, [_verifier(k) for k in args.witness_key] or None)
    if report.sandbox:
        from governance.identity.sandbox import NOT_FOR_PRODUCTION

        print(f"SANDBOX: this pack is from a sandbox workspace ({NOT_FOR_PRODUCTION})")
    print(
        f"{args.file}: ok ({report.files} files, {report.entries} ledger entries,"
        f" {report.signatures} signatures; head seq {report.head['seq']})"
    )
    cp = report.sealed or {}
    if cp:
        names = ", ".join(sorted(cp["witnesses"]))
        compare = (
            "" if args.witness_key else " (compare these keys with the ones the witnesses publish)"
        )
        print(
            f"checkpoint: {cp['size']} entries of {cp['origin']}, log key {cp['log_key']}…,"
            f" cosigned by {names}, keys {cp['keys']}; witness set: {cp['witness_set']}{compare}"
        )
    if args.json:
        emit_json(report.to_json())
    return 0


def _verifier(text: str):
    """A ``--witness-key``: the verifier key itself, or a file holding it (exit 2 if bad)."""
    from pathlib import Path

    from governance.log.checkpoint import Verifier

    path = Path(text)
    if "+" not in text and path.is_file():
        text = path.read_text().strip()
    return Verifier.parse(text, "--witness-key")
