"""Users, roles and their Ed25519 signing keys.

Users live in ``users.json`` in the workspace; each has one role and one Ed25519 key pair.
The private key is a PKCS#8 PEM file under ``keys/`` (mode 0600) and the raw public key is
kept, hex-encoded, in ``users.json`` and in every approval it signs.

Demo only: production signing keys belong in a KMS or HSM (docs/governance.md); the
private key never leaves this module and :mod:`governance.signing`.

Roles (shared/DESIGN.md):

- ``developer``: trains models; may trip the kill switch; never approves their own version.
- ``validator``: independent validation; the first of the four eyes on a promotion.
- ``risk_officer``: approves promotions, trips and resets the kill switch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.errors import Forbidden, InputError
from governance.workspace import Workspace

#: A user name is one token: it appears in ``--as``, ledger actors and MLflow tags.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: The actor name alphagate itself uses for automatic decisions; nobody may take it.
SYSTEM_ACTOR = "alphagate"


class Role(StrEnum):
    """The three human roles of the model-risk workflow."""

    DEVELOPER = "developer"
    VALIDATOR = "validator"
    RISK_OFFICER = "risk_officer"


@dataclass(frozen=True)
class User:
    """A user: name, role and hex-encoded raw Ed25519 public key (32 bytes)."""

    name: str
    role: Role
    public_key: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _read(ws: Workspace) -> dict:
    path = ws.users_file
    if not path.is_file():
        return {"users": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("users"), list):
        raise InputError(f"{path}: users: must be a list")
    return data


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temp file + rename so that a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_user(row: dict, source: Path) -> User:
    try:
        return User(name=row["name"], role=Role(row["role"]), public_key=row["public_key"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{source}: users: invalid entry {row!r} ({exc})") from None


def parse_role(value: str) -> Role:
    """``Role`` from its name; an unknown role is an :class:`InputError` listing the choices."""
    try:
        return Role(value)
    except ValueError:
        choices = "|".join(r.value for r in Role)
        raise InputError(f"role: unknown role {value!r} (choose {choices})") from None


def key_path(ws: Workspace, name: str) -> Path:
    """Path of ``name``'s private key (PKCS#8 PEM, mode 0600)."""
    return ws.keys / f"{name}.pem"


def list_users(ws: Workspace) -> list[User]:
    """All users of the workspace, in the order they were added."""
    return [_to_user(row, ws.users_file) for row in _read(ws)["users"]]


def find_user(ws: Workspace, name: str) -> User | None:
    """The user called ``name``, or None."""
    return next((u for u in list_users(ws) if u.name == name), None)


def role_of(ws: Workspace, name: str | None) -> str:
    """``name``'s role for the ledger's ``role`` column; ``"unknown"`` for a stranger."""
    user = find_user(ws, name) if name else None
    return user.role.value if user else "unknown"


def get_user(ws: Workspace, name: str) -> User:
    """The user called ``name``; an unknown name is :class:`Forbidden` (exit 4)."""
    user = find_user(ws, name)
    if user is None:
        raise Forbidden(f"unknown user {name!r}: add it with `alphagate users add`")
    return user


def add_user(ws: Workspace, name: str, role: Role | str) -> User:
    """Add a user with a new Ed25519 key pair; return it.

    Adding an existing user with the same role returns it unchanged (idempotent: the demo
    cast is created on every first run); with another role it is an :class:`InputError`.
    Recording ``user.added`` in the ledger is the caller's job (:func:`record_user_added`).
    """
    role = parse_role(str(role))
    if not _NAME_RE.match(name) or name == SYSTEM_ACTOR:
        raise InputError(
            f"user name {name!r}: use 1-64 letters, digits, '.', '_' or '-'"
            f" (and not {SYSTEM_ACTOR!r})"
        )
    existing = find_user(ws, name)
    if existing is not None:
        if existing.role != role:
            raise InputError(f"user {name!r} already exists with role {existing.role}")
        return existing
    ws.ensure()
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(key_path(ws, name), pem, mode=0o600)
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    user = User(name=name, role=role, public_key=public.hex())
    data = _read(ws)
    data["users"].append(
        {"name": name, "role": role.value, "public_key": user.public_key, "added_at": _now()}
    )
    _write_atomic(ws.users_file, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    return user


def load_private_key(ws: Workspace, user: User) -> Ed25519PrivateKey:
    """``user``'s private key; it must match the public key in ``users.json``."""
    path = key_path(ws, user.name)
    if not path.is_file():
        raise Forbidden(f"user {user.name!r} has no signing key at {path}")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise Forbidden(f"{path}: not an Ed25519 key")
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    if public.hex() != user.public_key:
        raise Forbidden(f"{path}: key does not match the public key of {user.name!r}")
    return key


def require_role(ws: Workspace, name: str | None, roles: set[Role], action: str) -> User:
    """The acting user, checked against the roles ``action`` allows.

    Raises
    ------
    Forbidden
        No acting user (``--as`` missing and ``ALPHAGATE_USER`` unset), an unknown user, or
        a user whose role is not in ``roles``. The message names the action.
    """
    allowed = "/".join(sorted(r.value for r in roles))
    if not name:
        raise Forbidden(f"{action}: needs an acting user (--as USER or $ALPHAGATE_USER)")
    user = find_user(ws, name)
    if user is None:
        raise Forbidden(f"{action}: unknown user {name!r}")
    if user.role not in roles:
        raise Forbidden(f"{action}: {name!r} is a {user.role}, needs {allowed}")
    return user


def record_user_added(ledger, user: User, actor: str = SYSTEM_ACTOR):
    """Append ``user.added`` (subject ``user:<name>``) to the ledger; return the entry."""
    return ledger.append(
        "user.added",
        actor=actor,
        role="system" if actor == SYSTEM_ACTOR else "admin",
        subject=f"user:{user.name}",
        payload={"name": user.name, "role": user.role.value, "public_key": user.public_key},
        idempotency_key=f"user.added:{user.name}:{user.public_key}",
    )


def ensure_cast(ws: Workspace, cfg, ledger=None) -> list[User]:
    """Create the users of ``cfg.governance.cast`` (or ``cfg.cast``) that do not exist yet.

    Returns the users created (empty on later runs). Each new user is recorded as
    ``user.added`` in ``ledger`` (default: the workspace ledger, opened only when needed).
    """
    gov = getattr(cfg, "governance", cfg)
    missing = [m for m in gov.cast if find_user(ws, m.name) is None]
    if not missing:
        return []
    from governance.ledger import Ledger

    own = ledger is None
    ledger = ledger or Ledger.open(ws)
    try:
        created = [add_user(ws, m.name, m.role) for m in missing]
        for user in created:
            record_user_added(ledger, user)
    finally:
        if own:
            ledger.dispose()
    return created
