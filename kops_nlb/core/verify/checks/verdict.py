"""What a check returns, and the wording its one-sentence details share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one named check: passed or not, why in one sentence, and the numbers."""

    name: str
    passed: bool
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


# How many items a detail sentence lists before it says "and N more".
MAX_LISTED = 8


def listing(items: Iterable[str]) -> str:
    listed = list(items)
    shown = ", ".join(listed[:MAX_LISTED])
    if len(listed) > MAX_LISTED:
        shown += f" and {len(listed) - MAX_LISTED} more"
    return shown


def count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def with_notes(detail: str, notes: list[str]) -> str:
    return detail + "".join(f" ({note})" for note in notes)
