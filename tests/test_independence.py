"""Validation is independent by construction: it imports no training code (shared/DESIGN.md).

Every module of ``validation/`` is parsed with ``ast``: no import of ``tasks.model.train*``,
``tasks.model.cv``, ``tasks.model.register`` or ``tasks.model.card`` (directly, as a parent package
import of those names, or through ``importlib``), and no LightGBM training call
(``lightgbm.train``, ``lgb.train``, ``LGBMRegressor``/``LGBMClassifier``/``LGBMRanker``,
``.fit(``). The model is read from the registry only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VALIDATION = Path(__file__).resolve().parents[1] / "validation"
FORBIDDEN_MODULES = (
    "tasks.model.train",
    "tasks.model.cv",
    "tasks.model.register",
    "tasks.model.card",
)
FORBIDDEN_NAMES = {"train", "cv", "tracking", "model_card"}
FORBIDDEN_CALLS = {"train", "cv", "fit", "LGBMRegressor", "LGBMClassifier", "LGBMRanker"}


def _forbidden_module(name: str) -> bool:
    return any(name == m or name.startswith(m) for m in FORBIDDEN_MODULES)


def violations(source: str) -> list[str]:
    """Forbidden imports and calls in one module's source, as ``line: what`` strings."""
    tree = ast.parse(source)
    lgb_aliases = {"lightgbm"}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden_module(alias.name):
                    out.append(f"{node.lineno}: import {alias.name}")
                if alias.name == "lightgbm":
                    lgb_aliases.add(alias.asname or "lightgbm")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if _forbidden_module(mod):
                out.append(f"{node.lineno}: from {mod} import ...")
            if mod == "tasks":
                bad = [a.name for a in node.names if a.name.startswith(tuple(FORBIDDEN_NAMES))]
                out += [f"{node.lineno}: from tasks import {b}" for b in bad]
            if mod == "lightgbm":
                bad = [a.name for a in node.names if a.name in FORBIDDEN_CALLS]
                out += [f"{node.lineno}: from lightgbm import {b}" for b in bad]
        elif isinstance(node, ast.Call):
            f = node.func
            if (
                isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name)
                and f.value.id in lgb_aliases
                and f.attr in FORBIDDEN_CALLS
            ):
                out.append(f"{node.lineno}: {f.value.id}.{f.attr}(...)")
            if isinstance(f, ast.Attribute) and f.attr == "fit":
                out.append(f"{node.lineno}: .fit(...)")
            if (
                isinstance(f, ast.Attribute)
                and f.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and _forbidden_module(str(node.args[0].value))
            ):
                out.append(f"{node.lineno}: importlib.import_module({node.args[0].value!r})")
    return out


MODULES = sorted(VALIDATION.rglob("*.py"))


def test_validation_package_is_scanned():
    names = {p.name for p in MODULES}
    assert {"run.py", "inputs.py", "metrics.py", "overfitting.py", "explain.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_no_training_code(path):
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import tasks.model.train",
        "from tasks.model.train import ModelConfig",
        "from tasks import train",
        "from tasks.model.register import log_training",
        "import tasks.model.cv as cv",
        "import lightgbm as lgb\nlgb.train({}, None)",
        "from lightgbm import LGBMRegressor",
        "import importlib\nimportlib.import_module('tasks.model.train')",
        "model.fit(X, y)",
    ],
)
def test_scanner_catches_each_forbidden_form(snippet):
    assert violations(snippet), snippet


def test_scanner_allows_what_validation_needs():
    ok = "import mlflow\nimport shap\nfrom tasks.model.dataset import load_sealed\nb.predict(X)"
    assert violations(ok) == []


def test_importing_validation_loads_no_training_module_transitively():
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, validation\n"
        "for m in pkgutil.iter_modules(validation.__path__):\n"
        "    importlib.import_module('validation.' + m.name)\n"
        "print(sorted(n for n in sys.modules if n.startswith('tasks')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=VALIDATION.parent,
    ).stdout
    loaded = ast.literal_eval(out.strip().splitlines()[-1])
    assert not [m for m in loaded if _forbidden_module(m)], loaded
