"""Workspace verification: the ledger, its witnesses, and an explicit list of further checks.

:func:`verify_workspace` runs, in order, and reports the first failure:

1. the ledger itself (:func:`governance.log.verify.verify_ledger`): every entry's hashes
   and links, the head row, the stored Merkle tree, every recorded artifact;
2. every witness's latest checkpoint (:func:`governance.log.transparency.witness_problem`): the tree
   recomputed from the entries must reach the witnessed size and have the witnessed root
   there, so a truncated tail, a moved head or a rewritten or forked history is named with
   the witness and the checkpoint; then the adopted policy's witness services cosign the
   ledger as it stands, a quorum of them (:func:`policy_witnesses`, each reported);
3. each function in :data:`CHECKS`: every human decision is a valid signed act of an
   enrolled user, by the key and role the signer had at the time, and ``users.json`` is the
   registry folded from the ledger (:mod:`governance.identity.signed_acts`); the MLflow registry's
   champion aliases match the ledger (:mod:`governance.registry.versions`); signed finding
   acceptances verify (:mod:`governance.findings.accept`); every published book is one the
   gates and the champion allowed (:mod:`governance.audit.books`).

The entry encoding and its rules live in :mod:`governance.log.chain`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from governance.audit.books import publications_hold
from governance.findings.accept import acceptances_signed
from governance.ground.errors import TamperDetected
from governance.ground.workspace import Workspace
from governance.identity.signed_acts import signed_acts_hold
from governance.log.chain import VerifyReport
from governance.log.checkpoint import origin_of
from governance.log.ledger import Ledger
from governance.log.transparency import (
    held_checkpoints,
    load_verified,
    save_verified,
    witness_problem,
)
from governance.log.verify import verify_ledger
from governance.policy.witness_pin import pinned_set
from governance.policy.witnesses import latest_cosigned, witness_set
from governance.registry.versions import registry_matches_ledger

Check = Callable[[Workspace, Ledger], VerifyReport | None]

#: Checks run after the ledger and its witnesses verify, in this order.
CHECKS: tuple[Check, ...] = (
    signed_acts_hold, registry_matches_ledger, acceptances_signed, publications_hold,
)  # fmt: skip


def verify_workspace(
    ws: Workspace,
    ledger: Ledger | None = None,
    checks: tuple[Check, ...] = CHECKS,
    *,
    incremental: bool = False,
) -> VerifyReport:
    """Verify the ledger of ``ws``, its witnesses, then ``checks``; first failure wins.

    Parameters
    ----------
    ws : Workspace
    ledger : Ledger, optional
        An open ledger of ``ws``; opened (and closed) here when omitted.
    checks : tuple of callables
        ``(ws, ledger) -> VerifyReport | None`` (None = fine); raising
        :class:`TamperDetected` fails closed.
    incremental : bool
        Re-hash only the entries after the last fully verified tree head (kept outside the
        workspace); witnessed checkpoints below it are checked by consistency proof.
    """
    own = ledger is None
    ledger = ledger or Ledger.open(ws)
    try:
        report = verify_log(ledger, incremental=incremental)
        if report.ok:
            report = policy_witnesses(ledger, report)
        if not report.ok:
            return report
        for check in checks:
            try:
                extra = check(ws, ledger)
            except TamperDetected as exc:
                extra = VerifyReport(False, report.entries, None, "; ".join(exc.reasons))
            if extra is not None and not extra.ok:
                return extra
        return report
    finally:
        if own:
            ledger.dispose()


def policy_witnesses(ledger: Ledger, report: VerifyReport) -> VerifyReport:
    """Step 2b: the adopted policy's witnesses cosign the ledger as it stands (a quorum of
    them, and of the set this reader pinned while it differs:
    :mod:`governance.policy.witness_pin`), each reported with the size it cosigned and when
    (``policy_witnesses``)."""
    wset = witness_set(ledger)
    if not wset.members and pinned_set(ledger, wset) is None:
        return report
    rows = {w.name: {"witness": w.name, "url": w.location, "size": None, "cosigned_at": None}
            for w in wset.members}  # fmt: skip
    extra = {**(report.extra or {}), "policy_witnesses": list(rows.values()),
             "witness_set": wset.source, "quorum": wset.quorum}  # fmt: skip
    try:
        done = latest_cosigned(ledger, wset)
    except TamperDetected as exc:
        return VerifyReport(False, report.entries, None, "; ".join(exc.reasons), extra)
    for name, ts in done.cosigners.items():
        rows[name].update(size=done.size, cosigned_at=ts)
    return dataclasses.replace(report, extra=extra)


def verify_log(ledger: Ledger, *, incremental: bool = False) -> VerifyReport:
    """Steps 1 and 2 of :func:`verify_workspace`: the ledger and every witness."""
    origin = origin_of(ledger.url)
    try:
        held = [(w, h) for w, h in held_checkpoints(origin) if h is not None]
    except TamperDetected as exc:
        return VerifyReport(False, ledger.head()[0], None, "; ".join(exc.reasons))
    since = load_verified(origin) if incremental else None
    tree = verify_ledger(ledger, {h.note.checkpoint.size for _, h in held}, since)
    extra = {
        "tree_size": tree.size,
        "root": tree.root.hex(),
        "mode": "incremental" if tree.start else "full",
        "rehashed": tree.report.entries - tree.start,
        "witnesses": [
            {"witness": w.label, "size": h.note.checkpoint.size, "cosigned_at": w.cosigned_at(h)}
            for w, h in held
        ],
    }
    if not tree.report.ok:
        return dataclasses.replace(tree.report, extra=extra)
    for w, h in held:
        problem = witness_problem(ledger, tree, w, h, since if tree.start else None)
        if problem is not None:
            return VerifyReport(False, tree.report.entries, problem[0], problem[1], extra)
    if since != (tree.size, tree.root):  # unchanged: no rewrite (an fsync per use-time check)
        save_verified(origin, tree.size, tree.root)
    return dataclasses.replace(tree.report, extra=extra)
