"""``alphagate witness serve|keys``: a C2SP tlog-witness service (governance/log/service.py).

A witness runs on another host, under another account, with its own key and database; it
needs no workspace. ``witness keys`` prints the verifier key that the policy names and
auditors pass to ``evidence verify --witness-key``.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("witness", help="run a witness service for another party's ledger")
    wsub = p.add_subparsers(dest="witness_command", required=True, metavar="ACTION")

    serve = wsub.add_parser("serve", help="serve POST /add-checkpoint (c2sp.org/tlog-witness)")
    _key_args(serve)
    serve.add_argument("--state", required=True, metavar="URL",
                       help="its own database: sqlite:///FILE or postgresql+psycopg://...")  # fmt: skip
    serve.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to bind")
    serve.add_argument("--log", action="append", default=[], required=True, metavar="VKEY",
                       help="a log's verifier key (`alphagate ledger key`), repeatable")  # fmt: skip
    serve.set_defaults(handler=_serve, workspace=False)

    keys = wsub.add_parser("keys", help="print the witness's verifier key (creates the key)")
    _key_args(keys)
    keys.set_defaults(handler=_keys, workspace=False)


def _key_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", required=True, metavar="FILE",
                   help="the witness's Ed25519 PEM key (created, mode 0600, when absent)")  # fmt: skip
    p.add_argument("--name", default=None, metavar="NAME",
                   help="its key name (default alphagate.witness/<key hash>)")  # fmt: skip


def _serve(args: argparse.Namespace) -> int:
    from governance.log.service import log_keys, serve, witness_key

    logs = log_keys(args.log)
    serve(witness_key(args.key, args.name), args.state, args.listen, logs)
    return 0


def _keys(args: argparse.Namespace) -> int:
    from governance.log.checkpoint import COSIGNATURE_V1
    from governance.log.service import witness_key

    print(witness_key(args.key, args.name).vkey(COSIGNATURE_V1))
    return 0
