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


def terminated_status(
    pod: dict[str, Any], *, pod_ip: str, host_ip: str, exit_code: int
) -> dict[str, Any]:
    """Return the status of a pod (restartPolicy Never) whose only run of its containers has
    ended: Succeeded when they exited 0, else Failed, with each container's exit code."""
    now = rfc3339()
    status = running_status(pod, pod_ip=pod_ip, host_ip=host_ip)
    status["startTime"] = (pod.get("status") or {}).get("startTime") or status["startTime"]
    reason = "Completed" if exit_code == 0 else "Error"
    for container in status["containerStatuses"]:
        container["ready"], container["started"] = False, False
        container["state"] = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason,
                "startedAt": status["startTime"],
                "finishedAt": now,
                "containerID": container["containerID"],
            }
        }
    for condition in status["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"], condition["reason"] = "False", "PodCompleted"
    status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
    return status


def is_finished(pod: dict[str, Any]) -> bool:
    """Whether the pod has ended for good (Succeeded or Failed)."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
