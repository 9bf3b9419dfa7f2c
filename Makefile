# Two commands on a fresh machine: `make bench` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install bench test unit lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## the main job: every target on the default profile, backend chosen automatically
bench: $(STAMP)
	$(BIN)/bench run

## unit, contract and end-to-end tests (needs PostgreSQL/NATS binaries: installed with the project)
test: $(STAMP)
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check harness targets scenarios tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
