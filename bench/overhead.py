"""Prefect's own cost per flow run and per task run, with tasks that do nothing.

Run in the same harness and process as the flows under test, with the same task runner. Task
costs are timed inside the flow (a flow run's own start and finish vary by seconds with the
API's background work, which would drown them).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from prefect import flow, task
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner


def _runner() -> Any:
    """Return the flows' task runner (Prefect's generics cannot type it as a flow argument)."""
    return ThreadPoolTaskRunner(max_workers=8)


@task
def noop(i: int) -> int:
    """Return `i` (a task whose body costs nothing)."""
    return i


@flow(name="bench-empty", task_runner=_runner())
def empty_flow() -> None:
    """Do nothing (the cost of a flow run alone)."""


@flow(name="bench-called", task_runner=_runner())
def called_tasks(n: int) -> float:
    """Call `noop` `n` times one after another, as the flows call their chain steps; seconds."""
    started = time.perf_counter()
    for i in range(n):
        noop(i)
    return time.perf_counter() - started


@flow(name="bench-submitted", task_runner=_runner())
def submitted_tasks(n: int) -> float:
    """Submit `noop` `n` times and wait for all, as the flows run their branches; seconds."""
    started = time.perf_counter()
    futures = [noop.submit(i) for i in range(n)]
    for future in futures:
        future.result()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Overhead:
    """Seconds: a flow run with nothing in it (as the flows run, and with Prefect's flow-run
    heartbeat off), and each called or submitted task run."""

    empty_flow: float
    empty_flow_without_heartbeat: float
    per_called_task: float
    per_submitted_task: float


def _empty_flow_wall(flows: int) -> float:
    walls = []
    for _ in range(flows):
        started = time.perf_counter()
        empty_flow()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def measure_overhead(*, tasks: int, flows: int = 3) -> Overhead:
    """Return Prefect's cost per flow run (median of `flows`) and per task run (`tasks` each).

    A synchronous flow run ends by joining its heartbeat thread, which sleeps in 1 s steps; the
    empty flow is also timed with heartbeats off to show what that join costs.
    """
    with_heartbeat = _empty_flow_wall(flows)
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        without_heartbeat = _empty_flow_wall(flows)
    return Overhead(
        empty_flow=with_heartbeat,
        empty_flow_without_heartbeat=without_heartbeat,
        per_called_task=called_tasks(tasks) / tasks,
        per_submitted_task=submitted_tasks(tasks) / tasks,
    )
