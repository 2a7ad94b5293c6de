"""Enrolment: the signed acts that make the user registry (governance/identity/users.py folds them).

``initialise`` writes a workspace's genesis; ``add_user``, ``revoke_user`` and
``change_role`` are an admin's signed ``user.*`` entries. Each checks the fold's own rule
before signing (:func:`governance.identity.users.user_act_problems`: one rule, two uses), records a
refusal as ``user.refused``, and refreshes ``users.json``, the registry's readable cache,
which nothing decides on (:func:`cache_problem` is what ``ledger verify`` reports).
"""

from __future__ import annotations

import json

from governance.ground.errors import Forbidden, InputError
from governance.ground.files import write_atomic
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.identity.keys import public_hex
from governance.identity.signing import Signer
from governance.identity.users import (
    Registry,
    Role,
    User,
    check_name,
    load_registry,
    parse_role,
    user_act_problems,
)
from governance.log.checkpoint import log_key, origin_of

# -- the cache -----------------------------------------------------------------------------


def write_cache(ws: Workspace, registry: Registry) -> None:
    """Refresh ``users.json``, the readable cache of the registry."""
    text = json.dumps(registry.to_json(), indent=2, sort_keys=True) + "\n"
    write_atomic(ws.users_file, text)


def cache_problem(ws: Workspace, registry: Registry) -> str | None:
    """Why ``users.json`` differs from the registry folded from the ledger, or None."""
    if not ws.users_file.is_file():
        return None
    try:
        cached = json.loads(ws.users_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return f"{ws.users_file}: not valid JSON (the cache was edited)"
    want = {(u.name, u.role.value, u.public_key) for u in registry.users()}
    try:
        have = {(u["name"], u["role"], u["public_key"]) for u in cached["users"]}
    except (KeyError, TypeError):
        return f"{ws.users_file}: not a users cache (edited by hand)"
    if have != want:
        return f"{ws.users_file} differs from the signed user entries of the ledger (edited by hand: {_cache_diff(have, want)})"
    return None


def _cache_diff(have: set[tuple], want: set[tuple]) -> str:
    """``dana-ro not enrolled; rita changed (role or key); omar missing``: users.json against the
    registry (``(name, role, public_key)`` each)."""
    cached = {name: rest for name, *rest in have}
    signed = {name: rest for name, *rest in want}
    parts = [
        (sorted(set(cached) - set(signed)), "not enrolled"),
        (
            sorted(n for n in set(cached) & set(signed) if cached[n] != signed[n]),
            "changed (role or key)",
        ),
        (sorted(set(signed) - set(cached)), "missing"),
    ]
    return "; ".join(f"{', '.join(names)} {what}" for names, what in parts if names)


# -- enrolment -----------------------------------------------------------------------------


def initialise(ws: Workspace, ledger, admin: str, key, *, sandbox: bool = False) -> User:
    """Write the genesis: ``admin`` (holding private ``key``) is the first admin.

    Raises
    ------
    InputError
        The workspace already has a genesis, or the name is invalid.
    """
    check_name(admin)
    reg = load_registry(ledger)
    if reg.genesis_seq is not None:
        raise InputError(
            f"init: {ws.home} is already initialised (ledger seq {reg.genesis_seq}); an admin"
            " enrols further users with `alphagate users add`"
        )
    pub = public_hex(key)
    signer = Signer(admin, Role.ADMIN.value, pub, key)
    origin = origin_of(ledger.url)  # the log's identity, fixed here (policy/witnesses.py)
    doc = {"admin": admin, "public_key": pub, "sandbox": bool(sandbox), "log_origin": origin,
           "log_key": log_key(origin).vkey()}  # fmt: skip
    entry = ledger.append(
        Action.WORKSPACE_INITIALISED, actor=admin, role=Role.ADMIN.value, subject=Subject.WORKSPACE,
        payload={**doc, **signer.signed_payload(Action.WORKSPACE_INITIALISED, doc, subject=Subject.WORKSPACE)},
    )  # fmt: skip
    write_cache(ws, load_registry(ledger))
    return User(admin, Role.ADMIN, pub, entry.seq)


def _user_act(ws, ledger, signer: Signer, action: str, name: str, doc: dict):
    if signer.role != Role.ADMIN.value:  # the ENROL row of governance/identity/duties.py
        raise Forbidden(f"users: {signer.name!r} has role {signer.role}, needs admin")
    reg = load_registry(ledger)
    entry_doc = {"name": name, **doc}
    probe = _user_problems_for(reg, signer, action, entry_doc)
    if probe:
        ledger.append(
            Action.USER_REFUSED, actor=signer.name, role=signer.role, subject=Subject.user(name),
            payload={"action": action, **entry_doc, "refusal": probe},
        )  # fmt: skip
        benign = probe.endswith("is already enrolled") or probe.endswith("is not enrolled")
        raise (InputError if benign else Forbidden)(f"users: {probe}")
    entry = ledger.append(
        action, actor=signer.name, role=signer.role, subject=Subject.user(name),
        payload={**entry_doc, **signer.signed_payload(action, entry_doc, subject=Subject.user(name))},
    )  # fmt: skip
    write_cache(ws, load_registry(ledger))
    return entry


def _user_problems_for(reg: Registry, signer: Signer, action: str, doc: dict) -> str | None:
    """The fold's rule for a user act about to be signed (one rule, two uses)."""
    from types import SimpleNamespace

    seq = reg.head_seq + 10**12  # "now": after every entry
    subject = Subject.user(doc.get("name"))
    fake = SimpleNamespace(
        seq=seq, actor=signer.name, role=signer.role, action=action, subject=subject,
        payload={**doc, **signer.signed_payload(action, doc, subject=subject)},
    )  # fmt: skip
    problems = user_act_problems(reg, fake)
    return "; ".join(problems) or None


def add_user(ws, ledger, signer: Signer, name: str, role: Role | str, public_key: str):
    """Enrol ``name`` with ``role`` and ``public_key``, signed by admin ``signer``."""
    check_name(name)
    role = parse_role(str(role))
    return _user_act(
        ws, ledger, signer, Action.USER_ADDED, name, {"role": role.value, "public_key": public_key}
    )


def revoke_user(ws, ledger, signer: Signer, name: str, reason: str = ""):
    """Revoke ``name``: their signatures after this entry are invalid."""
    return _user_act(ws, ledger, signer, Action.USER_REVOKED, name, {"reason": reason})


def change_role(ws, ledger, signer: Signer, name: str, role: Role | str):
    """Give ``name`` a new role (same key), signed by admin ``signer``."""
    role = parse_role(str(role))
    return _user_act(ws, ledger, signer, Action.USER_ROLE_CHANGED, name, {"role": role.value})
