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


def test_read_yaml_reads_as_the_pure_safe_loader_and_names_its_errors(tmp_path):
    """read_yaml parses with libyaml: every shipped and test YAML file reads exactly as
    ``yaml.safe_load`` reads it, and a syntax error keeps the pure parser's message."""
    import yaml

    from governance.ground.configio import read_yaml

    files = sorted([*REPO.glob("configs/**/*.yaml"), *REPO.glob("tests/data/*.yaml")])
    assert len(files) >= 10
    for f in files:
        assert read_yaml(f) == (yaml.safe_load(f.read_text(encoding="utf-8")) or {}), f
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(InputError) as err:
        read_yaml(bad)
    try:
        yaml.safe_load(bad.read_text())
    except yaml.YAMLError as exc:
        expected = f"line {exc.problem_mark.line + 1}: invalid YAML ({exc.problem})"
    assert str(err.value) == f"{bad}: {expected}"
