"""``alphagate approve|reject|killswitch|users`` (governance/; docs/governance.md)."""

from __future__ import annotations

import argparse
import getpass
import os

from flows.commands import add_json_arg, add_user_arg


def _add_config_args(p: argparse.ArgumentParser, model: bool = True) -> None:
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="run config naming the model and policy (default: $ALPHAGATE_CONFIG or"
        " configs/demo.yaml)",
    )
    if model:
        p.add_argument("--model", default=None, metavar="NAME", help="registered model name")


def register(sub: argparse._SubParsersAction) -> None:
    for name, helptext in (("approve", "approve a model version"), ("reject", "reject one")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument(
            "--model-version", required=True, type=int, metavar="N", help="registered version"
        )
        add_user_arg(p, required=True)
        p.add_argument("--reason", required=name == "reject", default="", metavar="TEXT")
        _add_config_args(p)
        add_json_arg(p)
        p.set_defaults(handler=_decide, decision=name)

    ks = sub.add_parser("killswitch", help="kill switch status, trip and two-officer reset")
    ksub = ks.add_subparsers(dest="killswitch_command", required=True, metavar="ACTION")
    st = ksub.add_parser("status", help="armed or tripped, since when, by whom")
    add_json_arg(st)
    scope = "a strategy's own switch (model.name); default: the workspace-wide one"
    st.set_defaults(handler=_ks_status)
    tr = ksub.add_parser("trip", help="trip by hand (risk officer or developer)")
    add_user_arg(tr, required=True)
    tr.add_argument("--reason", required=True, metavar="TEXT")
    tr.add_argument("--strategy", default=None, metavar="NAME", help=scope)
    add_json_arg(tr)
    tr.set_defaults(handler=_ks_trip)
    rs = ksub.add_parser("reset", help="ask for or complete a two-officer reset")
    add_user_arg(rs, required=True)
    rs.add_argument("--reason", required=True, metavar="TEXT")
    rs.add_argument("--incident", default=None, metavar="REF")
    rs.add_argument("--strategy", default=None, metavar="NAME", help=scope)
    _add_config_args(rs)
    add_json_arg(rs)
    rs.set_defaults(handler=_ks_reset)

    us = sub.add_parser("users", help="users, roles and signing keys")
    usub = us.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="add a user with a new Ed25519 signing key")
    add.add_argument("name")
    add.add_argument("--role", required=True, metavar="developer|validator|risk_officer")
    add.set_defaults(handler=_users_add)
    ls = usub.add_parser("list", help="list users")
    add_json_arg(ls)
    ls.set_defaults(handler=_users_list)


def _ws():
    from governance.workspace import Workspace

    return Workspace.from_env().ensure()


def _load(args: argparse.Namespace):
    """``(config, policy, tier, policy_hash)`` from ``--config`` or its defaults."""
    from flows.config import load_config
    from governance.config import load_policy_for

    path = args.config or os.environ.get("ALPHAGATE_CONFIG") or "configs/demo.yaml"
    cfg = load_config(path)
    policy, tier, digest = load_policy_for(cfg)
    return cfg, policy, tier, digest


def _decide(args: argparse.Namespace) -> int:
    from flows.cli import emit_json
    from governance import approvals
    from governance.ledger import Ledger
    from governance.registry import approved_by_tag

    cfg, _policy, tier, digest = _load(args)
    name = args.model or cfg.model.name
    fn = approvals.approve if args.decision == "approve" else approvals.reject
    ws = _ws()
    with Ledger.open(ws) as ledger:
        out = fn(
            ws, ledger, name, args.model_version, args.user, args.reason,
            tier=tier, tier_name=cfg.policy.tier, policy_hash=digest,
        )  # fmt: skip
    state = out.state
    verb = "approved" if args.decision == "approve" else "rejected"
    print(f"{args.user} {verb} {name} v{args.model_version} (ledger seq {out.entry.seq}, signed)")
    if out.promoted is not None:
        prev = f" (v{out.previous_champion} retired)" if out.previous_champion else ""
        print(
            f"promoted {name} v{state.version} to champion{prev}: {approved_by_tag(state.granted)}"
        )
    else:
        _print_state(state)
    if args.json:
        emit_json(
            {**state.to_json(), "entry_seq": out.entry.seq, "promoted": out.promoted is not None}
        )
    return 0


def _print_state(state) -> None:
    for line in state.blocked:
        print(f"blocked: {line}")
    if state.missing and not state.blocked:
        print(f"still needed: {', '.join(state.missing)}")
        for cmd in state.commands:
            print(f"  {cmd}")


def _ks_status(args: argparse.Namespace) -> int:
    from flows.cli import emit_json
    from governance import killswitch
    from governance.ledger import Ledger

    with Ledger.open(_ws()) as ledger:
        doc = killswitch.status_json(ledger)
        _print_ks(killswitch.status(ledger))
        for name in doc["strategies"]:
            _print_ks(killswitch.status(ledger, name), name)
    if args.json:
        emit_json(doc)
    return 0


def _print_ks(state, strategy: str | None = None) -> None:
    from governance.text import printable

    line = f"kill switch{'' if strategy is None else f' of {printable(strategy)}'}: {state.state}"
    if state.by:
        line += f" since {state.since} by {printable(state.by)}: {printable(state.reason)}"
    print(line)
    p = state.pending_reset
    if p:
        print(
            f"reset pending: {len(p['officers'])} of {p['needed']} risk officers"
            f" ({printable(', '.join(p['officers']))}); another risk officer must run"
            " `alphagate killswitch reset --as USER --reason TEXT --incident REF"
            + (f" --strategy {strategy}" if strategy else "")
            + "`"
        )


def _ks_trip(args: argparse.Namespace) -> int:
    from flows.cli import emit_json
    from governance import killswitch
    from governance.ledger import Ledger

    ws = _ws()
    with Ledger.open(ws) as ledger:
        state = killswitch.trip(ledger, args.user or "", args.reason, ws=ws, strategy=args.strategy)
    _print_ks(state, args.strategy)
    if args.json:
        emit_json(state.to_json())
    return 0


def _ks_reset(args: argparse.Namespace) -> int:
    from flows.cli import emit_json
    from governance import killswitch
    from governance.ledger import Ledger
    from governance.registry import last_promotions

    cfg, _policy, tier, _digest = _load(args)
    ws = _ws()
    with Ledger.open(ws) as ledger:
        promoted = last_promotions(ledger).get(args.strategy or args.model or cfg.model.name)
        developer = promoted.payload.get("developer") if promoted is not None else None
        state = killswitch.reset(
            ledger, ws, args.user, args.reason, args.incident, tier,
            champion_developer=developer, strategy=args.strategy,
        )  # fmt: skip
    _print_ks(state, args.strategy)
    if args.json:
        emit_json(state.to_json())
    return 0


def _users_add(args: argparse.Namespace) -> int:
    from governance.ledger import Ledger
    from governance.users import add_user, find_user, record_user_added

    ws = _ws()
    existed = find_user(ws, args.name) is not None
    user = add_user(ws, args.name, args.role)
    if not existed:
        with Ledger.open(ws) as ledger:
            record_user_added(
                ledger, user, actor=os.environ.get("ALPHAGATE_USER") or getpass.getuser()
            )
    state = "exists" if existed else "added"
    print(f"{state}: {user.name} ({user.role}) key {user.public_key[:16]}...")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from flows.cli import emit_json
    from governance.users import list_users

    users = list_users(_ws())
    print(f"{'USER':<16} {'ROLE':<13} PUBLIC KEY")
    for u in users:
        print(f"{u.name:<16} {u.role:<13} {u.public_key[:16]}...")
    if args.json:
        emit_json(
            {
                "users": [
                    {"name": u.name, "role": u.role.value, "public_key": u.public_key}
                    for u in users
                ]
            }
        )
    return 0
