"""``index.html`` of an evidence pack: one self-contained page, readable offline.

Inline CSS, PNG figures embedded as data URIs, relative links to every file of the
(unzipped) pack; no script, no external resource.
"""

from __future__ import annotations

import base64
import html
import json

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#1b1f24;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-size:.8rem;word-break:break-all}
.ok{color:#116329;font-weight:600}.bad{color:#a40e26;font-weight:600}
img{max-width:100%;border:1px solid #d0d7de;margin:.5rem 0}
"""

#: Payload fields worth a glance in the entries table, in this order.
_HIGHLIGHTS = (
    "decision", "verdict", "reason", "refusal", "model_version", "trigger", "incident",
    "approved_by", "source",
)  # fmt: skip


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _highlights(payload: dict) -> str:
    parts = [f"{k}={payload[k]}" for k in _HIGHLIGHTS if payload.get(k) not in (None, "", [])]
    return _e("; ".join(parts))


def _entries_table(entries: list[dict]) -> str:
    rows = [
        [
            str(e["seq"]), _e(e["ts"]), _e(e["actor"]), _e(e["role"]), f"<b>{_e(e['action'])}</b>",
            _e(e["subject"]), _highlights(e["payload"]),
            "<br>".join(f"{_e(k)}: <code>{_e(v[:12])}</code>"
                        for k, v in sorted((e["payload"].get("artifacts") or {}).items())),
        ]
        for e in entries
    ]  # fmt: skip
    return _table(["seq", "time", "actor", "role", "action", "subject", "facts", "artifacts"], rows)


def _approvals_table(entries: list[dict]) -> str:
    rows = []
    for e in entries:
        if not e["action"].startswith("approval.") and e["action"] != "model.promoted":
            continue
        p = e["payload"]
        rows.append(
            [
                str(e["seq"]), f"<b>{_e(e['action'])}</b>", _e(p.get("user") or e["actor"]),
                _e(p.get("role") or e["role"]),
                _e(p.get("refusal") or (p.get("signed") or {}).get("reason") or p.get("approved_by", "")),
                _e(p.get("identity", "")), f"<code>{_e(p.get('signature', '')[:24])}</code>",
            ]
        )  # fmt: skip
    if not rows:
        return "<p>No approvals, rejections or promotions recorded.</p>"
    return _table(["seq", "action", "user", "role", "reason", "identity", "signature"], rows)


def _figures(files: dict[str, bytes]) -> str:
    out = []
    for name in sorted(n for n in files if n.lower().endswith(".png")):
        data = base64.b64encode(files[name]).decode("ascii")
        out.append(
            f'<figure><img alt="{_e(name)}" src="data:image/png;base64,{data}">'
            f'<figcaption><a href="{_e(name)}">{_e(name)}</a></figcaption></figure>'
        )
    return "".join(out) or "<p>No figures.</p>"


def render_index(files: dict[str, bytes], summary: dict) -> str:
    """The pack's ``index.html`` for ``files`` (``{path: bytes}``) and the export summary."""
    v = summary["verification"]
    status = (
        '<span class="ok">verified</span>'
        if v["ok"]
        else f'<span class="bad">FAILED at seq {_e(v["first_bad_seq"])}: {_e(v["reason"])}</span>'
    )
    entries = summary["entries"]
    ks = [e for e in entries if e["action"].startswith("killswitch.")]
    file_rows = [[f'<a href="{_e(n)}">{_e(n)}</a>', str(len(files[n]))] for n in sorted(files)]
    head = summary["head"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>alphagate evidence: {_e(summary["subject"])}</title><style>{_CSS}</style></head>
<body>
<h1>alphagate evidence pack: {_e(summary["subject"])}</h1>
<p>Ledger head at export: seq {_e(head["seq"])}, hash <code>{_e(head["hash"])}</code>.
Workspace verification at export: {status}.</p>
<p>Check this pack offline with <code>alphagate evidence verify FILE.zip</code>: it re-hashes
every file against <a href="manifest.json">manifest.json</a>, recomputes the ledger chain of
the <a href="ledger/entries.json">included entries</a> against
<a href="ledger/chain.json">the chain</a> and re-verifies every Ed25519 signature with the
<a href="keys/public_keys.json">public keys</a>.</p>
<h2>Approvals, rejections and promotions</h2>{_approvals_table(entries)}
<h2>Kill-switch history</h2>{_entries_table(ks) if ks else "<p>Never tripped.</p>"}
<h2>Ledger entries ({len(entries)})</h2>{_entries_table(entries)}
<h2>Figures</h2>{_figures(files)}
<h2>Files</h2>{_table(["file", "bytes"], file_rows)}
<h2>Environment</h2><p><a href="environment.json">environment.json</a>:
{_e(json.loads(files["environment.json"]).get("python", "").split()[0])} with
{len(json.loads(files["environment.json"]).get("packages", {}))} packages.</p>
</body></html>
"""
