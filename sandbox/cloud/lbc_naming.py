"""How the AWS Load Balancer Controller names, tags and targets a Service's NLB.

It takes LoadBalancer Services typed ``aws-load-balancer-type: external`` (cloud-provider-aws
leaves those alone): ``k8s-<ns>-<svc>-<hash>`` names, tags ``elbv2.k8s.aws/cluster`` and
``service.k8s.aws/stack``, finalizer ``service.k8s.aws/resources``, ``instance`` or ``ip``
targets as ``aws-load-balancer-nlb-target-type`` says, scheme from ``aws-load-balancer-scheme``
(internal by default), and proxy protocol v2 from ``aws-load-balancer-proxy-protocol: "*"``.

The AWS Load Balancer Controller v2 cannot be built here (its Go module's v2 tags are not valid
versions of its module path, so the module proxy refuses them): the twin stands in for it from
its documentation.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.cloud import naming

LBC_TYPE = "external"
FINALIZER = "service.k8s.aws/resources"
RESOURCE_TAG = "service.k8s.aws/resource"
TARGET_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme"
PROXY_PROTOCOL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"


def _annotations(service: dict[str, Any]) -> dict[str, str]:
    return (service.get("metadata") or {}).get("annotations") or {}


def _key(service: dict[str, Any]) -> str:
    meta = service["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}"


def _k8s_name(service: dict[str, Any], salt: str) -> str:
    meta = service["metadata"]
    digest = hashlib.sha256(f"{meta['uid']}/{salt}".encode()).hexdigest()[:10]
    return f"k8s-{meta.get('namespace', 'default')[:8]}-{meta['name'][:8]}-{digest}"


def takes(service: dict[str, Any]) -> bool:
    """Whether the controller makes this Service's NLB."""
    return (service.get("spec") or {}).get("type") == "LoadBalancer" and _annotations(service).get(
        naming.NLB_TYPE_ANNOTATION
    ) == LBC_TYPE


def holds(service: dict[str, Any]) -> bool:
    """Whether the Service carries the controller's finalizer."""
    return FINALIZER in ((service.get("metadata") or {}).get("finalizers") or [])


def lb_name(service: dict[str, Any]) -> str:
    """The load balancer's name."""
    return _k8s_name(service, "lb")


def tags(service: dict[str, Any], cluster: str) -> list[dict[str, str]]:
    """The tags on the load balancer and its target groups."""
    return [
        {"Key": naming.LBC_CLUSTER_TAG, "Value": cluster},
        {"Key": naming.LBC_STACK_TAG, "Value": _key(service)},
        {"Key": RESOURCE_TAG, "Value": "LoadBalancer"},
    ]


def internal(service: dict[str, Any]) -> bool:
    """Whether the load balancer is internal."""
    return _annotations(service).get(SCHEME_ANNOTATION, "internal") == "internal"


def target_type(service: dict[str, Any]) -> str:
    """``instance`` (NodePort on every node) or ``ip`` (the pods themselves)."""
    return "ip" if _annotations(service).get(TARGET_TYPE_ANNOTATION) == "ip" else "instance"


def target_group_name(service: dict[str, Any], port: int) -> str:
    """The name of the target group of one Service port."""
    return _k8s_name(service, f"tg/{port}")


def attributes(service: dict[str, Any]) -> dict[str, str]:
    """The target group attributes the Service's annotations ask for."""
    wanted = naming.target_group_attributes(service)
    wanted.pop("proxy_protocol_v2.enabled", None)
    if _annotations(service).get(PROXY_PROTOCOL_ANNOTATION) == "*":
        wanted["proxy_protocol_v2.enabled"] = "true"
    return wanted
