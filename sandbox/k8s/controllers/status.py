"""What controllers read off objects: status conditions, readiness, a Pod's controlling owner."""

from __future__ import annotations

from sandbox.k8s.store import Obj


def controller_uid(pod: Obj) -> str | None:
    """Return the uid of the Deployment that controls this pod, if any."""
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "Deployment":
            return str(ref.get("uid"))
    return None


def condition(obj: Obj, kind: str) -> Obj | None:
    """Return the status condition of this type, if present."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


def is_pod_ready(pod: Obj) -> bool:
    """Whether the pod reports Ready=True."""
    ready = condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def is_node_ready(node: Obj) -> bool:
    """Whether the node reports Ready=True and is not being deleted."""
    ready = condition(node, "Ready")
    return (
        ready is not None
        and ready.get("status") == "True"
        and not node["metadata"].get("deletionTimestamp")
    )
