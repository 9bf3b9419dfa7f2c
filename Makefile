# Two commands on a fresh machine: `make bench` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXPRESS := targets/express_monolith
NODE_STAMP := $(EXPRESS)/node_modules/.installed

.PHONY: install bench test unit lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The Express monolith's npm dependencies, exactly as package-lock.json pins them. Without npm
# this step only says so: the three Python targets do not need it (bench doctor reports it).
$(NODE_STAMP): $(EXPRESS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(EXPRESS) --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else \
		echo "npm not found: skipping the express-monolith dependencies (install Node.js 20 and npm, then make install)"; \
	fi

install: $(STAMP) $(NODE_STAMP)

## the main job: every target on the default profile, backend chosen automatically
bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/bench run

## unit, contract and end-to-end tests (needs PostgreSQL/NATS binaries: installed with the project)
test: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest

# The fast selection: no deployment, no engine, no bench end to end (see tests/conftest.py).
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not needs_postgres and not needs_docker and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check harness targets scenarios tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
