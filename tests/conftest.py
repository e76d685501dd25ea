"""Shared fixtures: the spec and region tests work with, and a Prefect harness for flows."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from prefect.logging import disable_run_logger

from kops_nlb.core.spec import EnvironmentSpec, PollPolicy

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")


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
    """A temporary Prefect API and database for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow end-to-end tests last."""
    items.sort(
        key=lambda item: (
            1 if item.get_closest_marker("e2e") or item.get_closest_marker("stack") else 0
        )
    )
