"""The README's "Run it as a team" walkthrough, run verbatim (issue 29).

The bash block under that heading is read from README.md and run line by line, as written,
in one bash process on a fresh workspace with a fresh ``HOME`` (the keys folder ``~/...``
lands there, outside the workspace): each line's exit code must be the one its ``# exit N``
comment states, else 0. So the README cannot drift from the product: a renamed flag, a
changed exit code or a finding id that moved fails here. The end state is then read from the
ledger: under the shipped policy's paper stage, the walkthrough's model was put on paper by
two distinct people, its paper book was booked, and the fallback drove the published book.
The commands the outputs print run as printed (only their placeholders filled): ``status``,
and the ``validate`` that ``run`` suggests when its developer cannot sign for the validator,
which must validate the walkthrough's model and version as vera.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from governance.ground.vocabulary import Action
from tests.import_graph import ROOT

HEADING = "## Run it as a team"
EXPECTED = re.compile(r"#\s*exit (\d)\b")


def walkthrough_lines(readme: str) -> list[str]:
    """The lines of the first ```bash block after the walkthrough's heading."""
    section = readme.split(HEADING, 1)[1]
    block = section.split("```bash\n", 1)[1].split("\n```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


#: A command an output suggests: ``alphagate <verb> ... --model-version N ...``.
HINT = re.compile(r"alphagate (?:validate|approve|reject|retire|status|evidence export)\b[^\n`]*")


def printed_hints(output: str) -> list[str]:
    """Commands the walkthrough's outputs suggest for a model version (not the commands run,
    which the script echoes nowhere)."""
    return [h.strip() for h in HINT.findall(output) if "--model-version" in h]


def fill_hint(hint: str, keys: str) -> str:
    """A printed command with only its placeholders filled, as its reader would: the acting
    person (``<validator>``: the walkthrough's vera) and their key in ``keys``."""
    cmd = hint.replace("<validator>", "vera")
    who = re.search(r"--as (\S+)", cmd)
    key = f"{keys}/{who.group(1)}.key" if who else ""
    return cmd.replace("<their key>", key).replace("--key FILE", f"--key {key}")


def expected_exit(line: str) -> int:
    found = EXPECTED.search(line)
    return int(found.group(1)) if found else 0


def _script(lines: list[str], codes: Path) -> str:
    """Each line verbatim, then its exit code appended to ``codes`` (one per line)."""
    out = ["set +e"]
    for line in lines:
        out += [line, f'echo $? >> "{codes}"']
    return "\n".join(out) + "\n"


def test_readme_walkthrough_runs_as_written(tmp_path, prefect_server):
    lines = walkthrough_lines((ROOT / "README.md").read_text())
    assert any(line.startswith("alphagate rebalance") for line in lines)
    codes, log = tmp_path / "codes", tmp_path / "log"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALPHAGATE_", "MLFLOW_")) and k != "XDG_DATA_HOME"
    }
    env.update(
        HOME=str(tmp_path / "home"),
        ALPHAGATE_HOME=str(tmp_path / "workspace"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
    )
    with log.open("w") as out:
        subprocess.run(
            ["bash", "-c", _script(lines, codes)], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    got = [int(c) for c in codes.read_text().split()]
    want = [expected_exit(line) for line in lines]
    assert got == want, (
        f"exit codes {got} != {want} for\n"
        + "\n".join(f"{g} {w} {line}" for g, w, line in zip(got, want, lines, strict=False))
        + f"\n--- output\n{log.read_text()[-6000:]}"
    )
    assert "Traceback" not in log.read_text()
    # every command the outputs suggest names the walkthrough's model (issue 29: a hint
    # without it acts on the default config's model); the read-only ones run as printed
    hints = printed_hints(log.read_text())
    assert {h.split()[1] for h in hints} >= {"validate", "approve", "status"}, hints
    assert [h for h in hints if "--model team-walkthrough" not in h] == []
    for hint in (h for h in hints if h.split()[1] == "status"):
        shown = subprocess.run(["bash", "-c", hint], cwd=ROOT, env=env, capture_output=True)
        assert shown.returncode == 0 and b"team-walkthrough v1" in shown.stdout, hint

    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    ws = Workspace(tmp_path / "workspace")
    with Ledger.open(ws) as ledger:
        before = ledger.entries(action=Action.VALIDATION_COMPLETED)
    # the validate hint `run` printed (dana cannot sign for vera) runs as printed, vera's key
    # filled in, in the walkthrough's shell (no ALPHAGATE_CONFIG): it names the run's model
    # and config, and validates the walkthrough's version, not the default config's model
    # (issue 29, item 2)
    validate = next(h for h in hints if h.split()[1] == "validate")
    assert "--config configs/team.yaml" in validate, validate  # the settings the run read
    ran = subprocess.run(["bash", "-c", fill_hint(validate, "~/alphagate-keys")], cwd=ROOT,
                         env=env, capture_output=True, text=True)  # fmt: skip
    assert ran.returncode in (0, 3) and "Traceback" not in ran.stderr, (validate, ran.stderr)
    assert "validation of team-walkthrough v1:" in ran.stdout, (validate, ran.stdout)
    with Ledger.open(ws) as ledger:
        after = ledger.entries(action=Action.VALIDATION_COMPLETED)
    assert len(after) == len(before) + 1, validate
    assert (after[-1].subject, after[-1].actor) == ("model:team-walkthrough/v1", "vera")

    with Ledger.open(ws) as ledger:
        paper = ledger.last(action=Action.MODEL_PAPER)
        paper_approvals = ledger.entries(action=Action.APPROVAL_PAPER)
        booked = ledger.entries(action=Action.PAPER_BOOKED)
        promoted = ledger.entries(action=Action.MODEL_PROMOTED)
        published = ledger.last(action=Action.PORTFOLIO_PUBLISHED)
        refused = ledger.last(action=Action.APPROVAL_REFUSED)
    # the shipped high tier: two distinct people put v1 on paper; it never went live
    assert paper.subject == "model:team-walkthrough/v1", paper.subject
    assert {e.payload.get("user", e.actor) for e in paper_approvals} == {"vera", "omar"}
    assert promoted == [] and refused.payload["user"] == "vera"
    assert [(b.subject, b.payload["source"]) for b in booked] == [
        ("model:team-walkthrough/v1", "model")]  # fmt: skip
    assert (published.payload["source"], published.payload.get("model_version")) == (
        "fallback", None)  # fmt: skip


def test_a_hint_is_filled_only_where_it_names_a_placeholder():
    hint = "alphagate validate --model m --model-version 1 --as <validator> --key <their key>"
    assert fill_hint(hint, "~/k") == (
        "alphagate validate --model m --model-version 1 --as vera --key ~/k/vera.key")  # fmt: skip
    approve = "alphagate approve --model m --model-version 1 --as rita --key FILE --reason x"
    assert fill_hint(approve, "~/k").endswith("--as rita --key ~/k/rita.key --reason x")


def test_the_walkthrough_reader_sees_each_line_and_its_exit():
    """The parser can fail: a block with a wrong expectation is read as written."""
    text = f"x\n{HEADING}\ntext\n```bash\nK=~/k\nalphagate run   # exit 3: halted\n\n```\n"
    lines = walkthrough_lines(text)
    assert lines == ["K=~/k", "alphagate run   # exit 3: halted"]
    assert [expected_exit(line) for line in lines] == [0, 3]
