"""Read a flow run's own timeline (flow and task runs) back from the Prefect API."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from bench.timeline import Span

# Task-run states reach the database through the server's event pipeline, a moment after the
# flow returns; wait at most this long for every run to show its end.
SETTLE_TIMEOUT_S = 30.0


def _task_name(task_key: str) -> str:
    """Return the task function's name from a task key (``<qualname>-<source hash>``)."""
    return task_key.rsplit("-", 1)[0]


def _span(name: str, run: Any) -> Span | None:
    if run.start_time is None or run.end_time is None:
        return None
    return Span(name=name, start=run.start_time.timestamp(), end=run.end_time.timestamp())


def flow_timeline(flow_run_id: UUID, *, settle_timeout: float = SETTLE_TIMEOUT_S) -> list[Span]:
    """Return the flow run's span (named ``flow``) followed by its task runs' spans by start.

    Waits until the flow run and every task run have ended in the API and the number of task
    runs is stable; raises TimeoutError otherwise.
    """
    deadline = time.monotonic() + settle_timeout
    previous = -1
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run_id)
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200
            )
            flow_span = _span("flow", flow_run)
            spans = [_span(_task_name(r.task_key), r) for r in runs]
            settled = flow_span is not None and all(s is not None for s in spans)
            if settled and len(spans) == previous:
                tasks = sorted((s for s in spans if s is not None), key=lambda s: s.start)
                assert flow_span is not None
                return [flow_span, *tasks]
            previous = len(spans) if settled else -1
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow run {flow_run_id} did not settle in the API")
            time.sleep(0.5)
