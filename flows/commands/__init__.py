"""One module per command group; each exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
import os


def add_user_arg(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """``--as USER``, defaulting to ``ALPHAGATE_USER`` (shared/DESIGN.md)."""
    default = os.environ.get("ALPHAGATE_USER")
    parser.add_argument(
        "--as",
        dest="user",
        default=default,
        required=required and default is None,
        metavar="USER",
        help="acting user (default: $ALPHAGATE_USER)",
    )


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="last stdout line is one JSON object")
