"""Offline verification of an evidence pack: manifest, witnessed checkpoint, proofs, signatures.

Needs nothing but the zip file: no workspace, no database, no MLflow. Checks, in order:

1. ``manifest.json`` parses and its ``self_digest`` (SHA-256 of the canonical JSON of the
   manifest without that field) matches.
2. Every file in the zip is listed in the manifest (or is one of the sealed members of
   :mod:`governance.evidence.proof`), every listed file is present and its SHA-256 matches
   (a CRC error while reading a member is reported the same way, naming the member).
3. The seal (:func:`governance.evidence.proof.check_sealed`): the checkpoint is signed by
   the log key and cosigned by a witness; the ``evidence.exported`` entry is in the
   witnessed log and records this manifest's SHA-256 and the pack's entry list; every entry
   in ``ledger/entries.json`` is in the witnessed log (inclusion proof); the index of the
   whole log folds to the root and every entry the pack must hold is there.
4. Every artifact an included entry names is in the pack with the recorded SHA-256; each
   ``policy/<sha256>.yaml`` hashes to its name.
5. Every signed act in the pack (verdicts, adoptions, approvals, rejections, trips, resets,
   acceptances, retirements) verifies as ``ledger verify`` requires: by its actor's key
   and role at the time (the registry folded from the pack's identity entries), bound to
   its signed document, counted once (:func:`check_signatures`).
6. The manifest's ``sandbox`` agrees with the entries: a pack whose entries were recorded
   in a sandbox workspace (payload ``"sandbox": true``) cannot pass as a production one.

Any failure is a :class:`TamperDetected` (exit 3) whose message names the file.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from governance.evidence.proof import SEALED, check_sealed
from governance.ground.canonical import sha256_bytes, sha256_json
from governance.ground.errors import InputError, TamperDetected
from governance.ground.vocabulary import Action

MANIFEST = "manifest.json"
ENTRIES = "ledger/entries.json"
KEYS = "keys/public_keys.json"
FORMAT = "alphagate.evidence/1"
SIGNED_ACTIONS = (
    Action.APPROVAL_GRANTED,
    Action.APPROVAL_REJECTED,
    Action.FINDING_ACCEPTANCE_PENDING,
    Action.FINDING_ACCEPTED,
)


@dataclass(frozen=True)
class PackReport:
    """What a successful verification checked."""

    files: int
    entries: int
    signatures: int
    head: dict
    subject: str
    sealed: dict | None = None
    sandbox: bool = False
    actions: frozenset[str] = frozenset()  # the actions of the entries it holds

    def to_json(self) -> dict:
        return {
            "ok": True,
            "files": self.files,
            "entries": self.entries,
            "signatures": self.signatures,
            "head": self.head,
            "subject": self.subject,
            "checkpoint": self.sealed,
            "sandbox": self.sandbox,
        }


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of the canonical JSON of ``manifest`` without ``self_digest``."""
    return sha256_json({k: v for k, v in manifest.items() if k != "self_digest"})


def _read_members(zf: zipfile.ZipFile) -> dict[str, bytes]:
    out = {}
    for info in zf.infolist():
        if info.is_dir():
            continue
        try:
            out[info.filename] = zf.read(info)
        except (zipfile.BadZipFile, zlib.error) as exc:
            raise TamperDetected(f"{info.filename}: unreadable ({exc})", gate="evidence") from None
    return out


def _json(files: dict[str, bytes], name: str):
    try:
        return json.loads(files[name])
    except KeyError:
        raise TamperDetected(f"{name}: missing from the pack", gate="evidence") from None
    except ValueError:
        raise TamperDetected(f"{name}: not valid JSON", gate="evidence") from None


def check_files(files: dict[str, bytes]) -> dict:
    """Steps 1-2: the manifest's own digest and every file's SHA-256; return the manifest."""
    manifest = _json(files, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise TamperDetected(f"{MANIFEST}: not an {FORMAT} manifest", gate="evidence")
    if manifest.get("self_digest") != manifest_digest(manifest):
        raise TamperDetected(f"{MANIFEST}: altered (self digest does not match)", gate="evidence")
    listed = manifest.get("files") or {}
    for name in sorted(files):
        if name != MANIFEST and name not in listed and name not in SEALED:
            raise TamperDetected(
                f"{name}: not listed in the manifest (file added)", gate="evidence"
            )
    for name, sha in sorted(listed.items()):
        if name not in files:
            raise TamperDetected(f"{name}: listed in the manifest but missing", gate="evidence")
        if sha256_bytes(files[name]) != sha:
            raise TamperDetected(f"{name}: SHA-256 does not match the manifest", gate="evidence")
    return manifest


def check_artifacts(entries: list[dict], files: dict[str, bytes], manifest: dict) -> None:
    """Step 4: each artifact named by an included entry is in the pack, hash intact."""
    by_sha = set(manifest["files"].values())
    for e in entries:
        for name, sha in sorted((e["payload"].get("artifacts") or {}).items()):
            if sha not in by_sha:
                raise TamperDetected(
                    f"{ENTRIES}: seq {e['seq']}: artifact {name!r} ({sha[:12]}) not in the pack",
                    gate="evidence",
                )


def check_signatures(entries: list[dict]) -> int:
    """Step 5: every signed act in the pack holds as ``ledger verify`` requires
    (:func:`governance.identity.signed_acts.act_problems_of`): validation verdicts,
    adoptions, approvals, rejections, trips, resets, acceptances, retirements. Each is
    signed by its actor with the key and in a role the actor had *at the time*, by the
    registry folded from the pack's own identity entries (all of them are in the pack:
    :func:`governance.evidence.proof.check_sealed`), is bound to its signed document
    (governance/log/bound.py) and counts once. Return how many."""
    from governance.identity.signed_acts import SIGNED_ACTS, act_problems_of, exempt
    from governance.identity.users import fold_registry
    from governance.log.bound import replayed
    from governance.log.txn import LedgerEntry

    def where(e) -> str:
        return f"{ENTRIES}: seq {e.seq} ({e.action} by {e.actor})"

    try:
        rows = [LedgerEntry(**e) for e in entries]
    except TypeError:
        raise TamperDetected(
            f"{ENTRIES}: an entry is not a ledger entry", gate="evidence"
        ) from None
    registry = fold_registry(rows)
    if registry.problems:
        seq, why = registry.problems[0]
        raise TamperDetected(f"{ENTRIES}: seq {seq}: {why}", gate="evidence")
    acts = [e for e in rows if e.action in SIGNED_ACTS and not exempt(e)]
    for seq, first in sorted(replayed(acts).items()):
        e = next(r for r in acts if r.seq == seq)
        raise TamperDetected(
            f"{where(e)}: replays the signed document of seq {first}", gate="evidence"
        )
    for e in acts:
        problems = act_problems_of(registry, e)
        if problems:
            raise TamperDetected(f"{where(e)}: {'; '.join(problems)}", gate="evidence")
    return len(acts)


def verify_pack(path: str | Path, witness_keys=None) -> PackReport:
    """Verify the evidence pack at ``path`` offline; raise :class:`TamperDetected` if not.

    ``witness_keys``: the witnesses' verifier keys the auditor holds (out of band); given,
    the checkpoint's cosignatures are counted with them only (a quorum of the recorded set).
    A missing file or one that is no zip is an :class:`InputError` (exit 2); a damaged zip
    is :class:`TamperDetected`.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    with p.open("rb") as fh:
        if fh.read(2) != b"PK":  # not even a damaged zip: the wrong file was passed
            raise InputError(f"{p}: not a zip archive (pass the .zip that evidence export wrote)")
    try:
        with zipfile.ZipFile(p) as zf:
            files = _read_members(zf)
    except zipfile.BadZipFile as exc:
        raise TamperDetected(
            f"{p.name}: not a readable zip archive ({exc})", gate="evidence"
        ) from None
    manifest = check_files(files)
    entries = _json(files, ENTRIES)
    sealed = check_sealed(files, manifest, entries, witness_keys)
    check_artifacts(entries, files, manifest)
    check_policies(entries, files)
    signatures = check_signatures(entries)
    return PackReport(
        len(files), len(entries), signatures, manifest["head"], manifest["subject"], sealed,
        check_sandbox(entries, manifest), frozenset(str(e.get("action")) for e in entries),
    )  # fmt: skip


def check_sandbox(entries: list[dict], manifest: dict) -> bool:
    """Step 6: whether the pack is from a sandbox workspace (its manifest), refusing a
    manifest that hides what its entries say."""
    sandbox = manifest.get("sandbox") is True
    labelled = [e["seq"] for e in entries if e["payload"].get("sandbox") is True]
    if labelled and not sandbox:
        raise TamperDetected(
            f"{MANIFEST}: says not a sandbox, but entries {labelled[:3]} were recorded in a"
            " sandbox workspace",
            gate="evidence",
        )
    return sandbox


def check_policies(entries: list[dict], files: dict[str, bytes]) -> None:
    """Each ``policy/<sha256>.yaml`` in the pack is the policy with that hash."""
    for name, data in sorted(files.items()):
        if name.startswith("policy/") and name != f"policy/{sha256_bytes(data)}.yaml":
            raise TamperDetected(f"{name}: not the policy its name's hash says", gate="evidence")
