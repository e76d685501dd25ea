"""Looking at what flows left in the test harness's Prefect API: artifacts and paused runs."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.logging.handlers import APILogHandler


def artifact(key: str) -> str:
    """Return the data of the latest artifact with `key`."""
    with get_client(sync_client=True) as prefect:
        found = prefect.read_latest_artifacts()
    return next(str(a.data) for a in found if a.key == key)


def log_messages() -> list[str]:
    """Return every log message the API holds, once this process's queued logs are sent."""
    APILogHandler().flush()
    messages: list[str] = []
    with get_client(sync_client=True) as prefect:
        while page := prefect.read_logs(limit=200, offset=len(messages)):
            messages += [log.message for log in page]
    return messages


def paused_run(within_s: float = 60.0) -> uuid.UUID:
    """Return the id of the flow run waiting for input, once one is."""
    paused = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    )
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as prefect:
            runs = prefect.read_flow_runs(flow_run_filter=paused)
        if runs:
            return runs[0].id
        time.sleep(0.2)
    raise AssertionError(f"no flow run paused for approval within {within_s:.0f} s")


def automation_fired(automation_id: uuid.UUID) -> list[datetime]:
    """Return when the automation fired (its `prefect.automation.triggered` events), oldest first."""
    selection = EventFilter(
        occurred=EventOccurredFilter.model_validate(
            {"since": datetime.now(UTC) - timedelta(hours=1)}
        ),
        event=EventNameFilter(name=["prefect.automation.triggered"]),
        resource=EventResourceFilter(id=[f"prefect.automation.{automation_id}"]),
    )
    with get_client(sync_client=True) as prefect:
        page = prefect.read_events(filter=selection, limit=50)
    return sorted(e.occurred for e in page.events)


def wait_for_firing(automation_id: uuid.UUID, within_s: float = 90.0) -> datetime:
    """Return when the automation first fired, once it has."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        fired = automation_fired(automation_id)
        if fired:
            return fired[0]
        time.sleep(1.0)
    raise AssertionError(f"automation {automation_id} did not fire within {within_s:.0f} s")
