# Two commands matter: `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# The suite, the demo and the twin start dozens of Python processes (test workers, Prefect servers,
# workers and flow runs, each `kops`). The environment is compiled to bytecode once, at install,
# and the project's modules are cached as they are first imported, even where the shell sets
# PYTHONDONTWRITEBYTECODE: otherwise every process compiles Prefect, moto and the Kubernetes client
# from source again (about 2 CPU-seconds a process).
unexport PYTHONDONTWRITEBYTECODE

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

# The AWS cloud controller manager kops 1.36 runs on the control plane (cloud-provider-aws), from
# the wrapper in upstream/cloud-provider-aws (its own go.mod replaces cel-go with a fork the module
# proxy refuses; the wrapper takes the upstream cel-go of the same version). Cached like kops.
CCM_VERSION := 1.36.2
CCM_BIN ?= $(KOPS_CACHE)/bin/aws-cloud-controller-manager-$(CCM_VERSION)
export KOPS_NLB_CCM_BIN := $(CCM_BIN)

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
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

# The twin's control plane: kube-apiserver, kube-controller-manager and kube-scheduler built from
# k8s.io/kubernetes by the wrapper in upstream/kubernetes, and etcd by the wrapper in upstream/etcd,
# cached by version beside kops (the twin looks for them there). The version ldflags make /version
# tell the release (without them it says v0.0.0-master).
KUBE_VERSION := 1.36.3
KUBE_BUILD_DATE := 2026-07-22T18:07:38Z
ETCD_VERSION := 3.6.16
UPSTREAM_BIN := $(KOPS_CACHE)/bin
export KOPS_NLB_UPSTREAM_BIN := $(UPSTREAM_BIN)
KUBE_COMMANDS := kube-apiserver kube-controller-manager kube-scheduler
KUBE_BINS := $(KUBE_COMMANDS:%=$(UPSTREAM_BIN)/%-$(KUBE_VERSION))
ETCD_BIN := $(UPSTREAM_BIN)/etcd-$(ETCD_VERSION)
KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=v$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) \
	-X k8s.io/component-base/version.gitCommit= \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/component-base/version.buildDate=$(KUBE_BUILD_DATE)

upstream: $(KOPS_BIN) $(KOPS_CHANNEL) $(KUBE_BINS) $(ETCD_BIN) $(CCM_BIN)

$(UPSTREAM_BIN)/kube-%-$(KUBE_VERSION):
	@mkdir -p $(@D)
	@echo "building kube-$* v$(KUBE_VERSION) into $@ (first time only)"
	cd upstream/kubernetes && go build -mod=readonly -ldflags "$(KUBE_LDFLAGS)" -o $@.partial \
		k8s.io/kubernetes/cmd/kube-$*
	@mv -f $@.partial $@
	@$@ --version | grep -qx 'Kubernetes v$(KUBE_VERSION)' || \
		{ echo "$@ does not report version v$(KUBE_VERSION)" >&2; rm -f $@; exit 1; }

$(ETCD_BIN):
	@mkdir -p $(@D)
	@echo "building etcd v$(ETCD_VERSION) into $@ (first time only)"
	cd upstream/etcd && go build -mod=readonly -ldflags "-s -w" -o $@.partial .
	@mv -f $@.partial $@
	@$@ --version | grep -qx 'etcd Version: $(ETCD_VERSION)' || \
		{ echo "$@ does not report version $(ETCD_VERSION)" >&2; rm -f $@; exit 1; }

$(KOPS_BIN):
	@mkdir -p $(@D)
	@echo "building real kops v$(KOPS_VERSION) into $@ (first time only)"
	cd upstream/kops && go build -mod=readonly -ldflags "-s -w" -o $@.partial k8s.io/kops/cmd/kops
	@mv -f $@.partial $@
	@$@ version --short | grep -qx '$(KOPS_VERSION)' || \
		{ echo "$@ does not report version $(KOPS_VERSION)" >&2; rm -f $@; exit 1; }

$(CCM_BIN):
	@mkdir -p $(@D)
	@echo "building aws-cloud-controller-manager v$(CCM_VERSION) into $@ (first time only)"
	cd upstream/cloud-provider-aws && go build -mod=readonly \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$(CCM_VERSION)" \
		-o $@.partial k8s.io/cloud-provider-aws/cmd/aws-cloud-controller-manager
	@$@.partial --version | grep -qx 'Kubernetes v$(CCM_VERSION)' || \
		{ echo "$@.partial does not report version v$(CCM_VERSION)" >&2; rm -f $@.partial; exit 1; }
	@mv -f $@.partial $@

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

# The suite runs on parallel workers (pytest-xdist), each module on one worker and the longest
# modules first (tests/conftest.py orders them); PYTEST_WORKERS=0 runs it in one process. Four
# workers on two cores: an end-to-end test spends part of its time waiting on its twin's programs.
PYTEST_WORKERS ?= 4
PARALLEL := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder)

test: setup lint upstream
	$(RUN) pytest $(PARALLEL)

# The product's kops argv and parsers against real kops, and its Kubernetes side against a real
# kube-apiserver (both part of `make test`).
contract: setup upstream
	$(RUN) pytest -m "contract or kube"

# Re-record tests/contract/fixtures/ from real kops against the twin's AWS.
contract-record: setup upstream
	$(RUN) python -m tests.contract.record

unit: setup upstream
	$(RUN) pytest $(PARALLEL) -m "not e2e and not stack"

e2e: setup upstream
	$(RUN) pytest $(PARALLEL) -m "e2e or stack"

# The chaos run (not part of `make test`): the procedure on the twin under every fault knob, kills
# at points through provision and teardown, hostile inputs, a secret to leak and other owners'
# resources beside ours; rewrites RELIABILITY.md (chaos/), which says how long the run took.
chaos: setup upstream
	$(RUN) python -m chaos --out RELIABILITY.md

sandbox-up: setup upstream
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
		$(RUN) pytest tests/stack/test_stack.py -k the_ui_shows_the_verification_checks

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| $(APT_INSTALL) chromium chromium-driver fonts-liberation

demo: setup upstream
	$(STACK) demo

up: setup upstream
	$(STACK) up

status: setup
	@$(STACK) status || true

logs: setup
	@$(STACK) logs

down:
	@if [ -x .venv/bin/python ]; then $(STACK) down; else echo "nothing to stop (no .venv)"; fi

bench: setup upstream
	$(RUN) python -m bench $(BENCH_ARGS)

clean: down
	rm -rf .sandbox .prefect .kube
