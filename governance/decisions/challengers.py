"""The champion's challengers in use (issue 24): which versions a rebalance scores in shadow.

From the ledger alone: the **previous champion** (the latest promoted version of the
strategy other than the champion), every version **in paper** (a ``model.paper`` not
followed by its promotion) and every **regime ensemble** (issue 26: a version whose
``model.trained`` entry names ``ensemble.kind: regime``, tasks/model/regimes.py) that a
validator has validated, none retired by a valid signed retirement nor the champion. A
regime ensemble becomes champion only through the same gates as any version. "Validated" is
the one reader of verdicts' answer (governance/findings/verdict.py): a valid signed act of a
user who was a validator at the time, never a row's ``role`` column; given a
:class:`~governance.log.readtime.VerifiedReader` (the rebalance's run context), every entry
is verified as it is read, so a row edited in place stops the listing (exit 3). The 12-1 momentum
challenger is no version: the rebalance computes it from prices (flows/challenger_stage.py).
A shadow scoring drives nothing, so these reads decide nothing either.
"""

from __future__ import annotations

from governance.findings.verdict import latest_validation
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.users import load_registry
from governance.log.ledger import Ledger
from governance.registry.retired import retirements

__all__ = ["PAPER", "PREVIOUS", "REGIME_ENSEMBLE", "regime_ensembles", "shadow_versions"]

PREVIOUS = "previous"
PAPER = "paper"
REGIME_ENSEMBLE = "regime_ensemble"


def regime_ensembles(ledger: Ledger, strategy: str) -> list[int]:
    """Versions of ``strategy`` trained as regime ensembles and validated by a validator
    (a valid signed verdict: :func:`~governance.findings.verdict.latest_validation`)."""
    out, registry = [], None
    for e in ledger.entries(action=Action.MODEL_REGISTERED):
        p = e.payload
        version = ModelRef.recorded_number(p.get("version"))
        if p.get("model_name") != strategy or p.get("trained_seq") is None or version is None:
            continue
        seq = int(p["trained_seq"])
        trained = ledger.entries_between(seq, seq)
        if not trained or (trained[0].payload.get("ensemble") or {}).get("kind") != "regime":
            continue
        registry = registry or load_registry(ledger)  # read only when an ensemble is trained
        if latest_validation(ledger, ModelRef(strategy, version), registry) is not None:
            out.append(version)
    return out


def shadow_versions(ledger: Ledger, strategy: str) -> list[tuple[str, int]]:
    """``[(kind, version)]``: the previous champion, the versions in paper, then the
    validated regime ensembles, by version."""

    def mine(action):
        """``[(seq, version)]`` of ``action`` on the strategy's versions (a recorded version
        that is no number names none)."""
        found = [(e.seq, ModelRef.recorded_number(e.payload.get("model_version")))
                 for e in ledger.entries(action=action) if e.payload.get("model_name") == strategy]  # fmt: skip
        return [(seq, v) for seq, v in found if v is not None]

    promoted = mine(Action.MODEL_PROMOTED)
    retired = set(retirements(ledger, strategy))
    champion = promoted[-1][1] if promoted else None
    out: list[tuple[str, int]] = []
    previous = [v for _, v in promoted if v != champion and v not in retired]
    if previous:
        out.append((PREVIOUS, previous[-1]))
    paper = set()
    for at, v in mine(Action.MODEL_PAPER):
        if not any(seq > at and pv == v for seq, pv in promoted) and v not in retired:
            paper.add(v)
    out += [(PAPER, v) for v in sorted(paper - {champion} - {v for _, v in out})]
    listed = {v for _, v in out} | {champion} | retired
    out += [(REGIME_ENSEMBLE, v) for v in regime_ensembles(ledger, strategy) if v not in listed]
    return out
