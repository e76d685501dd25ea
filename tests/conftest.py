"""Shared fixtures: a Prefect test harness for the tests that run flows."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")


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
