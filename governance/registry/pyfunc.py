"""A python model rebuilt from its artifacts: how a model that is not one LightGBM booster
(the regime ensemble, tasks/model/mixture.py) is logged, registered and loaded.

:class:`ArtifactModel` holds no weights: MLflow stores its files as the model's
``artifacts`` (so the hash the approvals sign covers every one of them,
:func:`governance.registry.recorder.hash_model_dir`) and, on load, ``factory``
(``"module:function"``, called with the artifacts' local paths by name and ``kwargs``)
rebuilds the model from those files, which then predicts. Its base class is MLflow's,
reached through the recorder and built on first use (module ``__getattr__``, PEP 562), so
importing this module loads no MLflow, and a pickled model finds the class by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from governance.registry.recorder import python_model_base

__all__ = ["artifact_model"]


def _build() -> type:
    class ArtifactModel(python_model_base()):
        """A model rebuilt by ``factory`` from its artifacts on load."""

        def __init__(self, factory: str, kwargs: Mapping[str, Any]):
            self.factory = factory
            self.kwargs = dict(kwargs)
            self.model = None

        def load_context(self, context) -> None:
            module, name = self.factory.split(":")
            build = getattr(importlib.import_module(module), name)
            self.model = build(dict(context.artifacts), **self.kwargs)

        def predict(self, context, model_input, params=None):
            if self.model is None:
                self.load_context(context)
            return self.model.predict(model_input)

    ArtifactModel.__module__, ArtifactModel.__qualname__ = __name__, "ArtifactModel"
    return ArtifactModel


def __getattr__(name: str):
    if name != "ArtifactModel":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = globals()["ArtifactModel"] = _build()
    return cls


def artifact_model(factory: str, kwargs: Mapping[str, Any]):
    """An :class:`ArtifactModel` for ``mlflow.pyfunc.log_model(python_model=...)``."""
    return __getattr__("ArtifactModel")(factory, kwargs)
