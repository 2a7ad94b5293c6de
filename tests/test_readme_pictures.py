"""The README's pictures come from a governed workspace (issue 29, item 10).

docs/screenshots.py makes them by following the README's team walkthrough (personal keys,
``init``, enrolment, the shipped policy adopted under four eyes, the pipeline, the
validation, the paper approvals): never ``init --sandbox`` nor a sandbox config. Checked
here without running it (it takes minutes and two servers): every picture the README shows
is one the script writes and is in the repository, and the script's workspace is governed.
The pictures themselves were looked at when regenerated (no SANDBOX banner).
"""

from __future__ import annotations

import ast
import re

from tests.import_graph import ROOT

SCRIPT = ROOT / "docs" / "screenshots.py"


def _written_by_script() -> set[str]:
    """The ``*.png`` names docs/screenshots.py saves (string constants in its source)."""
    tree = ast.parse(SCRIPT.read_text())
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith(".png")
    }


def test_every_readme_picture_is_made_by_the_script_and_present():
    shown = re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", (ROOT / "README.md").read_text())
    assert shown, "the README shows no picture"
    made = _written_by_script()
    for path in shown:
        assert (ROOT / path).is_file(), path
        assert path.rsplit("/", 1)[1] in made, f"{path} is not made by docs/screenshots.py"


def test_the_pictures_workspace_is_governed():
    from governance.ground.configio import read_yaml

    source = SCRIPT.read_text()
    assert "--sandbox" not in source and "sandbox.yaml" not in source
    config = re.search(r'CONFIG = REPO / "configs" / "([^"]+)"', source)
    assert config, "the script names no shipped config"
    cfg = read_yaml(ROOT / "configs" / config.group(1))
    assert cfg["policy"]["file"] == "policy.yaml"  # the shipped policy, adopted under 4 eyes
    assert '"policy", "adopt"' in source and '"init", "--admin"' in source
