"""Is the ledger intact *now*, and do the witnesses agree? The check every deciding command
makes first.

:func:`ledger_problem` fails closed on a broken ledger without re-hashing the whole chain
on every command: it counts the rows (a deleted middle row shows as ``count != head``) and
runs the ledger's incremental verification (:func:`governance.audit.integrity.verify_log` with
``incremental=True``: the stored Merkle frontier at the last verified size must still fold
to the verified root, only later entries are re-hashed, witnesses are checked).
``alphagate ledger verify`` remains the full check (every entry, artifact and signature).
"""

from __future__ import annotations

from governance.ground.errors import TamperDetected
from governance.ground.vocabulary import Action, Subject
from governance.log.db import driver_rows, entries_table

_COUNT = f"SELECT count(*) FROM {entries_table.name}"
_TOP = f"SELECT max(seq) FROM {entries_table.name}"


def ledger_problem(ws, ledger) -> str | None:
    """Why the ledger of ``ws`` is not intact, or None (see the module docstring)."""
    from governance.audit.integrity import verify_log

    head_seq, _ = ledger.head()
    with ledger.snapshot() as conn:  # two queries: a bare count(*) is SQLite's b-tree count,
        # with max(seq) beside it a full scan (4x slower at a million entries)
        ((count,),) = driver_rows(conn, _COUNT)
        ((top,),) = driver_rows(conn, _TOP)
    if count != head_seq or (top or 0) != head_seq:
        return (
            f"ledger broken: {count} entries up to seq {top or 0} but the head is at seq"
            f" {head_seq} (entries deleted, or appended behind the head)"
        )
    report = verify_log(ledger, incremental=True)
    if not report.ok:
        return f"ledger broken at seq {report.first_bad_seq}: {report.reason}"
    return None


#: The one decision that never waits for witnesses: stopping the models (it is recorded
#: locally and witnessed when a quorum is back, governance/policy/witnesses.py).
UNWITNESSED_OK = frozenset({"killswitch trip"})


def require_intact(ws, ledger, action: str) -> None:
    """:class:`TamperDetected` (exit 3) naming ``action`` when the ledger is broken, or (but
    for a kill-switch trip) when a quorum of the policy's witnesses does not cosign the
    ledger as it stands (:func:`governance.policy.witnesses.latest_cosigned`: a rewrite
    they refuse, or too few of them reachable); the refusal is recorded."""
    from governance.log.quorum import QuorumLost
    from governance.policy.witness_pin import pinned_set
    from governance.policy.witnesses import latest_cosigned, log_identity_problem, witness_set

    problem, hint = ledger_problem(ws, ledger), "; run `alphagate ledger verify`"
    if not problem and action not in UNWITNESSED_OK and (mismatch := log_identity_problem(ledger)):
        problem, hint = mismatch, ""
    if not problem and action not in UNWITNESSED_OK:
        wset = witness_set(ledger)  # without policy witnesses, ledger_problem checked them
        try:
            if wset.members or pinned_set(ledger, wset) is not None:
                latest_cosigned(ledger, wset)
        except QuorumLost as exc:
            problem, hint = "; ".join(exc.reasons), ""
        except TamperDetected as exc:
            problem = "; ".join(exc.reasons)
    if problem:
        ledger.append(
            Action.INTEGRITY_REFUSED, actor="alphagate", role="system", subject=Subject.LEDGER,
            payload={"action": action, "problem": problem},
        )  # fmt: skip
        raise TamperDetected(f"{action}: {problem}{hint}")
