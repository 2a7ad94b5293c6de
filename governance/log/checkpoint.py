"""Signed checkpoints of the ledger's Merkle tree: C2SP tlog-checkpoint in a C2SP signed note.

A checkpoint (c2sp.org/tlog-checkpoint) is three lines, the note's body::

    alphagate.ledger/3f2a9c0d1e4b5a67        origin: which log
    1234                                     tree size (entries)
    q3Jf...base64 SHA-256 root...=           RFC 6962 root of those entries

A signed note (c2sp.org/signed-note) is the body, a blank line and one line per signature::

    — <key name> <base64(key ID (4 bytes) || signature)>

with key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]. The log signs the
body with Ed25519 (type 0x01). Witnesses add cosignatures (c2sp.org/tlog-cosignature, type
0x04): the signature is an 8-byte big-endian UNIX time followed by the Ed25519 signature of
``"cosignature/v1\\ntime <t>\\n" + body``.

The log's signing key. It signs that a tree is the log's; it cannot make a rewritten history
acceptable, because witnesses only cosign a tree that extends the one they hold. It lives
with the process that writes the ledger, never in the workspace: ``ALPHAGATE_LOG_KEY`` names
the PEM file, default ``$XDG_DATA_HOME/alphagate/log-keys/<origin id>.key`` (created, mode
0600, on the first checkpoint). Witnesses pin its public key on their first checkpoint and
refuse any other. In production it belongs in a KMS or HSM (replace :class:`NoteKey`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from governance.ground.errors import InputError, TamperDetected
from governance.log.db import redacted

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_DASH = "\u2014 "


def state_dir() -> Path:
    """``$XDG_DATA_HOME/alphagate`` (default ``~/.local/share/alphagate``): outside workspaces."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "alphagate"


def origin_of(ledger_url: str) -> str:
    """The log's origin line: ``ALPHAGATE_LOG_ORIGIN``, else derived from the ledger URL.

    A rewritten database at the same URL keeps its origin, so its witnesses judge it.
    """
    explicit = os.environ.get("ALPHAGATE_LOG_ORIGIN")
    if explicit:
        return explicit
    digest = hashlib.sha256(redacted(ledger_url).encode("utf-8")).hexdigest()[:16]
    return f"alphagate.ledger/{digest}"


@lru_cache(maxsize=256)
def origin_slug(origin: str) -> str:
    """A file-name-safe form of an origin (a pure function of the text, remembered: every
    checkpoint names its files by it)."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in origin)


# ---------------------------------------------------------------------------------------
# Checkpoint body
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """``origin``, tree ``size`` and ``root`` (32 bytes)."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or not lines[0] or not lines[1].isdigit():
            raise TamperDetected("checkpoint: not origin, size and root lines")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except ValueError:
            raise TamperDetected("checkpoint: root hash is not base64") from None
        if len(root) != 32:
            raise TamperDetected("checkpoint: root hash is not 32 bytes")
        return cls(lines[0], int(lines[1]), root)


# ---------------------------------------------------------------------------------------
# Signed notes
# ---------------------------------------------------------------------------------------


def key_id(name: str, sig_type: int, public: bytes) -> bytes:
    """C2SP key ID: ``SHA-256(name || 0x0A || type || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A verifier key (c2sp.org/signed-note): ``<name>+<hex key ID>+<base64(type || key)>``."""

    name: str
    sig_type: int
    public: bytes

    @classmethod
    def parse(cls, text: str, where: str = "verifier key") -> Verifier:
        """Parse and check a vkey; a malformed one is an :class:`InputError` naming ``where``."""
        name, _, rest = text.strip().partition("+")
        kid, _, b64 = rest.partition("+")
        try:
            raw = base64.b64decode(b64, validate=True)
            ok = len(kid) == 8 and len(raw) == 33 and key_id(name, raw[0], raw[1:]).hex() == kid
        except ValueError:
            ok = False
        if not name or not ok or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise InputError(
                f"{where}: not a verifier key name+keyid+base64(type||Ed25519 key): {text!r}"
            )
        return cls(name, raw[0], raw[1:])

    def text(self) -> str:
        kid = key_id(self.name, self.sig_type, self.public).hex()
        return (
            f"{self.name}+{kid}+{base64.b64encode(bytes([self.sig_type]) + self.public).decode()}"
        )


@dataclass(frozen=True)
class NoteKey:
    """A named Ed25519 key that signs notes (the log's or a witness's)."""

    name: str
    private: Ed25519PrivateKey

    @cached_property
    def public(self) -> bytes:
        """The raw public key (derived once per key object: a checkpoint asks it three
        times, for the signature's key ID, the witness's pin and its cosignature)."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def vkey(self, sig_type: int = ED25519) -> str:
        """Verifier key text ``<name>+<hex key ID>+<base64(type || public key)>``."""
        return Verifier(self.name, sig_type, self.public).text()

    def sign(self, body: str) -> str:
        """The note signature line of ``body`` (type 0x01)."""
        sig = key_id(self.name, ED25519, self.public) + self.private.sign(body.encode())
        return f"{_DASH}{self.name} {base64.b64encode(sig).decode()}\n"

    def cosign(self, body: str, timestamp: int) -> str:
        """The tlog-cosignature/v1 line of checkpoint ``body`` at UNIX time ``timestamp``."""
        message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
        sig = struct.pack(">Q", timestamp) + self.private.sign(message)
        kid = key_id(self.name, COSIGNATURE_V1, self.public)
        return f"{_DASH}{self.name} {base64.b64encode(kid + sig).decode()}\n"


def load_or_create_key(path: Path, name: str) -> NoteKey:
    """The Ed25519 key in PEM file ``path``, created (mode 0600) when absent.

    Loaded once per process and path (the file is re-read if it changes).
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        try:
            os.link(tmp, path)  # first writer wins when two processes race
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return _load_key(path, name, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _load_key(path: Path, name: str, _mtime: int) -> NoteKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path}: not an Ed25519 private key")
    return NoteKey(name, key)


def log_key(origin: str) -> NoteKey:
    """The log's signing key (see the module docstring for where it lives)."""
    explicit = os.environ.get("ALPHAGATE_LOG_KEY")
    path = Path(explicit) if explicit else state_dir() / "log-keys" / f"{origin_slug(origin)}.key"
    return load_or_create_key(path, origin)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    raw: bytes  # key ID || signature bytes

    @property
    def key_id(self) -> bytes:
        return self.raw[:4]


@dataclass(frozen=True)
class SignedNote:
    """A note body and its signature lines (c2sp.org/signed-note)."""

    body: str
    signatures: tuple[NoteSignature, ...]

    def text(self) -> str:
        lines = "".join(
            f"{_DASH}{s.name} {base64.b64encode(s.raw).decode()}\n" for s in self.signatures
        )
        return f"{self.body}\n{lines}"

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint.parse(self.body)

    @classmethod
    def parse(cls, text: str) -> SignedNote:
        body, sep, sigs = text.rpartition("\n\n")
        if not sep or not body:
            raise TamperDetected("signed note: no blank line before the signatures")
        out = []
        for line in sigs.split("\n"):
            if not line:
                continue
            if not line.startswith(_DASH):
                raise TamperDetected(f"signed note: malformed signature line {line[:40]!r}")
            name, _, b64 = line[len(_DASH) :].rpartition(" ")
            try:
                raw = base64.b64decode(b64, validate=True)
            except ValueError:
                raise TamperDetected("signed note: signature is not base64") from None
            out.append(NoteSignature(name, raw))
        return cls(body + "\n", tuple(out))

    def with_line(self, line: str) -> SignedNote:
        """This note with one more signature line (as made by :class:`NoteKey`)."""
        return SignedNote(self.body, self.signatures + SignedNote.parse(f"x\n\n{line}").signatures)

    def verify(self, name: str, public: bytes) -> bool:
        """True when a type-0x01 signature by ``name``/``public`` over the body verifies."""
        kid = key_id(name, ED25519, public)
        for s in self.signatures:
            if s.name == name and s.key_id == kid:
                return _ed25519_ok(public, s.raw[4:], self.body.encode())
        return False

    def cosigned_at(self, name: str, public: bytes) -> int | None:
        """UNIX time of a valid cosignature by ``name``/``public``, else None."""
        kid = key_id(name, COSIGNATURE_V1, public)
        for s in self.signatures:
            if s.name == name and s.key_id == kid and len(s.raw) == 4 + 8 + 64:
                (ts,) = struct.unpack(">Q", s.raw[4:12])
                message = f"cosignature/v1\ntime {ts}\n{self.body}".encode()
                return ts if _ed25519_ok(public, s.raw[12:], message) else None
        return None


@lru_cache(maxsize=1024)
def _ed25519_ok(public: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` verifies; remembered per process, as a pure function of its
    bytes: a witness's cosignature is checked when its answer arrives and again when the
    quorum is counted, and a witness service sees the same signed checkpoint again at the
    first hand-over of every command (Ed25519 signatures are deterministic)."""
    try:
        _public_key(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@lru_cache(maxsize=64)
def _public_key(public: bytes) -> Ed25519PublicKey:
    """The key object of raw ``public`` bytes (a pure function of them, remembered: the log's
    and each witness's key verify every checkpoint)."""
    return Ed25519PublicKey.from_public_bytes(public)


def sign_checkpoint(cp: Checkpoint, key: NoteKey) -> SignedNote:
    """``cp`` signed by the log's ``key`` (whose name must be the origin)."""
    return SignedNote.parse(f"{cp.body()}\n{key.sign(cp.body())}")
