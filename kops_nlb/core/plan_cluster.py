"""The cluster step's decision, and kops's own previews read back (pure).

For a cluster kops does not know, ``kops create cluster ... --dry-run -o json`` prints the
Cluster and InstanceGroups it would write; the plan summarises them (zones, instance groups,
machine types, sizes, networking). For a cluster kops knows, ``kops update cluster`` without
``--yes`` says whether kops would change anything in the cloud.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.plan import PlanItem, blocked_item, change
from kops_nlb.core.spec import EnvironmentSpec

PREVIEW_LINES = 15
_NO_CHANGES = "No changes need to be applied"
_MUST_SPECIFY_YES = "Must specify --yes to apply changes"


class ClusterDecision(BaseModel):
    """Whether apply runs ``kops create cluster --yes``."""

    model_config = ConfigDict(frozen=True)

    create: bool
    item: PlanItem


def decide_cluster(
    spec: EnvironmentSpec, *, exists: bool, preview: Iterable[str] = ()
) -> ClusterDecision:
    """Decide the cluster: create it unless kops's state store already has it."""
    resource = f"kops cluster {spec.cluster_name}"
    if exists:
        item = PlanItem(step="cluster", resource=resource, status="exists", notes=tuple(preview))
        return ClusterDecision(create=False, item=item)
    item = PlanItem(
        step="cluster",
        resource=resource,
        status="will create",
        changes=(
            change("zones", None, ", ".join(spec.zones)),
            change(
                "control plane", None, f"{spec.control_plane_count} x {spec.control_plane_size}"
            ),
            change("nodes", None, f"{spec.node_count} x {spec.node_size}"),
            change("kubernetes", None, spec.kubernetes_version),
            change("networking", None, f"{spec.networking}, {spec.topology} topology"),
        ),
        notes=tuple(preview),
    )
    return ClusterDecision(create=True, item=item)


def cluster_preview_failed(spec: EnvironmentSpec, *, exists: bool, error: str) -> PlanItem:
    """Return the cluster's item when kops's preview failed.

    ``create cluster --dry-run`` takes the very flags apply passes with ``--yes``: when it fails,
    so would apply, so the cluster is blocked. A failed ``update cluster`` preview of an
    existing cluster changes nothing apply does; it is noted.
    """
    decision = decide_cluster(spec, exists=exists)
    if exists:
        return decision.item.model_copy(
            update={"notes": (f"kops update cluster (preview) failed: {error}",)}
        )
    return blocked_item(
        "cluster", decision.item.resource, f"kops create cluster --dry-run fails: {error}"
    )


def _objects(text: str) -> list[Mapping[str, Any]]:
    """Return every top-level JSON object in kops's output (objects back to back, or a list)."""
    decoder = json.JSONDecoder()
    found: list[Mapping[str, Any]] = []
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, Mapping):
            found.append(value)
        position = text.find("{", end)
    return found


def summarize_dry_run(stdout: str) -> tuple[str, ...]:
    """Return the lines a person needs from ``kops create cluster --dry-run -o json``.

    Raises ValueError when the output holds no Cluster.
    """
    objects = _objects(stdout)
    clusters = [o for o in objects if o.get("kind") == "Cluster"]
    if not clusters:
        raise ValueError("no Cluster object in `kops create cluster --dry-run` output")
    spec = clusters[0].get("spec") or {}
    subnets = spec.get("subnets") or []
    zones = sorted({str(s.get("zone")) for s in subnets if s.get("zone")})
    networking = ", ".join(sorted(spec.get("networking") or {})) or "(kops default)"
    api = (spec.get("api") or {}).get("loadBalancer") or {}
    lines = [
        f"kops {spec.get('kubernetesVersion', '?')} cluster in zones {', '.join(zones)}",
        f"networking {networking}, VPC {spec.get('networkCIDR', '(kops default)')}, subnets "
        + ", ".join(f"{s.get('name')} ({s.get('type')}, {s.get('cidr')})" for s in subnets),
    ]
    if api:
        lines.append(f"API load balancer: {api.get('class', '?')}, {api.get('type', '?')}")
    for group in (o for o in objects if o.get("kind") == "InstanceGroup"):
        ig = group.get("spec") or {}
        lines.append(
            f"instance group {(group.get('metadata') or {}).get('name')}: {ig.get('role')}, "
            f"{ig.get('machineType')}, min {ig.get('minSize')} / max {ig.get('maxSize')}, "
            f"subnets {', '.join(ig.get('subnets') or [])}"
        )
    return tuple(lines)


def summarize_update_preview(stdout: str) -> tuple[str, ...]:
    """Return what ``kops update cluster`` without ``--yes`` says, shortened for the plan."""
    if _NO_CHANGES in stdout:
        return ("kops update cluster: no changes need to be applied",)
    lines = [line.rstrip() for line in stdout.splitlines() if line.strip()]
    body = [line for line in lines if _MUST_SPECIFY_YES not in line]
    if not body:
        return ("kops update cluster: changes pending (run with --yes to apply them)",)
    shown = body[:PREVIEW_LINES]
    more = len(body) - len(shown)
    return (
        "kops update cluster would change:",
        *shown,
        *((f"... and {more} more lines",) if more else ()),
    )
