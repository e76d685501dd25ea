"""Decisions of the Kubernetes steps: namespace, nginx Deployment, LoadBalancer Service (pure).

The patch apply sends is the one ``manifests.deployment_patch``/``service_patch`` return; the
plan's field-level diff is read off that same patch, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.manifests import deployment_patch, nginx_deployment, nlb_service, service_patch
from kops_nlb.core.plan import FieldChange, PlanItem, change
from kops_nlb.core.spec import EnvironmentSpec


class NamespaceDecision(BaseModel):
    """Whether apply creates the namespace."""

    model_config = ConfigDict(frozen=True)

    create: bool
    item: PlanItem


def decide_namespace(spec: EnvironmentSpec, *, exists: bool) -> NamespaceDecision:
    """Decide the namespace: create it unless it exists."""
    item = PlanItem(
        step="namespace",
        resource=f"namespace {spec.namespace}",
        status="exists" if exists else "will create",
    )
    return NamespaceDecision(create=not exists, item=item)


class WorkloadDecision(BaseModel):
    """What apply does to a Deployment or Service: create it, patch it, or nothing."""

    model_config = ConfigDict(frozen=True)

    manifest: dict[str, Any] | None = None  # to create
    patch: dict[str, Any] | None = None  # merge patch for an existing object
    item: PlanItem


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    return (containers or [{}])[0]


def _ports(container: dict[str, Any]) -> list[Any]:
    return [p.get("containerPort") for p in container.get("ports") or []]


def _spread(obj: dict[str, Any]) -> str:
    """The pod template's spread constraints in a few words (``zone required, node preferred``)."""
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    words = {"topology.kubernetes.io/zone": "zone", "kubernetes.io/hostname": "node"}
    return (
        ", ".join(
            f"{words.get(c.get('topologyKey'), c.get('topologyKey'))} "
            + ("required" if c.get("whenUnsatisfiable") == "DoNotSchedule" else "preferred")
            + (" per revision" if "pod-template-hash" in (c.get("matchLabelKeys") or []) else "")
            for c in template.get("topologySpreadConstraints") or []
        )
        or "none"
    )


def _deployment_changes(existing: dict[str, Any], patch: dict[str, Any]) -> tuple[FieldChange, ...]:
    current_spec = existing.get("spec") or {}
    wanted_spec = patch["spec"]
    changes = []
    if "replicas" in wanted_spec:
        changes.append(change("replicas", current_spec.get("replicas"), wanted_spec["replicas"]))
    if "template" in wanted_spec:
        now, wanted = _container(existing), _container({"spec": wanted_spec})
        if now.get("image") != wanted.get("image"):
            changes.append(change("image", now.get("image"), wanted.get("image")))
        if _ports(now) != _ports(wanted):
            changes.append(change("container ports", _ports(now), _ports(wanted)))
        spread_now, spread_wanted = _spread({"spec": current_spec}), _spread({"spec": wanted_spec})
        if spread_now != spread_wanted:
            changes.append(change("pod spread", spread_now, spread_wanted))
    return tuple(changes)


def decide_deployment(spec: EnvironmentSpec, existing: dict[str, Any] | None) -> WorkloadDecision:
    """Decide the nginx Deployment: create it, or patch image, ports and replicas to the spec."""
    resource = f"deployment {spec.namespace}/{spec.deployment_name}"
    if existing is None:
        item = PlanItem(
            step="nginx",
            resource=resource,
            status="will create",
            changes=(
                change("image", None, spec.nginx_image),
                change("replicas", None, spec.nginx_replicas),
            ),
        )
        return WorkloadDecision(manifest=nginx_deployment(spec), item=item)
    patch = deployment_patch(existing, spec)
    if patch is None:
        return WorkloadDecision(item=PlanItem(step="nginx", resource=resource, status="exists"))
    item = PlanItem(
        step="nginx",
        resource=resource,
        status="will change",
        changes=_deployment_changes(existing, patch),
    )
    return WorkloadDecision(patch=patch, item=item)


def _port_text(ports: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{p.get('port')}→{p.get('targetPort')}/{p.get('protocol', 'TCP')}" for p in ports
    )


def _service_changes(existing: dict[str, Any], patch: dict[str, Any]) -> tuple[FieldChange, ...]:
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    current = existing.get("spec") or {}
    changes = [
        change(f"annotation {key}", annotations.get(key), value)
        for key, value in sorted((patch.get("metadata") or {}).get("annotations", {}).items())
    ]
    for field, wanted in sorted((patch.get("spec") or {}).items()):
        if field == "ports":
            now = _port_text(current.get("ports") or [])
            changes.append(change("spec.ports", now, _port_text(wanted)))
        else:
            changes.append(change(f"spec.{field}", current.get(field), wanted))
    return tuple(changes)


def decide_service(spec: EnvironmentSpec, existing: dict[str, Any] | None) -> WorkloadDecision:
    """Decide the NLB Service: create it, or patch its type, policy, selector, ports and our
    annotations back to the spec."""
    resource = f"service {spec.namespace}/{spec.service_name}"
    if existing is None:
        manifest = nlb_service(spec)
        item = PlanItem(
            step="service",
            resource=resource,
            status="will create",
            changes=(
                change("spec.type", None, "LoadBalancer"),
                change("spec.externalTrafficPolicy", None, spec.external_traffic_policy),
                *(
                    change(f"annotation {k}", None, v)
                    for k, v in sorted(manifest["metadata"]["annotations"].items())
                ),
            ),
        )
        return WorkloadDecision(manifest=manifest, item=item)
    patch = service_patch(existing, spec)
    if patch is None:
        return WorkloadDecision(item=PlanItem(step="service", resource=resource, status="exists"))
    item = PlanItem(
        step="service",
        resource=resource,
        status="will change",
        changes=_service_changes(existing, patch),
    )
    return WorkloadDecision(patch=patch, item=item)


def nlb_item(spec: EnvironmentSpec, *, name: str | None, dns_name: str | None) -> PlanItem:
    """Return the item of the Service's NLB, which the cloud controller makes from the Service."""
    kind = "internal" if spec.internal else "internet-facing"
    if name is None:
        return PlanItem(
            step="nlb",
            resource=f"{kind} NLB of service {spec.namespace}/{spec.service_name}",
            status="will create",
            notes=("made by the cloud controller for the Service; provision waits for it",),
        )
    return PlanItem(
        step="nlb",
        resource=f"{kind} NLB {name} of service {spec.namespace}/{spec.service_name}",
        status="exists",
        notes=(dns_name or "",) if dns_name else (),
    )
