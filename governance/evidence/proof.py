"""What makes an evidence pack complete and bound to the ledger: checkpoint, proofs, index.

Export (:func:`seal`): after the manifest is written, the exporter appends
``evidence.exported`` (payload: the manifest's SHA-256 and the sequence numbers of the entries
in the pack), has the witnesses cosign a checkpoint that covers it, and adds:

==========================  ============================================================
``ledger/export.json``      the ``evidence.exported`` entry
``ledger/checkpoint.txt``   the C2SP signed note: log signature and witness cosignatures
``ledger/proofs.json``      RFC 9162 inclusion proof of every pack entry and the export
``ledger/index.json``       the hashed fields (payload by hash) of every entry up to the
                            checkpoint: its leaves fold to the checkpoint's root
``keys/log.json``           the log's origin and Ed25519 public key
``keys/witnesses.json``     each witness's key name and Ed25519 public key
==========================  ============================================================

Every other member is listed in the manifest, and the manifest's hash is in the ledger. So
offline (:func:`check_sealed`): removing, adding or relabelling an entry or a member, even
with the manifest recomputed, changes the manifest's hash, which no longer matches the one
the export entry records; changing that entry breaks its inclusion proof under the signed,
witnessed root. The index shows the whole log at the checkpoint: every ``killswitch.*`` and
``user.added`` entry before the export, and every entry about the pack's subject, must be in
the pack. The key IDs printed by ``evidence verify`` are what an auditor compares with the
ones the witnesses publish: keys inside a pack prove nothing on their own.
"""

from __future__ import annotations

import json

from governance.ground.canonical import canonical_json, sha256_bytes
from governance.ground.errors import InputError, TamperDetected
from governance.ground.vocabulary import Action, Area, Subject, area
from governance.log.chain import HASHED_FIELDS, entry_leaf
from governance.log.checkpoint import SignedNote, log_key, origin_of
from governance.log.merkle import ProofError, root_of, verify_inclusion
from governance.log.remote import HttpWitness
from governance.policy.witnesses import latest_cosigned, witness_set

EXPORT = "ledger/export.json"
CHECKPOINT = "ledger/checkpoint.txt"
PROOFS = "ledger/proofs.json"
INDEX = "ledger/index.json"
LOG_KEY = "keys/log.json"
WITNESS_KEYS = "keys/witnesses.json"
#: Members that prove themselves (signatures, proofs) instead of being in the manifest.
SEALED = (EXPORT, CHECKPOINT, PROOFS, INDEX, LOG_KEY, WITNESS_KEYS)
#: Entries every pack holds: the kill switch's whole history and every identity entry its
#: signatures depend on (the genesis, enrolments, revocations and role changes: who could
#: sign what, when; a pack without a revocation would let a revoked key's acts verify).
#: Records of a copy made of the evidence (an export, an archive), not evidence of a decision:
#: no pack must hold them, also when their subject is the pack's own (a period archived again).
COPIES = (Action.EVIDENCE_EXPORTED, Action.RECORDS_ARCHIVED)

ALWAYS_INCLUDED = (
    Area.KILLSWITCH,
    Action.WORKSPACE_INITIALISED,
    Action.USER_ADDED,
    Action.USER_REVOKED,
    Action.USER_ROLE_CHANGED,
)


def _dump(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("utf-8")


def seal(
    ledger, manifest_bytes: bytes, manifest: dict, actor: tuple[str, str] = ("alphagate", "system")
) -> dict[str, bytes]:
    """Record the export, get a witnessed checkpoint over it; return the sealed members.

    ``actor`` is ``(name, role)`` of the identity the exporter's key proved
    (``evidence export --as/--key``), else alphagate itself: never a name taken from the
    environment (``ALPHAGATE_USER`` is a claim, not an identity).

    Raises
    ------
    InputError
        No witness is named (a pack needs a witnessed checkpoint).
    WitnessRefused, QuorumLost
        A witness refused the checkpoint (the log was rewritten), or too few of the
        policy's witnesses cosigned: exit 3.
    """
    wset = witness_set(ledger)
    keys = _witness_keys(wset)
    if not keys:
        raise InputError(
            "evidence export: neither the policy nor ALPHAGATE_WITNESS names a witness;"
            " a pack needs one"
        )
    export = ledger.append(
        Action.EVIDENCE_EXPORTED,
        actor=actor[0],  # the identity the exporter's key proved, else alphagate itself
        role=actor[1],
        subject=manifest["subject"],
        payload={
            "manifest_sha256": sha256_bytes(manifest_bytes),
            "entries": manifest["entries"],
            "witness_set": {
                "source": wset.source,
                "quorum": wset.quorum,
                "members": [w.verifier.text() for w in wset.members],
            },
        },
    )
    note = latest_cosigned(ledger, wset).note
    size = note.checkpoint.size
    seqs = [*manifest["entries"], export.seq]
    proofs = {str(s): [h.hex() for h in ledger.inclusion_proof(s, size)] for s in seqs}
    index = [{k: e.to_json()[k] for k in HASHED_FIELDS} for e in ledger.entries_between(1, size)]
    origin = origin_of(ledger.url)
    return {
        EXPORT: _dump(export.to_json()),
        CHECKPOINT: note.text().encode("utf-8"),
        PROOFS: _dump(proofs),
        INDEX: _dump(index),
        LOG_KEY: _dump({"origin": origin, "public_key": log_key(origin).public.hex()}),
        WITNESS_KEYS: _dump(keys),
    }


def _witness_keys(wset) -> dict[str, str]:
    """``{name: Ed25519 public key hex}`` of every witness of ``wset`` whose key is known."""
    out = {}
    for w in wset.all:
        if isinstance(w, HttpWitness):
            if w.verifier is not None:
                out[w.name] = w.verifier.public.hex()
        else:
            out[w.name] = w.key.public.hex()
    return out


def _fail(message: str) -> TamperDetected:
    return TamperDetected(message, gate="evidence")


def _load(files: dict[str, bytes], name: str):
    try:
        return json.loads(files[name])
    except KeyError:
        raise _fail(f"{name}: missing from the pack") from None
    except ValueError:
        raise _fail(f"{name}: not valid JSON") from None


def _leaf(entry: dict, where: str) -> bytes:
    if (
        "payload" in entry
        and sha256_bytes(canonical_json(entry["payload"])) != entry["payload_hash"]
    ):
        raise _fail(f"{where}: seq {entry.get('seq')}: payload does not match payload_hash")
    try:
        return entry_leaf(entry)
    except (KeyError, TypeError):
        raise _fail(f"{where}: seq {entry.get('seq')}: not a ledger entry") from None


def check_sealed(
    files: dict[str, bytes], manifest: dict, entries: list[dict], held_keys=None
) -> dict:
    """Verify checkpoint, proofs, index and the export binding; return what was checked.

    ``held_keys``: the witnesses' verifier keys (:class:`~governance.log.checkpoint.Verifier`)
    as the auditor obtained them out of band. Given, the checkpoint needs valid cosignatures
    by at least the quorum of the witness set the export recorded (at least one), counted
    with these keys only; the keys in the pack are then ignored.

    Returns ``{size, origin, log_key, witnesses: {name: cosigned_at}, witness_set, keys}``.
    """
    try:
        note = SignedNote.parse(files[CHECKPOINT].decode("utf-8"))
        cp = note.checkpoint
    except (KeyError, UnicodeDecodeError):
        raise _fail(f"{CHECKPOINT}: missing or not text") from None
    except TamperDetected as exc:
        raise _fail(f"{CHECKPOINT}: {exc.reasons[0]}") from None
    log = _load(files, LOG_KEY)
    try:
        public = bytes.fromhex(log["public_key"])
        log_ok = cp.origin == log["origin"] and note.verify(cp.origin, public)
        cosigned = {}
        for name, key in sorted(_load(files, WITNESS_KEYS).items()):
            ts = note.cosigned_at(name, bytes.fromhex(key))
            if ts is not None:
                cosigned[name] = ts
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _fail(f"{LOG_KEY} or {WITNESS_KEYS}: malformed keys") from None
    if not log_ok:
        raise _fail(f"{CHECKPOINT}: not signed by the log key in {LOG_KEY}")
    if not cosigned and not held_keys:
        raise _fail(f"{CHECKPOINT}: no valid cosignature by a witness in {WITNESS_KEYS}")
    proofs = _load(files, PROOFS)
    export = _load(files, EXPORT)

    def included(entry: dict, where: str) -> None:
        seq = entry.get("seq")
        try:
            path = [bytes.fromhex(h) for h in proofs[str(seq)]]
            verify_inclusion(seq - 1, cp.size, _leaf(entry, where), path, cp.root)
        except (KeyError, TypeError, ValueError, ProofError):
            raise _fail(
                f"{where}: seq {seq}: not in the witnessed log of {cp.size} entries"
                f" (no valid inclusion proof in {PROOFS})"
            ) from None

    included(export, EXPORT)
    if export.get("action") != Action.EVIDENCE_EXPORTED:
        raise _fail(f"{EXPORT}: not an {Action.EVIDENCE_EXPORTED} entry")
    recorded_set = export["payload"].get("witness_set") or {}
    if held_keys:
        cosigned = _quorum_of_held(note, held_keys, recorded_set)
    recorded = export["payload"].get("manifest_sha256")
    if recorded != sha256_bytes(files["manifest.json"]):
        raise _fail(
            f"manifest.json: not the manifest the ledger recorded at entry {export['seq']}"
            " (members or entries changed and the manifest recomputed)"
        )
    seqs = [e.get("seq") for e in entries]
    if seqs != manifest.get("entries") or seqs != export["payload"].get("entries"):
        raise _fail("ledger/entries.json: not the entries the export recorded")
    for e in entries:
        included(e, "ledger/entries.json")
    _check_index(_load(files, INDEX), cp, set(seqs), export, manifest.get("subject"))
    return {
        "size": cp.size,
        "origin": cp.origin,
        "log_key": log["public_key"][:16],
        "witnesses": cosigned,
        "witness_set": recorded_set.get("source", "not recorded"),
        "keys": "held by the auditor" if held_keys else f"in the pack ({WITNESS_KEYS})",
    }


def _quorum_of_held(note: SignedNote, held_keys, recorded: dict) -> dict[str, int]:
    """``{name: cosigned_at}`` of the valid cosignatures by ``held_keys``; at least the
    recorded quorum (and one) of them, else the pack fails."""
    valid = {}
    for v in held_keys:
        ts = note.cosigned_at(v.name, v.public)
        if ts is not None:
            valid[v.name] = ts
    need = max(1, int(recorded.get("quorum") or 0))
    if len(valid) < need:
        names = ", ".join(v.name for v in held_keys)
        raise _fail(
            f"{CHECKPOINT}: {len(valid)} cosignature(s) verify with the witness keys given"
            f" ({names}); {recorded.get('source', 'the pack')} needs {need}"
        )
    return valid


def _check_index(index: list[dict], cp, packed: set[int], export: dict, subject) -> None:
    """The index is the whole log at the checkpoint, and the pack holds what it must."""
    if [row.get("seq") for row in index] != list(range(1, cp.size + 1)):
        raise _fail(f"{INDEX}: not entries 1..{cp.size}")
    if root_of([_leaf(row, INDEX) for row in index]) != cp.root:
        raise _fail(f"{INDEX}: does not fold to the checkpoint's root (an entry changed)")
    period = Subject.parse_period(subject)
    for row in index:
        if row["seq"] >= export["seq"] or row["seq"] in packed or row["action"] in COPIES:
            continue
        if (
            (area(row["action"]) in ALWAYS_INCLUDED or row["action"] in ALWAYS_INCLUDED)
            or (subject and row["subject"] == subject)
            or (period and _in_period(row, *period))
        ):
            raise _fail(
                f"ledger/entries.json: entry {row['seq']} ({row['action']}, {row['subject']})"
                " is in the log but missing from the pack"
            )


def _in_period(row: dict, name: str, start: str, end: str) -> bool:
    """An index row a period pack must hold: about the strategy by its subject, in the window."""
    from governance.evidence.period import about_strategy, in_window, parse_day

    window = parse_day(start, "period"), parse_day(end, "period")
    return in_window(row["ts"], *window) and about_strategy(
        row["action"], row["subject"], None, name
    )
