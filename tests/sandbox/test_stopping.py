"""Stopping several parts: each is stopped, in order, and the first failure is raised after."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.stopping import stop_each


def test_every_part_is_stopped_in_order_and_the_first_failure_raised() -> None:
    stopped: list[str] = []

    def part(name: str, error: Exception | None = None) -> Callable[[], None]:
        def stop() -> None:
            stopped.append(name)
            if error is not None:
                raise error

        return stop

    with pytest.raises(OSError, match="first"):
        stop_each(
            part("kubelets", OSError("first")),
            part("proxy"),
            part("control plane", RuntimeError("second")),
            part("aws"),
        )
    assert stopped == ["kubelets", "proxy", "control plane", "aws"]


def test_nothing_is_raised_when_every_part_stops() -> None:
    stopped: list[int] = []
    stop_each(lambda: stopped.append(1), lambda: stopped.append(2))
    assert stopped == [1, 2]
