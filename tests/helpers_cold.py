"""Run ``alphagate`` as a fresh process and record what its cold path must not do
(tests/test_cold_path.py, tests/test_db_templates.py): import Prefect's server package, or
run MLflow's migrations.

Usage: ``python tests/helpers_cold.py RECORD [--light] ARGS...``. :func:`watch` appends one
line to RECORD for each import of a ``prefect.server`` module in this process (an audit hook:
it sees lazy and computed imports too) and each call of MLflow's table creation or migration
(``mlflow.store.db.utils._initialize_tables`` and ``_upgrade_db``, wrapped: the originals
still run). With ``--light`` (a command that reads the ledger and answers), MLflow is not
wrapped but :data:`HEAVY` is watched: one line ``loaded NAME`` for each of those packages in
the process's modules when it exits (MLflow among them, so it cannot have migrated).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


#: What an interactive command has no use for: the numerical and ML stack (issue 28).
HEAVY = ("pandas", "numpy", "lightgbm", "sklearn", "mlflow")


def watch(record_path: str, *, light: bool = False) -> None:
    """Record this process's imports of Prefect's server and MLflow's migrations; when
    ``light``, the :data:`HEAVY` packages loaded at exit instead of MLflow's migrations."""
    record = open(record_path, "a", buffering=1)  # noqa: SIM115 (open for the process's life)

    def imports(event: str, args: tuple) -> None:
        if event == "import" and str(args[0]).startswith("prefect.server"):
            record.write(f"import {args[0]}\n")

    sys.addaudithook(imports)
    if light:
        import atexit

        atexit.register(lambda: [record.write(f"loaded {m}\n") for m in HEAVY if m in sys.modules])
        return
    import mlflow.store.db.utils as mlflow_db

    for name in ("_initialize_tables", "_upgrade_db"):
        original = getattr(mlflow_db, name)

        def traced(*args, _name=name, _original=original, **kwargs):
            record.write(f"mlflow {_name}\n")
            return _original(*args, **kwargs)

        setattr(mlflow_db, name, traced)


if __name__ == "__main__":
    from governance.ground.workspace import Workspace

    Workspace.from_env().activate()  # what main() does first (idempotent), before MLflow
    light = sys.argv[2:3] == ["--light"]
    watch(sys.argv[1], light=light)
    from flows.cli import main

    sys.exit(main(sys.argv[2 + light :]))
