"""What a model-risk committee reads about one model version, from the ledger and the store only.

:func:`committee_facts` gathers the facts of the committee pack (governance/views/committee.py):
the training entry and its model card (``model_card.json``, a page of the one renderer), the
latest validation and its report (``report.json``) and figures, the holdout backtest, the risk
and stress of the strategy's latest published book, the findings register of the version and
every signed decision on it. Every artifact is read through
:meth:`~governance.ground.artifacts.ArtifactStore.read_bytes`, which re-hashes it (a tampered
file is :class:`~governance.ground.errors.TamperDetected`, exit 3), and every signed decision's
Ed25519 signature is verified again against the key it was recorded with, which must be the
key the ledger enrolled for its signer (shared/DESIGN.md: what a decision reads is verified
when it is read).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from governance.audit.books import Books
from governance.findings.register import FindingRecord, load_register
from governance.findings.verdict import latest_validation
from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.sandbox import is_sandbox
from governance.identity.signing import verify_signature
from governance.identity.users import load_registry
from governance.log.ledger import LedgerEntry

#: Signed or recorded decisions on a version, in the order a committee reads them.
DECISIONS = (
    Action.APPROVAL_PAPER,
    Action.MODEL_PAPER,
    Action.APPROVAL_GRANTED,
    Action.APPROVAL_REJECTED,
    Action.MODEL_PROMOTED,
    Action.MODEL_RETIRED,
)


@dataclass(frozen=True)
class Evidence:
    """One ledger entry and the artifacts it names that the pack shows, re-hashed."""

    entry: LedgerEntry
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def payload(self) -> dict:
        return self.entry.payload

    def json(self, name: str) -> dict | None:
        data = self.files.get(name)
        return json.loads(data) if data is not None else None

    def figures(self) -> dict[str, bytes]:
        """``{name: png}`` of the PNG artifacts, by name."""
        return {n: b for n, b in sorted(self.files.items()) if n.lower().endswith(".png")}


@dataclass(frozen=True)
class Decision:
    """A decision on the version: who, as what, when, why, and its signature's standing.

    ``signature`` is None for an entry that is no signed act (a promotion the ledger derived
    from signed approvals, a declared approval in a sandbox)."""

    seq: int
    ts: str
    action: str
    user: str
    role: str
    reason: str | None
    signed_digest: str | None
    signature: str | None
    identity: str | None


@dataclass(frozen=True)
class CommitteeFacts:
    """Everything the committee pack shows, read from the ledger and the artifact store."""

    model_name: str
    version: int
    head: tuple[int, str]
    written_at: str
    sandbox: bool
    trained: Evidence | None
    validation: Evidence | None
    backtest: Evidence | None
    published: LedgerEntry | None
    risk: Evidence | None
    stress: Evidence | None
    findings: tuple[FindingRecord, ...]
    decisions: tuple[Decision, ...]

    @property
    def report(self) -> dict | None:
        """The validation report (``report.json``), or None before any validation."""
        return self.validation.json("report.json") if self.validation else None

    def validation_figures(self) -> dict[str, bytes]:
        """``{caption: png}`` of the validation report's figures (by the hashes it records)."""
        report = self.report or {}
        by_sha = (
            {
                self.validation.entry.artifacts.get(n): b
                for n, b in self.validation.figures().items()
            }
            if self.validation
            else {}
        )
        return {c: by_sha[s] for c, s in (report.get("figures") or {}).items() if s in by_sha}

    @property
    def card(self) -> dict | None:
        """The model card as a page document (``model_card.json``), or None."""
        return self.trained.json("model_card.json") if self.trained else None


def _evidence(store, entry: LedgerEntry | None, wanted) -> Evidence | None:
    """``entry`` with its artifacts whose name ``wanted(name)`` accepts, each re-hashed."""
    if entry is None:
        return None
    names = [n for n in sorted(entry.artifacts) if wanted(n)]
    return Evidence(entry, {n: store.read_bytes(entry.artifacts[n]) for n in names})


def _is_png_or(*names: str):
    return lambda n: n in names or n.lower().endswith(".png")


def _trained(ledger, ref: ModelRef) -> LedgerEntry | None:
    """The training entry of the version (subject ``strategy:<name>``), by the seq its
    registration records."""
    registered = ledger.last(action=Action.MODEL_REGISTERED, subject=ref.subject)
    seq = registered.payload.get("trained_seq") if registered is not None else None
    if not isinstance(seq, int):
        return None
    found = ledger.entries_between(seq, seq)
    return found[0] if found and found[0].action == Action.MODEL_TRAINED else None


def _validation(ledger, ref: ModelRef) -> LedgerEntry | None:
    """The latest *valid* validation (a validator's signed act: a forged, unsigned entry with
    a kinder verdict is skipped, governance/findings/verdict.py), whose report must be the one
    the validator signed."""
    held = latest_validation(ledger, ref)
    if held is None:
        return None
    entry = ledger.entries_between(held.seq, held.seq)[0]
    signed = entry.payload.get("report_json_sha256")
    if signed is not None and signed != entry.artifacts.get("report.json"):
        raise TamperDetected(
            f"ledger entry {entry.seq}: its report.json is not the report the validator signed"
        )
    return entry


def _backtest(ledger, ref: ModelRef, trained: LedgerEntry | None):
    """The holdout backtest the run that trained the version recorded (its flow run), else the
    version's latest (a rerun of the same model)."""
    found = ledger.entries(action=Action.BACKTEST_COMPLETED, subject=ref.subject)
    run = trained.payload.get("flow_run_id") if trained is not None else None
    same = [e for e in found if run and e.payload.get("flow_run_id") == run]
    return (same or found or [None])[-1]


def _book(ledger, name: str) -> tuple[LedgerEntry | None, LedgerEntry | None, LedgerEntry | None]:
    """``(published, risk, stress)``: the strategy's latest published book and the risk and
    stress entries recorded of that very book (same portfolio, same flow run), if any."""
    # only a publication that holds is a book (governance/audit/books.py): a forged one is not
    entries = ledger.entries(action=Action.PORTFOLIO_PUBLISHED, subject=Subject.book(name))
    published = Books(ledger, ledger.store, name).last(entries)
    if published is None:
        return None, None, None
    p = published.payload
    risk = next(
        (e for e in reversed(ledger.entries(action=Action.RISK_ANALYSED, after_seq=published.seq))
         if e.payload.get("portfolio_seq") == published.seq),
        None,
    )  # fmt: skip
    run = p.get("flow_run_id")
    subject = risk.subject if risk is not None else None
    stress = next(
        (e for e in reversed(ledger.entries(action=Action.STRESS_COMPLETED))
         if e.seq < published.seq and run and e.payload.get("flow_run_id") == run
         and (subject is None or e.subject == subject)),
        None,
    )  # fmt: skip
    return published, risk, stress


def _decisions(ledger, ref: ModelRef) -> list[Decision]:
    registry = load_registry(ledger)
    subject = ref.subject
    out = []
    for e in sorted(
        (e for a in DECISIONS for e in ledger.entries(action=a, subject=subject)),
        key=lambda e: e.seq,
    ):
        p = e.payload
        signed = p.get("signed")
        signature = p.get("signature")
        if signed is not None and signature:
            user = signed.get("user", e.actor)
            enrolled = registry.at(user, e.seq)
            public = p.get("public_key") or ""
            if (
                enrolled is None
                or enrolled.public_key != public
                or not verify_signature(public, signed, signature)
            ):
                raise TamperDetected(
                    f"ledger entry {e.seq} ({e.action}): the signature of {user} does not"
                    " verify with a key the ledger enrolled for them"
                )
        doc = signed or p
        out.append(
            Decision(
                seq=e.seq,
                ts=e.ts,
                action=str(e.action),
                user=doc.get("user") or p.get("user") or e.actor,
                role=doc.get("signer_role") or p.get("role") or e.role,
                reason=doc.get("reason") or p.get("reason") or p.get("approved_by"),
                signed_digest=p.get("signed_digest"),
                signature=signature if signed is not None else None,
                identity=p.get("identity"),
            )
        )
    return out


def committee_facts(ledger, ref: ModelRef) -> CommitteeFacts:
    """The facts of the committee pack of the version ``ref``.

    Raises
    ------
    TamperDetected
        An artifact no longer matches its hash, or a signed decision does not verify.
    """
    name = ref.name
    store = ledger.store
    seq, digest = ledger.head()
    trained = _trained(ledger, ref)
    validation = _validation(ledger, ref)
    backtest = _backtest(ledger, ref, trained)
    published, risk, stress = _book(ledger, name)
    register = load_register(ledger)
    return CommitteeFacts(
        model_name=name,
        version=ref.version,
        head=(seq, digest),
        written_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        sandbox=is_sandbox(ledger),
        trained=_evidence(store, trained, lambda n: n == "model_card.json"),
        validation=_evidence(store, validation, _is_png_or("report.json")),
        backtest=_evidence(store, backtest, _is_png_or()),
        published=published,
        risk=_evidence(store, risk, _is_png_or("risk/summary.json")),
        stress=_evidence(store, stress, _is_png_or("stress/summary.json")),
        findings=tuple(register.of_version(ref)),
        decisions=tuple(_decisions(ledger, ref)),
    )
