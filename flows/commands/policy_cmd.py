"""``alphagate policy adopt FILE --as R`` and ``alphagate policy show [--json]``
(governance/policy/adoption.py): the policy in force is adopted by two risk officers."""

from __future__ import annotations

import argparse

from flows.commands import add_json_arg, add_user_arg, prove


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="the policy in force: adopt (two risk officers) and show")
    psub = p.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    adopt = psub.add_parser("adopt", help="sign the adoption of a policy file")
    adopt.add_argument("file", metavar="FILE")
    add_user_arg(adopt)
    adopt.add_argument(
        "--champion-until",
        default=None,
        metavar="YYYY-MM-DD",
        help="the champion may keep driving until this date, by when it must be revalidated",
    )
    adopt.add_argument(
        "--champion-fallback",
        action="store_true",
        help="the champion stops driving now, until revalidated (the default)",
    )
    add_json_arg(adopt)
    adopt.set_defaults(handler=_adopt)
    show = psub.add_parser("show", help="the adopted policy and its history")
    add_json_arg(show)
    show.set_defaults(handler=_show)


def _adopt(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.ground.workspace import Workspace
    from governance.log.readtime import verified_ledger
    from governance.policy.adoption import adopt, champion_rule

    rule = champion_rule(args.champion_until, args.champion_fallback)
    ws = Workspace.from_env().ensure()
    with verified_ledger(ws, "policy adopt") as ledger:
        signer = prove(args, ws, ledger, "policy adopt")
        entry, adoption = adopt(ws, ledger, signer, args.file, rule)
    digest = entry.payload["policy_hash"]
    if adoption is None:
        print(
            f"{signer.name} signed the adoption of {args.file} ({digest[:12]}, ledger seq"
            f" {entry.seq}); a second, distinct risk officer must sign it too"
        )
    else:
        print(
            f"policy {adoption.version} ({digest[:12]}) is in force, adopted by"
            f" {' and '.join(adoption.signers)} (ledger seq {adoption.seq}); champion rule:"
            f" {_rule(adoption.champion_rule)}"
        )
    if args.json:
        emit_json({"entry_seq": entry.seq, "in_force": adoption.to_json() if adoption else None})
    return 0


def _rule(rule: dict) -> str:
    return f"keep driving until {rule['date']}" if rule.get("rule") == "until" else "fall back now"


def _show(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.ground.workspace import Workspace
    from governance.identity.users import load_registry
    from governance.log.readtime import verified_ledger
    from governance.policy.adoption import adoption_history, pending_adoptions

    with verified_ledger(Workspace.from_env().ensure(), "policy show") as ledger:
        registry = load_registry(ledger)
        history = adoption_history(ledger, registry)
        pending = pending_adoptions(ledger, registry)
    current = history[-1] if history else None
    if registry.sandbox:
        print("SANDBOX workspace: configs may name any policy; outputs are labelled sandbox")
    if current is None:
        print("no policy in force: two risk officers adopt one with `alphagate policy adopt`")
    else:
        print(
            f"in force: policy {current.version} ({current.policy_hash}) since"
            f" {current.ts}, adopted by {' and '.join(current.signers)} (seq {current.seq})"
        )
        for a in history[:-1][::-1]:
            print(
                f"  before: {a.version} ({a.policy_hash[:12]}) at seq {a.seq} by {', '.join(a.signers)}"
            )
    for p in pending:  # one of two signatures: the adoption is not in force yet
        print(
            f"awaiting a second risk officer: policy {p['version']} ({p['policy_hash']}) signed"
            f" by {p['signer']} at seq {p['seq']}; another risk officer runs"
            " `alphagate policy adopt FILE --as USER --key FILE` on the same file"
        )
    if args.json:
        emit_json(
            {
                "sandbox": registry.sandbox,
                "in_force": current.to_json() if current else None,
                "history": [a.to_json() for a in history],
                "pending": pending,
            }
        )
    return 0
