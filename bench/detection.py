"""How soon the flow notices that the world is ready, and how many calls its waits cost (pure).

For each wait with a simulated latency, the twin's side says when the resource became ready
(its creation time plus the configured delay); the flow's side says when the wait task ended.
The calls are those the twin served during the wait that belong to it (see `WAITS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bench.calls import Call, within
from bench.timeline import Span, first

# Below this, a wait ended at its first looks and a per-minute rate says nothing.
MIN_WAIT_FOR_RATE_S = 5.0


@dataclass(frozen=True)
class WaitKind:
    """A resource the flow waits for: its wait task and which calls serve that wait."""

    resource: str
    task: str
    belongs: Callable[[Call], bool]


def _kops_or_kube_client(call: Call) -> bool:
    return call.origin == "kops" or (call.api == "kube" and call.origin == "client")


def _product_aws(*services: str) -> Callable[[Call], bool]:
    def belongs(call: Call) -> bool:
        return call.api == "aws" and call.origin == "product" and call.service in services

    return belongs


WAITS = (
    WaitKind("nodes", "wait_for_cluster_valid", _kops_or_kube_client),
    WaitKind("nlb", "wait_for_nlb_active", _product_aws("elbv2")),
    WaitKind("targets", "wait_for_targets_healthy", _product_aws("elbv2")),
    WaitKind("ssm", "wait_for_bastion_online", _product_aws("ec2", "ssm")),
)
# The call each look at a resource makes exactly once (how looks are counted).
LOOK_MARKERS = {
    "nodes": "v1/pods GET",  # `kops validate cluster` lists the pods once per run
    "nlb": "elbv2 DescribeLoadBalancers",
    "targets": "elbv2 DescribeTargetGroups",
    "ssm": "ec2 DescribeInstances",
}
DESCRIPTIONS = {
    "nodes": "nodes Ready (watch, then `kops validate cluster` once)",
    "nlb": "NLB active",
    "targets": "NLB targets healthy",
    "ssm": "bastion Online in SSM",
}


@dataclass(frozen=True)
class Detection:
    """One wait: when the twin had the resource ready, when the flow moved on, what it cost."""

    resource: str
    ready_at: float | None
    wait: Span | None
    calls: int

    @property
    def ready_before_wait(self) -> bool:
        """Tell whether the resource was ready before the flow started waiting for it."""
        return (
            self.ready_at is not None and self.wait is not None and self.ready_at < self.wait.start
        )

    @property
    def latency(self) -> float | None:
        """Seconds from ready (or from the wait's start, if later) to the wait's end."""
        if self.ready_at is None or self.wait is None:
            return None
        return self.wait.end - max(self.ready_at, self.wait.start)

    @property
    def calls_per_minute(self) -> float | None:
        """Calls per minute of waiting, for waits long enough to have a rate."""
        if self.wait is None or self.wait.duration < MIN_WAIT_FOR_RATE_S:
            return None
        return self.calls * 60.0 / self.wait.duration


def detect(
    spans: Sequence[Span], calls: Sequence[Call], ready: Mapping[str, float | None]
) -> list[Detection]:
    """Return one Detection per wait in `WAITS`, from task spans, attributed calls, ready times."""
    found = []
    for kind in WAITS:
        wait = first(spans, kind.task)
        served = within(calls, wait.start, wait.end) if wait is not None else []
        found.append(
            Detection(
                resource=kind.resource,
                ready_at=ready.get(kind.resource),
                wait=wait,
                calls=sum(1 for c in served if kind.belongs(c)),
            )
        )
    return found


def look_times(*, initial: float, factor: float, cap: float, horizon: float) -> list[float]:
    """Return when a wait looks (seconds from its start, looks taking no time) up to `horizon`.

    The same schedule as ``kops_nlb.core.waiting``: at once, then after `initial` seconds, growing by
    `factor` up to `cap`.
    """
    times = [0.0]
    moment, delay = 0.0, initial
    while True:
        moment += min(delay, cap)
        if moment > horizon:
            return times
        times.append(moment)
        delay = min(cap, delay * factor)


def calls_per_minute_waiting(
    *,
    calls_per_look: float,
    ready_after: float,
    initial: float,
    factor: float,
    cap: float,
    look_at_start: bool = True,
) -> float | None:
    """Return the calls per minute of a wait whose resource turns ready after `ready_after` s.

    The wait ends at its first look at or after that moment; None when that is a look at the
    very start. `look_at_start=False` drops the look made the moment the wait begins.
    """
    times = look_times(initial=initial, factor=factor, cap=cap, horizon=ready_after + cap)
    if not look_at_start:
        times = times[1:]
    seeing = next(i for i, t in enumerate(times) if t >= ready_after)
    if times[seeing] <= 0:
        return None
    return calls_per_look * (seeing + 1) * 60.0 / times[seeing]
