"""Progress artifacts for long waits: the UI shows how far along a wait is (k of N ready)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import FlowRunContext, TaskRunContext

from kops_nlb.core.logs import Logger
from kops_nlb.core.waiting import Observation


def progress_reporter(*, key: str, description: str, logger: Logger) -> Callable[[float], None]:
    """Return a function that sets a progress artifact's percentage (a no-op outside a run)."""
    if TaskRunContext.get() is None and FlowRunContext.get() is None:
        return lambda _percent: None
    try:
        created = create_progress_artifact(progress=0.0, key=key, description=description)
    except Exception as exc:  # noqa: BLE001 - progress display must never fail the wait
        logger.warning("cannot create the progress artifact %s: %s", key, exc)
        return lambda _percent: None
    if not isinstance(created, UUID):  # only an async caller gets a coroutine
        return lambda _percent: None
    artifact_id = created
    last: list[float] = [0.0]

    def report(percent: float) -> None:
        if percent == last[0]:
            return
        last[0] = percent
        try:
            update_progress_artifact(artifact_id=artifact_id, progress=percent)
        except Exception as exc:  # noqa: BLE001 - see above
            logger.warning("cannot update the progress artifact %s: %s", key, exc)

    return report


def on_progress(report: Callable[[float], None]) -> Callable[[Observation[Any]], None]:
    """Turn observations with done/total counts into progress percentages."""

    def observe(observation: Observation[Any]) -> None:
        if observation.ready:
            report(100.0)
        elif observation.total:
            report(round(100.0 * (observation.done or 0) / observation.total, 1))

    return observe
