"""``alphagate ledger verify [--incremental] [--json]``, ``ledger show [--tail N] [--json]``,
``ledger checkpoint [--json]`` (governance/audit/integrity.py, governance/log/transparency.py)."""

from __future__ import annotations

import argparse
import sys

from flows.commands import add_json_arg, add_user_arg, prove
from governance.ground.errors import Exit

_SHORT_HASH = 12


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ledger", help="the audit ledger")
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")

    verify = lsub.add_parser(
        "verify",
        help="check every entry, the Merkle tree, every artifact and every witnessed checkpoint",
    )
    verify.add_argument(
        "--incremental",
        action="store_true",
        help="re-hash only the entries after the last fully verified tree head",
    )
    add_json_arg(verify)
    verify.set_defaults(handler=_verify)

    cp = lsub.add_parser("checkpoint", help="sign a checkpoint and hand it to the witnesses")
    add_json_arg(cp)
    cp.set_defaults(handler=_checkpoint)

    key = lsub.add_parser("key", help="print the log's verifier key (for the witnesses' --log)")
    key.set_defaults(handler=_key)

    rot = lsub.add_parser("rotate-key", help="record the log key's rotation (an admin's act)")
    rot.add_argument("--new-key", required=True, metavar="FILE", help="the new Ed25519 PEM key")
    add_user_arg(rot, required=True)
    rot.set_defaults(handler=_rotate)

    show = lsub.add_parser("show", help="list ledger entries")
    show.add_argument("--tail", type=_positive_int, metavar="N", help="only the last N entries")
    add_json_arg(show)
    show.set_defaults(handler=_show)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _verify(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.audit.integrity import verify_workspace
    from governance.ground.workspace import Workspace

    report = verify_workspace(Workspace.from_env(), incremental=args.incremental)
    if not report.ok:
        from governance.ground.text import printable

        where = f"entry {report.first_bad_seq}: " if report.first_bad_seq is not None else ""
        print(f"ledger: {where}{printable(report.reason)}", file=sys.stderr)
    elif not args.json:
        print(f"ledger: ok ({report.entries} entries)")
    if args.json:
        emit_json(report.to_json())
    return Exit.DONE if report.ok else Exit.HALTED


def _checkpoint(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger
    from governance.log.transparency import publish

    with Ledger.open(Workspace.from_env()) as ledger:
        done = publish(ledger)  # a refusal is TamperDetected: exit 3 naming the witness
    for p in done:
        print(f"checkpoint of {p.size} entries cosigned by witness {p.witness}")
    if not done:
        print("ledger: no witness configured (ALPHAGATE_WITNESS=none)")
    if args.json:
        emit_json(
            {
                "witnesses": [
                    {"witness": p.witness, "size": p.size, "note": p.note.text()} for p in done
                ]
            }
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    with Ledger.open(Workspace.from_env()) as ledger:
        entries = ledger.tail(args.tail) if args.tail else ledger.entries()
        seq, head = ledger.head()
    if args.json:  # one JSON object on the last line (shared/DESIGN.md)
        emit_json({"head": {"seq": seq, "hash": head}, "entries": [e.to_json() for e in entries]})
        return 0
    if not entries:
        print("ledger: no entries")
        return 0
    print(format_table(entries))
    return 0


def format_table(entries) -> str:
    """Readable table: seq, UTC time, actor/role, action, subject, short entry hash (free
    text escaped: :func:`governance.ground.text.printable`)."""
    from governance.ground.text import printable

    header = ("seq", "time (UTC)", "actor/role", "action", "subject", "hash")
    rows = [
        (
            str(e.seq),
            e.ts.replace("T", " ").rstrip("Z")[:19],
            printable(f"{e.actor}/{e.role}"),
            printable(e.action),
            printable(e.subject or "-"),
            e.entry_hash[:_SHORT_HASH],
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells) -> str:
        seq, *rest = cells
        padded = [c.ljust(w) for c, w in zip(rest, widths[1:], strict=True)]
        return "  ".join([seq.rjust(widths[0]), *padded])

    return "\n".join(line(r).rstrip() for r in (header, *rows))


def _key(args: argparse.Namespace) -> int:
    from governance.ground.workspace import Workspace
    from governance.log.checkpoint import log_key, origin_of

    print(log_key(origin_of(Workspace.from_env().ledger_url)).vkey())
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger
    from governance.policy.witnesses import rotate_log_key

    ws = Workspace.from_env()
    with Ledger.open(ws) as ledger:
        signer = prove(args, ws, ledger, "ledger rotate-key")
        entry, done = rotate_log_key(ledger, signer, args.new_key)
    print(
        f"log key rotation recorded (ledger seq {entry.seq}) and cosigned at size {done.size}"
        f" by {', '.join(sorted(done.cosigners)) or 'the environment witnesses'}; new key"
        f" {entry.payload['new_key']}: add it to every witness (--log), then set"
        " ALPHAGATE_LOG_KEY to the new file"
    )
    return 0
