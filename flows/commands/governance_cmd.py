"""``alphagate approve|reject|retire|killswitch`` (governance/; docs/governance.md)."""

from __future__ import annotations

import argparse

from flows.commands import (
    add_config_arg,
    add_json_arg,
    add_user_arg,
    config_path,
    prove,
    reason_text,
    say_sandbox,
    version_number,
)
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action


def _add_config_args(p: argparse.ArgumentParser, model: bool = True) -> None:
    add_config_arg(p, "run config naming the model and policy")
    if model:
        p.add_argument("--model", default=None, metavar="NAME", help="registered model name")


def register(sub: argparse._SubParsersAction) -> None:
    for name, helptext in (("approve", "approve a model version"), ("reject", "reject one")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument(
            "--model-version",
            required=True,
            type=version_number,
            metavar="N",
            help="registered version",
        )
        add_user_arg(p, required=True)
        p.add_argument(
            "--reason", required=name == "reject", default=None, type=reason_text, metavar="TEXT"
        )
        if name == "approve":
            p.add_argument(
                "--stage",
                choices=("live", "paper"),
                default="live",
                help="paper: approve for the paper stage (a tier with paper: {min_days});"
                " live (default): approve for capital",
            )
            p.add_argument(
                "--sign-only",
                action="store_true",
                help="print a detached signature for the Prefect approval form; record nothing",
            )
        _add_config_args(p)
        add_json_arg(p)
        p.set_defaults(handler=_decide, decision=name)

    rt = sub.add_parser("retire", help="retire a model version (a risk officer's signed act)")
    rt.add_argument("--model-version", required=True, type=version_number, metavar="N")
    add_user_arg(rt, required=True)
    rt.add_argument("--reason", required=True, type=reason_text, metavar="TEXT")
    _add_config_args(rt)
    add_json_arg(rt)
    rt.set_defaults(handler=_retire)

    ks = sub.add_parser("killswitch", help="kill switch status, trip and two-officer reset")
    ksub = ks.add_subparsers(dest="killswitch_command", required=True, metavar="ACTION")
    st = ksub.add_parser("status", help="armed or tripped, since when, by whom")
    add_json_arg(st)
    scope = "a strategy's own switch (model.name); default: the workspace-wide one"
    st.set_defaults(handler=_ks_status)
    tr = ksub.add_parser("trip", help="trip by hand (risk officer or developer)")
    add_user_arg(tr, required=True)
    tr.add_argument("--reason", required=True, type=reason_text, metavar="TEXT")
    tr.add_argument("--strategy", default=None, metavar="NAME", help=scope)
    add_json_arg(tr)
    tr.set_defaults(handler=_ks_trip)
    rs = ksub.add_parser("reset", help="ask for or complete a two-officer reset")
    add_user_arg(rs, required=True)
    rs.add_argument("--reason", required=True, type=reason_text, metavar="TEXT")
    rs.add_argument("--incident", default=None, metavar="REF")
    rs.add_argument("--strategy", default=None, metavar="NAME", help=scope)
    _add_config_args(rs)
    add_json_arg(rs)
    rs.set_defaults(handler=_ks_reset)


def _ws():
    from governance.ground.workspace import Workspace

    return Workspace.from_env().ensure()


def _load(args: argparse.Namespace):
    """``(config, TierInForce)`` from ``--config`` or its defaults: the tier is the one the
    adopted policy assigns the strategy (``--strategy``, ``--model`` or ``model.name``)."""
    from flows.config import load_config
    from governance.policy.config import tier_for

    cfg = load_config(config_path(args))
    strategy = getattr(args, "strategy", None) or getattr(args, "model", None) or cfg.model.name
    return cfg, tier_for(cfg, strategy=strategy)


def _retire(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions.retirement import retire
    from governance.log.readtime import verified_ledger

    cfg, in_force = _load(args)
    name = args.model or cfg.model.name
    ws = _ws()
    with verified_ledger(ws, "retire") as ledger:
        signer = prove(args, ws, ledger, "retire")
        entry = retire(
            ws, ledger, ModelRef(name, args.model_version), signer, args.reason,
            policy_hash=in_force.policy_hash,
        )  # fmt: skip
    print(f"{signer.name} retired {name} v{args.model_version} (ledger seq {entry.seq}, signed)")
    if args.json:
        emit_json({"model_name": name, "model_version": args.model_version,
                   "retired": True, "entry_seq": entry.seq})  # fmt: skip
    return 0


def _decide(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions import approvals
    from governance.identity.sandbox import is_sandbox
    from governance.log.readtime import verified_ledger
    from governance.registry.versions import approved_by_tag

    cfg, in_force = _load(args)
    name = args.model or cfg.model.name
    ws = _ws()
    if getattr(args, "sign_only", False):
        return _sign_only(args, ws, name, in_force)
    with verified_ledger(ws, args.decision) as ledger:
        signer = prove(args, ws, ledger, args.decision)
        if args.decision == "approve":
            from flows.graduation import approval_act

            act = approval_act(ws, ledger, ModelRef(name, args.model_version), in_force, args.stage)
            out = act(signer, args.reason or "")
        else:
            out = approvals.reject(
                ws, ledger, ModelRef(name, args.model_version), signer, args.reason or "",
                tier=in_force.tier, tier_name=in_force.name, policy_hash=in_force.policy_hash,
            )  # fmt: skip
        sandbox = say_sandbox(is_sandbox(ledger))
    state = out.state
    verb = "approved" if args.decision == "approve" else "rejected"
    print(f"{signer.name} {verb} {name} v{args.model_version} (ledger seq {out.entry.seq}, signed)")
    if out.promoted is not None and out.promoted.action == Action.MODEL_PAPER:
        print(f"{name} v{state.version} enters its paper stage: {approved_by_tag(state.granted)}")
    elif out.promoted is not None:
        prev = f" (v{out.previous_champion} retired)" if out.previous_champion else ""
        print(
            f"promoted {name} v{state.version} to champion{prev}: {approved_by_tag(state.granted)}"
        )
    else:
        _print_state(state)
    if args.json:
        stage = out.promoted.action if out.promoted is not None else None
        emit_json(
            {**state.to_json(), "entry_seq": out.entry.seq, "sandbox": sandbox,
             "promoted": stage == Action.MODEL_PROMOTED, "paper": stage == Action.MODEL_PAPER}
        )  # fmt: skip
    return 0


def _sign_only(args, ws, name: str, in_force) -> int:
    """``approve [--stage paper] --sign-only``: the signed approval for the Prefect review
    form, on one line, recording nothing. A live approval in a tier with a paper stage signs
    the graduation gate's pass, evaluated now as the approving command does."""
    from flows.graduation import live_graduation
    from governance.decisions.promotion import facts_for, latest_validation
    from governance.decisions.ui_approval import detached_approval
    from governance.log.readtime import verified_ledger

    with verified_ledger(ws, "approve") as ledger:
        signer = prove(args, ws, ledger, "approve")
        facts = facts_for(ws, ledger, ModelRef(name, args.model_version))
        validation = latest_validation(ledger, facts.ref)
        passed = live_graduation(ws, ledger, facts, in_force) if args.stage == "live" else None
        line = detached_approval(
            ledger, facts, validation, signer, reason=args.reason or "",
            policy_hash=in_force.policy_hash, tier_name=in_force.name, stage=args.stage,
            graduation=passed,
        )  # fmt: skip
    print(line)
    return 0


def _print_state(state) -> None:
    for line in state.blocked:
        print(f"blocked: {line}")
    if state.missing and not state.blocked:
        print(f"still needed: {', '.join(state.missing)}")
        for cmd in state.commands:
            print(f"  {cmd}")


def _ks_status(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions import killswitch
    from governance.log.readtime import verified_ledger

    with verified_ledger(_ws(), "killswitch status", view=True) as ledger:
        doc = killswitch.status_json(ledger)
        _print_ks(killswitch.status(ledger))
        for name in doc["strategies"]:
            _print_ks(killswitch.status(ledger, name), name)
    if args.json:
        emit_json(doc)
    return 0


def _print_ks(state, strategy: str | None = None) -> None:
    from governance.ground.text import printable

    line = f"kill switch{'' if strategy is None else f' of {printable(strategy)}'}: {state.state}"
    if state.by:
        line += f" since {state.since} by {printable(state.by)}: {printable(state.reason)}"
    print(line)
    p = state.pending_reset
    if p:
        print(
            f"reset pending: {len(p['officers'])} of {p['needed']} risk officers"
            f" ({printable(', '.join(p['officers']))}); another risk officer must run"
            " `alphagate killswitch reset --as USER --key FILE --reason TEXT --incident REF"
            + (f" --strategy {strategy}" if strategy else "")
            + "`"
        )


def _ks_trip(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions import killswitch
    from governance.log.readtime import verified_ledger

    ws = _ws()
    with verified_ledger(ws, "killswitch trip") as ledger:
        signer = prove(args, ws, ledger, "killswitch trip")
        state = killswitch.trip(ledger, signer, args.reason, strategy=args.strategy)
    _print_ks(state, args.strategy)
    if args.json:
        emit_json(state.to_json())
    return 0


def _ks_reset(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions import killswitch
    from governance.log.readtime import verified_ledger
    from governance.registry.champion import champion

    cfg, in_force = _load(args)
    tier = in_force.tier
    ws = _ws()
    with verified_ledger(ws, "killswitch reset") as ledger:
        signer = prove(args, ws, ledger, "killswitch reset")
        promoted = champion(ledger, args.strategy or args.model or cfg.model.name)
        developer = promoted.developer if promoted is not None else None
        state = killswitch.reset(
            ledger, signer, args.reason, args.incident, tier,
            champion_developer=developer, strategy=args.strategy,
        )  # fmt: skip
    _print_ks(state, args.strategy)
    if args.json:
        emit_json(state.to_json())
    return 0
