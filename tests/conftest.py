"""Shared fixtures: the spec and region tests work with, and a Prefect harness for flows."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Iterator

import pytest
from prefect.logging import disable_run_logger

from deployments.stack import procs
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy
from tests import leftovers

# A test process keeps a large heap all its life (moto's data, botocore's models, Prefect, the
# twin): a full collection walks all of it, and at the default threshold full collections took a
# sixth of an end-to-end module's CPU. A tenth as many leave young objects collected as before.
gc.set_threshold(*gc.get_threshold()[:2], 100)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the session when a program it started under its temporary directory outlives it: a
    control plane that a failed stop leaves behind would burn CPU through every later run."""
    yield
    left = leftovers.running_under(tmp_path_factory.getbasetemp())
    if left and not procs.wait_gone(left, 15.0):
        still = [info for info in left if procs.alive(info)]
        procs.stop(still, timeout=5.0, signum=signal.SIGKILL)
        pytest.fail(
            "left running after the session (now killed):\n"
            + "\n".join(f"{info.pid}: {' '.join(info.argv)[:300]}" for info in still)
        )


@pytest.fixture
def region() -> str:
    """The region every test works in."""
    return "ap-northeast-1"


@pytest.fixture
def spec(region: str) -> EnvironmentSpec:
    """A default environment spec that polls every 10 ms."""
    return EnvironmentSpec(
        region=region,
        zones=(f"{region}a", f"{region}c"),
        poll=PollPolicy(initial=0.01, factor=1, cap=0.01),
    )


@pytest.fixture
def no_run_logger() -> Iterator[None]:
    """Let tasks call get_run_logger() when a test calls `task.fn(...)` outside a run."""
    with disable_run_logger():
        yield


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API and database for the whole session, on a copy of a database
    migrated once per Prefect version. Its server records no task runs: no test reads them."""
    from bench.prefect_harness import harness

    with harness(record_task_runs=False, startup_timeout=90):
        yield


# The longest modules that bring up everything they need themselves, longest first, so that they
# overlap with everything else: the stack module brings up a whole stack (and drives a browser),
# the benchmark's smoke run and the sandbox CLI test start twins of their own.
FIRST_MODULES = (
    "tests/stack/test_stack.py",
    "tests/bench/test_bench_smoke.py",
    "tests/e2e/test_sandbox_cli.py",
)


# The end-to-end modules on the worker's session twin, longest first (as measured), so that a long
# one never starts when the others are nearly done; the modules not named follow.
LONGEST_E2E_MODULES = (
    "tests/e2e/test_plan.py",
    "tests/e2e/test_convergence.py",
    "tests/e2e/test_trend_and_alerts.py",
    "tests/e2e/test_faults.py",
    "tests/e2e/test_load_balancer_controller.py",
    "tests/e2e/test_resilience.py",
    "tests/e2e/test_teardown_and_cleanup.py",
    "tests/e2e/test_lifecycle.py",
    "tests/e2e/test_lb_modes.py",
    "tests/e2e/test_negative_control.py",
    "tests/e2e/test_proxy_protocol.py",
    "tests/e2e/test_in_cluster.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the modules: the long self-contained ones, the fast tests, the end-to-end tests.

    The Makefile runs the suite with ``--dist loadscope --no-loadscope-reorder``: each module
    goes whole to one xdist worker (its module fixtures are built once) in this order, and a
    worker takes the next module when it finishes one, so the fast tests fill in around the long
    ones. The other end-to-end tests come last because they share their worker's session twin,
    which sets the environment and runs data-plane threads for the rest of the session: no fast
    test may run after it on the same worker. Among them, the longest go first.
    """

    def rank(item: pytest.Item) -> tuple[int, int]:
        module = item.nodeid.split("::", 1)[0]
        if module in FIRST_MODULES:
            return (0, FIRST_MODULES.index(module))
        if item.get_closest_marker("e2e") or item.get_closest_marker("stack"):
            longest = LONGEST_E2E_MODULES
            return (2, longest.index(module) if module in longest else len(longest))
        return (1, 0)

    items.sort(key=rank)
