"""One module per command group; each exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

#: The run config a command reads when neither ``--config`` nor ``$ALPHAGATE_CONFIG`` names one.
DEFAULT_CONFIG = "configs/demo.yaml"


def add_config_arg(parser: argparse.ArgumentParser, what: str = "run config") -> None:
    """``--config FILE``; :func:`config_path` resolves its default when the command runs."""
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help=f"{what} (default: $ALPHAGATE_CONFIG or {DEFAULT_CONFIG})",
    )


def config_path(args: argparse.Namespace) -> str:
    """The run config of a command: ``--config``, else ``$ALPHAGATE_CONFIG``, else
    :data:`DEFAULT_CONFIG`."""
    return args.config or os.environ.get("ALPHAGATE_CONFIG") or DEFAULT_CONFIG


def add_user_arg(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """``--as USER`` (a claim) and ``--key FILE`` (its proof), defaulting to
    ``ALPHAGATE_USER`` / ``ALPHAGATE_KEY`` (shared/DESIGN.md)."""
    default = os.environ.get("ALPHAGATE_USER")
    parser.add_argument(
        "--as",
        dest="user",
        default=default,
        required=required and default is None,
        metavar="USER",
        help="acting user, a claim the key must prove (default: $ALPHAGATE_USER)",
    )
    parser.add_argument(
        "--key",
        dest="key",
        default=None,
        metavar="FILE",
        help="your own Ed25519 private key, outside the workspace (default: $ALPHAGATE_KEY)",
    )


def reason_text(text: str) -> str:
    """An argparse ``type`` for ``--reason``: the words a signed act says for itself, so a
    blank one is a usage error (exit 2) before any key is read."""
    if not text.strip():
        raise argparse.ArgumentTypeError("blank: say why (the reason is signed into the ledger)")
    return text


def version_number(text: str) -> int:
    """An argparse ``type`` for ``--model-version``: a positive whole number
    (:meth:`~governance.ground.refs.ModelRef.number`), else a usage error (exit 2)."""
    from governance.ground.errors import InputError
    from governance.ground.refs import ModelRef

    try:
        return ModelRef.number(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def prove(args: argparse.Namespace, ws, ledger, action: str):
    """The :class:`~governance.identity.signing.Signer` that ``--as``/``--key`` prove (exit 2 / 4)."""
    from governance.audit.door import prove_identity

    return prove_identity(ws, ledger, args.user, args.key, action)


def say_sandbox(sandbox: bool) -> bool:
    """Print the sandbox banner (governance/identity/sandbox.py) as the first line of a deciding
    command's text when ``sandbox``; return ``sandbox`` (the ``--json`` field)."""
    if sandbox:
        from governance.identity.sandbox import BANNER

        print(BANNER)
    return sandbox


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="last stdout line is one JSON object")


def emit_json(obj: Any) -> None:
    """Print ``obj`` as the single JSON object on the last line of stdout."""
    from governance.ground.canonical import to_jsonable

    sys.stdout.flush()
    print(json.dumps(to_jsonable(obj), sort_keys=True), flush=True)
