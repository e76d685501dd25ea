"""Retry policy shared by every task: exponential backoff with jitter, transient failures only."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from tasks.errors import is_transient

RETRIES = 4
RETRY_DELAYS = exponential_backoff(backoff_factor=2)(RETRIES)
RETRY_JITTER = 0.5


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only when the failure is transient."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - classify whatever the task raised
        return is_transient(exc)
    return False


RETRY_OPTIONS: dict[str, Any] = {
    "retries": RETRIES,
    "retry_delay_seconds": RETRY_DELAYS,
    "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_on_transient,
}
