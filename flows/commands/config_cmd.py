"""``alphagate config check FILE``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="configuration files")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = csub.add_parser("check", help="validate a run config (and the policy it names)")
    check.add_argument("file")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from flows.config import load_config

    cfg = load_config(args.file)
    print(f"{args.file}: ok (config hash {cfg.config_hash()[:12]})")
    return 0
