"""``alphagate history --strategy NAME [--at TIMESTAMP] [--json]``: what drove a book, when,
on whose signatures, from the ledger alone (governance/evidence/history.py)."""

from __future__ import annotations

import argparse

from flows.commands import add_json_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "history", help="which version was live, under which policy, approved by whom"
    )
    p.add_argument("--strategy", required=True, metavar="NAME", help="registered model name")
    p.add_argument("--at", default=None, metavar="TIMESTAMP", help="ISO date or time (UTC)")
    add_json_arg(p)
    p.set_defaults(handler=_history)


def _line(standing: dict) -> str:
    live = standing.get("live")
    who = ", ".join(a["user"] for a in live["approvals"]) if live else ""
    parts = [f"live v{live['model_version']} (seq {live['seq']}, approved by {who})" if live
             else "no live version"]  # fmt: skip
    policy = standing.get("policy")
    parts.append(f"policy {policy['version']} (seq {policy['seq']})" if policy else "no policy")
    ks = standing["killswitch"]
    parts.append(f"kill switch {ks['state']}" + (f" (seq {ks['seq']})" if ks.get("seq") else ""))
    mon = standing.get("monitoring")
    if mon:
        parts.append(f"monitoring {mon['status']} as of {mon['as_of']} (seq {mon['seq']})")
    return "; ".join(parts)


def _history(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.evidence.history import history, parse_moment
    from governance.ground.workspace import Workspace
    from governance.log.readtime import verified_ledger

    if args.at is not None:
        parse_moment(args.at)  # a bad --at is exit 2 before the ledger is opened
    ws = Workspace.from_env().ensure()
    with verified_ledger(ws, "history") as ledger:
        doc = history(ledger, args.strategy, args.at)
    if args.at is None:
        for event in doc["timeline"]:
            print(f"{event['ts']}  seq {event['seq']:>6}  {event['what']}")
    print(f"{args.strategy} at {args.at or 'now'}: {_line(doc['standing'])}")
    print(f"{len(doc['proofs'])} inclusion proofs under tree size {doc['tree']['size']}")
    if args.json:
        emit_json(doc)
    return 0
