"""``alphagate compliance report [--framework sr26-2|ss1-23|all] [--out FILE.html] [--json]``:
the regulation map held against this workspace's verified ledger
(governance/views/compliance.py)."""

from __future__ import annotations

import argparse

from flows.commands import add_json_arg, add_user_arg

FRAMEWORKS = ("all", "ss1-23", "sr26-2")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compliance", help="the regulation map: evidence and gaps per principle")
    csub = p.add_subparsers(dest="compliance_command", required=True, metavar="ACTION")
    r = csub.add_parser(
        "report", help="write the compliance report: one HTML page and the files it links"
    )
    r.add_argument("--framework", choices=FRAMEWORKS, default="all", help="which map")
    r.add_argument(
        "--out",
        default="compliance.html",
        metavar="FILE.html",
        help="the page; its linked files go to FILE_files/ beside it",
    )
    add_user_arg(r)  # optional: the export is recorded as the identity the key proves
    add_json_arg(r)
    r.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flows.commands import emit_json
    from flows.commands.evidence_cmd import _exporter
    from governance.audit.integrity import verify_workspace
    from governance.ground.errors import InputError, TamperDetected
    from governance.ground.html import render_page
    from governance.ground.workspace import Workspace
    from governance.identity.sandbox import is_sandbox
    from governance.log.readtime import verified_ledger
    from governance.views.compliance import (
        compliance_report,
        page_of,
        record_compliance,
        write_report,
    )
    from governance.views.compliance_map import Framework

    out = Path(args.out)
    if out.suffix.lower() != ".html":
        raise InputError(f"--out {out}: must end in .html")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    frameworks = tuple(Framework) if args.framework == "all" else (Framework(args.framework),)
    ws = Workspace.from_env().ensure()
    actor = _exporter(args, ws)
    with verified_ledger(ws, "compliance report") as ledger:
        check = verify_workspace(ws, ledger.unwrapped, incremental=True)
        if not check.ok:  # no report of evidence from a workspace that fails verification
            raise TamperDetected(
                f"compliance report: the workspace fails verification at seq"
                f" {check.first_bad_seq}: {check.reason}"
            )
        report = compliance_report(ledger, ledger.store, frameworks, f"{out.stem}_files")
        html = render_page(page_of(report, is_sandbox(ledger))).encode("utf-8")
        entry = record_compliance(ledger, report, html, actor)
    folder = write_report(out, html, report.files)
    doc = report.to_json()
    print(
        f"compliance report {out}: {len(doc['expectations'])} principles and areas, "
        f"{doc['gaps']} gaps named, {len(report.files)} files in {folder}; ledger #{entry.seq}"
    )
    if args.json:
        emit_json(
            {
                "out": str(out.resolve()),
                "folder": str(folder.resolve()),
                **doc,
                "html_sha256": entry.artifacts["compliance.html"],
                "ledger_entry": entry.seq,
            }
        )
    return 0
