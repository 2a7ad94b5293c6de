"""Progress when the output goes to a file, and Prefect's long lines (issue 29).

``alphagate run > run.log 2>&1`` printed nothing for 50 s (progress only on a terminal), and
on a terminal a Prefect WARNING of 1,146 characters was glued onto the spinner. Each case
runs in a child process whose stderr is a real file, as a person's redirection makes it:
the stages of :mod:`flows.progress` and a Prefect logger's warning, as a flow run emits it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_graph import ROOT

#: A Prefect warning as long as the one seen (1,146 characters), with a second line.
CHILD = """
import logging, time
from flows.progress import finished, showing_progress, started
with showing_progress():
    started("ingest")
    time.sleep(0.3)
    logging.getLogger("prefect.engine").warning("Task run 'x' - " + "y" * 1130 + "\\nsecond")
    finished("ingest")
    started("train")
    finished("train", "halt")
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _stderr_to_file(tmp_path: Path, progress: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ALPHAGATE_PROGRESS"}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="100", PREFECT_HOME=str(tmp_path / "prefect"))
    if progress is not None:
        env["ALPHAGATE_PROGRESS"] = progress
    log = tmp_path / "run.log"
    with log.open("w") as err:
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, stderr=err, timeout=300)
    assert done.returncode == 0, log.read_text()[-3000:]
    return log.read_text(encoding="utf-8")


def test_redirected_to_a_file_each_stage_prints_plain_lines(tmp_path):
    text = _stderr_to_file(tmp_path, None)  # the default: no setting
    lines = text.splitlines()
    assert "\r" not in text and not ANSI.search(text), "spinner frames or escape codes in a file"
    stages = [line.split()[0] for line in lines if line.startswith("  ")]
    assert stages == ["ingest", "ingest", "train", "train"], text
    assert re.search(r"^  train +\d+\.\d s  halt$", text, re.M), text
    # the warning: one line, shortened to the plain width, its second line dropped
    (warning,) = [line for line in lines if "Task run 'x'" in line]
    assert len(warning) <= 160 and warning.endswith("…") and "second" not in text


def test_live_prefect_lines_are_one_line_above_the_spinner(tmp_path):
    text = _stderr_to_file(tmp_path, "live")
    # what a terminal shows: the escape codes gone, each screen line on its own
    screen = [ANSI.sub("", part) for part in re.split(r"[\r\n]", text)]
    warned = [part for part in screen if "Task run 'x'" in part]
    assert warned, text[-2000:]
    assert all(len(part) <= 100 and part.rstrip().endswith("…") for part in warned), warned
    # never on the same screen line as a stage's spinner
    assert not any("ingest" in part or "train" in part for part in warned)


@pytest.mark.parametrize("setting", ["0"])
def test_progress_can_be_turned_off(tmp_path, setting):
    text = _stderr_to_file(tmp_path, setting)
    assert "ingest" not in text
