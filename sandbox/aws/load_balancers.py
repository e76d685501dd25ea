"""What the NLB's data path reads from AWS: each network load balancer as configured.

Whoever made a load balancer (the cloud controller, the AWS Load Balancer Controller, a user),
the data path forwards the way its configuration in AWS says: its per-zone interfaces, its
listeners, the target group each forwards to, that group's registered targets and attributes.
Read from moto's backend in process, like the health checks, so a change made through the API
applies to the next connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from moto.core import DEFAULT_ACCOUNT_ID
from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer, elbv2_backends

from sandbox.aws.gaps.elbv2 import interfaces_of, is_active


@dataclass(frozen=True)
class ConfiguredGroup:
    """A target group a listener forwards to: its target type, attributes and targets."""

    arn: str
    target_type: str  # "instance" or "ip"
    attributes: Mapping[str, str]
    targets: tuple[tuple[str, int], ...]  # (instance id or address, port), as registered


@dataclass(frozen=True)
class ConfiguredBalancer:
    """One network load balancer as AWS has it configured."""

    arn: str
    name: str
    dns_name: str
    active: bool
    tags: Mapping[str, str]
    interfaces: tuple[tuple[str, str], ...]  # (private ip, zone), one per enabled zone
    listeners: tuple[tuple[int, ConfiguredGroup], ...]  # (port, the group it forwards to)
    cross_zone: bool


def configured_balancers(
    region: str, *, account_id: str = DEFAULT_ACCOUNT_ID
) -> list[ConfiguredBalancer]:
    """Return every network load balancer of the region, by name."""
    backend = elbv2_backends[account_id][region]
    found = []
    for lb in list(backend.load_balancers.values()):
        if lb.type != "network":
            continue
        zones = {subnet.id: subnet.availability_zone for subnet in lb.subnets}
        found.append(
            ConfiguredBalancer(
                arn=lb.arn,
                name=lb.name,
                dns_name=lb.dns_name,
                active=is_active(lb.arn),
                tags=dict(backend.tagging_service.get_tag_dict_for_resource(lb.arn)),
                interfaces=tuple(
                    sorted(
                        (ip, zones.get(subnet, "")) for ip, subnet in interfaces_of(backend, lb.arn)
                    )
                ),
                listeners=_listeners(backend, lb),
                cross_zone=str(lb.attrs.get("load_balancing.cross_zone.enabled")).lower() == "true",
            )
        )
    return sorted(found, key=lambda b: b.name)


def _listeners(
    backend: ELBv2Backend, lb: FakeLoadBalancer
) -> tuple[tuple[int, ConfiguredGroup], ...]:
    groups = backend.target_groups
    found = []
    for listener in list(lb.listeners.values()):
        for action in listener.default_actions:
            group = groups.get(str(action.data.get("TargetGroupArn")))
            if action.type != "forward" or group is None:
                continue
            found.append(
                (
                    int(listener.port),
                    ConfiguredGroup(
                        arn=group.arn,
                        target_type=group.target_type,
                        attributes={k: str(v) for k, v in group.attributes.items()},
                        targets=tuple(
                            (str(t["Id"]), int(t.get("Port") or group.port))
                            for t in list(group.targets.values())
                        ),
                    ),
                )
            )
    return tuple(sorted(found, key=lambda item: item[0]))
