"""Views made true when read: overlays and restrictions lapse by their dates, not by an act.

An overlay or restriction of use is in force from its ``from`` date through its ``until``
date (governance/decisions/overlays.py). Its signing is an act, and every view of its
strategy is derived from that act (flows/views.py); its end is not an act, so nothing would
re-derive the pages the day after it lapsed. :func:`refresh_lapsed` compares, for every
strategy that ever had one, the overlays in force today with those its views were last
derived with here (``<home>/reports/overlays-shown.json``), and where they differ derives
the strategy's views again, as its signing did: the MLflow version and model pages (tag
``governance.overlays``), the re-rendered model card and the Prefect standing artifacts.
``alphagate status`` and ``alphagate models`` call it before they read, so what they print,
the inventory they publish and the pages agree; between two such commands a page lists
each overlay with its ``until`` date. When nothing changed it reads the ledger only (no
MLflow: the cold path of a risk officer's read, tests/test_cold_path.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger

SIGNINGS = (Action.OVERLAY_SIGNED, Action.RESTRICTION_SIGNED)


def _shown_path(ws: Workspace) -> Path:
    return Path(ws.home) / "reports" / "overlays-shown.json"


def refresh_lapsed(ws: Workspace, ledger: Ledger) -> list[str]:
    """Derive again the views of every strategy whose overlays in force today are not those
    its views were last derived with here; return those strategies (sorted)."""
    from flows.views import derive
    from governance.decisions.overlays import in_force
    from governance.decisions.standing import tier_of

    signings: dict[str, list] = {}
    for action in SIGNINGS:
        for e in ledger.entries(action=action):
            strategy = (e.payload.get("signed") or {}).get("strategy")
            if isinstance(strategy, str) and e.subject == Subject.book(strategy):
                signings.setdefault(strategy, []).append(e)
    if not signings:
        return []
    path = _shown_path(ws)
    try:
        shown = json.loads(path.read_text(encoding="utf-8"))
        same_store = isinstance(shown, dict) and shown.get("tracking_uri") == ws.tracking_uri
        shown = shown if same_store else {}
    except (OSError, ValueError):
        shown = {}
    now = {
        name: [a.line() for a in in_force(ledger, name, tier_of(ledger, name))] for name in signings
    }
    stale = sorted(name for name in now if (shown.get("strategies") or {}).get(name) != now[name])
    if not stale:
        return []
    derive(ws, ledger, sorted((e for n in stale for e in signings[n]), key=lambda e: e.seq))
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"tracking_uri": ws.tracking_uri, "strategies": now}
    path.write_text(json.dumps(record), encoding="utf-8")
    return stale
