"""API calls the twin served: who made them, and counting them in windows of time (pure)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

# Origins, after `attribute`: the product's own clients, the kops executable it runs, and the
# twin's internals (cloud controller, SSM agent, kubelet). Kubernetes calls of the product and
# of kops are both "client".
PRODUCT_ORIGINS = frozenset({"product", "kops", "client"})
TWIN_ORIGINS = frozenset({"controller", "agent", "kubelet"})
# How far a wrapped call's own timestamps may sit from the endpoint's record of it.
MATCH_BEFORE_S, MATCH_AFTER_S = 0.05, 1.0


@dataclass(frozen=True)
class Call:
    """One API call the twin served: when (epoch s), which API, who, what, whether it writes."""

    at: float
    api: str  # "aws" or "kube"
    origin: str
    service: str  # AWS service, or the Kubernetes resource key (``apps/v1/deployments``)
    operation: str  # AWS operation, or the HTTP method
    write: bool
    ended: float | None = None  # end of the call, where the caller itself is wrapped
    wrapped: bool = False  # reported by the caller's wrapper, not by the endpoint


def attribute(calls: Iterable[Call]) -> list[Call]:
    """Return the calls with every AWS call's origin settled, oldest first.

    The endpoint labels what the product sent (``product``), the benchmark's own look-ups
    (``bench``) and the twin's machinery (``twin``), both dropped here, the real cloud
    controller (``controller``) and everything else (``other``). The twin's other controller
    and SSM agent are wrapped and report their calls themselves; each such report takes the
    place of the matching ``other`` record (same service and operation, at the same moment).
    What is left of ``other`` was sent by the kops executable and becomes ``kops``.
    """
    ordered = sorted(calls, key=lambda c: c.at)
    reports = [c for c in ordered if c.api == "aws" and c.wrapped]
    pending: dict[tuple[str, str], list[Call]] = defaultdict(list)
    for call in ordered:
        if call.api == "aws" and call.origin == "other":
            pending[(call.service, call.operation)].append(call)
    matched: set[int] = set()
    for report in reports:
        latest = (report.ended or report.at) + MATCH_AFTER_S
        for candidate in pending[(report.service, report.operation)]:
            if id(candidate) in matched or candidate.at < report.at - MATCH_BEFORE_S:
                continue
            if candidate.at <= latest:
                matched.add(id(candidate))
            break
    settled = []
    for call in ordered:
        if call.origin in ("bench", "twin") or id(call) in matched:
            continue
        settled.append(replace(call, origin="kops") if call.origin == "other" else call)
    return settled


def within(calls: Iterable[Call], start: float, end: float) -> list[Call]:
    """Return the calls made from `start` to `end` (inclusive)."""
    return [c for c in calls if start <= c.at <= end]


def api_load_balancer_wait(calls: Iterable[Call]) -> float | None:
    """Seconds from kops creating the cluster's API NLB to its first launch template.

    kops writes no launch template (so no instance boots) until its waiter has seen that NLB
    active; None when kops created none in these calls.
    """
    ordered = sorted((c for c in calls if c.origin == "kops"), key=lambda c: c.at)
    created = next(
        (c.at for c in ordered if (c.service, c.operation) == ("elbv2", "CreateLoadBalancer")),
        None,
    )
    if created is None:
        return None
    launched = next(
        (
            c.at
            for c in ordered
            if c.at >= created and (c.service, c.operation) == ("ec2", "CreateLaunchTemplate")
        ),
        None,
    )
    return None if launched is None else launched - created


def count(calls: Iterable[Call], keep: Callable[[Call], bool] | None = None) -> int:
    """Return how many calls pass `keep` (all when None)."""
    return sum(1 for c in calls if keep is None or keep(c))


def writes_by_origin(calls: Iterable[Call]) -> dict[str, int]:
    """Return the number of writing calls per ``api:origin`` (only non-zero entries)."""
    counted = Counter(f"{c.api}:{c.origin}" for c in calls if c.write)
    return dict(sorted(counted.items()))


def write_operations(calls: Iterable[Call]) -> list[str]:
    """Return ``api:origin:service:operation`` for every distinct writing call, sorted."""
    return sorted({f"{c.api}:{c.origin}:{c.service}:{c.operation}" for c in calls if c.write})


def product_writes(calls: Sequence[Call]) -> int:
    """Return the writes sent by the product or the kops executable it ran."""
    return count(calls, lambda c: c.write and c.origin in PRODUCT_ORIGINS)


def twin_writes(calls: Sequence[Call]) -> int:
    """Return the writes the twin's own controller, SSM agent and kubelet sent."""
    return count(calls, lambda c: c.write and c.origin in TWIN_ORIGINS)
