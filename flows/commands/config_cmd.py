"""``alphagate config check FILE``: a run config (and the policy it names), or a policy."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="configuration files")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = csub.add_parser(
        "check", help="validate a run config and the policy it names, or a policy file"
    )
    check.add_argument("file", help="a run config (configs/demo.yaml) or a policy file")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from governance.ground.configio import read_yaml

    data = read_yaml(args.file)
    if isinstance(data, dict) and "tiers" in data:  # a policy file, not a run config
        from governance.policy.schema import load_policy

        policy, digest = load_policy(args.file)
        tiers = ", ".join(policy.tiers)
        print(f"{args.file}: ok — a policy file (tiers {tiers}; hash {digest[:12]})")
        return 0
    from flows.config import load_config
    from governance.policy.config import tier_for

    cfg = load_config(args.file)
    t = tier_for(cfg)
    print(f"{args.file}: ok — a run config (config hash {cfg.config_hash()[:12]})")
    print(
        f"  policy {cfg.policy.file}: ok, tier {t.name} (assigned to {cfg.model.name};"
        f" hash {t.policy_hash[:12]})"
    )
    return 0
