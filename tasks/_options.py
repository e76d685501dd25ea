"""Task options shared by every task module: the retry policy and the cache of pure lookups."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.tasks import exponential_backoff

from kops_nlb.core.errors import is_transient

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

# Task options for pure lookups: cached for 10 minutes, across flow runs. The key must include
# the task (TASK_SOURCE): with INPUTS alone, two lookups taking the same region share one key.
LOOKUP_CACHE: dict[str, Any] = {
    "cache_policy": INPUTS + TASK_SOURCE,
    "cache_expiration": timedelta(minutes=10),
}
