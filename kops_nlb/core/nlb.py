"""The Service's NLB as the cloud controller makes it, and when it is ready (pure).

The AWS cloud controller (kops runs it) names the NLB ``a`` + the Service UID without dashes
(cut to 32 characters) and tags it ``kubernetes.io/service-name=<ns>/<svc>`` and
``kubernetes.io/cluster/<cluster>``; the Service's ``status.loadBalancer.ingress[0].hostname``
is the NLB's DNS name. Its targets are instances (NodePort); with
``externalTrafficPolicy: Local`` nodes without an nginx pod fail the health check on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.errors import ConflictError
from kops_nlb.core.naming import (
    LBC_CLUSTER_TAG,
    LBC_STACK_TAG,
    SERVICE_NAME_TAG,
    cluster_tag_key,
)
from kops_nlb.core.waiting import Observation


class NlbInfo(BaseModel):
    """A load balancer as ELBv2 describes it."""

    model_config = ConfigDict(frozen=True)

    arn: str
    name: str
    dns_name: str
    scheme: str
    type: str
    state: str
    vpc_id: str
    zones: tuple[str, ...] = ()


class TargetHealth(BaseModel):
    """One target of one target group and its health."""

    model_config = ConfigDict(frozen=True)

    target_group: str
    instance_id: str
    port: int | None
    state: str
    reason: str | None = None
    description: str | None = None


class NlbInterface(BaseModel):
    """One network interface of an NLB: its private address in one zone."""

    model_config = ConfigDict(frozen=True)

    interface_id: str
    availability_zone: str
    subnet_id: str
    private_ip: str


def same_hostname(a: str | None, b: str | None) -> bool:
    """Compare DNS names ignoring case and a trailing dot."""
    if not a or not b:
        return False
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def is_service_nlb(
    lb: Mapping[str, Any],
    tags: Mapping[str, str],
    *,
    service: str,
    cluster_name: str,
    hostname: str | None,
) -> bool:
    """Tell whether a load balancer is the one of `service` (``ns/name``) in the cluster.

    The tags must name the Service and the cluster (the cloud controller's tags, or the AWS Load
    Balancer Controller's); when the Service already reports a hostname, the DNS name must be
    that hostname.
    """
    by_cloud_controller = (
        tags.get(SERVICE_NAME_TAG) == service and cluster_tag_key(cluster_name) in tags
    )
    by_load_balancer_controller = (
        tags.get(LBC_STACK_TAG) == service and tags.get(LBC_CLUSTER_TAG) == cluster_name
    )
    if not (by_cloud_controller or by_load_balancer_controller):
        return False
    return not hostname or same_hostname(lb.get("DNSName"), hostname)


def to_nlb_info(lb: Mapping[str, Any]) -> NlbInfo:
    """Return the NlbInfo of a DescribeLoadBalancers entry."""
    return NlbInfo(
        arn=lb["LoadBalancerArn"],
        name=lb["LoadBalancerName"],
        dns_name=lb.get("DNSName", ""),
        scheme=lb.get("Scheme", ""),
        type=lb.get("Type", ""),
        state=lb.get("State", {}).get("Code", "unknown"),
        vpc_id=lb.get("VpcId", ""),
        zones=tuple(sorted(z["ZoneName"] for z in lb.get("AvailabilityZones", []))),
    )


def nlb_observation(
    info: NlbInfo | None, *, expected_name: str, internal: bool
) -> Observation[NlbInfo]:
    """Judge one look at the Service's NLB: type network, the right scheme, state active.

    Raises ConflictError when the load balancer can never become what the spec asks for (wrong
    type or scheme, or failed).
    """
    if info is None:
        return Observation(ready=False, failing=(f"no NLB {expected_name} for the Service yet",))
    scheme = "internal" if internal else "internet-facing"
    if info.type != "network":
        raise ConflictError(
            f"load balancer {info.name} is of type {info.type}, not network: "
            "is the Service annotated aws-load-balancer-type: nlb?"
        )
    if info.scheme != scheme:
        raise ConflictError(
            f"NLB {info.name} is {info.scheme}, the spec asks for {scheme} "
            "(annotation aws-load-balancer-internal)"
        )
    if info.state == "failed":
        raise ConflictError(f"NLB {info.name} is in state failed")
    if info.state != "active":
        return Observation(ready=False, failing=(f"NLB {info.name} state {info.state}",))
    return Observation(ready=True, value=info)


def targets_observation(
    health: Sequence[TargetHealth], instance_ids: Sequence[str]
) -> Observation[list[TargetHealth]]:
    """Judge target health: every listed instance healthy in every target group it is in.

    Other targets may be unhealthy (under ``Local`` nodes without an nginx pod fail on purpose);
    they are only reported. An instance in no target group yet is not ready.
    """
    if not health:
        return Observation(ready=False, failing=("no targets registered yet",))
    failing: list[str] = []
    healthy = 0
    for instance_id in instance_ids:
        entries = [t for t in health if t.instance_id == instance_id]
        if not entries:
            failing.append(f"{instance_id} not registered")
            continue
        bad = [t for t in entries if t.state != "healthy"]
        if bad:
            failing.extend(
                f"{t.instance_id}:{t.port} {t.state}" + (f" ({t.reason})" if t.reason else "")
                for t in bad
            )
        else:
            healthy += 1
    if failing:
        return Observation(
            ready=False,
            value=list(health),
            failing=tuple(failing),
            done=healthy,
            total=len(instance_ids),
        )
    return Observation(ready=True, value=list(health), done=healthy, total=len(instance_ids))


def eni_description(nlb_arn: str) -> str:
    """Return the description AWS gives an NLB's network interfaces: ``ELB net/<name>/<id>``."""
    _, _, resource = nlb_arn.partition(":loadbalancer/")
    if not resource:
        raise ValueError(f"{nlb_arn!r} is not a load balancer ARN")
    return f"ELB {resource}"


def to_target_health(group_name: str, description: Mapping[str, Any]) -> TargetHealth:
    """Return the TargetHealth of one DescribeTargetHealth entry of a target group."""
    health = description.get("TargetHealth", {})
    return TargetHealth(
        target_group=group_name,
        instance_id=description["Target"]["Id"],
        port=description["Target"].get("Port"),
        state=health.get("State", "unknown"),
        reason=health.get("Reason"),
        description=health.get("Description"),
    )


def to_nlb_interface(eni: Mapping[str, Any]) -> NlbInterface:
    """Return the NlbInterface of one DescribeNetworkInterfaces entry."""
    return NlbInterface(
        interface_id=eni["NetworkInterfaceId"],
        availability_zone=eni.get("AvailabilityZone", ""),
        subnet_id=eni.get("SubnetId", ""),
        private_ip=eni.get("PrivateIpAddress", ""),
    )


class TargetGroupSettings(BaseModel):
    """One target group of the NLB: its target type and the attributes that decide which
    client address the targets see (read from ELBv2, not from the Service's annotations:
    the cloud controller leaves the last values in place when an annotation is removed)."""

    model_config = ConfigDict(frozen=True)

    name: str
    target_type: str
    protocol: str
    preserve_client_ip: bool | None
    proxy_protocol_v2: bool


def _flag(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() == "true"


def to_target_group_settings(
    group: Mapping[str, Any], attributes: Sequence[Mapping[str, str]]
) -> TargetGroupSettings:
    """Return the settings of a DescribeTargetGroups entry and its DescribeTargetGroupAttributes."""
    values = {a["Key"]: a.get("Value") for a in attributes}
    return TargetGroupSettings(
        name=group["TargetGroupName"],
        target_type=group.get("TargetType", "instance"),
        protocol=group.get("Protocol", "TCP"),
        preserve_client_ip=_flag(values.get("preserve_client_ip.enabled")),
        proxy_protocol_v2=bool(_flag(values.get("proxy_protocol_v2.enabled"))),
    )


def target_group_settings_observation(
    groups: Sequence[TargetGroupSettings],
    *,
    preserve_client_ip: bool | None,
    proxy_protocol_v2: bool,
) -> Observation[list[TargetGroupSettings]]:
    """Judge whether the controller has applied the attributes the spec asks for.

    Only what the spec asks for explicitly is waited for: an attribute whose annotation was
    removed keeps its last value (the cloud controller never resets it), so waiting for a
    default could never end; verify reports such a target group instead.
    """
    if not groups:
        return Observation(ready=False, failing=("no target group yet",))
    failing: list[str] = []
    settled = 0
    for group in groups:
        problems = []
        if preserve_client_ip is not None and group.preserve_client_ip != preserve_client_ip:
            now = "unset" if group.preserve_client_ip is None else group.preserve_client_ip
            problems.append(
                f"{group.name}: preserve_client_ip.enabled is {now}, "
                f"the spec asks for {preserve_client_ip}"
            )
        if proxy_protocol_v2 and not group.proxy_protocol_v2:
            problems.append(f"{group.name}: proxy_protocol_v2.enabled is not on yet")
        failing += problems
        settled += not problems
    return Observation(
        ready=not failing,
        value=list(groups),
        failing=tuple(failing),
        done=settled,
        total=len(groups),
    )
