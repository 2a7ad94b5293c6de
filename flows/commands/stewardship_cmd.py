"""``alphagate models owner|attest`` (the inventory of record's signed acts; the ``models``
parser is status_cmd's) and ``alphagate overlay`` (post-model adjustments and restrictions of
use, governance/decisions/overlays.py)."""

from __future__ import annotations

import argparse

from flows.commands import (
    add_config_arg,
    add_json_arg,
    add_user_arg,
    config_path,
    prove,
    reason_text,
)


def add_model_acts(md: argparse.ArgumentParser) -> None:
    """``models owner`` and ``models attest`` under the ``models`` parser."""
    acts = md.add_subparsers(dest="models_command", required=False, metavar="ACT")
    ow = acts.add_parser("owner", help="name a model's owner and accountable senior manager")
    ow.add_argument("--owner", required=True, metavar="USER", help="an enrolled risk officer")
    ow.add_argument("--smf", required=True, metavar="NAME", help="accountable senior manager")
    ow.add_argument("--purpose", required=True, metavar="TEXT", help="what it is for")
    ow.add_argument("--users", required=True, metavar="TEXT", help="who uses its output")
    at = acts.add_parser("attest", help="the owner's periodic attestation (a signed act)")
    for p in (ow, at):
        p.add_argument("--model", default=None, metavar="NAME", help="default: model.name")
        add_user_arg(p, required=True)
        add_config_arg(p, "run config naming the model and policy")
        add_json_arg(p)
    ow.set_defaults(handler=_owner)
    at.set_defaults(handler=_attest)


def _assets(text: str) -> list[str]:
    names = [a.strip() for a in text.split(",") if a.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one asset (A,B,...)")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    """``overlay add|restrict|list`` (``models`` acts are added by :func:`add_model_acts`)."""
    ov = sub.add_parser("overlay", help="post-model adjustments and restrictions of use")
    osub = ov.add_subparsers(dest="overlay_command", required=True, metavar="ACTION")
    add = osub.add_parser("add", help="sign an overlay: exclude names, cap a weight, scale alphas")
    rule = add.add_mutually_exclusive_group(required=True)
    rule.add_argument(
        "--exclude", type=_assets, metavar="A,B", help="assets the book holds none of"
    )
    rule.add_argument("--cap", type=float, metavar="W", help="single-name cap (fraction)")
    rule.add_argument("--scale", type=float, metavar="F", help="factor on the alphas")
    rs = osub.add_parser("restrict", help="sign a restriction of use (a breach: the fallback)")
    rule = rs.add_mutually_exclusive_group(required=True)
    rule.add_argument("--max-book-value", type=float, metavar="X", help="not for books above X")
    rule.add_argument("--max-market-vol", type=float, metavar="Y",
                      help="not when the 1-month realised market volatility exceeds Y")  # fmt: skip
    for p in (add, rs):
        p.add_argument("--reason", required=True, type=reason_text, metavar="TEXT")
        p.add_argument("--until", required=True, metavar="YYYY-MM-DD", help="last day in force")
        add_user_arg(p, required=True)
    ls = osub.add_parser("list", help="the overlays and restrictions in force")
    for p in (add, rs, ls):
        p.add_argument("--strategy", default=None, metavar="NAME", help="default: model.name")
        add_config_arg(p, "run config naming the model and policy")
        add_json_arg(p)
    add.set_defaults(handler=_overlay_sign, kind="overlay")
    rs.set_defaults(handler=_overlay_sign, kind="restriction")
    ls.set_defaults(handler=_overlay_list)


def _overlay_sign(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions.overlays import OVERLAY_KIND, RESTRICTION_KIND, sign
    from governance.log.readtime import verified_ledger

    args.model = args.strategy
    name, in_force, ws = _context(args)
    kind = OVERLAY_KIND if args.kind == "overlay" else RESTRICTION_KIND
    rules = ("exclude", "cap", "scale", "max_book_value", "max_market_vol")
    rule = next(r for r in rules if getattr(args, r, None) is not None)
    with verified_ledger(ws, "overlay") as ledger:
        signer = prove(args, ws, ledger, "overlay")
        entry = sign(
            ledger, name, signer, kind=kind, rule=rule, value=getattr(args, rule),
            reason=args.reason, until=args.until, tier=in_force.tier,
            policy_hash=in_force.policy_hash,
        )  # fmt: skip
    print(f"{signer.name} signed {args.kind} {rule} {getattr(args, rule)} on {name} until"
          f" {args.until} (ledger seq {entry.seq}, signed)")  # fmt: skip
    if args.json:
        emit_json({"strategy": name, "kind": args.kind, "rule": rule,
                   "value": getattr(args, rule), "until": args.until, "entry_seq": entry.seq})  # fmt: skip
    return 0


def _overlay_list(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions.overlays import in_force as adjustments
    from governance.log.readtime import verified_ledger

    args.model = args.strategy
    name, in_force, ws = _context(args)
    with verified_ledger(ws, "overlay list") as ledger:
        found = adjustments(ledger, name, in_force.tier)
    print(f"{name}: {len(found)} in force" + "".join(f"\n  {a.line()}" for a in found))
    if args.json:
        emit_json({"strategy": name, "in_force": [a.to_json() for a in found]})
    return 0


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
        facts = {"champion_version": promoted.ref.version_text if promoted else None,
                 "open_findings": open_}  # fmt: skip
        entry = attest(ledger, name, signer, facts=facts, policy_hash=in_force.policy_hash)
    days = in_force.tier.inventory.attestation_days
    print(f"{signer.name} attested {name} (ledger seq {entry.seq}, signed; next within {days}"
          " days)")  # fmt: skip
    if args.json:
        emit_json({"model_name": name, "attested_by": signer.name, "entry_seq": entry.seq,
                   "facts": facts, "attestation_days": days})  # fmt: skip
    return 0
