"""Ed25519 signatures over canonical JSON documents (approvals, rejections, resets).

A signed document is a JSON object of digests and facts (model version, artifact hashes,
policy hash, decision, reason, user, time). The signer signs its RFC 8785 canonical bytes;
the ledger stores the document, its SHA-256 (``signed_digest``), the signature and the
signer's public key, so that anyone can re-check them offline
(:func:`verify_signed_record`): the evidence pack and ``alphagate ledger verify`` do.

Demo keys live in the workspace (governance/users.py); production keys belong in a KMS or
HSM, which would replace :func:`sign_document` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from governance.canonical import canonical_json, sha256_bytes
from governance.users import User, load_private_key
from governance.workspace import Workspace

SCHEME = "ed25519"


@dataclass(frozen=True)
class Signature:
    """A detached signature: scheme, signer, public key (hex), digest and signature (hex)."""

    signer: str
    public_key: str
    signed_digest: str
    signature: str
    scheme: str = SCHEME

    def fields(self) -> dict:
        """The ledger payload fields of this signature."""
        return {
            "signer": self.signer,
            "public_key": self.public_key,
            "signed_digest": self.signed_digest,
            "signature": self.signature,
            "signature_scheme": self.scheme,
        }


def sign_document(ws: Workspace, user: User, document: dict[str, Any]) -> Signature:
    """Sign the canonical JSON of ``document`` with ``user``'s key."""
    message = canonical_json(document)
    key = load_private_key(ws, user)
    return Signature(
        signer=user.name,
        public_key=user.public_key,
        signed_digest=sha256_bytes(message),
        signature=key.sign(message).hex(),
    )


def verify_signature(public_key: str, document: dict[str, Any], signature: str) -> bool:
    """True when ``signature`` (hex) is ``public_key``'s (hex) over ``document``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(bytes.fromhex(signature), canonical_json(document))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verify_signed_record(
    record: dict[str, Any], known_keys: dict[str, str] | None = None
) -> list[str]:
    """Problems with a signed ledger payload; empty when it verifies.

    Parameters
    ----------
    record : dict
        A payload with ``signed`` (the document), ``signed_digest``, ``signature``,
        ``public_key`` and ``signer``.
    known_keys : dict, optional
        ``{user: public_key}`` from ``users.json``: the recorded key must match it.

    Returns
    -------
    list of str
        One line per problem: digest mismatch, bad signature, key mismatch, missing field.
    """
    missing = [k for k in ("signed", "signed_digest", "signature", "public_key") if k not in record]
    if missing:
        return [f"missing {', '.join(missing)}"]
    doc = record["signed"]
    problems = []
    if sha256_bytes(canonical_json(doc)) != record["signed_digest"]:
        problems.append("signed digest does not match the signed document")
    if not verify_signature(record["public_key"], doc, record["signature"]):
        problems.append("Ed25519 signature does not verify")
    signer = record.get("signer")
    if isinstance(doc, dict) and doc.get("user") not in (None, signer):
        problems.append(f"signer {signer!r} is not the document's user {doc.get('user')!r}")
    if (
        known_keys is not None
        and signer in known_keys
        and known_keys[signer] != record["public_key"]
    ):
        problems.append(f"public key of {signer!r} differs from users.json")
    return problems
