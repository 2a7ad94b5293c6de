"""The regulation map: each supervisory expectation, the evidence kinds that answer it, and
what alphagate does not (yet) give a supervisor for it.

Two frameworks, in our own words (read the texts themselves):

- PRA SS1/23 "Model risk management principles for banks" (in force since 17 May 2024):
  five principles.
- SR 26-2 / OCC Bulletin 2026-13 / FDIC FIL-15-2026 "Model Risk Management: Revised Guidance"
  (17 April 2026, rescinding SR 11-7 / OCC 2011-12): a risk-based approach, model development
  and use, validation and monitoring, governance and controls, vendor and third-party
  products.

An expectation's evidence is ledger entries of named actions (their signed documents and
stored artifacts); :mod:`governance.views.compliance` finds them in a workspace, links them,
and names as a gap every kind with no entry there, beside the standing gaps below, which no
workspace can close until the product records them. Owners, attestations, overlays and
restrictions of use and finding owners are the inventory of record's signed acts (issue 27).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from governance.ground.vocabulary import Action

__all__ = ["EXPECTATIONS", "EvidenceKind", "Expectation", "Framework"]


class Framework(StrEnum):
    """The frameworks the map covers (``--framework``)."""

    SS1_23 = "ss1-23"
    SR26_2 = "sr26-2"

    @property
    def title(self) -> str:
        return {
            Framework.SS1_23: "PRA SS1/23 (model risk management principles for banks)",
            Framework.SR26_2: "SR 26-2 / OCC Bulletin 2026-13 (model risk management)",
        }[self]


@dataclass(frozen=True)
class EvidenceKind:
    """One kind of evidence: ``label`` and the ledger actions whose entries are it.
    ``workspace``: it answers for every model at once (the policy, the people, the records),
    so a model's own breakdown does not list it."""

    label: str
    actions: tuple[Action, ...]
    workspace: bool = False


@dataclass(frozen=True)
class Expectation:
    """One principle or area: where it is (``ref``), what it asks, its evidence, its gaps."""

    framework: Framework
    ref: str
    title: str
    asks: str
    evidence: tuple[EvidenceKind, ...]
    gaps: tuple[str, ...] = ()


_INVENTORY = EvidenceKind("registered model versions (inventory)", (Action.MODEL_REGISTERED,))
_OWNERS = EvidenceKind(
    "model owners and accountable senior managers (signed)", (Action.MODEL_OWNER_SET,)
)
_ATTEST = EvidenceKind("owners' periodic attestations (signed)", (Action.MODEL_ATTESTED,))
_TIER = EvidenceKind(
    "policy with tiers, adopted under four eyes", (Action.POLICY_ADOPTED,), workspace=True
)
_PEOPLE = EvidenceKind(
    "users and roles enrolled by an admin",
    (Action.USER_ADDED, Action.USER_ROLE_CHANGED),
    workspace=True,
)
_TRAINED = EvidenceKind(
    "signed training records (data, features, trials, change class, vendor components)",
    (Action.MODEL_TRAINED,),
)
_DATA = EvidenceKind(
    "data-quality gate and sealed data split", (Action.GATE_DATA_QUALITY, Action.DATA_SPLIT)
)
_VALIDATION = EvidenceKind(
    "independent validation reports (signed by the validator)", (Action.VALIDATION_COMPLETED,)
)
_APPROVAL = EvidenceKind(
    "four-eyes approvals and rejections", (Action.APPROVAL_GRANTED, Action.APPROVAL_REJECTED)
)
_FINDINGS = EvidenceKind(
    "findings raised in use, their owners and signed acceptances",
    (Action.FINDING_RAISED, Action.FINDING_ASSIGNED, Action.FINDING_ACCEPTED),
)
_MONITORING = EvidenceKind(
    "ongoing monitoring runs (outcomes, drift, decay)", (Action.MONITORING_COMPLETED,)
)
_BACKTEST = EvidenceKind(
    "outcomes analysis: backtests and shadow challengers",
    (Action.BACKTEST_COMPLETED, Action.CHALLENGERS_SCORED),
)
_USE = EvidenceKind(
    "books the model drove, through the pre-trade and stress gates",
    (Action.PORTFOLIO_PUBLISHED, Action.GATE_PRETRADE, Action.GATE_STRESS),
)
_OVERLAYS = EvidenceKind(
    "overlays and restrictions of use (signed, expiring) and where they applied",
    (Action.OVERLAY_SIGNED, Action.RESTRICTION_SIGNED, Action.OVERLAY_APPLIED,
     Action.GATE_RESTRICTION),
)  # fmt: skip
_MITIGANTS = EvidenceKind(
    "kill switch trips and resets", (Action.KILLSWITCH_TRIPPED, Action.KILLSWITCH_RESET)
)
_RETIRED = EvidenceKind("retirements", (Action.MODEL_RETIRED,))
_EXPORTS = EvidenceKind("evidence packs exported", (Action.EVIDENCE_EXPORTED,), workspace=True)
_RECORDS = EvidenceKind(
    "archives held for the policy's retention, and disposals after it (signed)",
    (Action.RECORDS_ARCHIVED, Action.RECORDS_DISPOSED),
    workspace=True,
)

_NO_VENDOR_MODEL = (
    "Vendor components are recorded with their versions in the signed training entries and a "
    "change raises a finding, but a vendor model itself (its methodology) is not validated: "
    "only through the outputs of the model that uses it."
)
_NO_BOARD = (
    "Reporting of aggregate model risk to the board is not produced: this report, the "
    "inventory and the committee pack are its inputs."
)
_NO_RETENTION_KINDS = (
    "Retention is set per record kind and archives are disposed of after it by a signed act, "
    "but the primary store (ledger, artifact store, MLflow) keeps everything: no disposal there."
)

EXPECTATIONS: tuple[Expectation, ...] = (
    Expectation(
        Framework.SS1_23,
        "Principle 1",
        "Model identification and model risk classification",
        "A definition of a model, an inventory of every model, and a risk-based tier "
        "for each, kept current.",
        (_INVENTORY, _OWNERS, _TIER, _RETIRED),
    ),
    Expectation(
        Framework.SS1_23,
        "Principle 2",
        "Governance",
        "A board-approved model risk policy, named roles and responsibilities, and "
        "model risk reported to senior management.",
        (_TIER, _PEOPLE, _OWNERS, _ATTEST, _APPROVAL, _EXPORTS),
        (_NO_BOARD,),
    ),
    Expectation(
        Framework.SS1_23,
        "Principle 3",
        "Model development, implementation and use",
        "Documented development with sound data, tested implementation, and use within "
        "the purposes and limits the model was built for.",
        (_DATA, _TRAINED, _USE, _OVERLAYS),
    ),
    Expectation(
        Framework.SS1_23,
        "Principle 4",
        "Independent model validation",
        "Validation independent of development, with effective challenge, before use and "
        "periodically after, and ongoing performance monitoring.",
        (_VALIDATION, _MONITORING, _BACKTEST),
    ),
    Expectation(
        Framework.SS1_23,
        "Principle 5",
        "Model risk mitigants",
        "Controls for known weaknesses: post-model adjustments, restrictions of use, "
        "and exceptions recorded and time-limited.",
        (_OVERLAYS, _FINDINGS, _MITIGANTS),
    ),
    Expectation(
        Framework.SR26_2,
        "Risk-based approach",
        "Inventory, materiality and tiering",
        "Model risk management scaled to each model's materiality and complexity, "
        "from a complete inventory.",
        (_INVENTORY, _OWNERS, _TIER),
    ),
    Expectation(
        Framework.SR26_2,
        "Development and use",
        "Model development and model use",
        "Sound design and data, documented development, and use consistent with the "
        "model's purpose and limitations.",
        (_DATA, _TRAINED, _USE, _OVERLAYS),
    ),
    Expectation(
        Framework.SR26_2,
        "Validation and monitoring",
        "Model validation and ongoing monitoring",
        "Effective challenge by independent parties, outcomes analysis, and monitoring "
        "whose frequency follows materiality and triggers.",
        (_VALIDATION, _MONITORING, _BACKTEST, _FINDINGS),
    ),
    Expectation(
        Framework.SR26_2,
        "Governance and controls",
        "Governance, policies and controls",
        "Board and senior management oversight, policies, roles, documentation, "
        "exceptions and records.",
        (_TIER, _PEOPLE, _APPROVAL, _ATTEST, _MITIGANTS, _EXPORTS, _RECORDS),
        (_NO_BOARD, _NO_RETENTION_KINDS),
    ),
    Expectation(
        Framework.SR26_2,
        "Vendor and third-party",
        "Vendor and other third-party products",
        "Third-party models and data understood, validated to the extent possible, "
        "and their changes controlled.",
        (_TRAINED, _FINDINGS),
        (_NO_VENDOR_MODEL,),
    ),
)
