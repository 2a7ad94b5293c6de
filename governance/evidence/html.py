"""``index.html`` of an evidence pack: one self-contained page, readable offline.

Rendered by the one HTML renderer (:mod:`governance.ground.html`): inline CSS, PNG figures
embedded as data URIs, relative links to every file of the (unzipped) pack; no script, no
external resource.
"""

from __future__ import annotations

import json

from governance.ground.html import Cell, Facts, Figure, Page, Section, Table, Tone, render_page
from governance.ground.vocabulary import Action, Area, area
from governance.identity.sandbox import NOT_FOR_PRODUCTION, banner

#: Payload fields worth a glance in the entries table, in this order.
_HIGHLIGHTS = (
    "decision", "verdict", "reason", "refusal", "model_version", "trigger", "incident",
    "approved_by", "source",
)  # fmt: skip


def _highlights(payload: dict) -> str:
    return "; ".join(
        f"{k}={payload[k]}" for k in _HIGHLIGHTS if payload.get(k) not in (None, "", [])
    )


def _entries_table(entries: list[dict]) -> Table:
    rows = [
        (
            e["seq"], e["ts"], e["actor"], e["role"], Cell(e["action"], code=True),
            e["subject"], _highlights(e["payload"]),
            [Cell(f"{k}: {v[:12]}", code=True)
             for k, v in sorted((e["payload"].get("artifacts") or {}).items())],
        )
        for e in entries
    ]  # fmt: skip
    headers = ("seq", "time", "actor", "role", "action", "subject", "facts", "artifacts")
    return Table(headers, tuple(rows), numeric=(0,))


def _approvals(entries: list[dict]) -> Table | str:
    rows = []
    for e in entries:
        if area(e["action"]) != Area.APPROVAL and e["action"] != Action.MODEL_PROMOTED:
            continue
        p = e["payload"]
        reason = p.get("refusal") or (p.get("signed") or {}).get("reason") or p.get("approved_by")
        rows.append(
            (
                e["seq"], Cell(e["action"], code=True), p.get("user") or e["actor"],
                p.get("role") or e["role"], reason or "", p.get("identity", ""),
                Cell(p.get("signature", "")[:24], code=True),
            )
        )  # fmt: skip
    if not rows:
        return "No approvals, rejections or promotions recorded."
    headers = ("seq", "action", "user", "role", "reason", "identity", "signature")
    return Table(headers, tuple(rows), numeric=(0,))


def render_index(files: dict[str, bytes], summary: dict) -> str:
    """The pack's ``index.html`` for ``files`` (``{path: bytes}``) and the export summary."""
    v = summary["verification"]
    # A static page cannot vouch for the zip it sits in (a member edited after export leaves it
    # unchanged): it states what the exporter checked, with no verdict badge, and sends the
    # auditor to ``evidence verify``.
    status = (
        "ledger verified by the exporter at export"
        if v["ok"]
        else f"FAILED at export, seq {v['first_bad_seq']}: {v['reason']}"
    )
    entries = summary["entries"]
    ks = [e for e in entries if area(e["action"]) == Area.KILLSWITCH]
    head = summary["head"]
    env = json.loads(files["environment.json"])
    figures = [
        Figure(files[n], n, href=n) for n in sorted(files) if n.lower().endswith(".png")
    ] or ["No figures."]
    sandbox = bool(summary.get("sandbox"))
    cover = Facts.of(
        {
            "subject": summary["subject"],
            "workspace": Cell(
                f"SANDBOX ({NOT_FOR_PRODUCTION})" if sandbox else "production (not a sandbox)",
                tone=Tone.WARNING if sandbox else None,
            ),
            "ledger head at export": Cell(f"seq {head['seq']}, hash {head['hash']}", code=True),
            "workspace verification at export": Cell(status, tone=None if v["ok"] else Tone.FAIL),
            "entries included": len(entries),
        }
    )
    how = [
        "This page was written at export and cannot tell whether the pack was changed since: "
        "it is no proof of the pack's integrity. "
        "Check this pack offline with `alphagate evidence verify FILE.zip`: it re-hashes every "
        "file against the manifest, checks that the ledger recorded this manifest, proves every "
        "entry's inclusion under the witnessed checkpoint, checks the whole-log index for "
        "entries left out, and re-verifies every Ed25519 signature with the public keys.",
        [
            Cell("manifest.json", href="manifest.json", code=True),
            Cell("ledger/entries.json", href="ledger/entries.json", code=True),
            Cell("ledger/checkpoint.txt", href="ledger/checkpoint.txt", code=True),
            Cell("ledger/proofs.json", href="ledger/proofs.json", code=True),
            Cell("ledger/index.json", href="ledger/index.json", code=True),
            Cell("keys/public_keys.json", href="keys/public_keys.json", code=True),
        ],
    ]
    files_table = Table(
        ("file", "bytes"),
        tuple((Cell(n, href=n, code=True), len(files[n])) for n in sorted(files)),
        numeric=(1,),
    )
    python = env.get("python", "").split()[:1] or ["?"]
    page = Page(
        title=f"Evidence pack: {summary['subject']}",
        kind="alphagate evidence pack",
        # neutral (no tone): the one check that counts is the auditor's own run of verify
        verdict="verify offline" if v["ok"] else "failed",
        cover=cover,
        summary=tuple(how),
        sections=(
            Section("Approvals, rejections and promotions", (_approvals(entries),)),
            Section("Kill-switch history", (_entries_table(ks) if ks else "Never tripped.",)),
            Section(f"Ledger entries ({len(entries)})", (_entries_table(entries),)),
            Section("Figures", tuple(figures)),
            Section("Files", (files_table,)),
            Section(
                "Environment",
                (
                    [
                        Cell("environment.json", href="environment.json", code=True),
                        f"Python {python[0]} with {len(env.get('packages', {}))} packages",
                    ],
                ),
            ),
        ),
        toc=True,
        banner=banner(sandbox),
    )
    return render_page(page)
