"""``alphagate init``, ``alphagate keys new`` and ``alphagate users`` (governance/identity/users.py).

Private keys are each person's own file (``--key``/``ALPHAGATE_KEY``), never in the
workspace; the workspace learns public keys only, from signed enrolment entries.
"""

from __future__ import annotations

import argparse
import os

from flows.commands import add_json_arg, add_user_arg, prove


def register(sub: argparse._SubParsersAction) -> None:
    init = sub.add_parser("init", help="write the genesis of a workspace: its first admin")
    init.add_argument("--admin", required=True, metavar="NAME", help="the first admin's user name")
    init.add_argument(
        "--key",
        default=None,
        metavar="FILE",
        help="the admin's private key (default: $ALPHAGATE_KEY)",
    )
    init.add_argument(
        "--sandbox",
        action="store_true",
        help="a sandbox workspace: configs may name any policy; every output says sandbox",
    )
    init.set_defaults(handler=_init)

    keys = sub.add_parser("keys", help="personal Ed25519 signing keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    new = ksub.add_parser("new", help="make a new Ed25519 key (OpenSSH format) and FILE.pub")
    new.add_argument("--out", required=True, metavar="FILE")
    new.add_argument(
        "--passphrase-env",
        default=None,
        metavar="VAR",
        help="encrypt the key with the passphrase in this environment variable",
    )
    new.set_defaults(handler=_keys_new)

    us = sub.add_parser("users", help="enrolled users, roles and public keys")
    usub = us.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="enrol a user (an admin signs)")
    add.add_argument("name")
    add.add_argument("--role", required=True, metavar="developer|validator|risk_officer|admin")
    add.add_argument("--public-key", required=True, metavar="FILE", help="their .pub file")
    add_user_arg(add)
    add.set_defaults(handler=_users_add)
    rev = usub.add_parser("revoke", help="revoke a user: their later signatures are invalid")
    rev.add_argument("name")
    rev.add_argument("--reason", default="", metavar="TEXT")
    add_user_arg(rev)
    rev.set_defaults(handler=_users_revoke)
    role = usub.add_parser("role", help="change a user's role (an admin signs)")
    role.add_argument("name")
    role.add_argument("--role", required=True, metavar="ROLE")
    add_user_arg(role)
    role.set_defaults(handler=_users_role)
    ls = usub.add_parser("list", help="list enrolled users")
    add_json_arg(ls)
    ls.set_defaults(handler=_users_list)


def _ws():
    from governance.ground.workspace import Workspace

    return Workspace.from_env().ensure()


def _open():
    from governance.log.ledger import Ledger

    ws = _ws()
    return ws, Ledger.open(ws)


def _init(args: argparse.Namespace) -> int:
    from governance.identity.enrolment import initialise
    from governance.identity.keys import load_private_key, refuse_inside, resolve_key_path

    ws, ledger = _open()
    with ledger:
        path = resolve_key_path(args.key)
        if path is None:
            from governance.ground.errors import InputError

            raise InputError("init: --key FILE (or $ALPHAGATE_KEY): the admin's own key")
        refuse_inside(path, ws.home)
        admin = initialise(ws, ledger, args.admin, load_private_key(path), sandbox=args.sandbox)
    kind = "SANDBOX workspace" if args.sandbox else "workspace"
    print(f"initialised {kind} {ws.home}: admin {admin.name} (ledger seq {admin.since_seq})")
    return 0


def _keys_new(args: argparse.Namespace) -> int:
    from governance.ground.errors import InputError
    from governance.identity.keys import new_key_file

    secret = None
    if args.passphrase_env:
        secret = os.environ.get(args.passphrase_env)
        if not secret:
            raise InputError(f"--passphrase-env: ${args.passphrase_env} is not set")
    public = new_key_file(args.out, secret)
    print(f"wrote {args.out} (private, mode 0600) and {args.out}.pub; public key {public}")
    print("keep the private file yourself: never copy it into the workspace")
    return 0


def _users_add(args: argparse.Namespace) -> int:
    from governance.identity.enrolment import add_user
    from governance.identity.keys import load_public_key
    from governance.log.readtime import verified_ledger

    public = load_public_key(args.public_key)
    ws = _ws()
    with verified_ledger(ws, "users add") as ledger:
        signer = prove(args, ws, ledger, "users add")
        entry = add_user(ws, ledger, signer, args.name, args.role, public)
    print(f"enrolled {args.name} ({args.role}) key {public[:16]}... (ledger seq {entry.seq})")
    return 0


def _users_revoke(args: argparse.Namespace) -> int:
    from governance.identity.enrolment import revoke_user
    from governance.log.readtime import verified_ledger

    ws = _ws()
    with verified_ledger(ws, "users revoke") as ledger:
        signer = prove(args, ws, ledger, "users revoke")
        entry = revoke_user(ws, ledger, signer, args.name, args.reason)
    print(f"revoked {args.name} (ledger seq {entry.seq}): their later signatures are invalid")
    return 0


def _users_role(args: argparse.Namespace) -> int:
    from governance.identity.enrolment import change_role
    from governance.log.readtime import verified_ledger

    ws = _ws()
    with verified_ledger(ws, "users role") as ledger:
        signer = prove(args, ws, ledger, "users role")
        entry = change_role(ws, ledger, signer, args.name, args.role)
    print(f"{args.name} is now {args.role} (ledger seq {entry.seq})")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.identity.users import load_registry
    from governance.log.readtime import verified_ledger

    ws = _ws()
    with verified_ledger(ws, "users list") as ledger:
        registry = load_registry(ledger)
    for u in registry.users():
        print(f"{u.name:<16} {u.role:<13} {u.public_key[:16]}...  since seq {u.since_seq}")
    if args.json:
        emit_json(registry.to_json())
    return 0
