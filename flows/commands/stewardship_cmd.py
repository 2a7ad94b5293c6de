"""``alphagate models owner|attest`` (the inventory of record's signed acts; the ``models``
parser is status_cmd's) and ``alphagate overlay`` (post-model adjustments and restrictions of
use, governance/decisions/overlays.py)."""

from __future__ import annotations

import argparse

from flows.commands import add_config_arg, add_json_arg, add_user_arg, config_path, prove


def add_model_acts(md: argparse.ArgumentParser) -> None:
    """``models owner`` and ``models attest`` under the ``models`` parser."""
    acts = md.add_subparsers(dest="models_command", required=False, metavar="ACT")
    ow = acts.add_parser("owner", help="name a model's owner and accountable senior manager")
    ow.add_argument("--owner", required=True, metavar="USER", help="an enrolled risk officer")
    ow.add_argument("--smf", required=True, metavar="NAME", help="accountable senior manager")
    ow.add_argument("--purpose", required=True, metavar="TEXT")
    ow.add_argument("--users", required=True, metavar="TEXT", help="who uses its output")
    at = acts.add_parser("attest", help="the owner's periodic attestation (a signed act)")
    for p in (ow, at):
        p.add_argument("--model", default=None, metavar="NAME", help="default: model.name")
        add_user_arg(p, required=True)
        add_config_arg(p, "run config naming the model and policy")
        add_json_arg(p)
    ow.set_defaults(handler=_owner)
    at.set_defaults(handler=_attest)


def register(sub: argparse._SubParsersAction) -> None:
    """Nothing at the top level yet: ``models`` acts are added by :func:`add_model_acts`."""


def _context(args):
    from flows.config import load_config
    from governance.ground.workspace import Workspace
    from governance.policy.config import tier_for

    cfg = load_config(config_path(args))
    name = args.model or cfg.model.name
    return name, tier_for(cfg, strategy=name), Workspace.from_env().ensure()


def _owner(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions.stewardship import set_owner
    from governance.log.readtime import verified_ledger

    name, in_force, ws = _context(args)
    with verified_ledger(ws, "models owner") as ledger:
        signer = prove(args, ws, ledger, "models owner")
        entry = set_owner(
            ledger, name, signer, owner=args.owner, smf=args.smf, purpose=args.purpose,
            users=args.users, policy_hash=in_force.policy_hash,
        )  # fmt: skip
    print(f"{signer.name} named {args.owner} owner of {name} (SMF {args.smf};"
          f" ledger seq {entry.seq}, signed)")  # fmt: skip
    if args.json:
        emit_json({"model_name": name, "owner": args.owner, "smf": args.smf,
                   "entry_seq": entry.seq})  # fmt: skip
    return 0


def _attest(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions.stewardship import attest
    from governance.findings.register import Status, load_register
    from governance.log.readtime import verified_ledger
    from governance.registry.versions import champions

    name, in_force, ws = _context(args)
    with verified_ledger(ws, "models attest") as ledger:
        signer = prove(args, ws, ledger, "models attest")
        promoted = champions(ledger).get(name)
        open_ = [r.id for r in load_register(ledger).records
                 if r.model_name == name and r.status is Status.OPEN]  # fmt: skip
        facts = {"champion_version": promoted.version if promoted else None,
                 "open_findings": open_}  # fmt: skip
        entry = attest(ledger, name, signer, facts=facts, policy_hash=in_force.policy_hash)
    days = in_force.tier.inventory.attestation_days
    print(f"{signer.name} attested {name} (ledger seq {entry.seq}, signed; next within {days}"
          " days)")  # fmt: skip
    if args.json:
        emit_json({"model_name": name, "attested_by": signer.name, "entry_seq": entry.seq,
                   "facts": facts, "attestation_days": days})  # fmt: skip
    return 0
