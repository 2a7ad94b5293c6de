"""Shared fixtures. Each test gets its own workspace; heavy services start once per session."""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from governance.ground.workspace import QUIET_STACK_ENV

REPO = Path(__file__).resolve().parents[1]

# Module fixtures more than one test module builds its own copy of (each module its own).
pytest_plugins = ("tests.helpers_rebalance",)

# Quiet the stack before anything imports MLflow or Prefect (shared/DESIGN.md).
for _k, _v in QUIET_STACK_ENV.items():
    os.environ.setdefault(_k, _v)
# A command called in a test derives its MLflow views before it returns, in the test's own
# process (MLflow imported once), instead of a detached refresher per command importing it
# again; the detached path's own tests (test_view_refresh, test_one_view) switch it back
# with the ``detached_views`` fixture (flows/view_refresh.py).
os.environ.setdefault("ALPHAGATE_VIEWS", "inline")

# Property tests draw the same examples on every run ("pinned", seeded per test), so a
# change fails or passes the same way on every machine; HYPOTHESIS_PROFILE=explore draws
# new ones (how a pinned run's blind spots are found: the NaN objective of
# tests/test_native_forms.py came from a random draw).
settings.register_profile("pinned", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "pinned"))

# Test files live in memory when the machine has a memory file system (/dev/shm) and TMPDIR
# does not name another place: the ledger, MLflow and the atomic writers fsync every write
# (about 5 ms each on a disk, some 50 per test), durability no test can observe, since none
# cuts the power. Every test's files still go through the same writers and the same fsyncs.
# pyproject.toml keeps only failed tests' directories (tmp_path_retention_policy).
MEMORY_TMP = Path("/dev/shm")
if not os.environ.get("TMPDIR") and MEMORY_TMP.is_dir() and os.access(MEMORY_TMP, os.W_OK):
    os.environ["TMPDIR"] = str(MEMORY_TMP)  # for the processes tests start too
    tempfile.tempdir = None  # read TMPDIR again

# Log keys, witnesses and verifier state default to $XDG_DATA_HOME/alphagate: keep every
# test (and every process it starts) out of the real home directory.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="alphagate-xdg-")
atexit.register(shutil.rmtree, os.environ["XDG_DATA_HOME"], ignore_errors=True)


# The collector's youngest generation is collected every 10,000 net allocations, not 700: a
# test process holds the heaps of MLflow, Prefect, Great Expectations and pandas (about
# 900,000 objects), and with the default every tenth young collection led to a walk of all
# of them (a tenth of a flow module's CPU was collection). Nothing here depends on when
# garbage is collected.
gc.set_threshold(10_000, 10, 10)


@pytest.fixture(autouse=True, scope="module")
def _earlier_heap_frozen():
    """Each module starts with the garbage of the modules before it collected, and what
    outlives them (imported modules, session fixtures) frozen: moved out of the collector's
    walks (``gc.freeze``), which then cover the objects of this module's own tests."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _no_mlflow_process_uris(monkeypatch):
    """Each test starts with MLflow's process-wide tracking and registry URIs unset and ends
    with the environment's MLflow URIs as it found them.

    alphagate reads the workspace's store only (``governance.registry.recorder``); test
    helpers that use MLflow's fluent API set the process-wide URIs (and MLflow writes them
    into ``os.environ``), which a later test's bare ``MlflowClient()`` would read instead of
    its own workspace's.
    """
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    if "mlflow" in sys.modules:  # nothing to reset before MLflow is first imported
        from mlflow.tracking._model_registry import utils as registry
        from mlflow.tracking._tracking_service import utils as tracking

        monkeypatch.setattr(tracking, "_tracking_uri", None)
        monkeypatch.setattr(registry, "_registry_uri", None)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh ALPHAGATE_HOME with MLflow pointed into it (its database from the migrated
    template, as the CLI starts one); its witness under ``tmp_path``."""
    from governance.ground.workspace import Workspace
    from tests.helpers_identity import new_workspace

    home = tmp_path / "home"
    monkeypatch.setenv("ALPHAGATE_HOME", str(home))
    monkeypatch.setenv("ALPHAGATE_WITNESS", str(tmp_path / "witness"))
    monkeypatch.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    ws = new_workspace(Workspace(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
    return ws


@pytest.fixture(scope="session")
def pg_url():
    """PostgreSQL URL from ALPHAGATE_TEST_PG_URL, or skip with the reason."""
    url = os.environ.get("ALPHAGATE_TEST_PG_URL")
    if not url:
        pytest.skip("ALPHAGATE_TEST_PG_URL is not set: PostgreSQL tests skipped")
    return url


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server (SQLite in a temp dir) for every test that runs flows.

    Start-up takes 10-20 s on a new database (shared/DESIGN.md), so share it: tests that
    need Prefect take this fixture instead of opening their own harness.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # 180 s is ample on a quiet machine; under a shared machine's load (2 cores, load 20) the
    # server took longer, and a slow start is not a failure of the code under test.
    # No flow-run heartbeats: they let a long-lived server mark a crashed run, which no test
    # asks of it, and Prefect's heartbeat thread sleeps in whole seconds, so every flow run
    # ended by waiting up to a second for it (0.6 s a run measured, hundreds of runs).
    no_heartbeat = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with prefect_test_harness(server_startup_timeout=600), temporary_settings(no_heartbeat):
        yield


#: Measured seconds per test module (tests/module_times.py writes it from a JUnit XML).
MODULE_TIMES = Path(__file__).resolve().parent / "data" / "module_times.tsv"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Modules not yet measured first, then the measured ones longest first; each module's
    tests in pytest's own order.

    ``make test`` hands whole modules to its workers in collection order
    (``--dist loadfile --no-loadscope-reorder``). xdist's own order (most tests first) left
    the long end-to-end modules of one or two tests to the end, one worker running them
    alone. Longest first leaves short modules to fill the end; a module the table does not
    know (a new one) may be long, so it goes first, where a short one costs nothing.
    """
    seconds = {}
    for line in MODULE_TIMES.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            module, value = line.split("\t")
            seconds[module] = float(value)
    unknown = float("inf")
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::", 1)[0], unknown))


def pytest_sessionfinish(session):
    """The scratch PostgreSQL databases kept for reuse are dropped (tests/test_ledger_support.py;
    imported under two names by the tests, each its own module)."""
    for name in ("test_ledger_support", "tests.test_ledger_support"):
        if (module := sys.modules.get(name)) is not None:
            module.drop_emptied()


@pytest.fixture
def detached_views(monkeypatch):
    """Commands start their detached views refresher, as outside the tests."""
    monkeypatch.delenv("ALPHAGATE_VIEWS", raising=False)
