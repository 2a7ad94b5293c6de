"""The champion's challengers in use (issue 24): which versions a rebalance scores in shadow.

From the ledger alone: the **previous champion** (the latest promoted version of the
strategy other than the champion) and every version **in paper** (a ``model.paper`` not
followed by its promotion), neither retired by a valid signed retirement. The 12-1 momentum
challenger is no version: the rebalance computes it from prices (flows/challenger_stage.py).
A shadow scoring drives nothing, so these reads decide nothing either.
"""

from __future__ import annotations

from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger
from governance.registry.retired import retirements

__all__ = ["PAPER", "PREVIOUS", "shadow_versions"]

PREVIOUS = "previous"
PAPER = "paper"


def shadow_versions(ledger: Ledger, strategy: str) -> list[tuple[str, int]]:
    """``[(kind, version)]``: the previous champion, then the versions in paper, by version."""

    def mine(action):
        return [e for e in ledger.entries(action=action) if e.payload.get("model_name") == strategy]

    promoted = [(e.seq, int(e.payload["model_version"])) for e in mine(Action.MODEL_PROMOTED)]
    retired = {int(v) for v in retirements(ledger, strategy)}
    champion = promoted[-1][1] if promoted else None
    out: list[tuple[str, int]] = []
    previous = [v for _, v in promoted if v != champion and v not in retired]
    if previous:
        out.append((PREVIOUS, previous[-1]))
    paper = set()
    for e in mine(Action.MODEL_PAPER):
        v = int(e.payload["model_version"])
        if not any(seq > e.seq and pv == v for seq, pv in promoted) and v not in retired:
            paper.add(v)
    out += [(PAPER, v) for v in sorted(paper - {champion} - {v for _, v in out})]
    return out
