"""Median, min and max over the runs of one figure (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """One figure over several runs; `values` in run order."""

    median: float
    min: float
    max: float
    values: tuple[float, ...]

    def as_dict(self, digits: int = 3) -> dict[str, object]:
        """Return the summary for JSON, rounded."""
        return {
            "median": round(self.median, digits),
            "min": round(self.min, digits),
            "max": round(self.max, digits),
            "runs": [round(v, digits) for v in self.values],
        }


def summarize(values: Iterable[float | None]) -> Summary | None:
    """Return the summary of the values that are present, or None when none is."""
    present = tuple(float(v) for v in values if v is not None)
    if not present:
        return None
    return Summary(
        median=statistics.median(present), min=min(present), max=max(present), values=present
    )


def seconds_text(value: float | None, digits: int = 1) -> str:
    """Return a duration for the report, ``n/a`` when it was not measured."""
    return "n/a" if value is None else f"{value:.{digits}f} s"
