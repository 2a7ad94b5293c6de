"""Offline verification of an evidence pack: hashes, ledger chain and signatures.

Needs nothing but the zip file: no workspace, no database, no MLflow. Checks, in order:

1. ``manifest.json`` parses and its ``self_digest`` (SHA-256 of the canonical JSON of the
   manifest without that field) matches: the file list was not edited.
2. Every file in the zip is listed, every listed file is present and its SHA-256 matches
   (a CRC error while reading a member is reported the same way, naming the member).
3. ``ledger/entries.json``: each entry's payload hash and entry hash are recomputed with
   the ledger's own rules (:mod:`governance.integrity`), each sits in
   ``ledger/chain.json`` (``seq, prev_hash, entry_hash`` of the whole ledger up to its
   head at export), and that chain links unbroken from genesis to the head.
4. Every artifact an included entry names is in the pack with the recorded SHA-256.
5. Every signed approval, rejection or finding acceptance verifies against the recorded public key (and the
   key in ``keys/public_keys.json``).

Any failure is a :class:`TamperDetected` (exit 3) whose message names the file.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from governance.canonical import canonical_json, sha256_bytes, sha256_json
from governance.chain import GENESIS_HASH, compute_entry_hash
from governance.errors import InputError, TamperDetected
from governance.signing import verify_signed_record

MANIFEST = "manifest.json"
ENTRIES = "ledger/entries.json"
CHAIN = "ledger/chain.json"
KEYS = "keys/public_keys.json"
FORMAT = "alphagate.evidence/1"
SIGNED_ACTIONS = (
    "approval.granted",
    "approval.rejected",
    "finding.acceptance_pending",
    "finding.accepted",
)


@dataclass(frozen=True)
class PackReport:
    """What a successful verification checked."""

    files: int
    entries: int
    signatures: int
    head: dict
    subject: str

    def to_json(self) -> dict:
        return {
            "ok": True,
            "files": self.files,
            "entries": self.entries,
            "signatures": self.signatures,
            "head": self.head,
            "subject": self.subject,
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
        if name != MANIFEST and name not in listed:
            raise TamperDetected(
                f"{name}: not listed in the manifest (file added)", gate="evidence"
            )
    for name, sha in sorted(listed.items()):
        if name not in files:
            raise TamperDetected(f"{name}: listed in the manifest but missing", gate="evidence")
        if sha256_bytes(files[name]) != sha:
            raise TamperDetected(f"{name}: SHA-256 does not match the manifest", gate="evidence")
    return manifest


def _entry_problem(e: dict) -> str | None:
    if sha256_bytes(canonical_json(e["payload"])) != e["payload_hash"]:
        return "payload does not match payload_hash"
    if compute_entry_hash(e) != e["entry_hash"]:
        return "entry_hash does not match the entry's fields"
    return None


def check_chain(entries: list[dict], chain: list[dict], head: dict) -> None:
    """Step 3: included entries are intact and sit in an unbroken chain up to ``head``."""
    prev, expected = GENESIS_HASH, 1
    by_seq = {}
    for link in chain:
        if link["seq"] != expected or link["prev_hash"] != prev:
            raise TamperDetected(f"{CHAIN}: broken at seq {link['seq']}", gate="evidence")
        by_seq[link["seq"]] = link["entry_hash"]
        prev, expected = link["entry_hash"], expected + 1
    if (expected - 1, prev) != (head.get("seq"), head.get("hash")):
        raise TamperDetected(f"{CHAIN}: does not end at the recorded head", gate="evidence")
    for e in entries:
        problem = _entry_problem(e)
        if problem is None and by_seq.get(e["seq"]) != e["entry_hash"]:
            problem = "not the entry the chain records at its seq"
        if problem is None and e["seq"] > 1 and by_seq.get(e["seq"] - 1) != e["prev_hash"]:
            problem = "prev_hash does not link to the chain"
        if problem:
            raise TamperDetected(f"{ENTRIES}: seq {e['seq']}: {problem}", gate="evidence")


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


def check_signatures(entries: list[dict], keys: dict[str, str]) -> int:
    """Step 5: every signed approval/rejection verifies; return how many."""
    count = 0
    for e in entries:
        if e["action"] not in SIGNED_ACTIONS or e["payload"].get("identity") == "declared":
            continue
        problems = verify_signed_record(e["payload"], keys)
        if problems:
            where = f"seq {e['seq']} ({e['action']} by {e['actor']})"
            raise TamperDetected(f"{ENTRIES}: {where}: {'; '.join(problems)}", gate="evidence")
        count += 1
    return count


def verify_pack(path: str | Path) -> PackReport:
    """Verify the evidence pack at ``path`` offline; raise :class:`TamperDetected` if not.

    A missing or non-zip file is an :class:`InputError` (exit 2).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    try:
        with zipfile.ZipFile(p) as zf:
            files = _read_members(zf)
    except zipfile.BadZipFile as exc:
        raise TamperDetected(
            f"{p.name}: not a readable zip archive ({exc})", gate="evidence"
        ) from None
    manifest = check_files(files)
    entries = _json(files, ENTRIES)
    check_chain(entries, _json(files, CHAIN), manifest["head"])
    check_artifacts(entries, files, manifest)
    signatures = check_signatures(entries, _json(files, KEYS))
    return PackReport(len(files), len(entries), signatures, manifest["head"], manifest["subject"])
