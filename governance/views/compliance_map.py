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
workspace can close until the product records them.
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
    """One kind of evidence: ``label`` and the ledger actions whose entries are it."""

    label: str
    actions: tuple[Action, ...]


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
_TIER = EvidenceKind("policy with tiers, adopted under four eyes", (Action.POLICY_ADOPTED,))
_PEOPLE = EvidenceKind(
    "users and roles enrolled by an admin", (Action.USER_ADDED, Action.USER_ROLE_CHANGED)
)
_TRAINED = EvidenceKind(
    "signed training records (data, features, trials, change class)", (Action.MODEL_TRAINED,)
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
    "findings raised in use and their signed acceptances",
    (Action.FINDING_RAISED, Action.FINDING_ACCEPTED),
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
_MITIGANTS = EvidenceKind(
    "kill switch trips and resets", (Action.KILLSWITCH_TRIPPED, Action.KILLSWITCH_RESET)
)
_RETIRED = EvidenceKind("retirements", (Action.MODEL_RETIRED,))
_EXPORTS = EvidenceKind("evidence packs exported", (Action.EVIDENCE_EXPORTED,))

_NO_SMF = (
    "No accountable senior manager (SS1/23's SMF), business owner or users are recorded per "
    "model: the inventory holds the developer, validator and approvers only."
)
_NO_MATERIALITY = (
    "Materiality is the tier the adopted policy assigns; no materiality drivers or score "
    "(book size, accounts, complexity) are recorded to support it."
)
_NO_OVERLAY = (
    "No post-model adjustment (overlay) or restriction of use is recorded with signer, reason "
    "and expiry; the kill switch and the fallback are the only mitigants in use."
)
_NO_VENDOR = (
    "Vendor components (data vendor, LightGBM, cvxpy and its solvers) are not recorded as "
    "dependencies with versions, and a change of one raises no finding."
)
_NO_ATTEST = "No periodic attestation by the model owner is recorded."

EXPECTATIONS: tuple[Expectation, ...] = (
    Expectation(
        Framework.SS1_23,
        "Principle 1",
        "Model identification and model risk classification",
        "A definition of a model, an inventory of every model, and a risk-based tier "
        "for each, kept current.",
        (_INVENTORY, _TIER, _RETIRED),
        (_NO_SMF, _NO_MATERIALITY),
    ),
    Expectation(
        Framework.SS1_23,
        "Principle 2",
        "Governance",
        "A board-approved model risk policy, named roles and responsibilities, and "
        "model risk reported to senior management.",
        (_TIER, _PEOPLE, _APPROVAL, _EXPORTS),
        (_NO_SMF, _NO_ATTEST),
    ),
    Expectation(
        Framework.SS1_23,
        "Principle 3",
        "Model development, implementation and use",
        "Documented development with sound data, tested implementation, and use within "
        "the purposes and limits the model was built for.",
        (_DATA, _TRAINED, _USE),
        (_NO_VENDOR,),
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
        (_FINDINGS, _MITIGANTS),
        (_NO_OVERLAY,),
    ),
    Expectation(
        Framework.SR26_2,
        "Risk-based approach",
        "Inventory, materiality and tiering",
        "Model risk management scaled to each model's materiality and complexity, "
        "from a complete inventory.",
        (_INVENTORY, _TIER),
        (_NO_MATERIALITY,),
    ),
    Expectation(
        Framework.SR26_2,
        "Development and use",
        "Model development and model use",
        "Sound design and data, documented development, and use consistent with the "
        "model's purpose and limitations.",
        (_DATA, _TRAINED, _USE),
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
        (_TIER, _PEOPLE, _APPROVAL, _MITIGANTS, _EXPORTS),
        (_NO_ATTEST, _NO_OVERLAY),
    ),
    Expectation(
        Framework.SR26_2,
        "Vendor and third-party",
        "Vendor and other third-party products",
        "Third-party models and data understood, validated to the extent possible, "
        "and their changes controlled.",
        (_TRAINED,),
        (_NO_VENDOR,),
    ),
)
