# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest processes for `make test` (pytest-xdist): `auto` is one per CPU; 0 runs the suite in
# this one process.
TEST_WORKERS ?= auto

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mailengine db upgrade
	$(BIN)/mailengine demo-data --if-empty --customers 500 --seed 1
	$(BIN)/mailengine user add admin@shop.example --role admin --if-missing --generate-password
	$(BIN)/mailengine run

test: $(STAMP)
	$(BIN)/ruff check mailengine tests bench
	$(BIN)/ruff format --check mailengine tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

clean:
	rm -rf $(VENV) var/*.db var/mail
