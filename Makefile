# Two commands matter: `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup test lint unit e2e demo up down status logs bench sandbox-up sandbox-down clean
.PHONY: postgres browser

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@command -v curl >/dev/null || (apt-get update -qq && apt-get install -y -qq curl)
	@touch $@

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

test: setup lint
	$(RUN) pytest

unit: setup
	$(RUN) pytest -m "not e2e and not stack"

e2e: setup
	$(RUN) pytest -m "e2e or stack"

sandbox-up: setup
	$(RUN) python -m sandbox up --config sandbox.toml

sandbox-down:
	-$(RUN) python -m sandbox down

# The local stack (twin, Prefect server, work pool, worker, deployments): deployments/stack/.
STACK := $(RUN) python -m deployments.stack

# The stack's database: `make up DB=postgres` (or `make demo DB=postgres`) runs the Prefect server
# on a local PostgreSQL the stack starts itself; SQLite by default.
DB ?= sqlite
export STACK_DB := $(DB)
up demo: $(if $(filter postgres,$(DB)),postgres)
# The stack tier of the tests needs both (the PostgreSQL stack test, the browser test).
test e2e: postgres browser

# Debian's packages, installed where missing, with no system service started (apt-install.sh).
APT_INSTALL := sh deployments/stack/apt-install.sh
# PostgreSQL refuses to run as root: a root stack runs it as the system user kops-nlb-pg.
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || $(APT_INSTALL) postgresql
	@[ "$$(id -u)" != 0 ] || id -u kops-nlb-pg >/dev/null 2>&1 || useradd --system --user-group \
		--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kops-nlb-pg

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| $(APT_INSTALL) chromium chromium-driver fonts-liberation

demo: setup
	$(STACK) demo

up: setup
	$(STACK) up

status: setup
	@$(STACK) status || true

logs: setup
	@$(STACK) logs

down:
	@if [ -x .venv/bin/python ]; then $(STACK) down; else echo "nothing to stop (no .venv)"; fi

bench: setup
	$(RUN) python -m bench $(BENCH_ARGS)

clean: down
	rm -rf .sandbox .prefect .kube
