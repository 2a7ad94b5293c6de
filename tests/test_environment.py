"""One reader of the installed environment (governance/ground/environment.py) behind both
records that name it: a training run's environment and an evidence pack's environment.json."""

from __future__ import annotations

import importlib.metadata

from governance.evidence.pack import python_environment as pack_environment
from governance.ground.environment import distributions
from tasks.model.tracking import python_environment as run_environment


def test_both_records_name_the_same_installed_versions():
    installed = distributions()
    assert installed["lightgbm"] == importlib.metadata.version("lightgbm")
    assert pack_environment()["packages"] == installed
    assert run_environment()["distributions"] == {k.lower(): v for k, v in installed.items()}


def test_each_caller_gets_its_own_copy():
    distributions()["lightgbm"] = "0.0"
    run_environment()["distributions"]["lightgbm"] = "0.0"
    assert distributions()["lightgbm"] == importlib.metadata.version("lightgbm")
