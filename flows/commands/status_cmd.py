"""``alphagate status`` (what a risk officer needs next) and ``alphagate models`` (inventory)."""

from __future__ import annotations

import argparse

from flows.commands import add_json_arg, say_sandbox, version_number
from flows.commands.findings_cmd import config_path


def register(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("status", help="open findings, approvals and the exact next commands")
    st.add_argument("--model-version", type=version_number, default=None, metavar="N")
    st.add_argument("--model", default=None, metavar="NAME", help="registered model name")
    st.add_argument("--config", default=None, metavar="FILE", help="run config (model, policy)")
    add_json_arg(st)
    st.set_defaults(handler=_status)
    md = sub.add_parser("models", help="the model inventory: tier, status, findings, due dates")
    md.add_argument("--config", default=None, metavar="FILE", help="run config naming the policy")
    md.add_argument("--html", default=None, metavar="FILE", help="also write the HTML inventory")
    add_json_arg(md)
    md.set_defaults(handler=_models)
    from flows.commands.stewardship_cmd import add_model_acts

    add_model_acts(md)  # models owner | attest: the inventory of record's signed acts


def _load(args):
    """``(config, policy, tier, policy_hash)``: the tier the adopted policy assigns the
    strategy (``--model`` or ``model.name``)."""
    from flows.config import load_config
    from governance.policy.config import tier_for

    cfg = load_config(config_path(args))
    t = tier_for(cfg, strategy=getattr(args, "model", None) or cfg.model.name)
    return cfg, t.force.policy, t.tier, t.policy_hash


def _status(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from flows.lapsed import refresh_lapsed
    from flows.status import latest_version, render_status, status_report
    from governance.ground.errors import InputError
    from governance.ground.refs import ModelRef
    from governance.ground.workspace import Workspace
    from governance.log.readtime import verified_ledger

    cfg, _policy, tier, _digest = _load(args)
    name = args.model or cfg.model.name
    ws = Workspace.from_env().ensure()
    version = args.model_version or latest_version(ws, name)
    if version is None:
        raise InputError(f"--model {name}: no registered version yet (alphagate run)")
    from governance.identity.sandbox import is_sandbox

    with verified_ledger(ws, "status", view=True) as ledger:
        refresh_lapsed(ws, ledger)  # an overlay that lapsed today: its pages say so now
        report = status_report(ws, ledger, ModelRef(name, version), tier)
        sandbox = say_sandbox(is_sandbox(ledger))
    print("\n".join(render_status(report)))
    if args.json:
        emit_json({**report, "sandbox": sandbox})
    return 0


def _inventory_page(ws, inv: dict, run_id: str) -> str:
    """Where a person opens the inventory: its page on the MLflow server (a full URL), else a
    readable copy at ``<home>/reports/inventory.html`` (a file-store MLflow has no URL)."""
    from governance.evidence.inventory import inventory_html
    from governance.registry.recorder import run_page

    url = run_page(ws, run_id, "inventory.html")
    if url:
        return url
    path = ws.home / "reports" / "inventory.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(inventory_html(inv), encoding="utf-8")
    return str(path)


def _models(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from flows.lapsed import refresh_lapsed
    from governance.evidence.inventory import inventory, publish_inventory, render_inventory
    from governance.ground.workspace import Workspace
    from governance.log.readtime import verified_ledger

    _cfg, policy, _tier, digest = _load(args)
    ws = Workspace.from_env().ensure()
    from governance.identity.sandbox import is_sandbox

    with verified_ledger(ws, "models", view=True) as ledger:
        refresh_lapsed(ws, ledger)  # an overlay that lapsed today: its pages say so now
        inv = inventory(ws, ledger, policy, digest)
        run_id = publish_inventory(ws, inv)
        sandbox = say_sandbox(is_sandbox(ledger))
    for line in render_inventory(inv):
        print(line)
    if run_id:
        print(f"HTML inventory: {_inventory_page(ws, inv, run_id)}")
    if args.html:
        from governance.evidence.inventory import inventory_html

        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(inventory_html(inv))
    if args.json:
        emit_json({**inv, "sandbox": sandbox})
    return 0
