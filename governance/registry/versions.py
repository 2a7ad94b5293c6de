"""The MLflow model registry as governance sees it: facts, promotion, and drift checks.

Only this module moves the ``champion`` alias (shared/DESIGN.md). Promotion first records
``model.promoted`` in the ledger, then moves the alias and writes the approval tags; the
registered check :func:`registry_matches_ledger` (run by ``alphagate ledger verify``) then
proves that MLflow still agrees with the ledger: an alias moved with the MLflow client
directly, or approval tags edited, is reported as tampering (exit 3).

MLflow is reached through :mod:`governance.registry.recorder` (its client, the model
download); this module imports no MLflow itself.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from governance.ground.errors import InputError
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.users import load_registry
from governance.log.chain import VerifyReport
from governance.log.ledger import Ledger
from governance.registry import recorder  # a module: its names have one home, not two
from governance.registry.champion import champion, document, record_problems, records
from governance.registry.retired import retirements
from governance.registry.store_reader import LocalRegistry, registry_reader

CHAMPION = "champion"
PAPER = "paper"  # the alias of a version in its paper stage (governance/decisions/paper.py)


def registry_exists(ws: Workspace) -> bool:
    """False when the tracking store is the workspace SQLite file and it does not exist."""
    uri = ws.tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).is_file()
    return True


@dataclass(frozen=True)
class ModelFacts:
    """What the registry says about one model version.

    ``model_artifact_hash`` is the SHA-256 of the canonical JSON ``{relative path:
    sha256}`` of the logged model's files (``MLmodel``, the booster, environment files),
    registration bookkeeping excluded.
    """

    name: str
    version: int
    run_id: str | None
    developer: str | None
    status: str | None
    data_fingerprint: str | None
    model_artifact_hash: str
    tags: dict = field(default_factory=dict)

    @property
    def ref(self) -> ModelRef:
        """The version as one value."""
        return ModelRef(self.name, self.version)

    def to_json(self) -> dict:
        """The facts as evidence packs record them: the version as the registry spells it."""
        return {**asdict(self), "version": self.ref.version_text}


def model_artifact_hash(client, ref: ModelRef) -> str:
    """SHA-256 over the files of a registered model version's logged model."""
    if isinstance(client, LocalRegistry) and (local := client.model_dir(ref)):
        return recorder.hash_model_dir(local)  # the same files MLflow would copy out
    with tempfile.TemporaryDirectory() as tmp:
        return recorder.hash_model_dir(recorder.download_model(client, ref, tmp))


def get_model_facts(client, ref: ModelRef) -> ModelFacts:
    """Facts of the version ``ref``; an unknown version is an :class:`InputError`."""
    try:
        mv = client.get_model_version(*ref.mlflow)
    except recorder.mlflow_error():
        raise InputError(
            f"--model-version: model {ref.name!r} has no version {ref.version}"
        ) from None
    tags = dict(mv.tags or {})
    return ModelFacts(
        name=ref.name,
        version=ModelRef.number(mv.version),  # read once: the registry hands back a string
        run_id=mv.run_id,
        developer=tags.get("developer"),
        status=tags.get("status"),
        data_fingerprint=tags.get("data_fingerprint"),
        model_artifact_hash=model_artifact_hash(client, ref),
        tags=tags,
    )


def champion_version(client, name: str) -> str | None:
    """Version the ``champion`` alias of ``name`` points at, as the registry spells it (a
    string: ``model.promoted`` records it so), or None."""
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except recorder.mlflow_error():
        return None


def _alias_versions(client, name: str, alias: str) -> list:
    try:
        return [client.get_model_version_by_alias(name, alias)]
    except recorder.mlflow_error():
        return []


def approved_by_tag(approvals: list[dict]) -> str:
    """The ``approved_by`` tag: ``user (role)`` of each counted approval, by name."""
    return ", ".join(
        f"{a['user']} ({a['role']})" for a in sorted(approvals, key=lambda a: a["user"])
    )


def set_champion(client, ref: ModelRef, promoted: dict, seq: int) -> str | None:
    """Move ``champion`` to the version ``ref``, tag it and retire the previous champion.

    Parameters
    ----------
    promoted : dict
        The ``model.promoted`` payload (``approved_by``, ``approvals``).
    seq : int
        Its ledger sequence number, written as tag ``promoted_seq``.

    Returns
    -------
    str or None
        The previous champion's version.
    """
    name, version = ref.name, ref.version_text  # the registry's spelling
    previous = champion_version(client, name)
    if previous is not None and previous != version:
        client.set_model_version_tag(name, previous, "status", "retired")
        client.set_model_version_tag(name, previous, "retired_by_seq", str(seq))
    client.set_registered_model_alias(name, CHAMPION, version)
    if ref.version in {
        ModelRef.recorded_number(mv.version) for mv in _alias_versions(client, name, PAPER)
    }:
        client.delete_registered_model_alias(name, PAPER)  # from paper to live capital
    tags = {
        "stage": "live",
        "status": CHAMPION,
        "approved_by": promoted["approved_by"],
        "approvals": json.dumps(promoted["approvals"], sort_keys=True, separators=(",", ":")),
        "promoted_seq": str(seq),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return previous


def champions(ledger, registry=None) -> dict[str, object]:
    """``{model name: its champion's Promotion}`` (governance/registry/champion.py): every
    model with a promotion record or an approval, by what the signed approvals make."""
    registry = registry or load_registry(ledger)
    names = set(records(ledger))
    names |= {
        str(document(e).get("model_name"))
        for e in ledger.entries(action=Action.APPROVAL_GRANTED)
        if document(e).get("model_name")
    }
    found = {name: champion(ledger, name, registry) for name in sorted(names)}
    return {name: p for name, p in found.items() if p is not None}


def registry_problems(
    client, promotions: dict, retired: dict | None = None
) -> list[tuple[int | None, str]]:
    """Disagreements between MLflow and the champions the ledger's signed approvals make
    (``{name: Promotion}``, :func:`champions`): ``[(seq, reason)]``, seq the completing approval.

    ``retired``: ``{name: {version: entry}}`` (``governance.registry.retired``); a retired
    last champion has no ``champion`` alias and the tag ``status=retired``.
    """
    names = set(promotions)
    for rm in client.search_registered_models():
        if CHAMPION in (rm.aliases or {}):
            names.add(rm.name)
    problems = []
    for name in sorted(names):
        promo = promotions.get(name)
        current = champion_version(client, name)
        if promo is None:
            problems.append(
                (None, f"registry drift: {name!r} champion alias points at v{current} but the"
                       " ledger records no promotion (alias moved outside alphagate)")
            )  # fmt: skip
            continue
        want, seq = promo.version, promo.seq
        gone = (retired or {}).get(name, {}).get(want)
        if gone is not None:
            status = dict(client.get_model_version(*promo.ref.mlflow).tags or {}).get("status")
            if current is not None or status != "retired":
                problems.append(
                    (gone.seq, f"registry drift: {name!r} v{want} was retired (seq {gone.seq})"
                               f" but the alias points at v{current}, status {status!r}")
                )  # fmt: skip
            continue
        if ModelRef.recorded_number(current) != want:
            where = f"points at v{current}" if current is not None else "was removed"
            problems.append(
                (seq, f"registry drift: {name!r} champion alias {where}, the signed"
                      f" approvals (completed at seq {seq}) make v{want} the champion")
            )  # fmt: skip
            continue
        tags = dict(client.get_model_version(*promo.ref.mlflow).tags or {})
        approved_by = approved_by_tag(list(promo.approvals))
        for key, expected in (("approved_by", approved_by), ("status", CHAMPION)):
            if tags.get(key) != expected:
                problems.append(
                    (seq, f"registry drift: {name!r} v{want} tag {key}={tags.get(key)!r},"
                                f" the ledger records {expected!r}")
                )  # fmt: skip
    return problems


def registry_matches_ledger(ws: Workspace, ledger: Ledger) -> VerifyReport | None:
    """Integrity check: every ``model.promoted`` records a completion of the signed
    approvals, once (:func:`governance.registry.champion.record_problems`), and the
    ``champion`` aliases and approval tags match the champions those approvals make."""
    registry = load_registry(ledger)
    problems = record_problems(ledger, registry)
    promotions = champions(ledger, registry)
    if not problems and (promotions or registry_exists(ws)):
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        retired = {name: retirements(ledger, name) for name in promotions}
        problems = registry_problems(registry_reader(ws), promotions, retired)
    if not problems:
        return None
    seq, reason = problems[0]
    return VerifyReport(ok=False, entries=ledger.head()[0], first_bad_seq=seq, reason=reason)
