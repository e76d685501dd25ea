"""Looking at what flows left in the test harness's Prefect API: artifacts and paused runs."""

from __future__ import annotations

import time
import uuid

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType


def artifact(key: str) -> str:
    """Return the data of the latest artifact with `key`."""
    with get_client(sync_client=True) as prefect:
        found = prefect.read_latest_artifacts()
    return next(str(a.data) for a in found if a.key == key)


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
