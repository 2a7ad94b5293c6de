"""A run config named by file: what prefect.yaml's deployments pass as ``config:``."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config import AlphagateConfig, load_config
from governance.ground.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def test_a_file_reference_loads_as_load_config(monkeypatch):
    monkeypatch.chdir(REPO)
    ref = AlphagateConfig.model_validate({"file": "configs/demo.yaml"})
    assert ref == load_config("configs/demo.yaml")
    assert ref.base_dir == str(REPO / "configs")
    assert ref.model.name == "alphagate-demo"  # from the file, not the defaults
    # Where it came from is not part of the settings: the same hash as an inline copy.
    inline = AlphagateConfig.model_validate({**ref.resolved(), "base_dir": ref.base_dir})
    assert inline.config_hash() == ref.config_hash()
    assert inline.file is None


def test_a_mapping_with_more_than_file_is_the_config_itself():
    cfg = AlphagateConfig.model_validate({"file": "nowhere.yaml", "model": {"name": "x"}})
    assert cfg.model.name == "x"  # a resolved config that remembers its file


def test_a_missing_or_malformed_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"nope\.yaml: file not found"):
        AlphagateConfig.model_validate({"file": str(tmp_path / "nope.yaml")})
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_dir: /elsewhere\n")
    with pytest.raises(InputError, match=r"bad\.yaml: base_dir: unknown key"):
        load_config(bad)
    bad.write_text("model: {cv: {n_folds: 0}}\n")
    with pytest.raises(InputError, match=r"bad\.yaml: model\.cv\.n_folds"):
        load_config(bad)
