# Two commands matter: `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: debian-packages setup test lint unit e2e contract contract-record upstream demo up down \
	status logs bench chaos sandbox-up sandbox-down clean postgres browser docs-screenshot

# Real kops, built from its Go module by the wrapper in upstream/kops (`go install ...@v1.36.2` is
# refused by the module proxy here). The binary and the channel file that ships in the module are
# cached outside git, keyed by version: a binary already at $(KOPS_BIN) is reused as it is (delete
# it, or set KOPS_BIN, to rebuild). A failed build fails the target with Go's own error.
KOPS_VERSION := 1.36.2
KOPS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kops-nlb-flows
KOPS_BIN ?= $(KOPS_CACHE)/bin/kops-$(KOPS_VERSION)
KOPS_CHANNEL ?= $(KOPS_CACHE)/share/kops-$(KOPS_VERSION)/channels/stable
export KOPS_NLB_KOPS_BIN := $(KOPS_BIN)
export KOPS_NLB_KOPS_CHANNEL := $(KOPS_CHANNEL)

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

upstream: $(KOPS_BIN) $(KOPS_CHANNEL)

$(KOPS_BIN):
	@mkdir -p $(@D)
	@echo "building real kops v$(KOPS_VERSION) into $@ (first time only)"
	cd upstream/kops && go build -mod=readonly -ldflags "-s -w" -o $@.partial k8s.io/kops/cmd/kops
	@mv -f $@.partial $@
	@$@ version --short | grep -qx '$(KOPS_VERSION)' || \
		{ echo "$@ does not report version $(KOPS_VERSION)" >&2; rm -f $@; exit 1; }

# The `stable` channel ships inside the k8s.io/kops module download; kops reads it with
# `--channel file://...` instead of fetching it from the internet.
$(KOPS_CHANNEL):
	@mkdir -p $(@D)
	cd upstream/kops && go mod download k8s.io/kops && \
		cp "$$(go list -mod=readonly -m -f '{{.Dir}}' k8s.io/kops)/channels/stable" $@.partial
	@chmod 0644 $@.partial && mv -f $@.partial $@

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

test: setup lint upstream
	$(RUN) pytest

# The product's kops argv and parsers against real kops (part of `make test`).
contract: setup upstream
	$(RUN) pytest -m contract

# Re-record tests/contract/fixtures/ from real kops against the twin's AWS.
contract-record: setup upstream
	$(RUN) python -m tests.contract.record

unit: setup upstream
	$(RUN) pytest -m "not e2e and not stack"

e2e: setup
	$(RUN) pytest -m "e2e or stack"

# The chaos run (not part of `make test`): the procedure on the twin under every fault knob, kills
# at points through provision and teardown, hostile inputs, a secret to leak and other owners'
# resources beside ours; rewrites RELIABILITY.md (chaos/), which says how long the run took.
chaos: setup upstream
	$(RUN) python -m chaos --out RELIABILITY.md

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

# Refresh docs/verify-checks-in-the-ui.png from the browser test's run.
docs-screenshot: setup upstream postgres browser
	KOPS_NLB_UI_SCREENSHOT=$(CURDIR)/docs/verify-checks-in-the-ui.png \
		$(RUN) pytest tests/stack/test_stack_postgres.py -k the_ui_shows_the_verification_checks

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| $(APT_INSTALL) chromium chromium-driver fonts-liberation

demo: setup upstream
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
