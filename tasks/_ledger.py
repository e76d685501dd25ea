"""Which steps of a provision run finished, for cleanup after a failure to read."""

from __future__ import annotations

from typing import Any, TypeVar

from prefect.futures import PrefectFuture, wait

from kops_nlb.core.results import StepResult

Entry = TypeVar("Entry", StepResult, PrefectFuture[StepResult])


class StepLedger:
    """Records the steps of a run that may create something, to tell after a failure which finished.

    A step called directly is recorded once it returned (one that raised never is); a submitted
    step is recorded as its future and counts once that completed.
    """

    def __init__(self) -> None:
        self._entries: list[StepResult | PrefectFuture[StepResult]] = []

    def add(self, entry: Entry) -> Entry:
        """Record a step's result, or the future of a submitted step; return it unchanged."""
        self._entries.append(entry)
        return entry

    def finished(self) -> list[StepResult]:
        """Return the results of the steps that completed, once every submitted one settled."""
        futures = [e for e in self._entries if isinstance(e, PrefectFuture)]
        wait(futures)
        results: list[StepResult] = []
        for entry in self._entries:
            if isinstance(entry, PrefectFuture):
                if not entry.state.is_completed():
                    continue
                value: Any = entry.result()
                if isinstance(value, StepResult):
                    results.append(value)
            else:
                results.append(entry)
        return results
