"""Names and tags the real cloud controller (cloud-provider-aws) gives what it creates."""

from __future__ import annotations

import hashlib
from typing import Any

NLB_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
NLB_INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"
TARGET_GROUP_ATTRIBUTES_ANNOTATION = (
    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
)
# The only target group attributes cloud-provider-aws takes from that annotation.
SUPPORTED_TARGET_GROUP_ATTRIBUTES = frozenset(
    {"preserve_client_ip.enabled", "proxy_protocol_v2.enabled"}
)
CLEANUP_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
SERVICE_NAME_TAG = "kubernetes.io/service-name"
CLUSTER_NAME_TAG = "KubernetesCluster"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


def cluster_owned_tag(cluster: str) -> str:
    """The `kubernetes.io/cluster/<name>` tag key."""
    return f"kubernetes.io/cluster/{cluster}"


def load_balancer_name(service_uid: str) -> str:
    """`a` + the Service UID without dashes, cut to 32 characters."""
    return ("a" + service_uid.replace("-", ""))[:32]


def target_group_name(namespace: str, service: str, port: int, node_port: int, uid: str) -> str:
    """`k8s-<ns[:8]>-<svc[:8]>-<10 hex>`, the hash covering what makes the group unique."""
    digest = hashlib.sha256(f"{uid}/{port}/{node_port}/TCP".encode()).hexdigest()[:10]
    return f"k8s-{namespace[:8]}-{service[:8]}-{digest}"


def wants_nlb(service: dict[str, Any]) -> bool:
    """Whether the cloud controller should build an NLB for this Service."""
    spec = service.get("spec") or {}
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    return spec.get("type") == "LoadBalancer" and annotations.get(NLB_TYPE_ANNOTATION) == "nlb"


def is_internal(service: dict[str, Any]) -> bool:
    """Any non-empty value but "false" asks for an internal load balancer."""
    value = ((service.get("metadata") or {}).get("annotations") or {}).get(NLB_INTERNAL_ANNOTATION)
    return bool(value) and value != "false"


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
