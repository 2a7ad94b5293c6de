"""Ed25519 signatures over canonical JSON documents: every human decision is one.

A signed document is a JSON object of digests and facts (what is decided on, the decision,
reason, user and time) with an ``act`` field naming the ledger action it may be recorded
as. The signer signs its RFC 8785 canonical bytes; the ledger stores the document, its
SHA-256 (``signed_digest``), the signature and the signer's public key, so anyone can
re-check them offline (:func:`verify_signed_record`): the evidence pack does, and
``alphagate ledger verify`` also checks the key against the signer's *registered* key and
role at the time of the act (:func:`governance.identity.users.act_problems`).

The private key is the signer's own file (:mod:`governance.identity.keys`), held in memory by a
:class:`Signer` only for the command that proved it. A KMS or HSM would replace
:meth:`Signer.sign` only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from governance.ground.canonical import canonical_json, sha256_bytes, to_jsonable
from governance.log.bound import SIGNATURE_FIELDS

SCHEME = "ed25519"


def now_iso() -> str:
    """UTC time with microseconds, the ``time`` of a signed document."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


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


class _Held:
    """The private key, held so that no copy of it is ever made: pickling or deep-copying
    (Dask workers, Prefect's serialised task context) yields an empty holder."""

    __slots__ = ("key",)

    def __init__(self, key: Ed25519PrivateKey | None):
        self.key = key

    def __reduce__(self):
        return (_Held, (None,))

    def __repr__(self) -> str:
        return "<private key>"


@dataclass(frozen=True)
class Signer:
    """A proven identity: an enrolled user holding their own private key.

    Made only by :func:`governance.audit.door.prove_identity`, which checked that ``key`` is the
    registered key of ``name``.
    """

    name: str
    role: str
    public_key: str
    key: _Held = field(repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.key, _Held):
            object.__setattr__(self, "key", _Held(self.key))

    def sign(self, document: dict[str, Any]) -> Signature:
        """Sign the canonical JSON of ``document``."""
        if self.key.key is None:
            raise RuntimeError(f"{self.name}'s key stays in the process that proved it")
        message = canonical_json(document)
        return Signature(
            signer=self.name,
            public_key=self.public_key,
            signed_digest=sha256_bytes(message),
            signature=self.key.key.sign(message).hex(),
        )

    def signed_payload(self, act: str, document: dict[str, Any], *, subject: str) -> dict:
        """Payload fields of a signed act: the document (with ``act``, ``subject``, ``user``,
        ``signer_role``, ``time`` and a unique ``doc_id``) and its signature.

        The document binds the ledger entry it may be recorded as (action, subject, actor,
        role) and counts once (governance/log/bound.py).
        """
        doc = to_jsonable(
            {
                "time": now_iso(),
                **document,
                "act": act,
                "subject": subject,
                "user": self.name,
                "signer_role": self.role,
                "doc_id": uuid.uuid4().hex,
            }
        )
        return {"signed": doc, **self.sign(doc).fields()}


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
        ``{user: public_key}``: the recorded key must match it.

    Returns
    -------
    list of str
        One line per problem: digest mismatch, bad signature, key mismatch, missing field.
    """
    missing = [k for k in SIGNATURE_FIELDS if k not in record]
    if missing:
        return [f"unsigned (missing {', '.join(missing)})"]
    doc = record["signed"]
    problems = []
    if sha256_bytes(canonical_json(doc)) != record["signed_digest"]:
        problems.append("signed digest does not match the signed document")
    if not verify_signature(record["public_key"], doc, record["signature"]):
        problems.append("Ed25519 signature does not verify")
    signer = record.get("signer")
    if not isinstance(doc, dict) or doc.get("user") != signer:
        user = doc.get("user") if isinstance(doc, dict) else None
        problems.append(f"signer {signer!r} is not the document's user {user!r}")
    if (
        known_keys is not None
        and signer in known_keys
        and known_keys[signer] != record["public_key"]
    ):
        problems.append(f"public key of {signer!r} differs from the registered key")
    return problems


def append_signed(
    ledger,
    signer: Signer,
    action: str,
    *,
    subject: str,
    payload: dict[str, Any],
    artifacts: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    replay_ignores=(*SIGNATURE_FIELDS, "signature_scheme"),
):
    """Append ``action`` with ``payload`` signed by ``signer`` (the document is the payload,
    artifact digests included); return the entry. ``ledger`` may be a ledger transaction.

    A replay under the same idempotency key compares the payload without its signature
    (which differs in its time), unless ``replay_ignores`` says otherwise.
    """
    body = {**payload, **({"artifacts": dict(artifacts)} if artifacts else {})}
    return ledger.append(
        action,
        actor=signer.name,
        role=signer.role,
        subject=subject,
        payload={**body, **signer.signed_payload(action, body, subject=subject)},
        artifacts=artifacts,
        idempotency_key=idempotency_key,
        replay_ignores=replay_ignores,
    )
