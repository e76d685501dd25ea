"""What cloud-provider-aws does with a Service's target-group-attributes annotation.

Since v1.34 the controller sets ``preserve_client_ip.enabled`` and ``proxy_protocol_v2.enabled``
on the Service's target groups from ``service.beta.kubernetes.io/aws-load-balancer-target-
group-attributes`` (``key=value,key=value``; other keys are not taken). When the annotation is
removed it changes nothing: the target group keeps the last values. The data path follows the
target group's attributes as AWS reports them, not the annotation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Call = Callable[..., Any]


def sync_attributes(call: Call, target_group_arn: str, wanted: Mapping[str, str]) -> None:
    """Apply the attributes the Service's annotations ask for (none when they are absent)."""
    current = read_attributes(call, target_group_arn)
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if changed:
        call(
            "elbv2",
            "modify_target_group_attributes",
            TargetGroupArn=target_group_arn,
            Attributes=[{"Key": k, "Value": v} for k, v in sorted(changed.items())],
        )


def read_attributes(call: Call, target_group_arn: str) -> dict[str, str]:
    """Return a target group's attributes as a dict."""
    described = call("elbv2", "describe_target_group_attributes", TargetGroupArn=target_group_arn)
    return {a["Key"]: a["Value"] for a in described["Attributes"]}


def preserves_client_ip(attributes: Mapping[str, str]) -> bool:
    """Whether the target group hands targets the client's address (instance default: yes)."""
    return attributes.get("preserve_client_ip.enabled", "true").lower() == "true"


def sends_proxy_v2(attributes: Mapping[str, str]) -> bool:
    """Whether the target group opens connections with a PROXY v2 header."""
    return attributes.get("proxy_protocol_v2.enabled", "false").lower() == "true"
