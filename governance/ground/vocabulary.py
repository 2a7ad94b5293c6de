"""The ledger's vocabulary: every action name and every subject, in one place.

A ledger entry says *what happened* (its action, ``<area>.<event>``) to *what* (its subject,
``model:<name>/v<N>``, ``book:<strategy>`` ...). Both are read back by verifiers, views,
evidence packs and the CLI, so each is spelled here once: :class:`Action` names every action
(a ``StrEnum``: a member equals its string, so the ledger's rows do not change) and
:class:`Subject` builds every subject. tests/test_vocabulary.py fails when an action or a
subject literal appears anywhere else.

Adding an action: one member per line, in its group, ``AREA_EVENT = "area.event"``.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Action(StrEnum):
    """Every ledger action (docs/architecture.md, "Ledger action names")."""

    # workspace, users, refusals at the door
    WORKSPACE_INITIALISED = "workspace.initialised"
    USER_ADDED = "user.added"
    USER_REVOKED = "user.revoked"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_REFUSED = "user.refused"
    IDENTITY_REFUSED = "identity.refused"
    INTEGRITY_REFUSED = "integrity.refused"
    # the log
    LOG_KEY_ROTATED = "log.key_rotated"
    # policy
    POLICY_ADOPTION_SIGNED = "policy.adoption_signed"
    POLICY_ADOPTED = "policy.adopted"
    POLICY_ADOPTION_REFUSED = "policy.adoption_refused"
    POLICY_REFUSED = "policy.refused"
    # runs
    RUN_STARTED = "run.started"
    RUN_COMPLETED = "run.completed"
    RUN_HALTED = "run.halted"
    # data and models
    DATA_INGESTED = "data.ingested"
    DATA_SPLIT = "data.split"
    MODEL_TRAINED = "model.trained"
    MODEL_REGISTERED = "model.registered"
    MODEL_PROMOTED = "model.promoted"
    MODEL_RETIRED = "model.retired"
    MODEL_PAPER = "model.paper"
    PAPER_BOOKED = "paper.booked"
    PAPER_MARKED = "paper.marked"
    RETIREMENT_REFUSED = "retirement.refused"
    # the inventory of record (governance/decisions/stewardship.py)
    MODEL_OWNER_SET = "model.owner_set"
    MODEL_ATTESTED = "model.attested"
    STEWARDSHIP_REFUSED = "stewardship.refused"
    # post-model adjustments and restrictions of use (governance/decisions/overlays.py)
    OVERLAY_SIGNED = "overlay.signed"
    RESTRICTION_SIGNED = "restriction.signed"
    OVERLAY_REFUSED = "overlay.refused"
    OVERLAY_APPLIED = "overlay.applied"
    # validation and findings
    VALIDATION_COMPLETED = "validation.completed"
    VALIDATION_REFUSED = "validation.refused"
    FINDING_RAISED = "finding.raised"
    FINDING_ACCEPTANCE_PENDING = "finding.acceptance_pending"
    FINDING_ACCEPTED = "finding.accepted"
    FINDING_ACCEPTANCE_REFUSED = "finding.acceptance_refused"
    FINDING_EXPIRED = "finding.expired"
    FINDING_ASSIGNED = "finding.assigned"
    FINDING_ASSIGNMENT_REFUSED = "finding.assignment_refused"
    FINDING_ESCALATED = "finding.escalated"
    # approvals
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_REJECTED = "approval.rejected"
    APPROVAL_REFUSED = "approval.refused"
    APPROVAL_PAPER = "approval.paper"
    # kill switch
    KILLSWITCH_TRIPPED = "killswitch.tripped"
    KILLSWITCH_RESET_PENDING = "killswitch.reset_pending"
    KILLSWITCH_RESET = "killswitch.reset"
    KILLSWITCH_RESET_REFUSED = "killswitch.reset_refused"
    # portfolio
    BACKTEST_COMPLETED = "backtest.completed"
    PORTFOLIO_OPTIMISED = "portfolio.optimised"
    PORTFOLIO_PUBLISHED = "portfolio.published"
    HOLDINGS_RECONCILED = "holdings.reconciled"
    # orders
    ORDERS_SENT = "orders.sent"
    # monitoring and risk
    MONITORING_COMPLETED = "monitoring.completed"
    CHALLENGERS_SCORED = "challengers.scored"
    ATTRIBUTION_COMPLETED = "attribution.completed"
    STRESS_COMPLETED = "stress.completed"
    RISK_ANALYSED = "risk.analysed"
    # evidence
    EVIDENCE_EXPORTED = "evidence.exported"
    RECORDS_ARCHIVED = "records.archived"
    RECORDS_DISPOSED = "records.disposed"
    RECORDS_DISPOSAL_REFUSED = "records.disposal_refused"
    # gates: one per governance.ground.errors.Gate that records (gate_action)
    GATE_DATA_QUALITY = "gate.data_quality"
    GATE_VALIDATION = "gate.validation"
    GATE_APPROVAL = "gate.approval"
    GATE_KILL_SWITCH = "gate.kill_switch"
    GATE_PRETRADE = "gate.pretrade"
    GATE_STRESS = "gate.stress"
    GATE_PRESEND = "gate.presend"
    GATE_BOUNDARY = "gate.boundary"
    GATE_RESTRICTION = "gate.restriction"

    @property
    def area(self) -> str:
        """The part before the dot: ``killswitch`` for ``killswitch.tripped``."""
        return area(self)


class Area(StrEnum):
    """Action areas that readers select on as a family (``killswitch.*``, ``user.*`` ...)."""

    USER = "user"
    APPROVAL = "approval"
    KILLSWITCH = "killswitch"
    GATE = "gate"


def area(action: str) -> str:
    """The area of any action string (unknown ones too: a reader must not trust the enum)."""
    return str(action).partition(".")[0]


def gate_action(gate: str) -> Action:
    """The action a gate's decision is recorded under: ``gate.<gate>``."""
    return Action(f"{Area.GATE}.{gate}")


def gate_of(action: str) -> str | None:
    """The gate a ``gate.<gate>`` action records (``data_quality``), else None."""
    head, _, gate = str(action).partition(".")
    return gate if head == Area.GATE else None


_MODEL = re.compile(r"^model:(?P<name>[^/]+)(?:/v(?P<version>\d+))?$")
_PERIOD = re.compile(r"^period:(?P<name>[^:]+):(?P<start>[0-9-]{10}):(?P<end>[0-9-]{10})$")


#: Actions that record a human decision: each must be a signed act (its roles and the
#: exemptions are governance/identity/signed_acts.py's). ``Ledger.append`` refuses one that
#: does not hold as one (governance/log/bound.py, :func:`~governance.log.bound.admission_problems`).
SIGNED_ACTIONS = frozenset({
    Action.MODEL_TRAINED, Action.VALIDATION_COMPLETED, Action.APPROVAL_GRANTED,
    Action.APPROVAL_PAPER, Action.APPROVAL_REJECTED, Action.KILLSWITCH_TRIPPED,
    Action.KILLSWITCH_RESET_PENDING, Action.KILLSWITCH_RESET, Action.POLICY_ADOPTION_SIGNED,
    Action.POLICY_ADOPTED, Action.FINDING_ACCEPTANCE_PENDING, Action.FINDING_ACCEPTED,
    Action.MODEL_RETIRED, Action.MODEL_OWNER_SET, Action.MODEL_ATTESTED, Action.OVERLAY_SIGNED,
    Action.RESTRICTION_SIGNED, Action.FINDING_ASSIGNED, Action.RECORDS_DISPOSED,
    Action.LOG_KEY_ROTATED,
})  # fmt: skip


class Subject:
    """What an entry is about: fixed subjects as constants, the rest built from a name."""

    WORKSPACE = "workspace"
    LEDGER = "ledger"
    POLICY = "policy"
    KILLSWITCH = "killswitch"
    #: The qualifier of a fallback portfolio's subject.
    FALLBACK = "fallback"
    #: Attribution of the live (published) book.
    LIVE_PORTFOLIO = "portfolio:live"
    #: Prefix of every model subject (``model:<name>`` and ``model:<name>/v<N>``).
    MODEL_PREFIX = "model:"

    @staticmethod
    def model(name: str, version: int | str | None = None) -> str:
        """A model version ``model:<name>/v<N>``; without a version the model ``model:<name>``."""
        base = f"{Subject.MODEL_PREFIX}{name}"
        return base if version is None else f"{base}/v{version}"

    @staticmethod
    def parse_model(subject: str | None) -> tuple[str, str | None] | None:
        """``(name, version or None)`` of a model subject, else None."""
        m = _MODEL.match(subject or "")
        return (m["name"], m["version"]) if m else None

    @staticmethod
    def of_model(subject: str | None, name: str) -> bool:
        """True when ``subject`` is the model ``name`` or one of its versions."""
        parsed = Subject.parse_model(subject)
        return parsed is not None and parsed[0] == name

    @staticmethod
    def strategy(name: str) -> str:
        """A strategy (its training, its dataset split): ``strategy:<name>``."""
        return f"strategy:{name}"

    @staticmethod
    def book(strategy: str) -> str:
        """A strategy's published book: ``book:<strategy>``."""
        return f"book:{strategy}"

    @staticmethod
    def portfolio(day: str, *qualifiers: str) -> str:
        """A rebalance's portfolio, ``portfolio:<asof>[:<account>|:fallback]``."""
        return ":".join(("portfolio", str(day), *qualifiers))

    @staticmethod
    def data(fingerprint: str) -> str:
        """A market-data set by the first 16 hex digits of its fingerprint: ``data:<hex16>``."""
        return f"data:{fingerprint[:16]}"

    @staticmethod
    def user(name: str) -> str:
        """A person: ``user:<name>``."""
        return f"user:{name}"

    @staticmethod
    def flow(kind: str) -> str:
        """Flow runs of one kind (pipeline, rebalance ...): ``flow:<kind>``."""
        return f"flow:{kind}"

    @staticmethod
    def run(run_id: str) -> str:
        """A run (Prefect flow run or MLflow run) an evidence pack is about: ``run:<id>``."""
        return f"run:{run_id}"

    @staticmethod
    def period(strategy: str, start: str, end: str) -> str:
        """A strategy's evidence over days ``start`` to ``end``: ``period:<strategy>:<from>:<to>``."""
        return f"period:{strategy}:{start}:{end}"

    @staticmethod
    def parse_period(subject: str | None) -> tuple[str, str, str] | None:
        """``(strategy, from, to)`` of a period subject, else None."""
        m = _PERIOD.match(subject or "")
        return (m["name"], m["start"], m["end"]) if m else None

    @staticmethod
    def killswitch(strategy: str | None = None) -> str:
        """The workspace-wide kill switch (None) or one strategy's: ``killswitch[:<strategy>]``."""
        return Subject.KILLSWITCH if strategy is None else f"{Subject.KILLSWITCH}:{strategy}"
