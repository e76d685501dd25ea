"""A pod's status as the kubelet reports it once its containers run."""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.kubelets.node_objects import rfc3339


def running_status(pod: dict[str, Any], *, pod_ip: str, host_ip: str) -> dict[str, Any]:
    """Return the status of a pod whose containers all run and are ready."""
    now = rfc3339()
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now}
        for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
    ]
    conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now})
    containers = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        digest = hashlib.sha256(f"{pod['metadata']['uid']}/{container['name']}".encode())
        containers.append(
            {
                "name": container["name"],
                "image": container.get("image", ""),
                "imageID": "",
                "containerID": f"containerd://{digest.hexdigest()}",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
        )
    return {
        "phase": "Running",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "conditions": conditions,
        "containerStatuses": containers,
    }


def is_running(pod: dict[str, Any]) -> bool:
    """Whether the pod's status already says Running and Ready."""
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return status.get("phase") == "Running" and ready
