"""Proportional change control: a retrain is *minor* or *material*, computed, never declared.

SS1/23 counts an ML recalibration as a model change and expects it classified. A version's
class is computed from two signed ``model.trained`` entries: its own and the one of the
strategy's previous registered version (the latest earlier entry of the same strategy that
holds as a developer's signed act and registered a version).

- **minor**: the same features in the same order, the same label horizon, the same feature
  sources with the same contracts and contract versions, and the same search (the set of
  trial keys of tasks/model/trials.py: each key hashes a search point's features,
  normalisation, label, horizon, LightGBM parameters, CV and selection settings and source
  contracts). Only the data is new.
- **material**: anything else, a first version (nothing to compare with) included, and any
  entry whose search keys are missing.

Training computes the class and signs it in ``model.trained`` (``change``). Readers never
trust that copy alone: :func:`version_change` computes the class again from the signed
entries as they stand and keeps the stricter of the two, so a hand-made entry claiming
``minor`` counts as material, and editing a config after training changes nothing (the
config is not read).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.duties import ROLES, Act
from governance.identity.users import Registry, load_registry, valid_acts

__all__ = [
    "ChangeClass",
    "Classification",
    "baseline_entry",
    "classify",
    "classify_training",
    "comparison_breaches",
    "version_change",
]


class ChangeClass(StrEnum):
    """The class of a model change (docs/governance.md, "Change control")."""

    MINOR = "minor"
    MATERIAL = "material"


@dataclass(frozen=True)
class Classification:
    """A version's change class against its baseline.

    Attributes
    ----------
    change_class : ChangeClass
    baseline_version : str or None
        The previous registered version compared with (None: none), as ``model.trained``'s
        signed ``change`` records it (a string); :attr:`baseline` is its number.
    baseline_seq : int or None
        Ledger sequence of the baseline's signed ``model.trained`` entry.
    reasons : tuple of str
        What differs (empty for a minor change).
    """

    change_class: ChangeClass
    baseline_version: str | None
    baseline_seq: int | None
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.change_class.value,
            "baseline_version": self.baseline_version,
            "baseline_seq": self.baseline_seq,
            "reasons": list(self.reasons),
        }

    @property
    def baseline(self) -> int | None:
        """The baseline's version number (None: none, or a recorded one that is no number)."""
        return ModelRef.recorded_number(self.baseline_version)


def _contracts(payload: Mapping[str, Any]) -> dict[str, tuple]:
    out = {}
    for s in payload.get("sources") or []:
        if isinstance(s, Mapping):
            ident = tuple(s.get(k) for k in ("contract", "version", "contract_sha256"))
            out[str(s.get("source"))] = ident
    return out


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _differences(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    reasons: list[str] = []
    nf, of = _names(new.get("features")), _names(old.get("features"))
    added, removed = [f for f in nf if f not in of], [f for f in of if f not in nf]
    if added:
        reasons.append(f"features added: {', '.join(added)}")
    if removed:
        reasons.append(f"features removed: {', '.join(removed)}")
    if not added and not removed and nf != of:
        reasons.append("features reordered")
    if new.get("horizon") != old.get("horizon"):
        reasons.append(f"label horizon {old.get('horizon')} -> {new.get('horizon')}")
    nc, oc = _contracts(new), _contracts(old)
    for name in sorted(set(nc) - set(oc)):
        reasons.append(f"source added: {name}")
    for name in sorted(set(oc) - set(nc)):
        reasons.append(f"source removed: {name}")
    for name in sorted(set(nc) & set(oc)):
        if nc[name] != oc[name]:
            reasons.append(f"source {name}: contract {oc[name][:2]} -> {nc[name][:2]}")
    nk, ok = new.get("trial_keys"), old.get("trial_keys")
    if not isinstance(nk, list) or not nk or not isinstance(ok, list) or not ok:
        reasons.append("a training entry records no search keys")
    elif set(map(str, nk)) != set(map(str, ok)) and not reasons:
        # features, horizon and sources agree: the hyperparameters, CV, selection,
        # label or normalisation changed
        sn, so = set(map(str, nk)), set(map(str, ok))
        gained, lost = len(sn - so), len(so - sn)
        reasons.append(f"search space changed: {gained} search points added, {lost} removed")
    return reasons


def classify(
    new: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    baseline_version: str | None = None,
    baseline_seq: int | None = None,
) -> Classification:
    """Classify the training payload ``new`` against the baseline's ``old`` (pure).

    Parameters
    ----------
    new, old : mapping
        ``model.trained`` payloads (``features``, ``horizon``, ``sources``, ``trial_keys``);
        ``old`` None when there is no previous version.
    """
    if old is None:
        why = ("first version: no previous version to compare with",)
        return Classification(ChangeClass.MATERIAL, None, None, why)
    reasons = tuple(_differences(new, old))
    cls = ChangeClass.MATERIAL if reasons else ChangeClass.MINOR
    return Classification(cls, baseline_version, baseline_seq, reasons)


def _seq(value: Any) -> int | None:
    """An entry's ``trained_seq`` as an int; None when absent or malformed (no baseline)."""
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _registered(ledger, name: str) -> dict[int, str]:
    """``{trained_seq: version}`` of the strategy's registered versions."""
    out: dict[int, str] = {}
    for e in ledger.entries(action=Action.MODEL_REGISTERED):
        seq = _seq(e.payload.get("trained_seq"))
        if e.payload.get("model_name") == name and seq is not None:
            out.setdefault(seq, str(e.payload.get("version")))
    return out


def baseline_entry(ledger, name: str, before_seq: int | None, registry: Registry | None = None):
    """The previous registered version's valid signed ``model.trained`` entry, with its
    version: ``(entry, version)`` or ``(None, None)``.

    Only entries before ``before_seq`` count (None: the whole ledger), and only those that
    hold as a developer's signed act (an unsigned or forged entry is no baseline).
    """
    registry = registry or load_registry(ledger)
    versions = _registered(ledger, name)
    entries = [
        e
        for e in ledger.entries(action=Action.MODEL_TRAINED, subject=Subject.strategy(name))
        if (before_seq is None or e.seq < before_seq) and e.seq in versions
    ]
    held = valid_acts(registry, entries, ROLES[Act.DEVELOP])
    if not held:
        return None, None
    last = held[-1]
    return last, versions[last.seq]


def classify_training(ledger, name: str, payload: Mapping[str, Any]) -> Classification:
    """The class of a training about to be recorded (``payload``: its ``model.trained``)."""
    entry, version = baseline_entry(ledger, name, None)
    return classify(payload, entry.payload if entry else None, version, entry and entry.seq)


def _stricter(computed: Classification, recorded: Any) -> Classification:
    cls = recorded.get("class") if isinstance(recorded, Mapping) else None
    if computed.change_class is ChangeClass.MINOR and cls != ChangeClass.MINOR.value:
        why = f"the signed entry records class {cls!r}, not minor"
        return Classification(
            ChangeClass.MATERIAL, computed.baseline_version, computed.baseline_seq, (why,)
        )
    return computed


def trained_entry_of(ledger, ref: ModelRef, registry: Registry | None = None):
    """The valid signed ``model.trained`` entry of the version ``ref`` (None: none)."""
    registry = registry or load_registry(ledger)
    name = ref.name
    found_seqs = (
        _seq(e.payload.get("trained_seq"))
        for e in ledger.entries(action=Action.MODEL_REGISTERED, subject=ref.subject)
    )
    seqs: Sequence[int] = [s for s in found_seqs if s is not None]
    if not seqs:
        return None
    found = ledger.entries_between(seqs[0], seqs[0])
    held = valid_acts(registry, found, ROLES[Act.DEVELOP])
    ok = held and held[0].action == Action.MODEL_TRAINED
    return held[0] if ok and held[0].subject == Subject.strategy(name) else None


def version_change(ledger, ref: ModelRef, registry: Registry | None = None):
    """The version ``ref``'s class, computed again from the signed entries now.

    The stricter of the computed class and the one its signed entry records; material when
    the version has no valid signed training entry.
    """
    registry = registry or load_registry(ledger)
    entry = trained_entry_of(ledger, ref, registry)
    if entry is None:
        why = (f"v{ref.version} has no valid signed model.trained entry",)
        return Classification(ChangeClass.MATERIAL, None, None, why)
    base, base_version = baseline_entry(ledger, ref.name, entry.seq, registry)
    computed = classify(entry.payload, base.payload if base else None, base_version,
                        base and base.seq)  # fmt: skip
    return _stricter(computed, entry.payload.get("change"))


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def comparison_breaches(bounds, comparison: Any, baseline: int | None) -> list[str]:
    """Why a minor change's automatic comparison with its baseline version ``baseline`` (signed in its validation,
    validation/comparison.py) does not keep it on the minor path under ``bounds`` (a tier's
    ``change.comparison``); empty: within bounds. Missing, made against another version
    than the baseline, or a figure that is not a finite number: a breach (fail closed)."""
    if not isinstance(comparison, Mapping):
        return ["no automatic comparison with the previous version is signed in the validation"]
    against = ModelRef.recorded_number(comparison.get("baseline_version"))
    if against is None or against != baseline:
        return [f"the comparison is against v{comparison.get('baseline_version')}, not the"
                f" baseline v{baseline}"]  # fmt: skip
    checks = (
        ("ic_change_tstat", lambda v: abs(v) <= bounds.max_ic_change_tstat,
         f"|t| of the rank IC change above {bounds.max_ic_change_tstat:g}"),
        ("relative_turnover", lambda v: v <= bounds.max_relative_turnover,
         f"relative book turnover above {bounds.max_relative_turnover:g}"),
        ("importance_rank_corr", lambda v: v >= bounds.min_importance_rank_corr,
         f"feature-importance rank correlation below {bounds.min_importance_rank_corr:g}"),
    )  # fmt: skip
    out = []
    for key, holds, why in checks:
        value = _number(comparison.get(key))
        if value is None or not holds(value):
            shown = "not a number" if value is None else f"{value:.3g}"
            out.append(f"comparison with v{baseline}: {key} {shown}: {why}")
    return out
