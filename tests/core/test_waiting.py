"""The poller: backoff, change-only logging, transient tolerance, deadline errors."""

from __future__ import annotations

import logging

import pytest

from kops_nlb.core.errors import TransientError, WaitTimeout
from kops_nlb.core.spec import PollPolicy
from kops_nlb.core.waiting import Observation, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(observations: list[Observation[str] | Exception]):  # type: ignore[no-untyped-def]
    queue = list(observations)

    def probe() -> Observation[str]:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return probe


def test_returns_value_when_ready_and_backs_off_up_to_the_cap() -> None:
    clock = FakeClock()
    probe = scripted(
        [Observation(ready=False, failing=("x",))] * 6 + [Observation(ready=True, value="ok")]
    )
    value = wait_until(
        probe,
        what="thing",
        timeout=100,
        poll=PollPolicy(initial=1, factor=2, cap=5),
        clock=clock,
        sleep=clock.sleep,
    )
    assert value == "ok"
    assert clock.sleeps == [1, 2, 4, 5, 5, 5]


def test_logs_only_when_the_set_of_failures_changes(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    not_ready_a = Observation[str](ready=False, failing=("node a not ready",))
    not_ready_b = Observation[str](ready=False, failing=("node b not ready",))
    probe = scripted(
        [not_ready_a, not_ready_a, not_ready_a, not_ready_b, Observation(ready=True, value="v")]
    )
    with caplog.at_level(logging.INFO):
        wait_until(
            probe, what="cluster", timeout=100, poll=PollPolicy(), clock=clock, sleep=clock.sleep
        )
    messages = [r.getMessage() for r in caplog.records]
    assert sum("node a not ready" in m for m in messages) == 1
    assert sum("node b not ready" in m for m in messages) == 1


def test_transient_errors_are_tolerated_until_ready() -> None:
    clock = FakeClock()
    probe = scripted([TransientError("throttled"), Observation(ready=True, value="v")])
    assert (
        wait_until(probe, what="t", timeout=10, poll=PollPolicy(), clock=clock, sleep=clock.sleep)
        == "v"
    )


def test_permanent_errors_propagate_at_once() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="boom"):
        wait_until(
            scripted([ValueError("boom")]),
            what="t",
            timeout=10,
            poll=PollPolicy(),
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps == []


def test_timeout_names_what_is_still_failing() -> None:
    clock = FakeClock()
    probe = scripted(
        [Observation(ready=False, failing=("Node i-1 not ready", "Pod kube-dns pending"))]
    )
    with pytest.raises(WaitTimeout) as info:
        wait_until(
            probe,
            what="cluster x",
            timeout=12,
            poll=PollPolicy(initial=5, cap=5),
            clock=clock,
            sleep=clock.sleep,
        )
    assert info.value.still_failing == ("Node i-1 not ready", "Pod kube-dns pending")
    assert "cluster x" in str(info.value) and "Pod kube-dns pending" in str(info.value)
    assert clock.now == pytest.approx(12)


def test_progress_callback_sees_every_observation() -> None:
    clock = FakeClock()
    seen: list[tuple[int | None, int | None]] = []
    probe = scripted(
        [
            Observation(ready=False, done=1, total=3),
            Observation(ready=True, value="v", done=3, total=3),
        ]
    )
    wait_until(
        probe,
        what="t",
        timeout=10,
        poll=PollPolicy(),
        clock=clock,
        sleep=clock.sleep,
        on_observation=lambda o: seen.append((o.done, o.total)),
    )
    assert seen == [(1, 3), (3, 3)]
