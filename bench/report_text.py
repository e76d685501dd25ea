"""Markdown pieces of the readable report: tables and a figure's median with its range (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def summary_text(figure: dict[str, Any] | None, unit: str = "s", digits: int = 1) -> str:
    """Return ``median (min-max) unit`` of a JSON summary, or n/a."""
    if not figure:
        return "n/a"
    median, low, high = figure["median"], figure["min"], figure["max"]

    def fmt(value: float) -> str:
        return f"{value:,.{digits}f}"

    if low == high:
        return f"{fmt(median)} {unit}".rstrip()
    return f"{fmt(median)} ({fmt(low)} to {fmt(high)}) {unit}".rstrip()


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    return [row(header), row("---" for _ in header), *(row(r) for r in rows)]
