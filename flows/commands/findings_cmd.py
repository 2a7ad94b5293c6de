"""``alphagate findings list|show|accept`` (governance/findings/register.py, governance/findings/accept.py)."""

from __future__ import annotations

import argparse

from flows.commands import (
    add_json_arg,
    add_user_arg,
    config_path,
    prove,
    reason_text,
    version_number,
)
from governance.ground.vocabulary import Action


def register(sub: argparse._SubParsersAction) -> None:
    fp = sub.add_parser("findings", help="the findings register: list, show, accept")
    fsub = fp.add_subparsers(dest="findings_command", required=True, metavar="ACTION")
    ls = fsub.add_parser("list", help="findings with their id, severity and status")
    ls.add_argument("--model-version", type=version_number, default=None, metavar="N")
    ls.add_argument("--status", default=None, metavar="open|accepted|remediated|expired")
    ls.add_argument("--model", default=None, metavar="NAME", help="registered model name")
    ls.add_argument("--config", default=None, metavar="FILE", help="run config naming the model")
    add_json_arg(ls)
    ls.set_defaults(handler=_list)
    sh = fsub.add_parser("show", help="one finding, its digest and acceptance")
    sh.add_argument("finding_id", metavar="ID")
    add_json_arg(sh)
    sh.set_defaults(handler=_show)
    ac = fsub.add_parser("accept", help="accept a finding (signed, time-limited)")
    ac.add_argument("finding_id", metavar="ID")
    add_user_arg(ac)
    ac.add_argument("--reason", required=True, type=reason_text, metavar="TEXT")
    ac.add_argument("--until", required=True, metavar="YYYY-MM-DD")
    ac.add_argument("--control", default=None, metavar="TEXT", help="compensating control")
    ac.add_argument("--config", default=None, metavar="FILE", help="run config naming the policy")
    add_json_arg(ac)
    ac.set_defaults(handler=_accept)
    asg = fsub.add_parser("assign", help="name a finding's owner, due date and plan (signed)")
    asg.add_argument("finding_id", metavar="ID")
    add_user_arg(asg)
    asg.add_argument("--owner", required=True, metavar="USER", help="who remediates it")
    asg.add_argument("--due", required=True, metavar="YYYY-MM-DD", help="the due date")
    asg.add_argument(
        "--plan", required=True, type=reason_text, metavar="TEXT", help="the remediation plan"
    )
    asg.add_argument("--retest", default=None, metavar="TEXT", help="how the fix is shown")
    asg.add_argument("--config", default=None, metavar="FILE", help="run config naming the policy")
    add_json_arg(asg)
    asg.set_defaults(handler=_assign)


def _ws():
    from governance.ground.workspace import Workspace

    return Workspace.from_env().ensure()


def _line(r) -> str:
    until = f" until {r.acceptance.until}" if r.status == "accepted" and r.acceptance else ""
    return f"{r.id:<28} {r.severity.value:<8} {r.status.value:<10}{until}  {r.check}: {r.message}"


def _list(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.findings.register import Status, load_register
    from governance.ground.errors import InputError
    from governance.ground.refs import ModelRef
    from governance.log.readtime import verified_ledger

    if args.status is not None and args.status not in {s.value for s in Status}:
        raise InputError(f"--status {args.status!r}: choose open|accepted|remediated|expired")
    name = args.model
    if name is None and (args.model_version is not None or args.config):
        from flows.config import load_config

        name = load_config(config_path(args)).model.name
    from governance.findings.owners import owners, with_owner
    from governance.findings.register import today

    with verified_ledger(_ws(), "findings list", view=True) as ledger:
        register = load_register(ledger)
        one = ModelRef(name, args.model_version) if args.model_version is not None else None
        records = register.select(model_name=name, ref=one, status=args.status)
        rows = [with_owner(r, owners(ledger, register), today()) for r in records]
    for r, row in zip(records, rows, strict=True):
        owned = f"  owner {row['owner']} due {row['due']}" if row["owner"] else ""
        print(_line(r) + owned + ("  OVERDUE" if row["overdue"] else ""))
    if not records:
        print("no findings")
    if args.json:
        emit_json({"findings": rows})
    return 0


def _assign(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from flows.config import load_config
    from governance.findings.owners import assign
    from governance.findings.register import parse_finding_id
    from governance.log.readtime import verified_ledger
    from governance.policy.config import tier_for

    strategy, _version, _n = parse_finding_id(args.finding_id)
    in_force = tier_for(load_config(config_path(args)), strategy=strategy)
    ws = _ws()
    with verified_ledger(ws, "findings assign") as ledger:
        signer = prove(args, ws, ledger, "findings assign")
        entry = assign(
            ledger, args.finding_id, signer, owner=args.owner, due=args.due, plan=args.plan,
            retest=args.retest, max_days=in_force.tier.validation.acceptance.max_days,
            policy_hash=in_force.policy_hash,
        )  # fmt: skip
    print(f"{signer.name} assigned {args.finding_id} to {args.owner}, due {args.due}"
          f" (ledger seq {entry.seq}, signed)")  # fmt: skip
    if args.json:
        emit_json({"finding_id": args.finding_id, "owner": args.owner, "due": args.due,
                   "entry_seq": entry.seq})  # fmt: skip
    return 0


def _show(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.findings.register import load_register
    from governance.log.readtime import verified_ledger

    with verified_ledger(_ws(), "findings show") as ledger:
        r = load_register(ledger).require(args.finding_id)
    print(_line(r))
    print(f"  about: {r.about or '-'}   value: {r.value}   threshold: {r.threshold}")
    print(f"  raised by {r.validator} at {r.created} (validation seq {r.validation_seq})")
    print(f"  digest: {r.digest}")
    if r.acceptance:
        a = r.acceptance
        print(f"  accepted by {', '.join(a.signers)} until {a.until}: {a.reason}")
        if a.control:
            print(f"  compensating control: {a.control}")
    if r.pending:
        print(f"  acceptance pending: signed by {', '.join(r.pending.signers)}")
    if args.json:
        emit_json(r.to_json())
    return 0


def _accept(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from flows.config import load_config
    from governance.findings.accept import accept
    from governance.findings.register import parse_finding_id
    from governance.log.readtime import verified_ledger
    from governance.policy.config import tier_for

    cfg = load_config(config_path(args))
    strategy, _version, _n = parse_finding_id(args.finding_id)
    in_force = tier_for(cfg, strategy=strategy)  # the finding's strategy's tier, adopted
    ws = _ws()
    with verified_ledger(ws, "findings accept") as ledger:
        signer = prove(args, ws, ledger, "findings accept")
        entry, record = accept(
            ws, ledger, args.finding_id, signer, args.reason, args.until, args.control,
            tier=in_force.tier, tier_name=in_force.name, policy_hash=in_force.policy_hash,
        )  # fmt: skip
    if entry.action == Action.FINDING_ACCEPTED:
        print(
            f"{signer.name} accepted {record.id} until {record.acceptance.until} (ledger seq {entry.seq}, signed)"
        )
    else:
        need = entry.payload["needed"] - len(entry.payload["signers"])
        print(
            f"{signer.name} signed the acceptance of {record.id}; {need} more signature(s) needed"
        )
    if args.json:
        emit_json({**record.to_json(), "entry_seq": entry.seq, "action": entry.action})
    return 0
