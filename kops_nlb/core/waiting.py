"""Deadline-bound polling with backoff: the one way this project waits for the cloud.

A probe returns an ``Observation``; the poller looks again with exponential backoff up to a cap,
logs whenever the set of reasons for not being ready changes, tolerates transient errors until
the deadline, and raises ``WaitTimeout`` naming what is still failing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kops_nlb.core.errors import WaitTimeout, failure_text, is_transient
from kops_nlb.core.logs import Logger
from kops_nlb.core.spec import PollPolicy

T = TypeVar("T")


@dataclass(frozen=True)
class Observation(Generic[T]):
    """One look at a resource: ready or not, why not, and how far along."""

    ready: bool
    value: T | None = None
    failing: tuple[str, ...] = ()
    done: int | None = None
    total: int | None = None


@dataclass
class _Backoff:
    policy: PollPolicy
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.policy.initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self.policy.cap, self._next * self.policy.factor)
        return min(delay, self.policy.cap)


def wait_until(
    probe: Callable[[], Observation[T]],
    *,
    what: str,
    timeout: float,
    poll: PollPolicy,
    logger: Logger | None = None,
    on_observation: Callable[[Observation[T]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `probe` until it reports ready and return its value, or raise WaitTimeout."""
    log = logger or logging.getLogger(__name__)
    start = clock()
    backoff = _Backoff(poll)
    last_failing: tuple[str, ...] | None = None
    while True:
        try:
            observation = probe()
        except Exception as exc:
            if not is_transient(exc):
                raise
            observation = Observation(ready=False, failing=(failure_text(exc),))
        if on_observation is not None:
            on_observation(observation)
        if observation.ready:
            log.info("%s: ready after %.1fs", what, clock() - start)
            return observation.value  # type: ignore[return-value]
        if observation.failing != last_failing:
            log.info("%s: not ready yet: %s", what, "; ".join(observation.failing) or "pending")
            last_failing = observation.failing
        elapsed = clock() - start
        if elapsed >= timeout:
            raise WaitTimeout(what, waited=elapsed, still_failing=observation.failing)
        sleep(min(backoff.next_delay(), max(0.0, timeout - elapsed)))
