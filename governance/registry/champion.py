"""Which version is a model's champion: derived from the signed approvals each time it is
asked (issue 22, "derived state is derived"), never read from a ``model.promoted`` entry.

A promotion *completes* at the signed approval that brings the counted approvals of one
version, all given against one validation (the ``validation_entry_hash`` their documents
sign), to the numbers the tier asks (``approvals.validators`` validators and
``approvals.risk_officers`` risk officers; for a minor change — computed from the signed
training entries, never declared — under a tier whose ``change.minor`` is ``validator``, one
validator, while the automatic comparison with the previous version signed in the validation
the approvals name is within the tier's ``change.comparison`` bounds: distinct users, none the version's developer,
each a valid signed act of an approving role at the time, each document once, no valid
signed rejection of the version before it: a rejection stands across revalidations). The tier is the one the adopted policy in
force *at that approval* assigns the strategy, so a later policy rewrites no history. The
champion is the version of the latest completion (:func:`champion`).

``model.promoted`` is the record of a completion, written by the approve command with the
approvals it names (``completed_seq``): a reader never takes the champion from it, and
``ledger verify`` names a record that records no completion (a replay of an old one, a
forged one) through :func:`record_problems`. The MLflow ``champion`` alias is a view that
must agree with :func:`champion` (registry drift otherwise), never an input.

Moving the champion back is a signed decision like any other: the approvals of a completed
promotion count for it once, so a superseded version returns only through a completion of
its own (a fresh validation and fresh approvals).

A ``--sandbox`` workspace has no adopted policy to judge by: there the caller's tier
decides, and without one the records stand (a sandbox is labelled as ungoverned).
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.duties import ROLES, Act, developer_of
from governance.identity.users import Registry, Role, load_registry, valid_acts
from governance.policy.stewardship import MinorPath
from governance.policy.tiers import adopted_policies, in_force_at
from governance.registry.change_control import (
    ChangeClass,
    Classification,
    comparison_breaches,
    version_change,
)


@dataclass(frozen=True)
class Promotion:
    """A completed promotion, derived from the signed approvals.

    ``version``: the number the approval documents name; ``seq``: the completing approval's;
    ``approvals``: the counted ``{user, role, identity, seq}`` up to it; ``developer``: the
    signer of the version's training.
    """

    model_name: str
    version: int
    validation_entry_hash: str
    seq: int
    approvals: tuple[dict, ...]
    developer: str | None
    #: Completed on the tier's minor-change path (one validator), from its baseline champion.
    minor: bool = False

    #: The promoted version as one value.
    ref = property(lambda self: ModelRef(self.model_name, self.version))


def document(entry) -> dict:
    """The approval document of an ``approval.*`` entry (signed, or declared in a sandbox)."""
    p = entry.payload or {}
    return p.get("signed") or p.get("document") or {}


def declared_count(registry: Registry, tier) -> bool:
    """Whether declared (unsigned) approvals count: only in a sandbox workspace whose tier
    allows them; anyone can append one, so nowhere else (the shipped ``low`` tier included)."""
    return bool(
        registry.sandbox and tier is not None and tier.approvals.allow_declared_ui_approvals
    )


def counted_approvals(
    entries: list, developer: str | None, allow_declared: bool, registry: Registry
) -> list[dict]:
    """Approvals that count: distinct users, not the developer, each a valid signature by
    the signer's registered key and a role allowed to approve at the time (or declared,
    where the policy allows declared identities)."""
    seen, out = set(), []
    signed = {e.seq for e in valid_acts(registry, entries, ROLES[Act.APPROVE])}
    for e in entries:
        p = e.payload
        user, identity = p.get("user"), p.get("identity", "signed")
        if user in seen or user == developer:
            continue
        if identity == "declared":
            if not allow_declared:
                continue
            role = p.get("role")
        else:
            if e.seq not in signed:
                continue  # a signature that does not hold never counts (ledger verify says why)
            role = registry.at(user, e.seq).role.value
        seen.add(user)
        out.append({"user": user, "role": role, "identity": identity, "seq": e.seq})
    return out


def required(tier, change_class, within_bounds: bool = False) -> dict[Role, int]:
    """``{role: approvals}`` a promotion of a version of ``change_class`` needs under
    ``tier``: the tier's ``approvals``, or, for a minor change (computed from the signed
    training entries, governance/registry/change_control.py) under a tier whose
    ``change.minor`` is ``validator``, one validator's approval (the proportional path) —
    only ``within_bounds``: its automatic comparison with the previous version, signed in
    its validation, within the tier's ``change.comparison`` (:func:`compared_within`);
    outside them, the full path."""
    if (
        change_class is ChangeClass.MINOR
        and tier.change.minor is MinorPath.VALIDATOR
        and within_bounds
    ):
        return {Role.VALIDATOR: 1, Role.RISK_OFFICER: 0}
    return {Role.VALIDATOR: tier.approvals.validators,
            Role.RISK_OFFICER: tier.approvals.risk_officers}  # fmt: skip


def _enough(counted: list[dict], need: dict[Role, int]) -> bool:
    roles = [c["role"] for c in counted]
    return all(roles.count(role.value) >= n for role, n in need.items())


def promotions(
    ledger, name: str, registry: Registry | None = None, tier=None, action=Action.APPROVAL_GRANTED
) -> list[Promotion]:
    """Every completed promotion of ``name``, in completion order (module docstring).

    ``tier``: what a sandbox workspace's run config names (ignored elsewhere: the adopted
    policy in force at each approval decides). A minor change completes on the tier's
    lighter path only while its baseline version is the champion (:func:`_candidates`).
    ``action``: ``approval.paper`` gives the completed entries into paper, by the same rule
    (governance/decisions/paper.py); live approvals in a tier with a paper stage complete
    only for a version that graduated (:func:`_graduated`).
    """
    registry = registry or load_registry(ledger)
    history = [] if registry.sandbox else adopted_policies(ledger, registry)
    allow_declared = declared_count(registry, tier)
    groups: dict[tuple[ModelRef, str], list] = {}
    for e in ledger.entries(action=action):
        doc = document(e)
        ref = ModelRef.recorded(name, doc.get("model_version"))  # None: no version, no promotion
        if doc.get("model_name") == name and doc.get("validation_entry_hash") and ref:
            groups.setdefault((ref, doc["validation_entry_hash"]), []).append(e)
    rejections = {
        ModelRef.recorded_number(document(e).get("model_version")): e.seq
        for e in reversed(
            valid_acts(registry, ledger.entries(action=Action.APPROVAL_REJECTED), None)
        )
        if document(e).get("model_name") == name
    }  # the first valid rejection of each version
    developers: dict[str, str | None] = {}
    candidates = []
    light = _offers_minor_path([p for _seq, p in history], tier)
    for (ref, validation), entries in groups.items():
        run_id = document(entries[0]).get("mlflow_run_id")
        if run_id not in developers:
            developers[run_id] = developer_of(ledger, run_id, registry)
        if developers[run_id] is None:
            continue  # four eyes cannot be checked: nothing completes
        # the class matters only where some tier offers the minor path (else: not computed)
        change = version_change(ledger, ref, registry) if light else _FULL
        compared = signed_comparison(ledger, registry, ref, validation) if light else None
        developer = developers[run_id]
        found = _candidates(
            entries, rejections.get(ref.version), change,
            lambda seq, cls, c=compared, b=change.baseline: _requirement(
                history, seq, name, tier, cls, c, b),
            lambda part, d=developer: counted_approvals(part, d, allow_declared, registry),
            lambda seq, counted, part, v=ref: action != Action.APPROVAL_GRANTED
            or _graduated(ledger, registry, tier, _tier_at(history, seq, name, tier), v,
                          counted, part),
        )  # fmt: skip
        candidates += [(seq, minor, ref.version, validation, counted, developer, change)
                       for seq, minor, counted in found]  # fmt: skip
    out: list[Promotion] = []
    done: set[tuple[int, str]] = set()
    for seq, minor, version, validation, counted, developer, change in sorted(
        candidates, key=lambda c: (c[0], not c[1])
    ):
        if (version, validation) in done:
            continue
        if minor and (not out or out[-1].version != change.baseline):
            continue  # the lighter path only from the champion it was compared with
        done.add((version, validation))
        out.append(Promotion(name, version, validation, seq, counted, developer, minor))
    return out


#: The class a version is judged by where no tier offers the minor path.
_FULL = Classification(ChangeClass.MATERIAL, None, None, ("no tier offers the minor path",))


def _offers_minor_path(policies, tier) -> bool:
    tiers = [t for p in policies for t in p.tiers.values()] + ([tier] if tier is not None else [])
    return any(t.change.minor is MinorPath.VALIDATOR for t in tiers)


def _candidates(entries, blocked_from, change, need_at, count, graduated) -> list[tuple]:
    """``[(seq, minor, counted)]``: each approval at which one version's approvals meet the
    minor path (a minor change only; it completes at the first one met while its baseline
    is the champion), and the first at which they meet the full path; where ``graduated``
    (the approval's seq, the counted approvals and the entries so far) says no, a set met
    completes nothing there."""
    out = []
    for i, e in enumerate(entries):
        if blocked_from is not None and e.seq > blocked_from:
            break
        if any(document(x).get("mlflow_run_id") != document(entries[0]).get("mlflow_run_id")
               for x in entries[: i + 1]):  # fmt: skip
            break  # one version, one run: a document naming another run breaks the set
        counted = count(entries[: i + 1])
        if not counted or counted[-1]["seq"] != e.seq:
            continue
        if not graduated(e.seq, counted, entries[: i + 1]):
            continue  # a later approval may complete it once the version graduated
        full = need_at(e.seq, ChangeClass.MATERIAL)
        if full is not None and _enough(counted, full):
            out.append((e.seq, False, tuple(counted)))
            break
        light = need_at(e.seq, change.change_class)
        if change.change_class is ChangeClass.MINOR and light is not None \
                and _enough(counted, light):  # fmt: skip
            out.append((e.seq, True, tuple(counted)))
    return out


def needed_now(ledger, ref: ModelRef, tier, registry: Registry | None = None) -> dict:
    """``{role: approvals}`` the version ``ref`` needs under ``tier`` now (what ``status``
    and the approve command show): the minor path only for a minor change whose baseline is
    the champion now and whose latest validation's comparison is within bounds, or for the
    champion that completed on it; else the full path."""
    registry = registry or load_registry(ledger)
    change = version_change(ledger, ref, registry)
    current = champion(ledger, ref.name, registry, tier)
    if current is not None and current.version == ref.version:
        cls = ChangeClass.MINOR if current.minor else ChangeClass.MATERIAL
        return required(tier, cls, within_bounds=True)  # judged when it completed
    if current is not None and current.version == change.baseline:
        compared = signed_comparison(ledger, registry, ref, None)
        within = compared_within(tier, compared, change.baseline)
        return required(tier, change.change_class, within)
    return required(tier, ChangeClass.MATERIAL)


def compared_within(tier, comparison, baseline: int | None) -> bool:
    """Whether a signed ``comparison`` against version ``baseline`` is within ``tier``'s
    ``change.comparison`` bounds (governance/registry/change_control.py)."""
    return not comparison_breaches(tier.change.comparison, comparison, baseline)


def signed_comparison(ledger, registry, ref: ModelRef, validation_hash: str | None):
    """The automatic comparison with the previous version signed in the version ``ref``'s
    valid ``validation.completed`` whose entry hash is ``validation_hash`` (None: the
    latest), or None."""
    entries = ledger.entries(action=Action.VALIDATION_COMPLETED, subject=ref.subject)
    held = [
        e
        for e in valid_acts(registry, entries, ROLES[Act.VALIDATE])
        if validation_hash in (None, e.entry_hash)
    ]
    return held[-1].payload.get("comparison") if held else None


def _requirement(history, seq: int, name: str, tier, change, comparison=None, baseline=None):
    """The approvals asked of ``name`` at ``seq`` (:func:`required` for the version's change
    class and signed comparison): by the tier the adopted policy in force then assigns it;
    before any adoption (or in a sandbox) by the caller's ``tier``; None when neither says
    (nothing completes)."""
    at = _tier_at(history, seq, name, tier)
    if at is None:
        return None
    return required(at, change, compared_within(at, comparison, baseline))


def _tier_at(history, seq: int, name: str, tier):
    """The tier that asks ``name``'s approvals at ``seq``: the one the adopted policy in
    force then assigns it; before any adoption (or in a sandbox) the caller's ``tier``; None
    when neither says (nothing completes)."""
    policy = in_force_at(history, seq)
    if policy is None:
        return tier
    assigned = policy.assigned_tier(name)
    return policy.tiers[assigned] if assigned is not None else None


def _graduated(ledger, registry, tier, at, ref: ModelRef, counted, entries) -> bool:
    """Whether live approvals completing under the tier ``at`` count as a promotion: always
    without a paper stage; with one (issue 24), only for a version that entered paper by
    signed ``approval.paper`` acts (derived as promotions are, never from the
    ``model.paper`` record) before its first counted live approval, was marked on paper on
    ``min_days`` distinct dates after that and before the completing approval, and whose
    counted live approvals each sign the graduation gate's pass (the approving command's
    outcome, governance/decisions/approvals.py): live approvals appended past ``approve``
    (the project's own ``Ledger.append``) complete nothing without them."""
    from governance.identity.users import SYSTEM_ACTOR

    if getattr(at, "paper", None) is None:
        return True
    first, last = counted[0]["seq"], counted[-1]["seq"]
    entry = [
        p
        for p in promotions(ledger, ref.name, registry, tier, action=Action.APPROVAL_PAPER)
        if p.version == ref.version and p.seq < first
    ]
    if not entry:
        return False
    marks = ledger.entries(action=Action.PAPER_MARKED, subject=ref.subject, after_seq=entry[0].seq)
    days = {m.payload.get("as_of") for m in marks if m.actor == SYSTEM_ACTOR and m.seq < last}
    if len(days) < at.paper.min_days:
        return False
    by_seq = {e.seq: e for e in entries}
    return all(
        (document(by_seq[c["seq"]]).get("graduation") or {}).get("passed") is True for c in counted
    )


def champion(ledger, name: str, registry: Registry | None = None, tier=None) -> Promotion | None:
    """``name``'s champion: its latest completed promotion (None: never promoted).

    Where nothing can be derived (a sandbox, or no adopted policy, and no ``tier``) the last
    ``model.promoted`` record stands, read as a :class:`Promotion`.
    """
    registry = registry or load_registry(ledger)
    if tier is None and (registry.sandbox or not adopted_policies(ledger, registry)):
        last = records(ledger).get(name, [None])[-1]
        return None if last is None else _from_record(last)  # None: it names no version number
    found = promotions(ledger, name, registry, tier)
    return found[-1] if found else None


def _from_record(e) -> Promotion | None:
    p = e.payload
    seqs = [a.get("seq") for a in p.get("approvals") or [] if isinstance(a.get("seq"), int)]
    ref = ModelRef.recorded(str(p.get("model_name")), p.get("model_version"))
    return None if ref is None else Promotion(
        ref.name, ref.version, "", max(seqs, default=e.seq),
        tuple(p.get("approvals") or ()), p.get("developer"),
    )  # fmt: skip


def records(ledger) -> dict[str, list]:
    """``{model name: [model.promoted entries]}`` in seq order (the records, not the facts)."""
    out: dict[str, list] = {}
    for e in ledger.entries(action=Action.MODEL_PROMOTED):
        out.setdefault(str(e.payload.get("model_name")), []).append(e)
    return out


def recorded(ledger, promotion: Promotion) -> bool:
    """Whether a ``model.promoted`` record names ``promotion``'s completion already."""
    return any(
        _completed_of(e) == promotion.seq for e in records(ledger).get(promotion.model_name, [])
    )


def record_problems(ledger, registry: Registry | None = None) -> list[tuple[int, str]]:
    """``[(seq, reason)]``: ``model.promoted`` records that record no completion: each must
    name a derived promotion's version and completing approval (``completed_seq``), once.
    Empty in a sandbox workspace (no adopted policy to derive by)."""
    registry = registry or load_registry(ledger)
    if registry.sandbox:
        return []
    problems = []
    for name, entries in records(ledger).items():
        done = {p.seq: p for p in promotions(ledger, name, registry)}
        used: dict[int, int] = {}
        for e in entries:
            completed = _completed_of(e)
            promo = done.get(completed) if isinstance(completed, int) else None
            version = ModelRef.recorded_number(e.payload.get("model_version"))
            if promo is None or version != promo.version:
                problems.append((e.seq, f"model.promoted (seq {e.seq}) of {name!r} v"
                                        f"{e.payload.get('model_version')} records no promotion"
                                        " the signed approvals complete"))  # fmt: skip
            elif completed in used:
                problems.append((e.seq, f"model.promoted (seq {e.seq}) replays the record of"
                                        f" seq {used[completed]}: a promotion counts once"))  # fmt: skip
            else:
                used[completed] = e.seq
    return sorted(problems)


def _completed_of(record) -> int | None:
    """The completing approval a ``model.promoted`` record names: its ``completed_seq``, or,
    in a record written before it carried one, the last approval it lists."""
    p = record.payload or {}
    if "completed_seq" in p:
        return p["completed_seq"] if isinstance(p["completed_seq"], int) else None
    seqs = [a.get("seq") for a in p.get("approvals") or [] if isinstance(a, dict)]
    return max((s for s in seqs if isinstance(s, int)), default=None)
