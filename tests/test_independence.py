"""Validation is independent by construction: it imports no training code (shared/DESIGN.md).

What ``validation/`` may import is an allow-list: ``governance``, ``validation`` itself and
:data:`ALLOWED_TASKS` (the sealed-frame reader and the shared signal statistics), read from
the import graph (tests/import_graph.py: lazy imports and ``importlib`` included). Every
module is also parsed for LightGBM training calls (``lightgbm.train``, ``lgb.train``,
``LGBMRegressor``/``LGBMClassifier``/``LGBMRanker``, ``.fit(``): the model is read from the
registry only. Importing every validation module loads no training module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.import_graph import edges_of, import_graph

VALIDATION = Path(__file__).resolve().parents[1] / "validation"
#: The tasks modules validation may import: read the sealed holdout, compute the statistics
#: every stage shares (tasks/model/stats.py), count the trials recorded in the ledger by the
#: one definition training uses too (tasks/model/trials.py), and the market regimes both
#: report by (tasks/model/regimes.py: states of the market's returns), and the trading year
#: (tasks/data/calendar.py: the constant 252, read by validation's config without the
#: statistics' pandas), and the registered regime ensemble's loader (tasks/model/mixture.py:
#: MLflow rebuilds the model validation loads with it). Nothing that trains.
ALLOWED_TASKS = frozenset(
    {"tasks.model.dataset", "tasks.model.stats", "tasks.model.trials", "tasks.model.regimes"}
    | {"tasks.data.calendar", "tasks.model.mixture"}
)
TRAINING = ("tasks.model.train", "tasks.model.cv", "tasks.model.register", "tasks.model.tracking")
TRAINING += ("tasks.model.card", "tasks.model.regime_ensemble")
GRAPH = import_graph()
FORBIDDEN_CALLS = {"train", "cv", "fit", "LGBMRegressor", "LGBMClassifier", "LGBMRanker"}
#: The one exception, and exactly what it may call: replication fits the version again from
#: its signed recipe with the validator's own call of LightGBM (validation/replication.py),
#: so that a model that is not what its record says is caught. It still imports no training
#: code (the allow-list above), and every other module is scanned as before.
REFIT = {"replication.py": ["lightgbm.train(...)"]}


def _allowed(target: str) -> bool:
    return target.split(".")[0] in ("governance", "validation") or target in ALLOWED_TASKS


def disallowed_imports(source: str, module: str = "validation.x") -> list[str]:
    """The alphagate modules ``source`` imports outside the allow-list."""
    return sorted(t for t in edges_of(source, module, set(GRAPH)) if not _allowed(t))


def violations(source: str) -> list[str]:
    """LightGBM training calls in one module's source, as ``line: what`` strings."""
    tree = ast.parse(source)
    lgb_aliases = {"lightgbm"}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lightgbm":
                    lgb_aliases.add(alias.asname or "lightgbm")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
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
    return out


MODULES = sorted(VALIDATION.rglob("*.py"))


def test_validation_package_is_scanned():
    names = {p.name for p in MODULES}
    assert {"run.py", "inputs.py", "metrics.py", "overfitting.py", "explain.py"} <= names


def test_validation_imports_only_the_allow_list():
    bad = {m: sorted(t for t in ts if not _allowed(t)) for m, ts in GRAPH.items()}
    assert {m: ts for m, ts in bad.items() if m.startswith("validation") and ts} == {}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_makes_no_training_call(path):
    calls = [v.split(": ", 1)[1] for v in violations(path.read_text(encoding="utf-8"))]
    assert calls == REFIT.get(path.name, [])


@pytest.mark.parametrize(
    "snippet",
    [
        "import tasks.model.train",
        "from tasks.model.train import ModelConfig",
        "from tasks.model import train",
        "from tasks.model.register import train_and_register",
        "import tasks.model.cv as cv",
        "def f():\n    from tasks.model.tracking import log_training",
        "import importlib\nimportlib.import_module('tasks.model.train')",
        "from tasks.portfolio.backtest import run_backtest",
        "from flows.config import AlphagateConfig",
    ],
)
def test_allow_list_refuses_each_import_form(snippet):
    assert disallowed_imports(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "import lightgbm as lgb\nlgb.train({}, None)",
        "from lightgbm import LGBMRegressor",
        "m.fit(X)",
    ],
)
def test_scanner_catches_each_training_call(snippet):
    assert violations(snippet), snippet


def test_scanner_allows_what_validation_needs():
    ok = "import mlflow\nimport shap\nfrom tasks.model.dataset import load_sealed\nb.predict(X)"
    ok += "\nfrom tasks.model.stats import ic_by_date\nfrom governance.log.ledger import Ledger"
    assert violations(ok) == []
    assert disallowed_imports(ok) == []


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
    assert not [m for m in loaded if m.startswith(TRAINING)], loaded


def test_the_registered_ensemble_loads_by_allow_listed_code_only():
    """A registered regime ensemble is an MLflow python model whose loader MLflow imports by
    name when validation loads the version (governance/registry/pyfunc.py): code the import
    graph cannot see. Its loader is the allow-listed tasks/model/mixture.py, which makes no
    training call and, imported alone, loads no training module."""
    import subprocess
    import sys

    import lightgbm as lgb
    import numpy as np

    from tasks.model.mixture import RegimeEnsemble, python_model

    x = np.random.default_rng(0).standard_normal((50, 2))
    data = lgb.Dataset(x, x[:, 0], feature_name=["a", "b"])
    booster = lgb.train({"verbose": -1, "num_leaves": 4}, data, num_boost_round=2)
    module = python_model(RegimeEnsemble((booster, booster), ("a", "b"))).factory.split(":")[0]
    assert module in ALLOWED_TASKS, module
    source = VALIDATION.parent / (module.replace(".", "/") + ".py")
    assert violations(source.read_text(encoding="utf-8")) == []
    code = f"import sys, {module}\nprint(sorted(n for n in sys.modules if n.startswith('tasks')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=VALIDATION.parent).stdout  # fmt: skip
    loaded = ast.literal_eval(out.strip().splitlines()[-1])
    assert not [m for m in loaded if m.startswith(TRAINING)], loaded
