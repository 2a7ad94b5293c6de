"""Users, roles and their public keys: enrolled by signed ledger entries, never written.

The user registry is *derived* from the ledger (:func:`load_registry`):

- ``workspace.initialised`` (``alphagate init --admin NAME --key FILE``): the genesis, signed
  by the first admin's own key; it enrols that admin and says whether the workspace is a
  sandbox. Only the first one counts.
- ``user.added`` / ``user.revoked`` / ``user.role_changed``: signed by an admin enrolled at
  the time, never about themselves. One public key is never registered under two names.

An entry that breaks a rule is skipped by the fold and reported by ``ledger verify``
(:func:`registry_check`). ``users.json`` is only a cache of the fold for people and tools
that read files (governance/identity/enrolment.py writes it); nothing decides on it, and verify
reports a cache that differs.

Roles (shared/DESIGN.md): ``developer`` trains; ``validator`` validates and approves;
``risk_officer`` approves, trips, resets and adopts policy; ``admin`` enrols, revokes and
changes roles and does nothing else (governance/identity/duties.py). Every role is judged as it was
at the time of the act (:meth:`Registry.at`): a revoked user's later signatures are invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from governance.ground.errors import InputError
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.signing import verify_signed_record
from governance.log.bound import binding_problems, once

#: A user name is one token: it appears in ``--as``, ledger actors and MLflow tags.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: The actor name alphagate itself uses for automatic decisions; nobody may take it.
SYSTEM_ACTOR = "alphagate"

USER_ACTS = (Action.USER_ADDED, Action.USER_REVOKED, Action.USER_ROLE_CHANGED)


class Role(StrEnum):
    """The human roles of the model-risk workflow."""

    DEVELOPER = "developer"
    VALIDATOR = "validator"
    RISK_OFFICER = "risk_officer"
    ADMIN = "admin"


@dataclass(frozen=True)
class User:
    """A user as enrolled: name, role, hex raw Ed25519 public key, since which seq."""

    name: str
    role: Role
    public_key: str
    since_seq: int = 0


@dataclass(frozen=True)
class Registry:
    """The users folded from the ledger, with their history.

    ``history[name]`` lists ``(seq, user or None)`` in seq order (None: revoked);
    ``problems`` the ``(seq, reason)`` of user entries the fold refused.
    """

    history: dict[str, list[tuple[int, User | None]]] = field(default_factory=dict)
    problems: tuple[tuple[int, str], ...] = ()
    genesis_seq: int | None = None
    sandbox: bool = False
    head_seq: int = 0

    def at(self, name: str | None, seq: int | None = None) -> User | None:
        """``name`` as enrolled just before entry ``seq`` (now when None); None if not."""
        current = None
        for at_seq, user in self.history.get(name or "", []):
            if seq is not None and at_seq >= seq:
                break
            current = user
        return current

    def users(self) -> list[User]:
        """Users enrolled now, in enrolment order."""
        now = [u for u in (self.at(n) for n in self.history) if u is not None]
        return sorted(now, key=lambda u: u.since_seq)

    def owner_of(self, public_key: str) -> str | None:
        """The name a public key was ever registered under, or None."""
        for name, events in self.history.items():
            if any(u is not None and u.public_key == public_key for _, u in events):
                return name
        return None

    def to_json(self) -> dict:
        return {
            "sandbox": self.sandbox,
            "ledger_seq": self.head_seq,
            "users": [
                {"name": u.name, "role": u.role.value, "public_key": u.public_key,
                 "since_seq": u.since_seq}
                for u in self.users()
            ],
        }  # fmt: skip


def parse_role(value: str) -> Role:
    """``Role`` from its name; an unknown role is an :class:`InputError` listing the choices."""
    try:
        return Role(value)
    except ValueError:
        choices = "|".join(r.value for r in Role)
        raise InputError(f"role: unknown role {value!r} (choose {choices})") from None


def check_name(name: str) -> str:
    if not _NAME_RE.match(name or "") or name == SYSTEM_ACTOR:
        raise InputError(
            f"user name {name!r}: use 1-64 letters, digits, '.', '_' or '-'"
            f" (and not {SYSTEM_ACTOR!r})"
        )
    return name


# -- the fold ---------------------------------------------------------------------------------


#: ``{(action, actor, role, subject, payload text as read): problems}``: the registry-free
#: half of :func:`act_problems` (signature, digest, binding), a pure function of exactly
#: those strings, so an entry read again with the same bytes is not checked again. Keyed
#: by the bytes read, never by a stored hash: a row edited in place is other bytes (and is
#: refused by the verified read before any fold sees it).
_SIGNED: dict[tuple[str, ...], tuple[str, ...]] = {}
_SIGNED_MAX = 1 << 16


def signed_problems(entry) -> tuple[str, ...]:
    """Why ``entry``'s signature, digest or binding to its document fails (empty when they
    hold); an entry read from the database is checked once per process per content."""
    from governance.log.txn import stored_payload_text  # lazy: no SQLAlchemy for the Role enum

    text = stored_payload_text(entry)
    key = (entry.action, entry.actor, entry.role, entry.subject, text)
    if text is not None and key in _SIGNED:
        return _SIGNED[key]
    p = entry.payload or {}
    problems = verify_signed_record(p)
    if not (problems and problems[0].startswith("unsigned")):
        signer = p.get("signer")
        if entry.actor != signer:
            problems.append(f"actor {entry.actor!r} is not the signer {signer!r}")
        problems += binding_problems(entry.action, entry.actor, entry.role, entry.subject, p)
    if text is not None:
        if len(_SIGNED) >= _SIGNED_MAX:
            _SIGNED.clear()
        _SIGNED[key] = tuple(problems)
    return tuple(problems)


def act_problems(registry: Registry, entry, roles: Iterable[Role] | None) -> list[str]:
    """Why the signed act ``entry`` does not hold; empty when it does.

    Its signature must verify, be by the entry's actor, with the key that actor had
    registered at the time, in one of ``roles`` at the time (None: any role), and the entry
    must be bound to its signed document (governance/log/bound.py: action, subject, actor,
    role and every unsigned field are the document's): :func:`signed_problems`.
    """
    p = entry.payload or {}
    problems = list(signed_problems(entry))
    if problems and problems[0].startswith("unsigned"):
        return problems
    signer = p.get("signer")
    user = registry.at(signer, entry.seq)
    if user is None:
        revoked = registry.history.get(signer)
        state = "revoked" if revoked else "not an enrolled user"
        problems.append(f"{signer!r} was {state} at seq {entry.seq}")
        return problems
    if user.public_key != p.get("public_key"):
        problems.append(f"the key is not {signer!r}'s registered key")
    allowed = set(roles) if roles is not None else None
    if allowed is not None and user.role not in allowed:
        need = "/".join(sorted(r.value for r in allowed))
        problems.append(f"{signer!r} had role {user.role} at seq {entry.seq}, needs {need}")
    return problems


def valid_acts(registry: Registry, entries: Iterable, roles: Iterable[Role] | None) -> list:
    """The entries of ``entries`` (in seq order) that hold as signed acts
    (:func:`act_problems`), each signed document counted once: a later entry carrying the
    signature or document id of an earlier one is a replay and decides nothing."""
    return [e for e in once(entries) if not act_problems(registry, e, roles)]


def _genesis_problems(e) -> list[str]:
    p = e.payload or {}
    problems = verify_signed_record(p)
    doc = p.get("signed") or {}
    if doc.get("act") != Action.WORKSPACE_INITIALISED or doc.get("public_key") != p.get(
        "public_key"
    ):
        problems.append("the genesis is not signed by the admin it enrols")
    if e.actor != doc.get("admin") or doc.get("admin") != p.get("signer"):
        problems.append("the genesis actor is not its admin")
    return problems


def user_act_problems(reg: Registry, e) -> list[str]:
    problems = act_problems(reg, e, {Role.ADMIN})
    if problems:
        return problems
    doc = e.payload["signed"]
    name = doc.get("name")
    if name == e.actor:
        return [f"{e.actor!r} may not enrol, revoke or change themselves"]
    current = reg.at(name)
    if e.action == Action.USER_ADDED:
        if current is not None:
            return [f"{name!r} is already enrolled"]
        owner = reg.owner_of(doc.get("public_key"))
        if owner is not None and owner != name:
            return [f"that public key is already registered under {owner!r}"]
    elif current is None:
        return [f"{name!r} is not enrolled"]
    if e.action != Action.USER_REVOKED:
        try:
            parse_role(str(doc.get("role")))
            check_name(str(name))
        except InputError as exc:
            return [str(exc)]
    return []


def fold_registry(entries: Iterable, start: Registry | None = None) -> Registry:
    """Fold ``workspace.initialised`` and ``user.*`` entries (any order) into a Registry.

    ``start``: the fold of the entries before these (every seq of ``entries`` above its
    ``head_seq``), continued rather than redone; it is copied, never changed.
    """
    base = start or Registry()
    history = {name: list(events) for name, events in base.history.items()}
    problems = list(base.problems)
    genesis, sandbox, head = base.genesis_seq, base.sandbox, base.head_seq
    for e in sorted(entries, key=lambda x: x.seq):
        head = max(head, e.seq)
        if e.action == Action.WORKSPACE_INITIALISED:
            bad = ["a second workspace.initialised"] if genesis is not None else []
            bad = bad or _genesis_problems(e)
            if bad:
                problems.append(
                    (e.seq, f"{Action.WORKSPACE_INITIALISED} seq {e.seq}: " + "; ".join(bad))
                )
                continue
            doc = e.payload["signed"]
            genesis, sandbox = e.seq, bool(doc.get("sandbox"))
            admin = User(doc["admin"], Role.ADMIN, doc["public_key"], e.seq)
            history.setdefault(admin.name, []).append((e.seq, admin))
            continue
        if e.action not in USER_ACTS:
            continue
        state = Registry(history, (), genesis, sandbox, head)
        bad = ["before the workspace genesis"] if genesis is None else user_act_problems(state, e)
        if bad:
            problems.append((e.seq, f"{e.action} seq {e.seq} by {e.actor}: " + "; ".join(bad)))
            continue
        doc = e.payload["signed"]
        name = doc["name"]
        before = state.at(name)
        if e.action == Action.USER_ADDED:
            user = User(name, Role(doc["role"]), doc["public_key"], e.seq)
        elif e.action == Action.USER_ROLE_CHANGED:
            user = User(name, Role(doc["role"]), before.public_key, e.seq)
        else:
            user = None
        history.setdefault(name, []).append((e.seq, user))
    return Registry(history, tuple(problems), genesis, sandbox, head)


#: ``{ledger url: (rows, Registry)}``: the last fold of each ledger this process read
#: (:func:`load_registry`), keyed by the rows it folded as read (:func:`_folded_rows`).
_FOLDED: dict[str | None, tuple[tuple, Registry]] = {}
_FOLDED_MAX = 64


def _folded_rows(entries: list) -> tuple | None:
    """Everything the fold reads of ``entries``: ``(seq, action, actor, role, subject,
    payload text as read)`` each, the text read from the database and never a stored hash
    (None when an entry was not read from one)."""
    from governance.log.txn import stored_payload_text  # lazy: no SQLAlchemy for the Role enum

    rows = []
    for e in entries:
        text = stored_payload_text(e)
        if text is None:
            return None
        rows.append((e.seq, e.action, e.actor, e.role, e.subject, text))
    return tuple(rows)


def load_registry(ledger) -> Registry:
    """The registry folded from ``ledger`` (one indexed query).

    The entries are read every time (through a
    :class:`~governance.log.readtime.VerifiedReader` they are verified as they are read: an
    enrolment edited in place after a verify is caught at use). The fold is a pure function
    of the rows read (:func:`_folded_rows`: seq, action, actor, role, subject and the
    payload's exact text), so it is reused while they are the same rows, and continued
    (:func:`fold_registry`'s ``start``) when the rows read are the last fold's followed by
    later ones (an enrolment appended since), as a command or an enrolment reads the users
    dozens of times. Any other difference (a row edited, deleted or inserted) folds again
    from the start. Keyed by text, never by a stored hash: a row edited in place with its
    stale hashes kept and read unverified (``ledger verify``) is other text and folded anew,
    so neither it nor the genuine row restored after it is served the other's fold
    (tests/test_registry_memo.py, tests/test_bound_property.py's slow variant,
    tests/test_readtime_commands.py's revocation broken and put back).
    """
    entries = ledger.entries(action=(Action.WORKSPACE_INITIALISED, *USER_ACTS))
    rows = _folded_rows(entries)
    if rows is None:
        return fold_registry(entries)
    slot = getattr(ledger, "url", None)
    seen, last = _FOLDED.get(slot, ((), None))
    n = len(seen)
    if last is not None and rows[:n] == seen and (n == len(rows) or rows[n][0] > last.head_seq):
        registry = last if n == len(rows) else fold_registry(entries[n:], start=last)
    else:
        registry = fold_registry(entries)
    if slot not in _FOLDED and len(_FOLDED) >= _FOLDED_MAX:
        _FOLDED.clear()
    _FOLDED[slot] = (rows, registry)
    return registry


# -- lookups -----------------------------------------------------------------------------


def list_users(ws_or_ledger) -> list[User]:
    """Users enrolled now (from a Ledger, or from a Workspace's ledger)."""
    return _registry(ws_or_ledger).users()


def find_user(ws_or_ledger, name: str | None) -> User | None:
    """The user called ``name`` as enrolled now, or None."""
    return _registry(ws_or_ledger).at(name)


def _registry(ws_or_ledger) -> Registry:
    if isinstance(ws_or_ledger, Registry):
        return ws_or_ledger
    if isinstance(ws_or_ledger, Workspace):
        from governance.log.ledger import Ledger

        with Ledger.open(ws_or_ledger) as ledger:
            return load_registry(ledger)
    return load_registry(ws_or_ledger)
