"""What a disruption did to the request stream: failures, recovery, and the client address.

Each disruption owns the requests sent from its moment until the next disruption (or the end of
the stream). Its recovery time is how long after the disruption the first request was sent
after which every request of its window succeeded: 0 when nothing failed, None when requests
were still failing when the window closed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kops_nlb.core.resilience.stream_script import StreamOutput, StreamRequest, stream_seq
from kops_nlb.core.verify.evidence import PodLog


@dataclass(frozen=True)
class Disruption:
    """One thing the flow did to the cluster, and when (epoch milliseconds)."""

    kind: str  # "pod" or "node"
    name: str  # what was disrupted: the pod's name, or node and instance
    at_epoch_ms: int


@dataclass(frozen=True)
class EventImpact:
    """The stream's view of one disruption."""

    kind: str
    name: str
    at_s: float  # seconds after the stream started
    requests: int
    failed: int
    recovery_s: float | None

    @property
    def recovered(self) -> bool:
        """Whether every request succeeded again before the window closed."""
        return self.recovery_s is not None


@dataclass(frozen=True)
class SecondBucket:
    """Requests sent during one second of the stream."""

    second: int
    sent: int
    ok: int
    failed: int


@dataclass(frozen=True)
class ClientAddresses:
    """The client addresses nginx logged for the stream's requests."""

    matched: int  # logged requests of this stream
    bastion: int  # of them, logged with the bastion's address
    others: dict[str, int]  # any other address, with its count

    @property
    def preserved(self) -> bool:
        """Whether nginx logged the stream, and only ever with the bastion's address."""
        return self.matched > 0 and not self.others


def event_impacts(output: StreamOutput, events: Sequence[Disruption]) -> list[EventImpact]:
    """Return the impact of each disruption, in the order they happened."""
    if output.started_epoch_ms is None:
        return []
    start = output.started_epoch_ms
    ordered = sorted(events, key=lambda e: e.at_epoch_ms)
    impacts = []
    for index, event in enumerate(ordered):
        begin = event.at_epoch_ms - start
        end = ordered[index + 1].at_epoch_ms - start if index + 1 < len(ordered) else None
        window = [
            r for r in output.requests if r.felt_ms >= begin and (end is None or r.felt_ms < end)
        ]
        impacts.append(
            EventImpact(
                kind=event.kind,
                name=event.name,
                at_s=round(begin / 1000, 3),
                requests=len(window),
                failed=sum(1 for r in window if not r.ok),
                recovery_s=_recovery_s(window, begin),
            )
        )
    return impacts


def _recovery_s(window: Sequence[StreamRequest], begin_ms: int) -> float | None:
    failures = [r for r in window if not r.ok]
    if not failures:
        return 0.0
    last_failure = max(r.felt_ms for r in failures)
    after = [r.felt_ms for r in window if r.felt_ms > last_failure]
    if not after:
        return None
    return round((min(after) - begin_ms) / 1000, 3)


def failures_before(output: StreamOutput, events: Sequence[Disruption]) -> int:
    """Return how many requests failed before the first disruption (the baseline)."""
    if output.started_epoch_ms is None:
        return 0
    first = min((e.at_epoch_ms for e in events), default=None)
    cutoff = None if first is None else first - output.started_epoch_ms
    return sum(1 for r in output.requests if not r.ok and (cutoff is None or r.felt_ms < cutoff))


def per_second(output: StreamOutput) -> list[SecondBucket]:
    """Return the requests sent in each second of the stream, failures counted apart."""
    sent: Counter[int] = Counter()
    ok: Counter[int] = Counter()
    for request in output.requests:
        second = max(request.offset_ms, 0) // 1000
        sent[second] += 1
        ok[second] += request.ok
    last = max(sent, default=-1)
    return [
        SecondBucket(second=s, sent=sent[s], ok=ok[s], failed=sent[s] - ok[s])
        for s in range(last + 1)
    ]


def requests_by_node(
    pod_logs: Sequence[PodLog], *, token: str, latest: int | None = None
) -> dict[str, int]:
    """Return how many of the stream's requests the pods of each node logged; with ``latest``,
    only the last that many by sequence (where the traffic goes now, after a reroute)."""
    served = sorted(
        (seq, pod.node_name or "")
        for pod in pod_logs
        for record in pod.records
        if (seq := stream_seq(token=token, user_agent=record.http_user_agent, path=record.path))
        is not None
    )
    if latest is not None:
        served = served[-latest:] if latest > 0 else []
    return dict(Counter(node for _seq, node in served))


def client_addresses(pod_logs: Sequence[PodLog], *, token: str, bastion_ip: str) -> ClientAddresses:
    """Return which addresses nginx logged for the requests of the stream marked by `token`."""
    seen: Counter[str] = Counter()
    for pod in pod_logs:
        for record in pod.records:
            if stream_seq(token=token, user_agent=record.http_user_agent, path=record.path):
                seen[record.remote_addr] += 1
    others = {address: count for address, count in seen.items() if address != bastion_ip}
    return ClientAddresses(matched=sum(seen.values()), bastion=seen[bastion_ip], others=others)


def resilience_problems(
    impacts: Sequence[EventImpact], addresses: ClientAddresses, *, max_recovery_s: float
) -> list[str]:
    """Return why the run fails: a lost client address, or a recovery slow or never complete."""
    problems = []
    if addresses.matched == 0:
        problems.append("nginx logged none of the stream's requests")
    for address, count in sorted(addresses.others.items()):
        problems.append(f"nginx logged {count} request(s) from {address}, not the bastion")
    for impact in impacts:
        if impact.recovery_s is None:
            problems.append(
                f"{impact.kind} loss ({impact.name}): requests still failed when the window "
                f"ended ({impact.failed} of {impact.requests} failed)"
            )
        elif impact.recovery_s > max_recovery_s:
            problems.append(
                f"{impact.kind} loss ({impact.name}): recovery took {impact.recovery_s:.1f} s, "
                f"above the bound of {max_recovery_s:g} s"
            )
    return problems
