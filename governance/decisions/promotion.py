"""Where a model version stands on its way to ``champion``: its latest valid verdict, its
developer, the approvals that count and what is still missing.

Read-only: every function here reads the ledger and the registry and writes nothing. The
acts that change the standing (approve, reject, promote) are in :mod:`governance.decisions.approvals`.

Only signed acts count (governance/identity/signed_acts.py): the latest *valid*
``validation.completed`` is the verdict; the developer is the signer of the run's
``model.trained`` entry, never an MLflow tag; an approval counts when its signature holds,
its signer had an approving role at the time, and it was given against that latest
validation by someone who is not the developer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from governance.findings.verdict import ValidationFacts, latest_validation
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.duties import developer_of
from governance.identity.users import load_registry
from governance.log.ledger import Ledger
from governance.registry.champion import (
    champion,
    counted_approvals,
    declared_count,
    needed_now,
    promotions,
)
from governance.registry.store_reader import registry_reader
from governance.registry.versions import ModelFacts, get_model_facts


@dataclass(frozen=True)
class PromotionState:
    """Where a version stands on its way to ``champion``.

    ``granted`` lists counted approvals ``{user, role, identity, seq}``; ``missing`` the
    roles still needed (one item per approval); ``commands`` the exact CLI lines that would
    give them; ``blocked`` why no approval can help (no pass verdict, a rejection).
    """

    model_name: str
    version: int
    verdict: str | None
    developer: str | None
    granted: tuple[dict, ...] = ()
    missing: tuple[str, ...] = ()
    rejected_by: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    champion: bool = False
    commands: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when the version may be promoted now."""
        return not self.missing and not self.blocked

    def to_json(self) -> dict:
        return {
            "model_name": self.model_name,
            "version": ModelRef(self.model_name, self.version).version_text,  # a string, as always
            "verdict": self.verdict,
            "developer": self.developer,
            "granted": list(self.granted),
            "missing": list(self.missing),
            "rejected_by": list(self.rejected_by),
            "blocked": list(self.blocked),
            "champion": self.champion,
            "complete": self.complete,
            "commands": list(self.commands),
        }


def facts_for(
    ws: Workspace, ledger: Ledger, ref: ModelRef, registry=None, client=None
) -> ModelFacts:
    """Registry facts of the version ``ref`` with the developer taken from the ledger
    (``client``: the registry reader to ask, default a new one)."""
    facts = get_model_facts(client or registry_reader(ws), ref)
    return replace(facts, developer=developer_of(ledger, facts.run_id, registry))


def rejections(ledger: Ledger, ref: ModelRef) -> list:
    """Every rejection of the version, whatever validation it came after.

    A rejection is a risk officer's decision on the version: a later validation (the
    validator's own act) does not lift it; only a new version does (docs/governance.md).
    Approvals, by contrast, count only against the latest validation.
    """
    return ledger.entries(action=Action.APPROVAL_REJECTED, subject=ref.subject)


def decisions_on_validation(ledger: Ledger, ref: ModelRef, action: str, validation) -> list:
    """Entries of ``action`` on the version given against its latest validation."""
    if validation is None:
        return []
    return [
        e
        for e in ledger.entries(action=action, subject=ref.subject)
        if (e.payload.get("signed") or e.payload.get("document") or {}).get("validation_entry_hash")
        == validation.entry_hash
    ]


def superseded_blocker(ledger, ref: ModelRef, validation, registry, tier) -> str | None:
    """Why approvals on ``validation`` can no longer promote the version ``ref``: they
    already completed a promotion that a later one superseded (they count once; a return
    is a fresh validation and fresh approvals), else None."""
    version = ref.version
    done = promotions(ledger, ref.name, registry, tier)
    mine = [p for p in done if p.version == version
            and p.validation_entry_hash == validation.entry_hash]  # fmt: skip
    if not mine or done[-1] is mine[-1]:
        return None
    return (
        f"v{version}'s approvals on this validation completed its promotion (approval seq"
        f" {mine[-1].seq}), superseded by v{done[-1].version} (seq {done[-1].seq}); moving the"
        " champion back takes a fresh validation and fresh approvals"
    )


def verdict_blockers(ledger: Ledger, version, validation: ValidationFacts) -> list[str]:
    """Why the latest verdict does not let the version be promoted; empty when it does.

    ``pass`` does; ``review`` does once every warning finding of that validation is
    accepted (the review path, governance/findings/review.py); ``fail`` only if the tier
    let its critical findings be accepted too.
    """
    if validation.verdict == "pass":
        return []
    from governance.findings.review import review_blockers

    return review_blockers(ledger, version, validation)


def compute_state(
    ws: Workspace,
    ledger: Ledger,
    facts: ModelFacts,
    tier,
    validation=None,
    *,
    at_use=False,
    action: str = Action.APPROVAL_GRANTED,
) -> PromotionState:
    """:class:`PromotionState` of a version whose registry facts are known.

    ``at_use``: asked at the moment the version would drive a portfolio (the adopted
    policy's champion rule then decides whether an older verdict still counts).
    ``action``: the approvals counted, ``approval.granted`` (live) or ``approval.paper``
    (governance/decisions/paper.py): the same rule, never the other stage's signatures.
    """
    from governance.policy.backing import backing_blockers

    name, version = facts.name, facts.version
    registry = load_registry(ledger)
    validation = validation or latest_validation(ledger, facts.ref, registry)
    need = needed_now(ledger, facts.ref, tier, registry)
    decisions = decisions_on_validation(ledger, facts.ref, action, validation)
    granted = counted_approvals(
        decisions, facts.developer, declared_count(registry, tier), registry
    )
    rejected = list(dict.fromkeys(e.payload.get("user") for e in rejections(ledger, facts.ref)))
    blocked = []
    if facts.developer is None:
        blocked.append(
            f"v{version} has no valid signed model.trained entry for run {facts.run_id}: its"
            " developer is unknown, so four eyes cannot be checked"
        )
    if validation is None:
        blocked.append(f"v{version} has no validation.completed entry: run `alphagate validate`")
    else:
        if not at_use:  # at use the latest verdict is judged (governance/decisions/model_use.py)
            blocked += verdict_blockers(ledger, version, validation)
        counted = {g["seq"] for g in granted}
        approvals = [e for e in decisions if e.seq in counted]
        blocked += backing_blockers(ledger, registry, facts, validation, approvals, at_use=at_use)
        if not at_use:
            gone = superseded_blocker(ledger, facts.ref, validation, registry, tier)
            blocked += [gone] if gone else []
    if rejected:
        blocked.append(f"v{version} was rejected by {', '.join(rejected)}")
    missing, commands = [], []
    have = {u["user"] for u in granted}
    for role, needed in need.items():
        count = sum(1 for g in granted if g["role"] == role.value)
        gap = max(needed - count, 0)
        missing += [role.value] * gap
        eligible = [
            u.name
            for u in registry.users()
            if u.role == role and u.name not in have and u.name != facts.developer
        ]
        for who in eligible[:gap]:
            stage = " --stage paper" if action != Action.APPROVAL_GRANTED else ""
            commands.append(
                f"alphagate approve{stage} --model {name} --model-version {version} --as {who}"
                ' --key FILE --reason "..."'
            )
    return PromotionState(
        model_name=name,
        version=version,
        verdict=validation.verdict if validation else None,
        developer=facts.developer,
        granted=tuple(granted),
        missing=tuple(missing),
        rejected_by=tuple(rejected),
        blocked=tuple(blocked),
        champion=getattr(champion(ledger, name, registry, tier), "version", None) == version,
        commands=tuple(commands) if not blocked else (),
    )


def stage_state(ws, ledger, facts, tier, validation=None) -> tuple[PromotionState, bool]:
    """``(state, paper_first)``: :func:`compute_state` of the approvals the version needs
    next; ``paper_first`` when its tier has a paper stage it has not entered (then the
    approvals for paper, governance/decisions/paper.py)."""
    from governance.decisions.paper import entered

    state = compute_state(ws, ledger, facts, tier, validation)
    if (
        getattr(tier, "paper", None) is None
        or state.champion
        or entered(ledger, facts.ref) is not None
    ):
        return state, False
    return compute_state(ws, ledger, facts, tier, validation, action=Action.APPROVAL_PAPER), True


def promotion_state(
    ws: Workspace, ref: ModelRef, tier, ledger: Ledger | None = None
) -> PromotionState:
    """What approvals the version ``ref`` still needs under ``tier``: under a tier
    with a paper stage, the approvals for paper until the version entered paper."""
    own = ledger is None
    ledger = ledger or Ledger.open(ws)
    try:
        return stage_state(ws, ledger, facts_for(ws, ledger, ref), tier)[0]
    finally:
        if own:
            ledger.dispose()
