"""A model's input contract, inside the model files the approvals sign (issue 22, item 5).

What a model needs to score the right columns the right way — feature names and order, their
cross-sectional normalisation, the label's horizon and mode, and the hash of the training
config — is written at training as ``contract.json`` among the logged model's own files
(``extra_files/contract.json``, beside ``MLmodel`` and the booster). Those files are what
:func:`governance.registry.recorder.hash_model_dir` hashes, so every approval's
``model_artifact_hash`` signs the contract too, and the loader re-hashes them as it loads.

Every loader takes the contract from there (:func:`read_contract`), never from the registered
version's MLflow tags (``features``, ``horizon``): the tags are display copies that anyone
with the MLflow store can rewrite without touching a model file. A model without the file
(trained before issue 22) carries no signed contract and is not scored: retrain it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from governance.ground.canonical import canonical_json
from governance.ground.errors import TamperDetected

__all__ = ["CONTRACT_FILE", "KIND", "ModelContract", "read_contract"]

#: The contract's file name among the logged model's extra files.
CONTRACT_FILE = "contract.json"
KIND = "alphagate.model-contract/1"


@dataclass(frozen=True)
class ModelContract:
    """What a model's inputs are (the signed copy; see the module docstring).

    Attributes
    ----------
    features : tuple of str
        Model input columns, in the order the booster was trained on.
    normalise : str
        Per-date cross-sectional normalisation of the features (``Normalise`` value).
    label : str
        Per-date normalisation of the training label (``LabelMode`` value).
    horizon : int
        Label horizon in trading days.
    config_hash : str
        SHA-256 of the resolved training run config.
    """

    features: tuple[str, ...]
    normalise: str
    label: str
    horizon: int
    config_hash: str

    def to_bytes(self) -> bytes:
        """The file's bytes: canonical JSON with the contract's kind."""
        return canonical_json({"kind": KIND, **asdict(self), "features": list(self.features)})

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> ModelContract:
        """The contract in ``data``; :class:`TamperDetected` naming ``where`` and the field
        when it is not one (a contract file no training wrote)."""
        try:
            doc = json.loads(data)
        except ValueError:
            raise TamperDetected(f"{where}: {CONTRACT_FILE} is not JSON") from None
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise TamperDetected(f"{where}: {CONTRACT_FILE}: kind is not {KIND!r}")
        checks = {
            "features": lambda v: (
                isinstance(v, list)
                and v
                and all(isinstance(n, str) and n for n in v)
                and len(set(v)) == len(v)
            ),
            "normalise": lambda v: isinstance(v, str),
            "label": lambda v: isinstance(v, str),
            "horizon": lambda v: type(v) is int and v >= 1,
            "config_hash": lambda v: isinstance(v, str),
        }
        for name, ok in checks.items():
            if not ok(doc.get(name)):
                raise TamperDetected(f"{where}: {CONTRACT_FILE}: field {name!r} is malformed")
        return cls(
            features=tuple(doc["features"]),
            normalise=doc["normalise"],
            label=doc["label"],
            horizon=doc["horizon"],
            config_hash=doc["config_hash"],
        )


def read_contract(extras: Mapping[str, bytes], where: str) -> ModelContract | None:
    """The contract among a loaded model's extra files (``{name: bytes}``, as
    :func:`governance.registry.recorder.load_model` returns them), or None when the model
    carries none (trained before issue 22; the caller refuses to score it)."""
    data = extras.get(CONTRACT_FILE)
    return None if data is None else ModelContract.from_bytes(data, where)
