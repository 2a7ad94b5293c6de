"""Who acts: ``--as NAME`` is a claim, the person's own key file proves it.

:func:`prove_identity` is the one door of every deciding command (approve, reject, validate,
run, rebalance, kill switch, users, policy, findings): it first checks that the ledger is
intact (:func:`governance.audit.intact.require_intact`, exit 3), then loads the key
(:mod:`governance.identity.keys`: never from inside the workspace), and finds its owner in the user
registry folded from the ledger (:func:`governance.identity.users.load_registry`). Every refusal is
recorded as ``identity.refused``.
"""

from __future__ import annotations

from governance.ground.errors import Forbidden
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.identity.keys import load_private_key, public_hex, refuse_inside, resolve_key_path
from governance.identity.signing import Signer
from governance.identity.users import load_registry


def _refuse_identity(ledger, claimed: str | None, action: str, message: str, pub=None):
    ledger.append(
        Action.IDENTITY_REFUSED,
        actor=claimed or "<none>",
        role="unknown",
        subject=Subject.user(claimed or "<none>"),
        payload={"action": action, "claimed": claimed, "public_key": pub, "refusal": message},
    )


def prove_identity(ws: Workspace, ledger, claimed: str | None, key_arg: str | None, action: str):
    """The :class:`~governance.identity.signing.Signer` that ``--as``/``--key`` prove.

    ``--as NAME`` is a claim; the key proves it. Without ``--as`` the key's registered
    owner acts. Refusals are recorded as ``identity.refused``.

    Raises
    ------
    TamperDetected
        The ledger is broken (exit 3): checked first, by :func:`governance.audit.intact.require_intact`.
    InputError
        An unreadable key file (exit 2).
    Forbidden
        No key at all (an anonymous decision, naming ``--as``/``--key``), a key inside the
        workspace, a wrong passphrase, a key that is not ``claimed``'s registered key, or a
        revoked user (exit 4).
    """
    from governance.audit.intact import require_intact  # imports the ledger's verification

    require_intact(ws, ledger, action)  # a broken ledger decides nothing (exit 3)
    path = resolve_key_path(key_arg, claimed)
    if path is None:
        msg = (
            f"{action}: needs an identity: --as USER with --key FILE (or $ALPHAGATE_KEY);"
            " anonymous decisions are not accepted"
        )
        _refuse_identity(ledger, claimed, action, msg)
        raise Forbidden(msg)
    try:
        refuse_inside(path, ws.home)
        key = load_private_key(path)
    except Forbidden as exc:
        _refuse_identity(ledger, claimed, action, str(exc))
        raise
    pub = public_hex(key)
    reg = load_registry(ledger)
    owner = reg.owner_of(pub)
    who = claimed or owner
    user = reg.at(owner) if owner else None
    msg = None
    if owner is None:
        msg = f"{action}: the key {path} is not the registered key of any enrolled user"
    elif claimed and claimed != owner:
        msg = f"{action}: the key {path} is not the registered key of {claimed!r}"
    elif user is None or user.public_key != pub:
        msg = f"{action}: {owner!r} is revoked (or re-keyed): their key signs nothing now"
    if msg:
        _refuse_identity(ledger, who, action, msg, pub)
        raise Forbidden(msg)
    return Signer(user.name, user.role.value, user.public_key, key)
