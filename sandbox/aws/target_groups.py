"""What the NLB's health checker reads from AWS: each registered target and its group's check.

The health checks are AWS's own data plane, so they read the target groups where AWS keeps
them (moto's backend, in process) rather than through the API: a `RegisterTargets` or a
`ModifyTargetGroup` is seen by the next round of checks, as on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

from moto.core import DEFAULT_ACCOUNT_ID
from moto.elbv2.models import elbv2_backends

from sandbox.aws.gaps.patching import ec2_backend

DEFAULT_DEREGISTRATION_DELAY = 300.0


@dataclass(frozen=True)
class RegisteredTarget:
    """One registered target (an instance, or an ip target's address), its address and state,
    and its group's health check."""

    target_group_arn: str
    instance_id: str
    ip: str
    running: bool
    traffic_port: int
    protocol: str  # the health check's: TCP, HTTP or HTTPS
    port: int  # the health check's port, "traffic-port" resolved
    path: str
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    deregistration_delay: float


def registered_targets(
    region: str, *, account_id: str = DEFAULT_ACCOUNT_ID
) -> list[RegisteredTarget]:
    """Return every registered target of every target group in `region`."""
    elbv2 = elbv2_backends[account_id][region]
    ec2 = ec2_backend(account_id, region)
    found = []
    for group in list(elbv2.target_groups.values()):
        if group.target_type not in ("instance", "ip") or not group.health_check_enabled:
            continue
        for target in list(group.targets.values()):
            if group.target_type == "ip":  # a pod's own address: up while it is registered
                ip, running = str(target["Id"]), True
            else:
                instance = ec2.get_instance_by_id(target["Id"])
                if instance is None:
                    continue
                ip, running = str(instance.private_ip), instance.state == "running"
            traffic_port = int(target.get("Port") or group.port)
            check_port = str(group.health_check_port or "traffic-port")
            found.append(
                RegisteredTarget(
                    target_group_arn=group.arn,
                    instance_id=target["Id"],
                    ip=ip,
                    running=running,
                    traffic_port=traffic_port,
                    protocol=str(group.health_check_protocol or "TCP").upper(),
                    port=traffic_port if check_port == "traffic-port" else int(check_port),
                    path=group.health_check_path or "/",
                    interval=float(group.health_check_interval_seconds),
                    timeout=float(group.health_check_timeout_seconds),
                    healthy_threshold=int(group.healthy_threshold_count),
                    unhealthy_threshold=int(group.unhealthy_threshold_count),
                    deregistration_delay=float(
                        str(
                            group.attributes.get(
                                "deregistration_delay.timeout_seconds",
                                DEFAULT_DEREGISTRATION_DELAY,
                            )
                        )
                    ),
                )
            )
    return found


def instance_running(
    instance_id: str, *, region: str, account_id: str = DEFAULT_ACCOUNT_ID
) -> bool:
    """Tell whether the instance exists and is running (a stopped node answers nothing)."""
    instance = ec2_backend(account_id, region).get_instance_by_id(instance_id)
    return instance is not None and instance.state == "running"


def instance_cluster(
    instance_id: str, *, region: str, account_id: str = DEFAULT_ACCOUNT_ID
) -> str | None:
    """Return the kops cluster an instance belongs to (its ``KubernetesCluster`` tag)."""
    tags: dict[str, str] = ec2_backend(account_id, region).tags.get(instance_id, {})
    return tags.get("KubernetesCluster")
