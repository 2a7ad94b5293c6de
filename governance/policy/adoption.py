"""The policy in force: adopted under four eyes, never chosen by whoever runs a command.

``alphagate policy adopt FILE --as R1`` records ``policy.adoption_signed`` (R1's signature
over the file's SHA-256, with the file stored in the artifact store); the same command by a
second, distinct risk officer R2 records ``policy.adopted``: from then on that file is the
policy in force (:func:`policy_in_force`). Both are signed acts (governance/identity/signed_acts.py).

Every command that loads a policy goes through :func:`resolve_policy`: a config naming a
file whose hash is not the adopted one is :class:`~governance.ground.errors.Forbidden` (exit 4,
both hashes named), except in a workspace initialised with ``--sandbox``, which uses the
named file and labels everything it produces as sandbox. A workspace with a genesis but no
adopted policy refuses every decision until two risk officers adopt one.

Adopting a new policy puts the champion under a rule for its revalidation, signed with the
adoption: ``fallback`` (the champion stops driving now) or ``until`` a date (it may keep
driving until then, by which time a validation under the new policy must exist). The rule
is part of the signed ``policy.adopted`` entry: :func:`champion_policy_problem` applies it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from governance.ground.canonical import sha256_bytes
from governance.ground.errors import Forbidden, InputError
from governance.ground.vocabulary import Action, Subject
from governance.identity.duties import ROLES, Act, duty_refusal
from governance.identity.signing import Signer, append_signed
from governance.identity.users import load_registry, valid_acts
from governance.policy.schema import Policy, load_policy

#: Distinct risk officers whose signatures make a policy the one in force (four eyes).
SIGNATURES = 2


@dataclass(frozen=True)
class Adoption:
    """The adopted policy: its hash, who adopted it, when, and the champion's rule."""

    policy_hash: str
    version: str
    seq: int
    ts: str
    signers: tuple[str, ...]
    champion_rule: dict

    def to_json(self) -> dict:
        return {
            "policy_hash": self.policy_hash,
            "version": self.version,
            "seq": self.seq,
            "since": self.ts,
            "signers": list(self.signers),
            "champion_rule": self.champion_rule,
        }


@dataclass(frozen=True)
class PolicyInForce:
    """What a command runs under: the policy, its hash, and whether this is a sandbox."""

    policy: Policy
    policy_hash: str
    sandbox: bool
    adoption: Adoption | None


def adoption_history(ledger, registry=None) -> list[Adoption]:
    """Every adoption that holds, oldest first: a valid ``policy.adopted`` whose hash a
    distinct officer signed (validly) since the previous adoption."""
    return _fold(ledger, registry)[0]


def pending_adoptions(ledger, registry=None) -> list[dict]:
    """The valid first signatures of a policy since the last adoption, each waiting for a
    second, distinct risk officer (``{policy_hash, version, signer, seq, ts}``, oldest
    first): what ``policy show`` names besides the policy in force."""
    pending = _fold(ledger, registry)[1]
    return [
        {"policy_hash": e.payload.get("policy_hash"), "version": str(e.payload.get("version")),
         "signer": e.actor, "seq": e.seq, "ts": e.ts}
        for e in sorted((e for es in pending.values() for e in es), key=lambda e: e.seq)
    ]  # fmt: skip


def _fold(ledger, registry=None) -> tuple[list[Adoption], dict]:
    """``(adoptions, pending)``: :func:`adoption_history` and the first signatures since
    the last adoption, by policy hash."""
    registry = registry or load_registry(ledger)
    entries = ledger.entries(action=(Action.POLICY_ADOPTION_SIGNED, Action.POLICY_ADOPTED))
    out, pending = [], {}
    for e in valid_acts(registry, entries, ROLES[Act.ADOPT_POLICY]):
        digest = e.payload.get("policy_hash")
        if e.action == Action.POLICY_ADOPTION_SIGNED:
            pending.setdefault(digest, []).append(e)
            continue
        firsts = [s for s in pending.get(digest, []) if s.actor != e.actor]
        rule = e.payload.get("champion_rule") or {"rule": "fallback"}
        if not firsts or any(s.payload.get("champion_rule") != rule for s in firsts[-1:]):
            continue
        signers = (firsts[-1].actor, e.actor)
        out.append(Adoption(digest, str(e.payload.get("version")), e.seq, e.ts, signers, rule))
        pending = {}
    return out, pending


def policy_in_force(ledger, registry=None) -> Adoption | None:
    """The latest adoption that holds, or None."""
    history = adoption_history(ledger, registry)
    return history[-1] if history else None


#: Adopted policies parsed once per hash, each from the very bytes that hashed to it (the
#: file is read and re-hashed on every use: an edit is refused, never served from here).
_PARSED: dict[str, Policy] = {}


def adopted_policy(ledger, adoption: Adoption) -> Policy:
    """The adopted policy, read from the artifact store by its hash (never from a path):
    one read of the file, hashed, and parsed from those bytes when first seen."""
    from governance.ground.configio import validate_model, yaml_mapping

    digest = adoption.policy_hash
    path = ledger.store.path(digest)
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    if data is None or sha256_bytes(data) != digest:
        from governance.ground.errors import TamperDetected

        raise TamperDetected(f"the adopted policy {digest[:12]} is missing or altered")
    if digest not in _PARSED:
        _PARSED[digest] = validate_model(Policy, yaml_mapping(data, path), str(path))
    return _PARSED[digest]


def resolve_policy(ledger, named: str | Path) -> PolicyInForce:
    """The policy a command runs under, given the file its config names (module doc).

    Raises
    ------
    InputError
        The named file is not a valid policy (exit 2).
    Forbidden
        The named file is not the policy in force, or none is adopted (exit 4).
    """
    policy, digest = load_policy(named)  # an invalid file is exit 2 whatever happens next
    registry = load_registry(ledger)
    if registry.genesis_seq is None:  # no users: nothing can be decided here anyway
        return PolicyInForce(policy, digest, False, None)
    if registry.sandbox:
        return PolicyInForce(policy, digest, True, policy_in_force(ledger, registry))
    adoption = policy_in_force(ledger, registry)
    if adoption is None:
        refusal = (
            "policy: no policy is in force in this workspace: two risk officers adopt one"
            " (`alphagate policy adopt FILE --as R1 --key K1`, then `--as R2 --key K2`)"
        )
    elif digest != adoption.policy_hash:
        refusal = (
            f"policy: {named} has hash {digest}, but the policy in force has hash"
            f" {adoption.policy_hash} (adopted at ledger seq {adoption.seq} by"
            f" {' and '.join(adoption.signers)}); a config may not choose its policy"
        )
    else:
        return PolicyInForce(adopted_policy(ledger, adoption), digest, False, adoption)
    ledger.append(
        Action.POLICY_REFUSED, actor="alphagate", role="system", subject=Subject.POLICY,
        payload={"named": str(named), "named_hash": digest, "refusal": refusal},
    )  # fmt: skip
    raise Forbidden(refusal)


def champion_rule(until: str | None, fallback: bool) -> dict:
    """The champion's revalidation rule of an adoption, from the command line."""
    if until and fallback:
        raise InputError(
            "policy adopt: --champion-until and --champion-fallback exclude each other"
        )
    if not until:
        return {"rule": "fallback"}
    try:
        day = dt.date.fromisoformat(until)
    except ValueError:
        raise InputError(f"--champion-until {until!r}: expected a date YYYY-MM-DD") from None
    return {"rule": "until", "date": day.isoformat()}


def adopt(ws, ledger, signer: Signer, path: str | Path, rule: dict):
    """Sign the adoption of the policy file at ``path``; return ``(entry, adoption or None)``.

    The first officer's signature records ``policy.adoption_signed``; a second, distinct
    officer signing the same file and rule records ``policy.adopted`` (in force).
    """
    policy, digest = load_policy(path)
    registry = load_registry(ledger)
    current = policy_in_force(ledger, registry)
    since = current.seq if current else 0
    earlier = [
        e
        for e in valid_acts(
            registry, ledger.entries(action=Action.POLICY_ADOPTION_SIGNED), ROLES[Act.ADOPT_POLICY]
        )
        if e.seq > since and e.payload.get("policy_hash") == digest
    ]
    subject = f"policy {policy.version} ({digest[:12]})"
    refusal = duty_refusal(Act.ADOPT_POLICY, signer.name, signer.role, subject=subject)
    if refusal is None and current is not None and current.policy_hash == digest:
        raise InputError(f"policy adopt: {path} is already the policy in force (seq {current.seq})")
    refusal = refusal or duty_refusal(
        Act.ADOPT_POLICY, signer.name, signer.role, already=[e.actor for e in earlier],
        subject=subject,
    )  # fmt: skip
    if refusal:
        ledger.append(
            Action.POLICY_ADOPTION_REFUSED, actor=signer.name, role=signer.role, subject=Subject.POLICY,
            payload={"policy_hash": digest, "refusal": refusal},
        )  # fmt: skip
        raise Forbidden(refusal)
    stored = ledger.store.put_bytes(Path(path).read_bytes())
    action = (
        Action.POLICY_ADOPTED if len(earlier) + 1 >= SIGNATURES else Action.POLICY_ADOPTION_SIGNED
    )
    payload = {
        "policy_hash": digest,
        "version": policy.version,
        "champion_rule": rule,
        "previous_policy_hash": current.policy_hash if current else None,
    }
    entry = append_signed(
        ledger,
        signer,
        action,
        subject=Subject.POLICY,
        payload=payload,
        artifacts={"policy.yaml": stored},
    )
    return entry, (policy_in_force(ledger) if action == Action.POLICY_ADOPTED else None)


def champion_policy_problem(adoption: Adoption | None, validated_under: str | None, today=None):
    """Why a champion validated under ``validated_under`` may not drive under ``adoption``
    (its revalidation rule), or None."""
    if adoption is None or validated_under == adoption.policy_hash:
        return None
    today = today or dt.datetime.now(dt.UTC).date()
    rule = adoption.champion_rule
    short = (validated_under or "none")[:12]
    where = f"policy {adoption.policy_hash[:12]} in force since seq {adoption.seq}"
    if rule.get("rule") == "until" and today <= dt.date.fromisoformat(rule["date"]):
        return None
    due = f"revalidation was due by {rule['date']}" if rule.get("rule") == "until" else (
        "the adoption said: fall back now"
    )  # fmt: skip
    return f"champion validated under policy {short}, {where}: {due}; revalidate it"
