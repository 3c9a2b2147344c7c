# The two set-up commands (see README): `make demo` and `make test`.
# Both create .venv and install the pinned requirements on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests run in one process per core (pytest-xdist; each PostgreSQL test has its own schema, every
# other resource is per test): about half the time on two cores. `make test PYTEST_ARGS=` for one.
PYTEST_ARGS ?= -n auto --maxprocesses=4

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m monitors demo

test: $(STAMP)
	bash scripts/ensure-system-deps.sh
	$(BIN)/ruff check monitors storage tests bench dashboard.py
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check monitors storage tests bench dashboard.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
