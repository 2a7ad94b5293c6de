"""Personal Ed25519 keys: each person's own file, never in the workspace.

A private key is an OpenSSH file (``ssh-keygen -t ed25519``, passphrase allowed) or a PKCS#8
PEM file. It is named by ``--key FILE`` or ``ALPHAGATE_KEY``; its passphrase comes from
``ALPHAGATE_KEY_PASSPHRASE`` or, only when stdin is a terminal, a prompt. The workspace
holds public keys only (in signed ``user.added`` ledger entries): a key file inside
``ALPHAGATE_HOME`` is refused, because whoever can read the workspace could then sign as
its owner.

A *keyring* (``ALPHAGATE_KEYRING``, a folder of ``<name>.key`` files) serves the demo cast
and tests, where one person deliberately holds everybody's keys; it too must lie outside
the workspace. Holding several people's keys defeats four eyes: that is the limit written
down in docs/governance.md, not something this module can prevent.
"""

from __future__ import annotations

import base64
import getpass
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from governance.ground.errors import Forbidden, InputError
from governance.ground.files import write_atomic

KEY_ENV = "ALPHAGATE_KEY"
PASSPHRASE_ENV = "ALPHAGATE_KEY_PASSPHRASE"
KEYRING_ENV = "ALPHAGATE_KEYRING"
KEYRING_SUFFIX = ".key"


def public_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key, hex-encoded (the form the ledger records)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def new_key_file(path: str | Path, passphrase: str | None = None, comment: str = "") -> str:
    """Write a new Ed25519 key as an OpenSSH private key (mode 0600) and ``FILE.pub``.

    Returns the public key (hex). An existing file is never overwritten (exit 2).
    """
    path = Path(path)
    if path.exists():
        raise InputError(f"--out: {path} exists; alphagate never overwrites a key")
    key = Ed25519PrivateKey.generate()
    enc = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase
        else serialization.NoEncryption()
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc
    )
    write_atomic(path, private, mode=0o600)
    pub = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    write_atomic(f"{path}.pub", pub + (f" {comment}".encode() if comment else b"") + b"\n")
    return public_hex(key)


def _passphrase(path: Path) -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value.encode("utf-8")
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"passphrase for {path}: ").encode("utf-8")
    return None


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (OpenSSH or PKCS#8 PEM, passphrase allowed).

    Raises
    ------
    InputError
        Missing or unreadable file, not an Ed25519 key, a passphrase needed but none given
        (exit 2).
    Forbidden
        Wrong passphrase (exit 4).
    """
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--key: {path}: {exc.strerror or exc}") from None
    if data.lstrip().startswith((b"ssh-ed25519", b"-----BEGIN PUBLIC KEY")):
        private = path.with_suffix("") if path.suffix == ".pub" else "the private key file"
        raise InputError(f"--key: {path} is a public key: pass your private key ({private})")
    loader = (
        serialization.load_ssh_private_key
        if b"OPENSSH PRIVATE KEY" in data
        else serialization.load_pem_private_key
    )
    try:
        key = loader(data, password=None)
    except TypeError:  # encrypted: ask for the passphrase
        secret = _passphrase(path)
        if secret is None:
            raise InputError(
                f"--key: {path} is passphrase-protected: set {PASSPHRASE_ENV} or run on a terminal"
            ) from None
        try:
            key = loader(data, password=secret)
        except ValueError:
            raise Forbidden(f"--key: {path}: wrong passphrase") from None
    except ValueError:
        # the library's message carries a URL and internals: the file and the fact suffice
        raise InputError(f"--key: {path}: not an Ed25519 private key file") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"--key: {path}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_public_key(path: str | Path) -> str:
    """Hex public key from an OpenSSH ``.pub`` line, a PEM public key or a raw hex line."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--public-key: {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if "PRIVATE KEY" in text:
        raise InputError(f"--public-key: {path} is a private key; give its public half (.pub)")
    try:
        if text.startswith("ssh-"):
            key = serialization.load_ssh_public_key(text.encode())
        elif text.startswith("-----BEGIN PUBLIC KEY"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except (ValueError, base64.binascii.Error) as exc:
        raise InputError(f"--public-key: {path}: not a public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"--public-key: {path}: not an Ed25519 key ({type(key).__name__})")
    return public_hex(key)


def keyring_path(name: str) -> Path | None:
    """``$ALPHAGATE_KEYRING/<name>.key`` when a keyring is set and holds that file."""
    ring = os.environ.get(KEYRING_ENV)
    if not ring or not name:
        return None
    path = Path(ring).expanduser() / f"{name}{KEYRING_SUFFIX}"
    return path if path.is_file() else None


def resolve_key_path(explicit: str | None, claimed: str | None = None) -> Path | None:
    """The key file to use: ``--key``, else ``ALPHAGATE_KEY``, else the keyring's for
    ``claimed``; None when there is none."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    return keyring_path(claimed) if claimed else None


def refuse_inside(path: Path, home: Path) -> None:
    """Forbidden when a private key file lies inside the workspace ``home``."""
    resolved, root = path.resolve(), home.resolve()
    if resolved == root or root in resolved.parents:
        raise Forbidden(
            f"--key: {path} lies inside the workspace {root}; private keys never live in the"
            " workspace (anyone who can read it could sign as you): move it out"
        )
