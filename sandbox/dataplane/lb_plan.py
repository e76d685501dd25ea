"""What one NLB and kube-proxy do with a new connection, as pure decisions on a plan.

The twin's data path (``sandbox.cloud.data_path``) describes each load balancer, as configured
in AWS, as a ``LoadBalancerPlan``: its per-AZ interfaces, its targets with their health, and the
Service's endpoints (pods) with its ``externalTrafficPolicy``. ``nlb.py`` applies these
decisions to real sockets.

Routing, step by step:

0. With ``ip`` targets the targets are the pods themselves: step 2 and kube-proxy's SNAT do not
   apply, and a target is healthy when its pod is ready.
1. The NLB node of the zone that accepted the connection picks a target among those it can
   reach: the targets in its own zone, or in every zone when cross-zone load balancing is on
   (then AWS spreads over all healthy targets, not preferring its own zone). It takes the
   healthy ones; if none of those is healthy it fails open and uses all of them.
2. kube-proxy on that node picks a ready endpoint: with ``Local`` only one on the same node
   (none -> the connection is refused), with ``Cluster`` any.
3. The connection reaches the node from the client's own address when the target group
   preserves client IPs (the default for instance targets), else from the NLB's private address
   in the accepting zone. kube-proxy keeps that source with ``Local`` and SNATs to the node's
   address with ``Cluster``.
4. Hairpin: with client IP preservation, a client that is itself the chosen target (a node
   connecting to its own NLB) gets no answer: the target's reply goes straight back to the
   client's own address, which never opened a connection to it, so on AWS the attempt times
   out ("Connections time out for requests from a target to its load balancer").
5. With proxy protocol v2 the NLB opens the connection to the target with a PROXY v2 header
   carrying the client's address and port and the listener's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

TrafficPolicy = Literal["Local", "Cluster"]
TRAFFIC_POLICIES: tuple[str, ...] = ("Local", "Cluster")
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


@dataclass(frozen=True)
class Endpoint:
    """One pod behind the Service: where it listens, its node, whether it is Ready."""

    ip: str
    port: int
    node: str
    ready: bool


@dataclass(frozen=True)
class TargetNode:
    """One registered instance target: the node, its private IP and zone, its health.

    ``healthy`` is the NLB health checks' verdict; ``reachable`` is whether the instance runs
    at all (a connection the NLB still sends to a stopped node goes nowhere).
    """

    node: str
    node_ip: str
    zone: str
    healthy: bool
    reachable: bool = True


@dataclass(frozen=True)
class LoadBalancerPlan:
    """One NLB's data path: listeners per AZ interface, targets, the Service's endpoints."""

    name: str
    listeners: tuple[tuple[str, int, str], ...]  # (interface ip, port, zone) per AZ interface
    targets: tuple[TargetNode, ...]
    endpoints: tuple[Endpoint, ...]  # the Service's pods
    traffic_policy: str  # "Local" | "Cluster"
    cross_zone: bool = False
    target_type: str = "instance"  # "ip": targets are the pods, reached without kube-proxy
    preserve_client_ip: bool = True  # the target group's preserve_client_ip.enabled
    proxy_protocol_v2: bool = False  # the target group's proxy_protocol_v2.enabled


def validate(plans: Iterable[LoadBalancerPlan]) -> None:
    """Raise ValueError naming every problem: non-loopback address, bad policy, shared listener."""
    problems: list[str] = []
    owners: dict[tuple[str, int], str] = {}
    names: set[str] = set()
    for plan in plans:
        if plan.name in names:
            problems.append(f"load balancer {plan.name!r} appears twice")
        names.add(plan.name)
        if plan.traffic_policy not in TRAFFIC_POLICIES:
            problems.append(
                f"{plan.name}: traffic policy {plan.traffic_policy!r} is not Local/Cluster"
            )
        for ip, port, _zone in plan.listeners:
            problems += _address_problems(plan.name, "listener", ip, port)
            owner = owners.get((ip, port))
            if owner is not None:
                problems.append(f"{plan.name}: listener {ip}:{port} is also used by {owner}")
            owners[(ip, port)] = plan.name
        for target in plan.targets:
            problems += _address_problems(plan.name, f"target {target.node}", target.node_ip, None)
        for endpoint in plan.endpoints:
            problems += _address_problems(plan.name, "endpoint", endpoint.ip, endpoint.port)
    if problems:
        raise ValueError("invalid load balancer plan: " + "; ".join(problems))


def _address_problems(lb: str, what: str, ip: str, port: int | None) -> list[str]:
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return [f"{lb}: {what} address {ip!r} is not IPv4"]
    problems = []
    if address not in _LOOPBACK:
        problems.append(f"{lb}: {what} address {ip} is outside 127.0.0.0/8")
    if port is not None and not 0 < port < 65536:
        problems.append(f"{lb}: {what} port {port} is out of range")
    return problems


def reachable_targets(plan: LoadBalancerPlan, zone: str) -> tuple[TargetNode, ...]:
    """Return the targets the NLB node in ``zone`` may pick from (healthy, else fail-open)."""
    scope = tuple(t for t in plan.targets if plan.cross_zone or t.zone == zone)
    healthy = tuple(t for t in scope if t.healthy)
    return healthy or scope


def target_endpoints(plan: LoadBalancerPlan, target: TargetNode) -> tuple[Endpoint, ...]:
    """Return where a connection to ``target`` may end: the pod itself for an ip target, else
    what kube-proxy on that node may pick."""
    if plan.target_type == "ip":
        return tuple(e for e in plan.endpoints if e.ip == target.node_ip)
    return node_endpoints(plan, target.node)


def node_endpoints(plan: LoadBalancerPlan, node: str) -> tuple[Endpoint, ...]:
    """Return the endpoints kube-proxy on ``node`` may send this Service's traffic to."""
    ready = tuple(e for e in plan.endpoints if e.ready)
    if plan.traffic_policy == "Local":
        return tuple(e for e in ready if e.node == node)
    return ready


def upstream_source(
    plan: LoadBalancerPlan, *, client_ip: str, target: TargetNode, nlb_ip: str
) -> str:
    """Return the source address the pod sees: what reached the node (the client's address,
    or the NLB's own without client IP preservation), kept by ``Local``, SNATed by ``Cluster``."""
    arriving = client_ip if plan.preserve_client_ip else nlb_ip
    if plan.target_type == "ip" or plan.traffic_policy == "Local":
        return arriving
    return target.node_ip


def is_hairpin(plan: LoadBalancerPlan, *, client_ip: str, target: TargetNode) -> bool:
    """Tell whether the connection loops back to the client's own instance, which AWS drops
    when client IP preservation is on."""
    return plan.preserve_client_ip and client_ip == target.node_ip


PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2_header(*, client: tuple[str, int], listener: tuple[str, int]) -> bytes:
    """Return the PROXY protocol v2 header of a TCP over IPv4 connection (command PROXY)."""
    addresses = (
        ipaddress.IPv4Address(client[0]).packed
        + ipaddress.IPv4Address(listener[0]).packed
        + client[1].to_bytes(2, "big")
        + listener[1].to_bytes(2, "big")
    )
    return PROXY_V2_SIGNATURE + bytes([0x21, 0x11]) + len(addresses).to_bytes(2, "big") + addresses
