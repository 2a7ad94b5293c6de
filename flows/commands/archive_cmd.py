"""``alphagate archive create|verify|dispose``: a period's evidence copied to a second
location, verified there and recorded; every recorded archive held to its retention
(governance/evidence/archive.py); disposal after it, signed (governance/evidence/disposal.py)."""

from __future__ import annotations

import argparse

from flows.commands import add_json_arg, add_user_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("archive", help="archive a period's evidence; check archives are held")
    asub = p.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    c = asub.add_parser("create", help="write, verify and record a period's archive")
    c.add_argument("--strategy", required=True, metavar="NAME", help="the strategy archived")
    c.add_argument("--from", dest="start", required=True, metavar="DATE", help="first day")
    c.add_argument("--to", dest="end", required=True, metavar="DATE", help="last day")
    c.add_argument("--dir", required=True, metavar="DIR|s3://BUCKET/PREFIX",
                   help="the second location: a folder or an S3 prefix (write-once storage"
                        " for SEC 17a-4(f): S3 Object Lock)")  # fmt: skip
    add_user_arg(c)  # optional: the archive is recorded as the identity the key proves
    add_json_arg(c)
    c.set_defaults(handler=_create)
    v = asub.add_parser("verify", help="every recorded archive against its retention")
    add_json_arg(v)
    v.set_defaults(handler=_verify)
    d = asub.add_parser("dispose", help="delete archives past their retention (signed)")
    d.add_argument("--archive", dest="archives", type=int, action="append", default=[],
                   required=True, metavar="SEQ",
                   help="the records.archived ledger seq (archive verify lists them)")  # fmt: skip
    add_user_arg(d, required=True)
    add_json_arg(d)
    d.set_defaults(handler=_dispose)


def _create(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from flows.commands.evidence_cmd import _exporter
    from governance.evidence.archive import archive_period
    from governance.ground.workspace import Workspace

    ws = Workspace.from_env().ensure()
    rec = archive_period(ws, args.strategy, args.start, args.end, args.dir, _exporter(args, ws))
    kept = "legal hold" if rec["legal_hold"] else f"kept until {rec['retain_until']}"
    print(f"archive {rec['path']}: {rec['entries']} ledger entries, verified, {kept};"
          f" ledger #{rec['ledger_entry']}")  # fmt: skip
    if args.json:
        emit_json(rec)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from flows.commands import emit_json
    from governance.evidence.archive import check_archives
    from governance.ground.errors import TamperDetected
    from governance.ground.workspace import Workspace
    from governance.log.readtime import verified_ledger

    with verified_ledger(Workspace.from_env(), "archive verify") as ledger:
        found = check_archives(ledger)
    for s in found:
        print(f"#{s.seq} {s.path}: {s.state}" + (f" ({s.detail})" if s.detail else ""))
    bad = [s for s in found if s.breach]
    if not bad:
        print(f"{len(found)} archives recorded; none missing or altered within its retention")
    if args.json:
        emit_json({"ok": not bad, "archives": [asdict(s) for s in found]})
    if bad:
        s = bad[0]
        until = "under legal hold" if s.legal_hold else f"retained until {s.retain_until}"
        raise TamperDetected(
            f"archive {s.path} (ledger #{s.seq}) is {s.state}, {until}: {s.detail}"
        )
    return 0


def _dispose(args: argparse.Namespace) -> int:
    from flows.commands import emit_json, prove
    from governance.evidence.disposal import dispose
    from governance.findings import register
    from governance.ground.workspace import Workspace
    from governance.log.readtime import verified_ledger
    from governance.policy.adoption import policy_in_force

    ws = Workspace.from_env().ensure()
    with verified_ledger(ws, "archive dispose") as ledger:
        signer = prove(args, ws, ledger, "archive dispose")
        adoption = policy_in_force(ledger)
        entry = dispose(ledger, args.archives, signer, today=register.today(),
                        policy_hash=adoption.policy_hash if adoption else None)  # fmt: skip
    gone = entry.payload["archives"]
    for a in gone:
        print(f"#{a['seq']} {a['path']}: disposed of (retained until {a['retain_until']})")
    print(f"{signer.name} disposed of {len(gone)} archive(s) past retention"
          f" (ledger seq {entry.seq}, signed)")  # fmt: skip
    if args.json:
        emit_json({"disposed": gone, "entry_seq": entry.seq})
    return 0
