# Every target installs what it needs from the lock files first, so a fresh
# machine with python3 and make is enough.
PYTHON ?= python3
NPM ?= npm
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck contracts pytest schema lock mutate bench bench-transport bench-reload bench-servers bench-peer clean web node-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.runtime: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@ $(VENV)/.runtime

# GraphiQL's files (web/) and the Node tools the tests drive (tests/node/), from their lock
# files with integrity checks and no install scripts. Without npm the recipe says so and make
# carries on: GraphiQL's page then says how to get its files, and the tests that need Node
# skip (`.ci/run` installs Node and sets GATEWAY_REQUIRE_NODE=1, so in CI they run).
define npm_ci
	@if command -v $(NPM) >/dev/null 2>&1; then \
		$(NPM) ci --prefix $(1) --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: $(1)/node_modules not installed"; \
	fi
endef

web/node_modules/.package-lock.json: web/package-lock.json
	$(call npm_ci,web)

tests/node/node_modules/.package-lock.json: tests/node/package-lock.json
	$(call npm_ci,tests/node)

bench/peer/node_modules/.package-lock.json: bench/peer/package-lock.json
	$(call npm_ci,bench/peer)

web: web/node_modules/.package-lock.json

node-tools: tests/node/node_modules/.package-lock.json

run: $(VENV)/.runtime web
	$(BIN)/python -m gateway serve

test: lint typecheck contracts pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

contracts: $(VENV)/.dev
	$(BIN)/lint-imports

# The GraphQL and tracing suites run twice: as configured, then on the libraries' own code
# paths (GATEWAY_SPEEDUPS=false), so an upgrade that breaks a speed-up fails loudly.
SPEEDUPS_SUITE := tests/schema tests/test_security.py tests/test_paths.py tests/test_budgets.py \
	tests/observability tests/test_telemetry.py

pytest: $(VENV)/.dev web node-tools
	$(BIN)/python -m pytest
	GATEWAY_SPEEDUPS=false $(BIN)/python -m pytest -q $(SPEEDUPS_SUITE)

# Mutation testing of the modules where a slip is a security or correctness incident
# (docs/mutation.md), not part of `make test`. Results are kept in mutants/ and a later run
# only tries what changed; `make mutate MUTATE=gateway.cache` runs one module's mutants again.
# Two workers (the machine is shared); a test that hangs under a mutant fails after 15 s.
MUTATE ?=
# Each mutant's test run starts a Redis of its own (nothing answers on port 1), so the two
# workers never see each other's keys or invalidation messages.
mutate: $(VENV)/.dev web
	GATEWAY_TEST_REDIS_URL=redis://127.0.0.1:1/0 PYTEST_ADDOPTS="--timeout=15" \
		$(BIN)/mutmut run --max-children 2 $(if $(MUTATE),"$(MUTATE).*")
	$(BIN)/python scripts/mutation_score.py

schema: $(VENV)/.runtime
	$(BIN)/python -m gateway export-schema > schema/schema.graphql
	$(BIN)/python -m gateway export-schema --federation > schema/subgraph.graphql

# Every scenario, one after another (several minutes): throughput and latency, memory
# under a hostile flood, one tenant's latency while another floods, reads through a
# Telnyx outage, three replicas sharing a cache tier in Redis, and three replicas within one
# account's upstream budget.
bench: $(VENV)/.dev
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.flood
	$(BIN)/python -m bench.fairness
	$(BIN)/python -m bench.outage
	$(BIN)/python -m bench.replicas
	$(BIN)/python -m bench.budget

# The gateway beside Hive Gateway + GraphQL Mesh (bench/peer/, installed from its lock file).
bench-peer: $(VENV)/.dev bench/peer/node_modules/.package-lock.json
	$(BIN)/python -m bench.peer

bench-transport: $(VENV)/.dev
	$(BIN)/python -m bench.transport

bench-reload: $(VENV)/.dev
	$(BIN)/python -m bench.reload

# Granian and Hypercorn are measured when installed (.venv/bin/pip install granian hypercorn).
bench-servers: $(VENV)/.dev
	$(BIN)/python -m bench.servers_compare

# Regenerates both lock files from pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock
	uv pip compile pyproject.toml --group dev --python-version 3.11 --generate-hashes -o requirements-dev.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache web/node_modules tests/node/node_modules bench/peer/node_modules
