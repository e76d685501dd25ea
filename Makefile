# Two commands matter: `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: debian-packages setup test lint unit e2e demo up down status logs bench sandbox-up sandbox-down clean

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@$(MAKE) --no-print-directory debian-packages
	@touch $@

# Debian packages the twin and the tests run: curl (the probe) and nginx (each pod's server).
# Installed without starting nginx's system service (policy-rc.d forbids service starts).
DEBIAN_PACKAGES := curl nginx-light
debian-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		status=$$?; rm -f /usr/sbin/policy-rc.d; exit $$status; \
	fi

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
