"""The committee pack: one self-contained HTML page a model-risk committee reads and signs.

``alphagate evidence committee --model-version N --out FILE.html`` (flows/commands/evidence_cmd.py)
renders :func:`committee_page` of the facts :func:`~governance.views.committee_facts.committee_facts`
read from the ledger and the artifact store (re-hashed, signatures re-verified) and the version's
state (``alphagate status``). The page: a cover with the decision requested and the current state
on the first screen (the SANDBOX banner above it in a sandbox), then the summary, findings with
their owners and acceptances, limitations, the validation, the holdout backtest, the risk and
stress of the strategy's published book, and the approvals and signatures. It is rendered by the
one renderer (governance/ground/html.py): inline CSS, figures as ``data:`` URIs, no script, no
request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from governance.findings.register import FindingRecord
from governance.ground.html import (
    Cell,
    Facts,
    Figure,
    Page,
    Section,
    Table,
    Tone,
    decimal,
    percent,
    tone_of,
)
from governance.ground.vocabulary import Action, Area, Subject, area
from governance.identity.sandbox import NOT_FOR_PRODUCTION, banner
from governance.views.committee_facts import CommitteeFacts, Decision, Evidence

#: Said of what validation cannot see when the validation report states no limitation.
FALLBACK_LIMITATIONS = (
    "No validation report is recorded for this version: its statistics, its overfitting "
    "checks and their limits are unknown to this pack.",
    "The deflated Sharpe ratio counts only the trials alphagate recorded: searches run outside "
    "it, or on data altered beyond recognition, are not deflated.",
    "A holdout is one historical period: a regime absent from it is untested.",
)


def decision_requested(state: Mapping[str, Any]) -> tuple[str, str]:
    """``(badge, sentence)``: the state word on the cover's badge and the decision asked of the
    committee, from the version's status (flows/status.py ``status_report``)."""
    promo = state.get("promotion") or {}
    version = state.get("version")
    rejections = state.get("rejections") or []
    if rejections:
        who = ", ".join(f"{r['user']} ({r['role']}, {r['ts'][:10]})" for r in rejections)
        return "rejected", (
            f"None: v{version} was rejected by {who}; only a new version can be promoted."
        )
    if promo.get("champion"):
        return "champion", (
            f"None: v{version} is the champion; this pack is for information and periodic review."
        )
    verdict = state.get("verdict")
    if verdict is None:
        return "not validated", "None yet: the version awaits its independent validation."
    if verdict == "fail" or state.get("unacceptable_findings"):
        return verdict, (
            f"None: validation {verdict.upper()} with findings this tier never accepts; "
            "return the model to development."
        )
    target = "approval for paper trading" if state.get("paper_first") else "promotion to champion"
    missing = list(promo.get("missing") or [])
    opened = list(state.get("open_findings") or [])
    needs = [f"approvals still needed: {', '.join(missing)}"] if missing else []
    if opened:
        needs.append(f"findings to accept first: {', '.join(opened)}")
    tail = f" ({'; '.join(needs)})" if needs else " (every approval given)"
    return verdict, f"{target.capitalize()} of v{version}{tail}."


def _cover(f: CommitteeFacts, state, decision: str, tier: str | None, policy_hash) -> Facts:
    drive = state.get("may_drive") or {}
    champion = drive.get("champion")
    use = (
        f"champion v{champion} {'drives' if drive.get('allowed') else 'may NOT drive'} the "
        "portfolio" + "".join(f"; {r}" for r in drive.get("reasons") or [])
        if champion
        else "no champion: the portfolio comes from the policy's fallback"
    )
    validated = f.validation.entry.ts if f.validation else "not validated"
    return Facts(
        (
            ("decision requested", Cell(decision, tone=Tone.REVIEW)),
            ("model", f"{f.model_name} version {f.version}"),
            ("policy tier", tier or "–"),
            ("written (UTC)", f.written_at),
            ("validation", validated),
            ("current state", use),
            ("workspace", Cell(
                f"SANDBOX ({NOT_FOR_PRODUCTION})" if f.sandbox else "production (not a sandbox)",
                tone=Tone.WARNING if f.sandbox else None)),
            ("policy hash", Cell(policy_hash or "–", code=True)),
        )
    )  # fmt: skip


def _summary(f: CommitteeFacts, state, decision: str) -> tuple:
    promo = state.get("promotion") or {}
    verdict = (state.get("verdict") or "not validated").upper()
    counts: dict[str, int] = {}
    for r in f.findings:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    found = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    given = [f"{a['user']} ({a['role']}, {a['ts'][:10]})" for a in state.get("approvals") or []]
    lines = [
        f"Validation verdict: {verdict}. Findings: {found}.",
        f"Approvals given: {', '.join(given) or 'none'}; still needed:"
        f" {', '.join(promo.get('missing') or []) or 'none'}.",
    ]
    if f.backtest:
        model = (f.backtest.payload.get("metrics") or {}).get("model") or {}
        lines.append(
            f"Holdout backtest (net of costs): annual return {percent(model.get('annual_return'))},"
            f" Sharpe {decimal(model.get('sharpe'), 2)},"
            f" max drawdown {percent(model.get('max_drawdown'))}."
        )
    stress = f.stress.payload if f.stress else None
    if stress is not None:
        breaches = stress.get("breaches") or []
        lines.append(
            f"Stress of the published book: {len(breaches)} limit breach(es)."
            if breaches
            else "Stress of the published book: within every limit."
        )
    return (f"Decision requested: {decision}", lines)


def _acceptance(r: FindingRecord) -> tuple[str, str, str]:
    a = r.acceptance
    if a is None:
        pending = f"pending: {', '.join(r.pending.signers)}" if r.pending else "–"
        return pending, "–", "–"
    return ", ".join(a.signers), a.until, a.control or "–"


def _findings(f: CommitteeFacts) -> tuple:
    if not f.findings:
        return ("No findings recorded for this version.",)
    rows = []
    for r in f.findings:
        who, until, control = _acceptance(r)
        rows.append((
            Cell(r.id, code=True), Cell(r.severity.value, tone=tone_of(r.severity.value)),
            Cell(r.status.value, tone=tone_of(r.status.value)), r.message,
            r.validator or r.origin, who, until, control,
        ))  # fmt: skip
    headers = ("id", "severity", "status", "finding", "raised by", "accepted by", "until",
               "control")  # fmt: skip
    return (
        "Owners: the validator (or the monitor) that raised each finding, and the risk officers "
        "whose signed, time-limited acceptance covers it.",
        Table(headers, tuple(rows)),
    )


def _limitations(f: CommitteeFacts, validation_limits: Sequence[str]) -> tuple:
    report = f.report
    if report is None:
        return (list(FALLBACK_LIMITATIONS),)
    over = report.get("overfitting") or {}
    trials = over.get("n_trials")
    looks = over.get("holdout_looks")
    counted = (
        f"This validation deflated the Sharpe ratio for {trials} recorded trial(s)"
        f" and counts {looks if looks is not None else 'an unknown number of'} look(s) at this"
        " holdout; trials run outside alphagate are not counted."
    )
    card = f.card or {}
    of_card = next(
        (s["blocks"] for s in card.get("sections") or [] if s.get("title") == "Known limitations"),
        [],
    )
    from_card = [x for b in of_card if isinstance(b, list) for x in b if isinstance(x, str)]
    blocks: list = [counted, list(validation_limits) or list(FALLBACK_LIMITATIONS[1:])]
    if from_card:
        blocks += ["From the model card:", from_card]
    else:
        blocks.append("No model card is recorded for this version: its stated limits are unknown.")
    return tuple(blocks)


def _figures(files: Mapping[str, bytes]) -> list[Figure]:
    return [Figure(png, name.rsplit("/", 1)[-1]) for name, png in files.items()]


def _validation(f: CommitteeFacts, parts: Sequence[Section]) -> list[Section]:
    if f.validation is None:
        return [Section("Validation", ("No validation recorded for this version.",))]
    p, report = f.validation.payload, f.report or {}
    over = report.get("overfitting") or {}
    m = report.get("metrics") or {}
    facts = Facts((
        ("verdict", Cell(str(p.get("verdict")).upper(), tone=tone_of(p.get("verdict")))),
        ("validator", p.get("validator") or "–"),
        ("developer", p.get("developer") or "–"),
        ("recorded", f"{f.validation.entry.ts} (ledger #{f.validation.entry.seq})"),
        ("policy tier at validation", p.get("policy_tier") or "–"),
        ("holdout fingerprint", Cell(p.get("holdout_fingerprint") or "–", code=True)),
        ("report digest (SHA-256)", Cell(p.get("report_json_sha256") or "–", code=True)),
        ("holdout rank IC (t-stat)",
         f"{decimal(m.get('rank_ic_mean'), 4)} ({decimal(m.get('rank_ic_tstat'), 2)})"),
        ("deflated Sharpe ratio", decimal(over.get("dsr"), 3)),
        ("probabilistic Sharpe ratio", decimal(over.get("psr"), 3)),
        ("trials counted", over.get("n_trials", "–")),
    ))  # fmt: skip
    head = Section("Validation", (facts,))
    subs = [dataclasses.replace(s, title=f"Validation: {s.title}", level=3) for s in parts] or [
        Section("Validation figures", tuple(_figures(f.validation.figures())), level=3)
    ]
    return [head, *subs]


def _metrics_table(metrics: Mapping[str, Mapping[str, Any]]) -> Table:
    rows = tuple(
        (name, percent(m.get("annual_return"), signed=True), percent(m.get("annual_volatility")),
         decimal(m.get("sharpe"), 2), percent(m.get("max_drawdown")), percent(m.get("turnover")),
         percent(m.get("costs"), 2))
        for name, m in metrics.items()
    )  # fmt: skip
    headers = ("portfolio", "annual return", "volatility", "Sharpe", "max drawdown",
               "turnover / year", "costs / year")  # fmt: skip
    return Table(headers, rows, numeric=(1, 2, 3, 4, 5, 6))


def _backtest(f: CommitteeFacts) -> Section:
    if f.backtest is None:
        return Section("Backtest", ("No holdout backtest recorded for this version.",))
    p = f.backtest.payload
    return Section(
        "Backtest",
        (
            f"Walk-forward backtest of the candidate's holdout scores beside its benchmarks,"
            f" net of costs, under the policy's pre-trade limits: {p.get('rebalances')}"
            f" rebalances (ledger #{f.backtest.entry.seq}).",
            _metrics_table(p.get("metrics") or {}),
            *_figures(f.backtest.figures()),
        ),
    )


def _risk(ev: Evidence | None) -> list:
    if ev is None:
        return ["No risk analysis recorded of the published book."]
    s = ev.json("risk/summary.json") or {}
    facts = Facts((
        ("annual volatility", percent(s.get("annual_volatility"))),
        ("annual tracking error", percent(s.get("annual_tracking_error"))),
        ("factor share of risk", percent(s.get("factor_share"))),
        ("top contributors", ", ".join(
            f"{a} {percent(v)}" for a, v in _largest(s.get("top_contributors"))) or "–"),
    ))  # fmt: skip
    return [facts, *_figures(ev.figures())]


def _largest(shares) -> list[tuple[str, float]]:
    return sorted((shares or {}).items(), key=lambda kv: -kv[1])


def _stress(ev: Evidence | None) -> list:
    if ev is None:
        return ["No stress test recorded of the published book."]
    p = ev.payload
    limits = p.get("limits") or {}
    own = limits.get("scenarios") or {}
    breached = {b.get("subject") for b in p.get("breaches") or [] if isinstance(b, dict)}
    rows = []
    for name, loss in sorted((p.get("losses") or {}).items()):
        tail = name.startswith("sampled")
        limit = (
            limits.get("max_sampled_tail_loss")
            if tail
            else own.get(name, limits.get("max_scenario_loss"))
        )
        word = "gain" if isinstance(loss, int | float) and loss < 0 else "loss"
        shown = percent(abs(loss)) if isinstance(loss, int | float) else "–"
        rows.append((name, f"{word} {shown}", percent(limit),
                     Cell("breach", tone=Tone.HALT) if name in breached else Cell("ok", Tone.PASS)))  # fmt: skip
    skipped = p.get("skipped_windows") or []
    return [
        Table(("scenario", "outcome", "limit (loss)", "status"), tuple(rows), numeric=(1, 2)),
        *([f"Scenarios outside the data, not run: {', '.join(skipped)}."] if skipped else []),
        *_figures(ev.figures()),
    ]


def _book(f: CommitteeFacts) -> Section:
    if f.published is None:
        return Section("Risk and stress", (f"No published book of {f.model_name} yet.",))
    p = f.published.payload
    head = (
        f"The strategy's latest published book: as of {p.get('asof')}, source"
        f" {p.get('source', 'model')} (ledger #{f.published.seq})."
    )
    return Section("Risk and stress", (head, *_risk(f.risk), *_stress(f.stress)))


def _standing(d: Decision) -> Cell:
    """A decision's signature: verified (its first hex digits), or why there is none."""
    if d.signature:
        return Cell(f"verified ({d.signature[:16]}…)", tone=Tone.PASS)
    if area(d.action) == Area.APPROVAL:  # a declared approval counts only in a sandbox
        return Cell("UNSIGNED: declared, counts only in a sandbox", tone=Tone.WARNING)
    return Cell("recorded by alphagate from the signed acts above")


def _signatures(decisions: Sequence[Decision], state) -> Section:
    rows = tuple(
        (d.seq, d.ts, Cell(d.action, code=True), d.user, d.role, d.reason or "–",
         Cell(d.signed_digest or "–", code=True),
         _standing(d))
        for d in decisions
    )  # fmt: skip
    headers = ("seq", "time (UTC)", "act", "by", "role", "reason", "signed digest (SHA-256)",
               "signature")  # fmt: skip
    missing = list((state.get("promotion") or {}).get("missing") or [])
    blocks: list = [
        "Every signature below was verified again when this pack was written, with the key the "
        "ledger had enrolled for its signer at the time.",
        Table(headers, rows, numeric=(0,)) if rows else "No approval or rejection recorded.",
    ]
    if missing:
        blocks.append(f"Still needed: {', '.join(missing)}.")
    return Section("Approvals and signatures", tuple(blocks))


def committee_page(
    f: CommitteeFacts,
    state: Mapping[str, Any],
    *,
    tier: str | None,
    policy_hash: str | None,
    validation_limits: Sequence[str] = (),
    validation_parts: Sequence[Section] = (),
) -> Page:
    """The committee pack of ``f`` (see the module docstring).

    ``state``: ``alphagate status``'s report of the version; ``validation_limits``: what the
    validation says it cannot guard (validation/report.py); ``validation_parts``: the validation
    report's analyst sections, shown as parts of the Validation chapter.
    """
    badge, decision = decision_requested(state)
    seq, digest = f.head
    return Page(
        title=f"{f.model_name} version {f.version}",
        kind="Model-risk committee pack",
        verdict=badge,
        cover=_cover(f, state, decision, tier, policy_hash),
        summary=_summary(f, state, decision),
        sections=(
            Section("Findings", _findings(f)),
            Section("Limitations", _limitations(f, validation_limits)),
            *_validation(f, validation_parts),
            _backtest(f),
            _book(f),
            _signatures(f.decisions, state),
        ),
        toc=True,
        footer=f"Read from the ledger at seq {seq} (head {digest}) and the content-addressed "
        "store, every artifact re-hashed. Check the ledger with `alphagate ledger verify`.",
        banner=banner(f.sandbox),
    )


def record_committee(
    ledger, f: CommitteeFacts, html: bytes, decision: str, actor: tuple[str, str], pdf=None
):
    """Store the pack (and its PDF) and record ``evidence.exported`` of it as ``actor``
    (``(name, role)`` the exporter's key proved, else alphagate itself); returns the entry."""
    sha = ledger.store.put_bytes(html)
    printed = {"committee.pdf": ledger.store.put_bytes(pdf)} if pdf is not None else {}
    seq, digest = f.head
    return ledger.append(
        Action.EVIDENCE_EXPORTED,
        actor=actor[0],
        role=actor[1],
        subject=Subject.model(f.model_name, f.version),
        payload={
            "kind": "committee",
            "model_name": f.model_name,
            "model_version": f.version,
            "decision": decision,
            "read_at": {"seq": seq, "hash": digest},
            "html_sha256": sha,
        },
        artifacts={"committee.html": sha, **printed},
    )
