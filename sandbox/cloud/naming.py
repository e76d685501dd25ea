"""Names and tags the real cloud controller (cloud-provider-aws) gives what it creates."""

from __future__ import annotations

import hashlib
from typing import Any

NLB_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
NLB_INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"
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
