"""What each kind adds to create and update, like kube-apiserver's registry strategies.

New objects get their kind's defaults and allocations; changed ones are defaulted again and
may not change immutable fields. The rules themselves live in :mod:`sandbox.k8s.defaulting`.
``services`` is every stored Service: a Service may not take a cluster IP or node port that
another one holds.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from sandbox.k8s import defaulting
from sandbox.k8s.exceptions import FieldCause
from sandbox.k8s.resources import DEPLOYMENTS, NAMESPACES, NODES, PODS, SERVICES, ResourceType
from sandbox.k8s.store import Obj

Causes = list[FieldCause]


def prepare_create(
    rt: ResourceType, obj: Obj, *, services: Iterable[Obj], rng: random.Random
) -> Causes:
    """Fill a new object's kind-specific defaults in place; return what is invalid about it."""
    if rt is NAMESPACES:
        defaulting.default_namespace(obj)
        return []
    if rt is PODS:
        return defaulting.default_pod(obj)
    if rt is DEPLOYMENTS:
        obj["status"] = {}
        return defaulting.default_deployment(obj)
    if rt is SERVICES:
        obj["status"] = {"loadBalancer": {}}
        ips, ports = _allocations(services, exclude=None)
        return defaulting.default_service(
            obj, None, used_cluster_ips=ips, used_node_ports=ports, rng=rng
        )
    if rt is NODES:
        obj.setdefault("spec", {})
        obj.setdefault("status", {})
    return []


def prepare_update(
    rt: ResourceType, new: Obj, current: Obj, *, services: Iterable[Obj], rng: random.Random
) -> Causes:
    """Default a changed object in place; return what is invalid (incl. immutable fields)."""
    causes: Causes = []
    if rt is DEPLOYMENTS:
        causes = defaulting.default_deployment(new)
        selector = (new.get("spec") or {}).get("selector")
        if selector != (current.get("spec") or {}).get("selector"):
            causes.append(
                FieldCause(
                    "spec.selector",
                    "FieldValueInvalid",
                    f"Invalid value: {selector!r}: field is immutable",
                )
            )
    elif rt is SERVICES:
        ips, ports = _allocations(services, exclude=current)
        causes = defaulting.default_service(
            new, current, used_cluster_ips=ips, used_node_ports=ports, rng=rng
        )
    elif rt is PODS:
        causes = defaulting.default_pod_spec(new.setdefault("spec", {}))
    elif rt is NAMESPACES:
        name = current["metadata"]["name"]
        new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    return causes


def _allocations(services: Iterable[Obj], exclude: Obj | None) -> tuple[set[str], set[int]]:
    """Return the cluster IPs and node ports the Services hold, but for ``exclude``'s."""
    ips: set[str] = set()
    ports: set[int] = set()
    skip = exclude["metadata"]["uid"] if exclude else None
    for service in services:
        if service["metadata"]["uid"] == skip:
            continue
        service_ips, service_ports = defaulting.service_allocations(service)
        ips |= service_ips
        ports |= service_ports
    return ips, ports
