"""Spans of time and the chain of runs that decided a flow's wall time (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Something that ran from `start` to `end` (epoch seconds)."""

    name: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Return the length in seconds."""
        return self.end - self.start


def first(spans: Iterable[Span], name: str) -> Span | None:
    """Return the earliest-starting span named `name`, if any."""
    found = sorted((s for s in spans if s.name == name), key=lambda s: s.start)
    return found[0] if found else None


def critical_chain(spans: Sequence[Span], *, end: float, slack: float = 0.0) -> list[Span]:
    """Return the runs that ended last before `end`, each ending before the next one started.

    Walking back from the end, take the run that ended latest; then the run that ended latest
    before that one started (`slack` seconds of overlap tolerated); and so on. These runs are
    the ones the flow waited on in turn; the time between them is spent outside any task.
    """
    chain: list[Span] = []
    limit = end
    candidates = sorted(spans, key=lambda s: s.end, reverse=True)
    for span in candidates:
        if span.end <= limit + slack:
            chain.append(span)
            limit = span.start
    return list(reversed(chain))


def outside(total: Span, chain: Sequence[Span]) -> float:
    """Return the part of `total` not covered by the chain's runs (which do not overlap)."""
    return total.duration - sum(s.duration for s in chain)
