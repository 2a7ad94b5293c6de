"""Where a strategy's model version stands: the one view model every view renders (issue 29).

:func:`standing` derives, from the ledger alone (signed acts, folded as the deciding code
folds them) and the registry's facts of the version (its run, its developer's signed
training), everything a person is shown about a version: its stage, the strategy's
champion, the workspace-wide and the strategy's own kill switch, the findings its latest
validation raised (open, accepted, never acceptable in the tier), the findings its use
raised since (monitoring, boundary, fills), the overlays and restrictions of use in force on
the strategy (signed documents, governance/decisions/overlays.py), the approvals given (who,
role, when) and the roles still missing, the rejections, the exact next commands (naming
``--model``), and issue 24's lifecycle (governance/decisions/lifecycle.py: the five-stage
reading of the same stage, paper days and the next step in words). ``alphagate status``, ``alphagate models`` and its HTML inventory, the MLflow
version page and model card (governance/views/mlflow_pages.py) and the Prefect artifacts
(flows/views.py) render a :class:`Standing` and nothing else, so they cannot disagree:
tests/test_one_view.py compares them after each act of a scripted timeline.

Never an input: the MLflow ``champion`` alias or ``status`` tag is not read here, so an
alias moved by hand changes no view (the registry check names the drift).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from governance.decisions import killswitch
from governance.decisions.lifecycle import Lifecycle, lifecycle_of
from governance.decisions.overlays import in_force
from governance.decisions.paper import entered, paper_days
from governance.decisions.promotion import facts_for, latest_validation, stage_state
from governance.decisions.rows import switch_text
from governance.findings.register import Status, load_register
from governance.findings.review import blocking
from governance.ground.refs import ModelRef
from governance.identity.sandbox import is_sandbox
from governance.identity.users import load_registry
from governance.log.ledger import Ledger
from governance.registry.champion import champion
from governance.registry.retired import retirements

__all__ = ["Stage", "Standing", "champion_of", "eligible", "standing", "tier_of"]

ACCEPT = (
    "alphagate findings accept {id} --as {who} --key FILE"
    ' --reason "..." --until YYYY-MM-DD --control "..."'
)
APPROVE = (
    "alphagate approve{stage} --model {name} --model-version {version} --as {who} --key FILE"
    ' --reason "..."'
)
VALIDATE = "alphagate validate --model {name} --model-version {version} --as {who} --key FILE"


class Stage(StrEnum):
    """One word for where a version stands, the same in every view."""

    NOT_VALIDATED = "not_validated"  # registered, no valid signed verdict yet
    FAILED = "failed"  # a critical finding of its latest validation stands open
    IN_REVIEW = "in_review"  # findings to accept before it may be approved
    AWAITING_APPROVAL = "awaiting_approval"
    PAPER = "paper"  # approved for paper trading, not yet live
    CHAMPION = "champion"
    SUPERSEDED = "superseded"  # was champion, another version is now
    REJECTED = "rejected"  # a risk officer's signed rejection stands
    RETIRED = "retired"  # a risk officer's signed retirement


@dataclass(frozen=True)
class Standing:
    """Where ``name`` v``version`` stands, as every view shows it."""

    name: str
    version: int
    stage: Stage
    verdict: str | None
    validator: str | None
    validation_seq: int | None
    developer: str | None
    champion: int | None  # the strategy's champion version (a retired one is none)
    killswitch: str  # the switch that governs the strategy, in words (rows.switch_text)
    workspace_switch: str  # armed | tripped
    strategy_switch: str  # armed | tripped
    halted: bool  # this version is the champion and a switch stops it driving
    open_findings: tuple[str, ...] = ()
    accepted_findings: tuple[str, ...] = ()
    unacceptable_findings: tuple[str, ...] = ()
    in_use_findings: tuple[str, ...] = ()
    approvals: tuple[dict, ...] = ()  # {user, role, ts, seq, reason}, counted ones
    missing: tuple[str, ...] = ()  # roles still to approve, one item per approval
    rejections: tuple[dict, ...] = ()  # {user, role, ts, seq, reason}
    paper_first: bool = False
    sandbox: bool = False
    next: tuple[str, ...] = field(default=())
    # the strategy's overlays and restrictions of use in force today (Adjustment.to_json()
    # with its ``line``), read from the signed documents, never applied here
    overlays: tuple[dict, ...] = ()
    lifecycle: Lifecycle | None = None  # issue 24's reading of ``stage``

    @property
    def is_champion(self) -> bool:
        return self.champion == self.version

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.version)

    def to_json(self) -> dict:
        """The standing as views record it: versions spelled as the registry does (strings)."""
        champion = ModelRef(self.name, self.champion) if self.champion is not None else None
        return {
            "model_name": self.name,
            "version": self.ref.version_text,
            "stage": self.stage.value,
            "verdict": self.verdict,
            "validator": self.validator,
            "developer": self.developer,
            "champion": champion.version_text if champion else None,
            "killswitch": self.killswitch,
            "workspace_switch": self.workspace_switch,
            "strategy_switch": self.strategy_switch,
            "halted": self.halted,
            "open_findings": list(self.open_findings),
            "accepted_findings": list(self.accepted_findings),
            "unacceptable_findings": list(self.unacceptable_findings),
            "in_use_findings": list(self.in_use_findings),
            "approvals": [dict(a) for a in self.approvals],
            "missing": list(self.missing),
            "rejections": [dict(r) for r in self.rejections],
            "paper_first": self.paper_first,
            "sandbox": self.sandbox,
            "next": list(self.next),
            "overlays": [dict(o) for o in self.overlays],
            "lifecycle": self.lifecycle.to_json() if self.lifecycle else None,
        }


def champion_of(ledger: Ledger, name: str, registry=None) -> int | None:
    """``name``'s champion version as the signed acts make it: its latest completed
    promotion (governance/registry/champion.py), none once a signed retirement retired it."""
    registry = registry or load_registry(ledger)
    promo = champion(ledger, name, registry)
    if promo is None or promo.version in retirements(ledger, name, registry):
        return None
    return promo.version


def tier_of(ledger: Ledger, name: str, tier=None):
    """``tier``, else the one the adopted policy assigns ``name``, else the schema's defaults
    (a sandbox, or no policy adopted yet: nothing there is judged by a policy)."""
    if tier is not None:
        return tier
    from governance.ground.errors import Forbidden
    from governance.policy.schema import Tier
    from governance.policy.tiers import tier_at_use

    try:
        return tier_at_use(ledger, name).tier
    except Forbidden:
        return Tier()


def _row(ledger: Ledger, seq: int) -> dict:
    e = ledger.entries_between(seq, seq)[0]
    doc = e.payload.get("signed") or e.payload.get("document") or {}
    return {
        "user": e.payload.get("user") or e.actor,
        "role": e.payload.get("role") or e.role,
        "ts": e.ts,
        "seq": e.seq,
        "reason": doc.get("reason") or e.payload.get("reason") or "",
    }


def _stage(*, retired, champ, superseded, rejected, validation, open_, critical, paper, state):
    if retired:
        return Stage.RETIRED
    if champ:
        return Stage.CHAMPION
    if superseded:
        return Stage.SUPERSEDED
    if rejected:
        return Stage.REJECTED
    if validation is None:
        return Stage.NOT_VALIDATED
    if critical or (validation.verdict == "fail" and not state.complete):
        return Stage.FAILED
    if paper:
        return Stage.PAPER
    return Stage.IN_REVIEW if open_ else Stage.AWAITING_APPROVAL


def standing(ws, ledger: Ledger, ref: ModelRef, tier=None) -> Standing:
    """The :class:`Standing` of the version ``ref`` under ``tier`` (default: :func:`tier_of`)."""
    name = ref.name
    tier = tier_of(ledger, name, tier)
    registry = load_registry(ledger)
    facts = facts_for(ws, ledger, ref, registry)
    v = facts.version
    validation = latest_validation(ledger, ref, registry)
    state, paper_first = stage_state(ws, ledger, facts, tier, validation)
    register = load_register(ledger)
    records = blocking(register, validation.seq) if validation else []
    open_ = [r for r in records if r.status is not Status.ACCEPTED]
    accepted_sev = set(tier.validation.acceptance.severities)
    never = [r.id for r in open_ if r.severity not in accepted_sev]
    in_use = [
        r.id for r in register.of_version(ref)
        if r.origin != "validation" and r.status in (Status.OPEN, Status.ACCEPTED)
    ]  # fmt: skip
    gone = retirements(ledger, name, registry)
    champ = champion_of(ledger, name, registry)
    was_promoted = v in _promoted_versions(ledger, name, registry)
    rejected = [_row(ledger, e.seq) for e in _rejections(ledger, ref)]
    ks, above = killswitch.effective(ledger, name), killswitch.status(ledger)
    own = killswitch.status(ledger, name)
    start = entered(ledger, ref)
    stage = _stage(
        retired=v in gone,
        champ=champ == v,
        superseded=was_promoted and champ != v,
        rejected=rejected,
        validation=validation,
        open_=open_,
        critical=any(r.severity.value == "critical" for r in open_),
        paper=start is not None,
        state=state,
    )
    # still in paper: entered it, neither promoted since (champion, superseded) nor retired
    in_paper = start is not None and stage not in (Stage.RETIRED, Stage.CHAMPION,
                                                   Stage.SUPERSEDED)  # fmt: skip
    days = paper_days(ledger, ref, start.seq) if in_paper else None
    # in paper short of the tier's days: a live approval would be refused (no command helps)
    waiting = days is not None and tier.paper is not None and days < tier.paper.min_days
    life = lifecycle_of(
        stage.value,
        tier=tier,
        paper_days=days,
        verdict=validation.verdict if validation else None,
        rejected_by=[r["user"] for r in rejected],
        unacceptable=bool(never),
        open_findings=bool(open_),
    )
    return Standing(
        name=name,
        version=v,
        stage=stage,
        verdict=validation.verdict if validation else None,
        validator=_validator(ledger, validation),
        validation_seq=validation.seq if validation else None,
        developer=facts.developer,
        champion=champ,
        killswitch=switch_text(ledger, name),
        workspace_switch=above.state.value,
        strategy_switch=own.state.value,
        halted=champ == v and ks.tripped,
        open_findings=tuple(r.id for r in open_),
        accepted_findings=tuple(r.id for r in records if r.status is Status.ACCEPTED),
        unacceptable_findings=tuple(never),
        in_use_findings=tuple(in_use),
        approvals=tuple(_row(ledger, g["seq"]) for g in state.granted),
        missing=tuple(state.missing) if stage not in _DONE else (),
        rejections=tuple(rejected),
        paper_first=paper_first,
        sandbox=is_sandbox(ledger),
        next=tuple(
            _next(
                registry,
                facts.ref,
                facts.developer,
                stage,
                state,
                paper_first,
                open_,
                never,
                tier,
                validation,
                waiting,
            )
        ),
        overlays=tuple({**a.to_json(), "line": a.line()} for a in in_force(ledger, name, tier)),
        lifecycle=life,
    )


_DONE = (Stage.CHAMPION, Stage.SUPERSEDED, Stage.RETIRED, Stage.REJECTED)


def _rejections(ledger: Ledger, ref: ModelRef) -> list:
    from governance.decisions.promotion import rejections

    return rejections(ledger, ref)


def _promoted_versions(ledger: Ledger, name: str, registry) -> set[int | None]:
    """Versions of ``name`` ever champion, by the rule :func:`champion` uses."""
    from governance.policy.tiers import adopted_policies
    from governance.registry.champion import promotions, records

    if registry.sandbox or not adopted_policies(ledger, registry):
        records_of = records(ledger).get(name, [])
        return {ModelRef.recorded_number(e.payload.get("model_version")) for e in records_of}
    return {p.version for p in promotions(ledger, name, registry)}


def _validator(ledger: Ledger, validation) -> str | None:
    if validation is None:
        return None
    return ledger.entries_between(validation.seq, validation.seq)[0].actor


def eligible(registry, role: str, exclude: set) -> list[str]:
    """Enrolled users of ``role`` (a value of :class:`~governance.identity.duties.Role`) not
    in ``exclude``, in enrolment order: who the printed commands name."""
    return [u.name for u in registry.users() if u.role.value == role and u.name not in exclude]


def _next(
    registry, ref: ModelRef, developer, stage, state, paper_first, open_, never, tier, validation,
    waiting=False,
):  # fmt: skip
    """The exact commands that move the version ``ref`` on; none that cannot help (issue 29):
    no live approval while the version is ``waiting`` for its paper days."""
    name, version = ref.name, ref.version
    if stage in _DONE:
        return []
    steps: list[str] = []
    if validation is None:
        who = eligible(registry, "validator", {developer})[:1] or ["<validator>"]
        return [VALIDATE.format(name=name, version=version, who=who[0])]
    if never:  # a finding this tier never accepts: a new version must fix it
        return []
    officers = eligible(registry, tier.validation.acceptance.role.value, {developer})
    steps += [ACCEPT.format(id=r.id, who=(officers or ["<risk_officer>"])[0]) for r in open_]
    have = {g["user"] for g in state.granted} | {developer}
    for role in dict.fromkeys(() if waiting else state.missing):
        gap = state.missing.count(role)
        for who in (eligible(registry, role, have) or [f"<{role}>"])[:gap]:
            stage_flag = " --stage paper" if paper_first else ""
            steps.append(APPROVE.format(stage=stage_flag, name=name, version=version, who=who))
    return steps
