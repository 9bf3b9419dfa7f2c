# Two commands on a fresh machine: `make bench` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXPRESS := targets/express_monolith
NODE_STAMP := $(EXPRESS)/node_modules/.installed
KAFKA_POM := targets/event_driven/kafka/pom.xml
KAFKA_VERSION := $(shell sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' $(KAFKA_POM))
KAFKA_JARS := .cache/kafka-$(KAFKA_VERSION)/jars
KAFKA_STAMP := $(KAFKA_JARS)/.installed

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

# The Apache Kafka broker's jars (event-driven-kafka), resolved from Maven Central by the
# committed pom.xml into a git-ignored cache; the harness never downloads them. Without mvn
# this step only says so: the NATS default does not need them (bench doctor reports them).
$(KAFKA_STAMP): $(KAFKA_POM)
	@if command -v mvn >/dev/null 2>&1; then \
		rm -rf $(KAFKA_JARS) && mvn -q -B -f $(KAFKA_POM) dependency:copy-dependencies \
			-DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(KAFKA_JARS) && touch $(KAFKA_STAMP); \
	else \
		echo "mvn not found: skipping the Apache Kafka jars of event-driven-kafka (install Maven and Java 17, then make install)"; \
	fi

install: $(STAMP) $(NODE_STAMP) $(KAFKA_STAMP)

## the main job: every target on the default profile, backend chosen automatically
bench: $(STAMP) $(NODE_STAMP) $(KAFKA_STAMP)
	$(BIN)/bench run

## unit, contract and end-to-end tests (needs PostgreSQL/NATS binaries: installed with the project)
test: $(STAMP) $(NODE_STAMP) $(KAFKA_STAMP)
	$(BIN)/python -m pytest

# The fast selection: no deployment, no engine, no bench end to end (see tests/conftest.py).
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not needs_postgres and not needs_docker and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check harness targets scenarios tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
