"""The witness set is policy, not environment.

:func:`witness_set` is the set a decision needs: the ``witnesses:`` section of the adopted
policy (four eyes: :mod:`governance.policy.adoption`; its services, their cosigning keys and
the quorum), plus whatever ``ALPHAGATE_WITNESS`` adds (:mod:`governance.log.remote`). The
environment can add a witness, never remove one the policy names: ``ALPHAGATE_WITNESS=none``
in an insider's shell leaves the policy's witnesses in force.

:func:`latest_cosigned` is "the latest checkpoint a quorum of the policy's witnesses
cosigned": the ledger's current tree head, handed to the set, returned with the
cosignatures (:func:`governance.log.quorum.quorum_checkpoint`), or exit 3 naming the
witnesses that refused (the ledger does not extend what they hold) or did not answer.
Deciding commands call it before they act (:func:`governance.audit.intact.require_intact`),
and every command ends with :func:`witness_after` on its entries.

A workspace whose adopted policy names no witnesses (and a sandbox, whose policy is a file,
not an adoption) runs on the environment's witnesses alone, as before, unless this reader
pinned a witness set for its log (:mod:`governance.policy.witness_pin`: a truncation to
before the adoption of a ``witnesses:`` section still meets them): docs/governance.md says
what that leaves open.
"""

from __future__ import annotations

from pathlib import Path

from governance.ground.errors import InputError, TamperDetected
from governance.ground.vocabulary import Action
from governance.log.checkpoint import Verifier
from governance.log.quorum import Cosigned, QuorumLost, WitnessSet, quorum_checkpoint
from governance.log.remote import HttpWitness, witnesses_from_env
from governance.policy.adoption import adopted_policy, policy_in_force
from governance.policy.witness_pin import keep_pin, pinned_set

#: The action a kill-switch trip records: always recorded, witnessed when a quorum is back.
#: An admin's signed statement that the log's checkpoint key changes (old and new vkeys).


def witness_set(ledger) -> WitnessSet:
    """The adopted policy's witnesses and quorum, plus the environment's (module docstring)."""
    extra = tuple(witnesses_from_env())
    adoption = policy_in_force(ledger)
    section = adopted_policy(ledger, adoption).witnesses if adoption is not None else None
    if section is None:
        return WitnessSet(extra=extra, source="no policy witnesses")
    members = tuple(
        HttpWitness(m.url, Verifier.parse(m.key, "policy witnesses")) for m in section.members
    )
    named = {w.location for w in members}
    extra = tuple(w for w in extra if w.location not in named)
    source = f"policy {adoption.version} ({adoption.policy_hash[:12]})"
    return WitnessSet(members, section.quorum, extra, source)


def log_identity_problem(ledger) -> str | None:
    """Why the log's origin or checkpoint key is not the one its genesis recorded (signed by
    the first admin) or an admin's signed ``log.key_rotated`` moved it to; None when it is,
    or when the genesis predates the record. A writer who points ``ALPHAGATE_LOG_ORIGIN`` or
    ``ALPHAGATE_LOG_KEY`` elsewhere (a fresh log for the witnesses to pin) is refused."""
    from governance.identity.duties import ROLES, Act
    from governance.identity.users import act_problems, load_registry
    from governance.log.checkpoint import log_key, origin_of

    genesis = next(iter(ledger.entries(action=Action.WORKSPACE_INITIALISED)), None)
    doc = (genesis.payload or {}).get("signed") or {} if genesis is not None else {}
    if "log_key" not in doc:
        return None
    origin = origin_of(ledger.url)
    if origin != doc.get("log_origin"):
        return (
            f"the log's origin {origin} is not the one its genesis recorded"
            f" ({doc.get('log_origin')}): set ALPHAGATE_LOG_ORIGIN to it"
        )
    registry = load_registry(ledger)
    allowed = {doc["log_key"]}
    for e in ledger.entries(action=Action.LOG_KEY_ROTATED):
        signed = (e.payload or {}).get("signed") or {}
        if signed.get("old_key") in allowed and not act_problems(registry, e, ROLES[Act.ENROL]):
            allowed.add(signed.get("new_key"))
    current = log_key(origin).vkey()
    if current not in allowed:
        return (
            f"the log key {current.split('+')[1]} (ALPHAGATE_LOG_KEY) is not the one the"
            " genesis recorded or a signed log.key_rotated moved it to"
        )
    return None


def latest_cosigned(ledger, wset: WitnessSet | None = None) -> Cosigned:
    """The ledger's current checkpoint, cosigned by a quorum of the policy's witnesses
    (``wset``, default :func:`witness_set`) and, while they differ, by a quorum of the set
    this reader pinned (:mod:`governance.policy.witness_pin`), which then moves to ``wset``.

    Raises
    ------
    WitnessRefused
        A witness refused: the ledger was rewritten, truncated or forked (exit 3).
    QuorumLost
        Fewer than the quorum answered (exit 3), each missing witness named.
    """
    wset = witness_set(ledger) if wset is None else wset
    pinned = pinned_set(ledger, wset)
    if pinned is not None:
        quorum_checkpoint(ledger, pinned)
    done = quorum_checkpoint(ledger, wset)
    keep_pin(ledger, wset)
    return done


def witness_after(ws, since: int | None) -> tuple[str | None, bool]:
    """Hand the workspace ledger's checkpoint to its witness set after a command or flow.

    Returns ``(problem line or None, fatal)``: a refusal is always fatal (exit 3); a lost
    quorum is fatal when the command appended entries after seq ``since`` (None: it appended
    nothing), whose acts are then not witnessed, except a kill-switch trip, which stands recorded and is witnessed by
    the next command that reaches a quorum.
    """
    from governance.log.ledger import Ledger

    url = ws.ledger_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return None, False
    try:
        with Ledger.open(ws) as ledger:
            try:
                latest_cosigned(ledger)
            except QuorumLost as exc:
                new = [] if since is None else ledger.entries(after_seq=since)
                trip = any(e.action == Action.KILLSWITCH_TRIPPED for e in new)
                line = "; ".join(exc.reasons)
                if trip:
                    return f"the trip is recorded; witnessed when a quorum is back: {line}", False
                return f"checkpoint: {line}", bool(new)
    except TamperDetected as exc:
        return "checkpoint: " + "; ".join(exc.reasons), True
    except InputError:  # an unreachable or misnamed ledger: the command itself said so
        return None, False
    return None, False


def rotate_log_key(ledger, signer, new_key_file: str) -> tuple[object, Cosigned]:
    """Record the log key's rotation to the key in PEM file ``new_key_file``: an admin's
    signed ``log.key_rotated`` (origin, old and new verifier keys), cosigned by the quorum
    under the old key. Then each witness operator adds the new key (``--log``), the operator
    points ``ALPHAGATE_LOG_KEY`` at the new file, and the old key is retired.

    Raises
    ------
    Forbidden
        ``signer`` is not an admin (exit 4).
    InputError
        The file is not an Ed25519 key, or is the key in use (exit 2).
    QuorumLost, WitnessRefused
        The rotation could not be witnessed (exit 3): it is recorded, not in force.
    """
    from governance.ground.errors import Forbidden
    from governance.identity.signing import append_signed
    from governance.log.checkpoint import NoteKey, load_or_create_key, log_key, origin_of

    if signer.role != "admin":
        raise Forbidden(f"ledger rotate-key: {signer.name!r} has role {signer.role}, needs admin")
    origin = origin_of(ledger.url)
    path = Path(new_key_file).expanduser()
    if not path.is_file():
        raise InputError(
            f"--new-key: {path}: no such file (make one with `alphagate witness keys --key FILE`)"
        )
    new = NoteKey(origin, load_or_create_key(path, origin).private)
    old = log_key(origin)
    if new.public == old.public:
        raise InputError(f"--new-key: {path} is the log key in use")
    doc = {"origin": origin, "old_key": old.vkey(), "new_key": new.vkey()}
    entry = append_signed(ledger, signer, Action.LOG_KEY_ROTATED, subject="log", payload=doc)
    return entry, latest_cosigned(ledger)
