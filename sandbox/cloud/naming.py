"""The tags and annotations the AWS controllers read and write, as the twin reads them.

cloud-provider-aws (the real aws-cloud-controller-manager on each control plane) tags an NLB
``kubernetes.io/service-name`` and ``kubernetes.io/cluster/<cluster>``; the AWS Load Balancer
Controller tags it ``service.k8s.aws/stack`` and ``elbv2.k8s.aws/cluster``. The data path finds
the Service an NLB serves by these tags, whoever made it.
"""

from __future__ import annotations

from typing import Any

NLB_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
TARGET_GROUP_ATTRIBUTES_ANNOTATION = (
    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
)
# The target group attributes the twin's data path acts on.
SUPPORTED_TARGET_GROUP_ATTRIBUTES = frozenset(
    {"preserve_client_ip.enabled", "proxy_protocol_v2.enabled"}
)
SERVICE_NAME_TAG = "kubernetes.io/service-name"
CLUSTER_NAME_TAG = "KubernetesCluster"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
LBC_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
LBC_STACK_TAG = "service.k8s.aws/stack"


def cluster_owned_tag(cluster: str) -> str:
    """The `kubernetes.io/cluster/<name>` tag key."""
    return f"kubernetes.io/cluster/{cluster}"


def target_group_attributes(service: dict[str, Any]) -> dict[str, str]:
    """The supported attributes the Service's annotation asks for (``k=v,k=v``), else none."""
    value = ((service.get("metadata") or {}).get("annotations") or {}).get(
        TARGET_GROUP_ATTRIBUTES_ANNOTATION, ""
    )
    wanted: dict[str, str] = {}
    for pair in value.split(","):
        key, _, setting = pair.partition("=")
        if key.strip() in SUPPORTED_TARGET_GROUP_ATTRIBUTES and setting.strip():
            wanted[key.strip()] = setting.strip().lower()
    return wanted
