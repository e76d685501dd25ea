"""The ``scale`` subresource: a Deployment seen as an ``autoscaling/v1 Scale``."""

from __future__ import annotations

from sandbox.k8s.exceptions import FieldCause, invalid
from sandbox.k8s.store import Obj


def scale_of(deployment: Obj) -> Obj:
    """Return the Scale view of a Deployment."""
    meta = deployment["metadata"]
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": (deployment.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (deployment.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def wanted_replicas(scale: Obj, name: str) -> int:
    """Return the Scale's ``spec.replicas``; Invalid unless it is a whole number, 0 or more."""
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid(
            "Scale",
            "autoscaling",
            name,
            [
                FieldCause(
                    "spec.replicas",
                    "FieldValueInvalid",
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                )
            ],
        )
    return replicas
