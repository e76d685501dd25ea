"""Per-disruption impact, recovery time, per-second buckets, client addresses and the verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kops_nlb.core.errors import KopsNlbError
from kops_nlb.core.resilience.disruption import (
    node_to_stop,
    pod_to_delete,
    restore_action,
    validate_schedule,
    workers_back,
)
from kops_nlb.core.resilience.stream_script import StreamOutput, StreamRequest, stream_user_agent
from kops_nlb.core.resilience.timeline import (
    ClientAddresses,
    Disruption,
    EventImpact,
    client_addresses,
    event_impacts,
    failures_before,
    per_second,
    requests_by_node,
    resilience_problems,
)
from kops_nlb.core.verify.access_log import parse_line
from kops_nlb.core.verify.evidence import PodLog
from kops_nlb.core.workload import NodeInfo, PodInfo

START = 1_700_000_000_000
TOKEN = "00aa11bb22cc"
BASTION = "10.0.1.5"


def stream(pattern: str, step_ms: int = 100) -> StreamOutput:
    """A stream from a pattern: '.' succeeded, 'x' failed, one request per `step_ms`."""
    return StreamOutput(
        started_epoch_ms=START,
        requests=tuple(
            StreamRequest(
                seq=i + 1,
                offset_ms=i * step_ms,
                status=200 if c == "." else 0,
                curl_exit=0 if c == "." else 7,
            )
            for i, c in enumerate(pattern)
        ),
    )


def at(offset_ms: int, kind: str = "pod") -> Disruption:
    return Disruption(kind=kind, name=f"{kind}-1", at_epoch_ms=START + offset_ms)


@pytest.mark.parametrize(
    ("pattern", "events", "expected"),
    [
        # nothing failed: recovery 0
        ("..........", [at(300)], [(7, 0, 0.0)]),
        # failures from 0.4 s to 0.6 s after a loss at 0.3 s: all good again from 0.7 s
        ("....xxx...", [at(300)], [(7, 3, 0.4)]),
        # a success in between does not end the outage; the last failure does
        ("...x.x....", [at(300)], [(7, 2, 0.3)]),
        # still failing at the end: not recovered
        ("......xxxx", [at(300)], [(7, 4, None)]),
        # two events: each owns the requests until the next
        ("..xx....xx..", [at(200), at(700, "node")], [(5, 2, 0.2), (5, 2, 0.3)]),
    ],
)
def test_event_impacts(
    pattern: str, events: list[Disruption], expected: list[tuple[int, int, float | None]]
) -> None:
    impacts = event_impacts(stream(pattern), events)
    assert [(i.requests, i.failed, i.recovery_s) for i in impacts] == expected


def test_a_request_in_flight_when_the_next_disruption_comes_is_that_ones_failure() -> None:
    # Sent at 1.95 s, just before the node stop at 2 s, reset when the node died at 2.2 s.
    requests = (
        StreamRequest(seq=1, offset_ms=1500, status=200, curl_exit=0, ended_ms=1505),
        StreamRequest(seq=2, offset_ms=1950, status=0, curl_exit=56, ended_ms=2200),
        StreamRequest(seq=3, offset_ms=2300, status=200, curl_exit=0, ended_ms=2305),
    )
    output = StreamOutput(started_epoch_ms=START, requests=requests)
    pod, node = event_impacts(output, [at(1000), at(2000, "node")])
    assert (pod.requests, pod.failed, pod.recovery_s) == (1, 0, 0.0)
    assert (node.requests, node.failed, node.recovery_s) == (2, 1, 0.3)


def test_no_start_line_means_no_impacts() -> None:
    assert event_impacts(StreamOutput(None, ()), [at(0)]) == []


def test_failures_before_the_first_event_are_the_baseline() -> None:
    assert failures_before(stream("x.x..xx"), [at(400)]) == 2
    assert failures_before(stream("x.x"), []) == 2


def test_per_second_counts_sent_and_failed() -> None:
    buckets = per_second(stream("..x..xxx.x..", step_ms=250))
    assert [(b.second, b.sent, b.ok, b.failed) for b in buckets] == [
        (0, 4, 3, 1),
        (1, 4, 1, 3),
        (2, 4, 3, 1),
    ]


def log_line(address: str, seq: int, token: str = TOKEN) -> str:
    return (
        f'{address} - - [05/Dec/2026:01:00:00 +0000] "GET /?stream={token}&i={seq} HTTP/1.1" '
        f'200 615 "-" "{stream_user_agent(token, seq)}" "-"'
    )


def pod(name: str, node: str, *lines: str) -> PodLog:
    records = tuple(r for r in (parse_line(line) for line in lines) if r is not None)
    return PodLog(pod_name=name, node_name=node, pod_ip=None, node_ip=None, records=records)


def test_client_addresses_and_requests_by_node() -> None:
    logs = [
        pod(
            "a",
            "node-a",
            log_line(BASTION, 1),
            log_line(BASTION, 2),
            log_line(BASTION, 3, "ff" * 6),
        ),
        pod("b", "node-b", log_line(BASTION, 4), log_line("10.0.2.9", 5)),
    ]
    found = client_addresses(logs, token=TOKEN, bastion_ip=BASTION)
    assert found == ClientAddresses(matched=4, bastion=3, others={"10.0.2.9": 1})
    assert not found.preserved
    assert requests_by_node(logs, token=TOKEN) == {"node-a": 2, "node-b": 2}
    # Where the traffic goes now: requests 4 and 5 (the highest sequence numbers) hit node-b.
    assert requests_by_node(logs, token=TOKEN, latest=2) == {"node-b": 2}
    assert requests_by_node(logs, token=TOKEN, latest=0) == {}
    assert client_addresses(logs[:1], token=TOKEN, bastion_ip=BASTION).preserved


def impact(recovery_s: float | None) -> EventImpact:
    return EventImpact(
        kind="node", name="n1", at_s=5.0, requests=50, failed=3, recovery_s=recovery_s
    )


@pytest.mark.parametrize(
    ("impacts", "addresses", "problems"),
    [
        ([impact(2.0)], ClientAddresses(10, 10, {}), []),
        ([impact(20.0)], ClientAddresses(10, 10, {}), ["recovery took 20.0 s"]),
        ([impact(None)], ClientAddresses(10, 10, {}), ["still failed"]),
        ([impact(1.0)], ClientAddresses(10, 9, {"10.0.2.9": 1}), ["from 10.0.2.9"]),
        ([impact(1.0)], ClientAddresses(0, 0, {}), ["logged none"]),
    ],
)
def test_resilience_problems(
    impacts: list[EventImpact], addresses: ClientAddresses, problems: list[str]
) -> None:
    found = resilience_problems(impacts, addresses, max_recovery_s=10.0)
    assert len(found) == len(problems)
    for text, expected in zip(found, problems, strict=True):
        assert expected in text


def node(name: str, instance_id: str | None = "i-1", *, control_plane: bool = False) -> NodeInfo:
    return NodeInfo(
        name=name,
        instance_id=instance_id,
        internal_ip=None,
        zone=None,
        control_plane=control_plane,
        ready=True,
    )


def nginx(name: str, on: str, ready: bool = True) -> PodInfo:
    return PodInfo(name=name, node=on, pod_ip=None, host_ip=None, ready=ready)


def test_the_pod_to_delete_is_the_first_ready_one() -> None:
    assert (
        pod_to_delete([nginx("b", "n1"), nginx("a", "n1", ready=False), nginx("c", "n2")]).name
        == "b"
    )
    with pytest.raises(KopsNlbError):
        pod_to_delete([nginx("a", "n1", ready=False)])


def test_the_node_to_stop_is_the_busiest_serving_worker() -> None:
    nodes = [node("cp", control_plane=True), node("n1"), node("n2"), node("n3", None)]
    pods = [nginx("a", "n1"), nginx("b", "n2"), nginx("c", "n3"), nginx("d", "cp")]
    assert node_to_stop(pods, nodes, {"n2": 30, "n1": 10, "n3": 99, "cp": 99}).name == "n2"
    assert node_to_stop(pods, nodes, {}).name == "n1"
    with pytest.raises(KopsNlbError):
        node_to_stop([nginx("a", "n1", ready=False)], nodes, {})


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("stopped", "start"),
        ("stopping", "wait-stopped"),
        ("running", "nothing"),
        ("pending", "nothing"),
        ("terminated", "replaced"),
        ("shutting-down", "replaced"),
        (None, "replaced"),
    ],
)
def test_restore_action(state: str | None, action: str) -> None:
    assert restore_action(state) == action


@pytest.mark.parametrize(
    "changes",
    [
        {"pod_loss_after_s": 1.0},
        {"pod_loss_after_s": 40.0},
        {"node_loss_after_s": 4.0},
        {"node_loss_after_s": 40.0},
        {"max_recovery_s": 0.0},
        {"pod_loss": False, "node_loss": False},
        {"pod_loss": False, "node_loss_after_s": 1.0},
    ],
    ids=str,
)
def test_validate_schedule_rejects(changes: dict[str, float]) -> None:
    arguments = {
        "duration_s": 40,
        "pod_loss_after_s": 5.0,
        "node_loss": True,
        "node_loss_after_s": 20.0,
        "max_recovery_s": 30.0,
    } | changes
    with pytest.raises(ValueError):
        validate_schedule(**arguments)  # type: ignore[arg-type]


def test_validate_schedule_ignores_the_node_time_without_node_loss() -> None:
    validate_schedule(
        duration_s=40,
        pod_loss_after_s=5.0,
        node_loss=False,
        node_loss_after_s=1.0,
        max_recovery_s=5,
    )


def test_validate_schedule_takes_a_node_loss_alone_early() -> None:
    validate_schedule(
        duration_s=12,
        pod_loss=False,
        pod_loss_after_s=30.0,  # not used without a pod loss
        node_loss=True,
        node_loss_after_s=3.0,
        max_recovery_s=5,
    )


def worker(name: str, *, ready: bool = True, heartbeat_s: int | None = 0) -> NodeInfo:
    beat = None if heartbeat_s is None else datetime(2026, 1, 1, 12, 0, heartbeat_s, tzinfo=UTC)
    return NodeInfo(
        name=name,
        instance_id=f"i-{name}",
        internal_ip=None,
        zone=None,
        control_plane=False,
        ready=ready,
        heartbeat_at=beat,
    )


def test_a_restarted_node_is_back_once_its_kubelet_reported_after_the_start() -> None:
    since = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    # Still Ready from before the short stop: its kubelet has not reported since.
    stale = workers_back([worker("a"), worker("b")], want=2, restarted="b", since=since)
    assert not stale.ready
    assert stale.failing == ("node b has not reported since it was started",)
    booting = workers_back(
        [worker("a"), worker("b", ready=False, heartbeat_s=31)], want=2, restarted="b", since=since
    )
    assert booting.failing == ("1 of 2 worker nodes Ready",)
    back = workers_back(
        [worker("a"), worker("b", heartbeat_s=35)], want=2, restarted="b", since=since
    )
    assert back.ready and (back.done, back.total) == (2, 2)
    # A replaced node (no restart to wait for) counts only the Ready workers.
    assert workers_back([worker("a"), worker("c")], want=2, restarted=None, since=since).ready
