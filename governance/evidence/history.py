"""Production history of a strategy, from the ledger alone: what drove its book, when, on
whose signatures (``alphagate history --strategy NAME [--at TIMESTAMP]``).

The standing of a strategy at a moment ``T`` is folded from the ledger's entries up to the
last relevant one stamped at or before ``T``, by the same readers the decisions use:

- **paper**: the versions in their paper stage (``model.paper``, not promoted or retired
  since), with the paper approvals;
- **live**: the version of the strategy's last ``model.promoted``, with the approvals it
  counted (user, role and the seq of each signed approval);
- **policy**: the adoption in force (``governance.policy.adoption.adoption_history``: a
  valid adoption under four eyes), its version, hash and signers;
- **kill switch**: the workspace-wide switch when it is tripped, else the strategy's own
  (``killswitch.fold`` with the user registry: an invalid signed act does not count);
- **monitoring**: the last ``monitoring.completed`` of the strategy (status, breaches);
- **retired**: the versions retired by a valid signed ``model.retired``
  (``governance.registry.retired``); a retired live version is live no more.

Every fact names the ledger seq it comes from and carries an RFC 9162 inclusion proof of
that entry under the ledger's current tree head, with the entry's hashed fields, so a
reader recomputes the leaf and folds the proof to the root without trusting this code
(:func:`verify_history`). Without ``T`` the answer is the whole timeline: one event per
relevant entry and the standing after each.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from governance.decisions import killswitch
from governance.ground.canonical import canonical_json, sha256_bytes
from governance.ground.errors import InputError
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Area, Subject, area
from governance.identity.users import load_registry
from governance.log.chain import HASHED_FIELDS, entry_leaf
from governance.log.ledger import Ledger
from governance.log.merkle import ProofError, verify_inclusion
from governance.policy.adoption import Adoption, adoption_history
from governance.registry.retired import retirements

__all__ = ["SCHEMA", "history", "parse_moment", "verify_history"]

SCHEMA = "alphagate.history/1"


def parse_moment(text: str) -> datetime:
    """An ISO date or timestamp (UTC when no zone is given); exit 2 naming ``--at``."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--at {text!r}: not an ISO date or timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ts(entry) -> datetime:
    return parse_moment(entry.ts)


class _Sources:
    """The strategy's relevant entries, read once, and the valid policy adoptions."""

    def __init__(self, ledger: Ledger, strategy: str):
        registry = load_registry(ledger)
        self.registry = registry
        self.promotions = [
            e
            for e in ledger.entries(action=Action.MODEL_PROMOTED)
            if e.payload.get("model_name") == strategy
        ]
        self.monitoring = [
            e
            for e in ledger.entries(action=Action.MONITORING_COMPLETED)
            if e.payload.get("model_name") == strategy
        ]
        self.switch = {
            level: [
                e
                for e in ledger.entries(subject=Subject.killswitch(level))
                if area(e.action) == Area.KILLSWITCH
            ]
            for level in (None, strategy)
        }
        self.paper = [
            e
            for e in ledger.entries(action=Action.MODEL_PAPER)
            if e.payload.get("model_name") == strategy
        ]
        self.retired = sorted(retirements(ledger, strategy, registry).values(), key=lambda e: e.seq)
        self.adoptions = adoption_history(ledger, registry)
        adopted = {a.seq for a in self.adoptions}
        by_seq = {
            e.seq: e for e in ledger.entries(action=Action.POLICY_ADOPTED) if e.seq in adopted
        }
        self.adoption_entries = [by_seq[a.seq] for a in self.adoptions]

    def events(self) -> list:
        """Every relevant entry, by seq."""
        rows = [*self.promotions, *self.monitoring, *self.adoption_entries, *self.retired]
        rows += self.paper
        rows += [*self.switch[None], *[e for k, v in self.switch.items() if k for e in v]]
        return sorted(rows, key=lambda e: e.seq)

    def _in_paper(self, cut: int, retired: set[int | None]) -> list[dict]:
        """Versions that entered paper by ``cut`` and were neither promoted nor retired since."""
        out = []
        for e in self.paper:
            version = ModelRef.recorded_number(e.payload.get("model_version"))
            live = any(
                ModelRef.recorded_number(p.payload.get("model_version")) == version
                and e.seq < p.seq <= cut
                for p in self.promotions
            )
            if e.seq <= cut and not live and version not in retired:
                out.append(_paper_fact(e))
        return out

    def standing(self, cut: int) -> dict:
        """The strategy's standing after every relevant entry with ``seq <= cut``."""
        promoted = _last(e for e in self.promotions if e.seq <= cut)
        watched = _last(e for e in self.monitoring if e.seq <= cut)
        policy = _last(a for a in self.adoptions if a.seq <= cut)
        levels = {
            level: killswitch.fold([e for e in rows if e.seq <= cut], self.registry)
            for level, rows in self.switch.items()
        }
        above = levels[None]
        switch = above if above.tripped else next(v for k, v in levels.items() if k)
        retired = [_retired(e) for e in self.retired if e.seq <= cut]
        live = promoted and _live(promoted)
        gone = {ModelRef.recorded_number(r["model_version"]) for r in retired}
        if live and ModelRef.recorded_number(live["model_version"]) in gone:
            live = None  # its retirement ended its use
        return {
            "as_of_seq": cut,
            "live": live,
            "paper": self._in_paper(cut, gone),
            "retired": retired,
            "policy": policy and _policy(policy),
            "killswitch": {**switch.to_json(), "seq": switch.seq},
            "monitoring": watched and {
                "seq": watched.seq, "ts": watched.ts, "as_of": watched.payload.get("as_of"),
                "model_version": watched.payload.get("model_version"),
                "status": watched.payload.get("status"),
                "breaches": watched.payload.get("breaches", []),
            },
        }  # fmt: skip


def _paper_fact(e) -> dict:
    p = e.payload
    approvals = [{"user": a.get("user"), "role": a.get("role"), "seq": a.get("seq")}
                 for a in p.get("approvals") or []]  # fmt: skip
    return {"model_version": str(p.get("model_version")), "seq": e.seq, "ts": e.ts,
            "approvals": approvals}  # fmt: skip


def _last(items: Iterable):
    out = None
    for out in items:  # noqa: B007 - the last one is wanted
        pass
    return out


def _live(e) -> dict:
    p = e.payload
    approvals = [
        {"user": a.get("user"), "role": a.get("role"), "seq": a.get("seq")}
        for a in p.get("approvals") or []
    ]
    return {
        "model_version": p.get("model_version"),
        "seq": e.seq,
        "ts": e.ts,
        "developer": p.get("developer"),
        "approvals": approvals,
        "policy_hash": p.get("policy_hash"),
    }


def _retired(e) -> dict:
    doc = e.payload["signed"]
    return {"model_version": str(doc["model_version"]), "seq": e.seq, "ts": e.ts, "by": e.actor,
            "reason": doc.get("reason")}  # fmt: skip


def _policy(a: Adoption) -> dict:
    return {"version": a.version, "policy_hash": a.policy_hash, "seq": a.seq, "ts": a.ts,
            "signers": list(a.signers)}  # fmt: skip


def _facts(standing: dict) -> set[int]:
    """The seqs a standing cites (each gets a proof)."""
    seqs = set()
    for key in ("live", "policy", "monitoring", "killswitch"):
        fact = standing.get(key) or {}
        if fact.get("seq"):
            seqs.add(int(fact["seq"]))
    seqs |= {int(r["seq"]) for r in standing.get("retired", [])}
    for paper in standing.get("paper", []):
        seqs |= {int(paper["seq"]), *(int(a["seq"]) for a in paper["approvals"] if a.get("seq"))}
    for a in (standing.get("live") or {}).get("approvals", []):
        if a.get("seq"):
            seqs.add(int(a["seq"]))
    return seqs


def _describe(e) -> str:
    p = e.payload
    if e.action == Action.MODEL_PROMOTED:
        who = ", ".join(a.get("user", "?") for a in p.get("approvals") or [])
        return f"v{p.get('model_version')} live (approved by {who})"
    if e.action == Action.MONITORING_COMPLETED:
        return f"monitoring {p.get('status')} as of {p.get('as_of')}"
    if e.action == Action.MODEL_PAPER:
        who = ", ".join(a.get("user", "?") for a in p.get("approvals") or [])
        return f"v{p.get('model_version')} enters paper (approved by {who})"
    if e.action == Action.MODEL_RETIRED:
        return f"v{e.payload['signed']['model_version']} retired by {e.actor}"
    if e.action == Action.POLICY_ADOPTED:
        return f"policy {p.get('version')} adopted ({str(p.get('policy_hash'))[:12]})"
    where = "all strategies" if e.subject == Subject.KILLSWITCH else "this strategy"
    return f"{e.action.partition('.')[2]} ({where}) by {e.actor}"


def history(ledger: Ledger, strategy: str, at: str | None = None) -> dict:
    """``history --json``: the standing at ``at`` (or the timeline), with proofs."""
    src = _Sources(ledger, strategy)
    events = src.events()
    if at is not None:
        moment = parse_moment(at)
        events = [e for e in events if _ts(e) <= moment]
    size, root = ledger.tree_head()
    out = {"schema": SCHEMA, "strategy": strategy, "at": at}
    cited: set[int] = set()
    if at is not None:
        out["standing"] = src.standing(events[-1].seq if events else 0)
        cited |= _facts(out["standing"])
    timeline = []
    for e in events:
        after = src.standing(e.seq)
        timeline.append({"seq": e.seq, "ts": e.ts, "action": e.action, "what": _describe(e),
                         "standing": after})  # fmt: skip
        cited |= {e.seq, *_facts(after)}
    out["timeline"] = timeline
    if at is None:
        out["standing"] = timeline[-1]["standing"] if timeline else src.standing(0)
    entries = {s: ledger.entries_between(s, s)[0] for s in cited}
    out["tree"] = {"size": size, "root": root.hex()}
    out["proofs"] = {
        str(s): {
            "entry": {k: entries[s].to_json()[k] for k in (*HASHED_FIELDS, "payload")},
            "path": [h.hex() for h in ledger.inclusion_proof(s, size)],
        }
        for s in sorted(cited)
    }
    return out


def verify_history(doc: dict) -> list[int]:
    """Check every proof of a ``history`` answer against its tree head; the seqs verified.

    Raises ``ProofError`` naming the first seq whose entry is not under the root.
    """
    size, root = int(doc["tree"]["size"]), bytes.fromhex(doc["tree"]["root"])
    done = []
    for seq, proof in doc["proofs"].items():
        entry = proof["entry"]
        if int(seq) != entry["seq"]:
            raise ProofError(f"seq {seq}: the proof carries entry {entry['seq']}")
        if sha256_bytes(canonical_json(entry["payload"])) != entry["payload_hash"]:
            raise ProofError(f"seq {seq}: the payload does not match its hash")
        path = [bytes.fromhex(h) for h in proof["path"]]
        verify_inclusion(entry["seq"] - 1, size, entry_leaf(entry), path, root)
        done.append(int(seq))
    return done
