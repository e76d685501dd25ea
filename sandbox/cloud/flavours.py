"""Which controller makes a Service's NLB, and how each names, tags and targets it.

The cloud controller (cloud-provider-aws) takes Services typed ``aws-load-balancer-type: nlb``:
an NLB named ``a`` + the Service UID, instance targets, finalizer
``service.kubernetes.io/load-balancer-cleanup``. The AWS Load Balancer Controller takes those
typed ``external`` (the cloud controller ignores them): ``k8s-<ns>-<svc>-<hash>`` names, tags
``elbv2.k8s.aws/cluster`` and ``service.k8s.aws/stack``, finalizer
``service.k8s.aws/resources``, ``instance`` or ``ip`` targets as
``aws-load-balancer-nlb-target-type`` says, scheme from ``aws-load-balancer-scheme`` (internal
by default), and proxy protocol v2 from ``aws-load-balancer-proxy-protocol: "*"``.

The AWS Load Balancer Controller v2 cannot be built here (its Go module's v2 tags are not valid
versions of its module path, so the module proxy refuses them): its part of the twin is
simulated from its documentation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sandbox.cloud import naming

LBC_TYPE = "external"
LBC_FINALIZER = "service.k8s.aws/resources"
LBC_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
LBC_STACK_TAG = "service.k8s.aws/stack"
LBC_RESOURCE_TAG = "service.k8s.aws/resource"
LBC_TARGET_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
LBC_SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme"
LBC_PROXY_PROTOCOL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"


def _annotations(service: dict[str, Any]) -> dict[str, str]:
    return (service.get("metadata") or {}).get("annotations") or {}


def _key(service: dict[str, Any]) -> str:
    meta = service["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}"


def _k8s_name(service: dict[str, Any], salt: str) -> str:
    meta = service["metadata"]
    digest = hashlib.sha256(f"{meta['uid']}/{salt}".encode()).hexdigest()[:10]
    return f"k8s-{meta.get('namespace', 'default')[:8]}-{meta['name'][:8]}-{digest}"


@dataclass(frozen=True)
class Flavour:
    """One controller's way of making an NLB for a Service."""

    name: str
    finalizer: str

    def lb_name(self, service: dict[str, Any]) -> str:
        """The load balancer's name."""
        if self.name == "cloud-controller":
            return naming.load_balancer_name(service["metadata"]["uid"])
        return _k8s_name(service, "lb")

    def tags(self, service: dict[str, Any], cluster: str) -> list[dict[str, str]]:
        """The tags on the load balancer and its target groups."""
        if self.name == "cloud-controller":
            return [
                {"Key": naming.SERVICE_NAME_TAG, "Value": _key(service)},
                {"Key": naming.cluster_owned_tag(cluster), "Value": "owned"},
                {"Key": naming.CLUSTER_NAME_TAG, "Value": cluster},
            ]
        return [
            {"Key": LBC_CLUSTER_TAG, "Value": cluster},
            {"Key": LBC_STACK_TAG, "Value": _key(service)},
            {"Key": LBC_RESOURCE_TAG, "Value": "LoadBalancer"},
        ]

    def internal(self, service: dict[str, Any]) -> bool:
        """Whether the load balancer is internal."""
        if self.name == "cloud-controller":
            return naming.is_internal(service)
        return _annotations(service).get(LBC_SCHEME_ANNOTATION, "internal") == "internal"

    def target_type(self, service: dict[str, Any]) -> str:
        """``instance`` (NodePort on every node) or ``ip`` (the pods themselves)."""
        if self.name == "cloud-controller":
            return "instance"
        wanted = _annotations(service).get(LBC_TARGET_TYPE_ANNOTATION, "instance")
        return "ip" if wanted == "ip" else "instance"

    def target_group_name(self, service: dict[str, Any], port: int, node_port: int) -> str:
        """The name of the target group of one Service port."""
        meta = service["metadata"]
        if self.name == "cloud-controller":
            return naming.target_group_name(
                meta.get("namespace", "default"), meta["name"], port, node_port, meta["uid"]
            )
        return _k8s_name(service, f"tg/{port}")

    def attributes(self, service: dict[str, Any]) -> dict[str, str]:
        """The target group attributes the Service's annotations ask for."""
        wanted = naming.target_group_attributes(service)
        if self.name != "cloud-controller":
            wanted.pop("proxy_protocol_v2.enabled", None)
            if _annotations(service).get(LBC_PROXY_PROTOCOL_ANNOTATION) == "*":
                wanted["proxy_protocol_v2.enabled"] = "true"
        return wanted


CLOUD_CONTROLLER = Flavour("cloud-controller", naming.CLEANUP_FINALIZER)
LOAD_BALANCER_CONTROLLER = Flavour("aws-load-balancer-controller", LBC_FINALIZER)
FINALIZERS = (CLOUD_CONTROLLER.finalizer, LOAD_BALANCER_CONTROLLER.finalizer)


def flavour_of(service: dict[str, Any]) -> Flavour | None:
    """The controller that makes this Service's NLB, or None when none does."""
    if (service.get("spec") or {}).get("type") != "LoadBalancer":
        return None
    kind = _annotations(service).get(naming.NLB_TYPE_ANNOTATION)
    if kind == "nlb":
        return CLOUD_CONTROLLER
    if kind == LBC_TYPE:
        return LOAD_BALANCER_CONTROLLER
    return None


def flavour_by_finalizer(service: dict[str, Any]) -> Flavour | None:
    """The controller whose finalizer the Service carries, if any."""
    finalizers = (service.get("metadata") or {}).get("finalizers") or []
    for flavour in (CLOUD_CONTROLLER, LOAD_BALANCER_CONTROLLER):
        if flavour.finalizer in finalizers:
            return flavour
    return None
