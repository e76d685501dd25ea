"""The NLB's health checks: thresholds, intervals, draining, and kube-proxy's real answers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from dataplane_support import Net

from sandbox.dataplane.health_check import (
    NOT_REGISTERED,
    CheckState,
    TargetHealthChecker,
    probe_target,
)
from sandbox.dataplane.node_ports import NodePorts, NodePortServers, ServiceHealth

TG = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/k8s-default-nginx/1"


@dataclass(frozen=True)
class Target:
    """A registered target as the target group describes it."""

    ip: str
    port: int = 32001
    protocol: str = "HTTP"
    path: str = "/healthz"
    instance_id: str = "i-0aaa"
    target_group_arn: str = TG
    interval: float = 10.0
    timeout: float = 6.0
    healthy_threshold: int = 2
    unhealthy_threshold: int = 2
    deregistration_delay: float = 300.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_until_state(
    checker: TargetHealthChecker, clock: Clock, want: str, *, step: float = 0.1
) -> float:
    """Advance the clock in steps, checking each time; return the clock time `want` took."""
    started = clock.now
    for _ in range(10_000):
        checker.check_due()
        if checker.health(TG, "i-0aaa")[0] == want:
            return round(clock.now - started, 6)
        clock.now += step
    raise AssertionError(f"target never became {want}")


@pytest.mark.parametrize(
    ("results", "healthy", "unhealthy", "expected"),
    [
        ([True], 2, 2, "initial"),
        ([True, True], 2, 2, "healthy"),
        ([True, False, True], 2, 2, "initial"),  # a failure breaks the run of passes
        ([True, True, False], 2, 2, "healthy"),
        ([True, True, False, False], 2, 2, "unhealthy"),
        ([True, True, False, False, False, False], 2, 5, "healthy"),
        ([True, True, False, False, False, False, False], 2, 5, "unhealthy"),
        ([True, True, False, False, True, True, True], 3, 2, "healthy"),
        ([True, True, False, False, True, True], 3, 2, "unhealthy"),
    ],
)
def test_thresholds_decide_the_verdict(
    results: list[bool], healthy: int, unhealthy: int, expected: str
) -> None:
    check = CheckState()
    for passed in results:
        check.record(passed, healthy_threshold=healthy, unhealthy_threshold=unhealthy)
    assert check.state[0] == expected


def checker_with(
    targets: list[Target], clock: Clock, verdicts: dict[str, bool], *, second: float = 0.1
) -> TargetHealthChecker:
    """A checker over `targets` whose probes answer from `verdicts` (by instance id)."""
    return TargetHealthChecker(
        lambda: list(targets),
        second=second,
        probe=lambda target, _timeout: verdicts[target.instance_id],
        clock=clock,
    )


@pytest.mark.parametrize(
    ("interval", "healthy_threshold", "aws_seconds"),
    [(10.0, 2, 20.0), (10.0, 5, 50.0), (5.0, 3, 15.0)],
)
def test_a_new_target_turns_healthy_after_its_groups_interval_times_threshold(
    interval: float, healthy_threshold: int, aws_seconds: float
) -> None:
    clock = Clock()
    target = Target(ip="127.0.0.1", interval=interval, healthy_threshold=healthy_threshold)
    checker = checker_with([target], clock, {"i-0aaa": True}, second=0.1)
    assert checker.health(TG, "i-0aaa") == NOT_REGISTERED
    checker.check_due()
    assert checker.health(TG, "i-0aaa")[0] == "initial"
    assert run_until_state(checker, clock, "healthy") == pytest.approx(aws_seconds * 0.1)


@pytest.mark.parametrize(("unhealthy_threshold", "aws_seconds"), [(2, 20.0), (3, 30.0), (6, 60.0)])
def test_a_failing_target_keeps_receiving_traffic_for_interval_times_threshold(
    unhealthy_threshold: int, aws_seconds: float
) -> None:
    clock = Clock()
    target = Target(ip="127.0.0.1", unhealthy_threshold=unhealthy_threshold)
    verdicts = {"i-0aaa": True}
    checker = checker_with([target], clock, verdicts)
    run_until_state(checker, clock, "healthy")
    verdicts["i-0aaa"] = False
    took = run_until_state(checker, clock, "unhealthy", step=0.125)
    # The first failing check comes at most one interval after the change.
    assert aws_seconds * 0.1 - 1.0 < took <= aws_seconds * 0.1
    assert not checker.healthy(TG, "i-0aaa")


def test_a_changed_interval_applies_from_the_next_check() -> None:
    clock = Clock()
    targets = [Target(ip="127.0.0.1")]
    verdicts = {"i-0aaa": True}
    checker = checker_with(targets, clock, verdicts)
    run_until_state(checker, clock, "healthy")
    targets[0] = replace(targets[0], interval=30.0)  # ModifyTargetGroup
    clock.now += 1.0
    checker.check_due()  # the check due under the old interval; the next is 3 s away
    verdicts["i-0aaa"] = False
    took = run_until_state(checker, clock, "unhealthy", step=0.1)
    assert took == pytest.approx(6.0)


def test_a_deregistered_target_drains_for_the_delay_then_is_gone() -> None:
    clock = Clock()
    targets = [Target(ip="127.0.0.1", deregistration_delay=30.0)]
    checker = checker_with(targets, clock, {"i-0aaa": True})
    run_until_state(checker, clock, "healthy")
    targets.clear()
    checker.check_due()
    assert checker.health(TG, "i-0aaa")[0] == "draining"
    assert not checker.healthy(TG, "i-0aaa")
    clock.now += 2.9
    checker.check_due()
    assert checker.health(TG, "i-0aaa")[0] == "draining"
    clock.now += 0.2
    checker.check_due()
    assert checker.health(TG, "i-0aaa") == NOT_REGISTERED


# -- kube-proxy's node ports, probed for real --------------------------------------------------


@pytest.fixture
def node_ports(net: Net) -> Iterator[NodePortServers]:
    servers = NodePortServers()
    yield servers
    servers.stop()


def free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


def healthz(ip: str, port: int) -> tuple[int, dict[str, object]]:
    with socket.create_connection((ip, port), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split(b" ")[1]), json.loads(body)


def test_healthz_answers_200_only_where_the_node_has_a_ready_local_endpoint(
    net: Net, node_ports: NodePortServers
) -> None:
    node_a, node_b = net.vpc(11), net.vpc(12)
    port = free_port(node_a)
    node_ports.apply(
        [
            NodePorts("node-a", node_a, (ServiceHealth(port, "default", "nginx", 1),)),
            NodePorts("node-b", node_b, (ServiceHealth(port, "default", "nginx", 0),)),
        ]
    )
    status, body = healthz(node_a, port)
    assert (status, body["localEndpoints"]) == (200, 1)
    assert body["service"] == {"namespace": "default", "name": "nginx"}
    assert healthz(node_b, port)[0] == 503
    assert probe_target(Target(ip=node_a, port=port), 1.0)
    assert not probe_target(Target(ip=node_b, port=port), 1.0)


def test_a_node_left_out_answers_nothing_and_fails_every_check(
    net: Net, node_ports: NodePortServers
) -> None:
    node_a = net.vpc(11)
    port, traffic = free_port(node_a), free_port(node_a)
    node_ports.apply(
        [NodePorts("node-a", node_a, (ServiceHealth(port, "default", "nginx", 1),), (traffic,))]
    )
    assert probe_target(Target(ip=node_a, port=traffic, protocol="TCP"), 1.0)
    node_ports.apply([])  # the instance stopped
    assert node_ports.listening() == []
    assert not probe_target(Target(ip=node_a, port=port), 1.0)
    assert not probe_target(Target(ip=node_a, port=traffic, protocol="TCP"), 1.0)


@pytest.mark.parametrize("unhealthy_threshold", [2, 4])
def test_a_lost_pod_is_detected_by_real_checks_after_the_groups_threshold(
    net: Net, node_ports: NodePortServers, unhealthy_threshold: int
) -> None:
    node_a = net.vpc(11)
    port = free_port(node_a)
    clock = Clock()
    target = Target(ip=node_a, port=port, unhealthy_threshold=unhealthy_threshold)
    checker = TargetHealthChecker(lambda: [target], second=0.1, clock=clock)
    node_ports.apply([NodePorts("node-a", node_a, (ServiceHealth(port, "default", "nginx", 1),))])
    run_until_state(checker, clock, "healthy", step=1.0)
    node_ports.apply([NodePorts("node-a", node_a, (ServiceHealth(port, "default", "nginx", 0),))])
    assert run_until_state(checker, clock, "unhealthy", step=1.0) == unhealthy_threshold * 1.0
