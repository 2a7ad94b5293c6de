# alphagate — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all lint format bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The migrated MLflow and Prefect databases new workspaces start from (flows/db_templates.py).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,pdf]'
	$(BIN)/python -m flows.db_templates
	touch $(STAMP)

install: $(STAMP)

# The demo's witness sits beside its workspace, so that `make clean` starts a new log and
# the next `make demo` is not (rightly) refused as a truncated one. Production witnesses
# live where the log's writer cannot reach them (docs/governance.md).
DEMO_WITNESS ?= $(CURDIR)/.alphagate-demo-witness

demo: $(STAMP)
	ALPHAGATE_WITNESS="$${ALPHAGATE_WITNESS:-$(DEMO_WITNESS)}" $(BIN)/alphagate demo --config configs/demo.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Test modules are spread over TEST_WORKERS processes (pytest-xdist), one module per worker at a
# time so module fixtures are built once; each worker starts its own Prefect test server. The
# modules go out in collection order, the longest first (tests/conftest.py), not xdist's
# most-tests-first, so no long module is left to run alone at the end.
TEST_WORKERS ?= 2

PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint
	$(PYTEST)

# The default suite and the tests marked `slow` (scale: longer property runs, more seeds).
test-all: lint
	$(PYTEST) -m 'slow or not slow'

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf .alphagate .alphagate-demo-witness $(VENV) .pytest_cache
