"""The scheduler: binds unscheduled Pods to Ready, schedulable worker Nodes.

Each owner's Pods are spread across the Nodes that fit them (nodeSelector, taint tolerations).
"""

from __future__ import annotations

import collections
import copy
import logging

from sandbox.k8s.controllers.status import condition, controller_uid, is_node_ready
from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.resources import NODES, PODS
from sandbox.k8s.store import Obj, now_rfc3339

log = logging.getLogger(__name__)

CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def is_worker(node: Obj) -> bool:
    """Whether the node takes ordinary pods: Ready, schedulable, not control plane."""
    labels = node["metadata"].get("labels") or {}
    return (
        is_node_ready(node)
        and not any(label in labels for label in CONTROL_PLANE_LABELS)
        and not (node.get("spec") or {}).get("unschedulable")
    )


def tolerates(pod: Obj, taint: Obj) -> bool:
    """Whether one of the pod's tolerations covers the taint."""
    if taint.get("effect") not in ("NoSchedule", "NoExecute"):
        return True
    for toleration in (pod.get("spec") or {}).get("tolerations") or []:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
            "value", ""
        ):
            return True
    return False


def fits(pod: Obj, node: Obj) -> bool:
    """Whether the node satisfies the pod's nodeSelector and taint tolerations."""
    labels = node["metadata"].get("labels") or {}
    for key, value in ((pod.get("spec") or {}).get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    return all(tolerates(pod, taint) for taint in (node.get("spec") or {}).get("taints") or [])


class Scheduler:
    """Binds unscheduled Pods to worker Nodes, spreading each owner's Pods."""

    def __init__(self, backend: KubeBackend) -> None:
        self.backend = backend

    def reconcile(self) -> None:
        """Run one pass over every unscheduled Pod."""
        pods = self.backend.list(PODS).items
        pending = [
            p
            for p in pods
            if not p["spec"].get("nodeName")
            and not p["metadata"].get("deletionTimestamp")
            and p["spec"].get("schedulerName", "default-scheduler") == "default-scheduler"
        ]
        if not pending:
            return
        nodes = self.backend.list(NODES).items
        workers = [n for n in nodes if is_worker(n)]
        per_node: collections.Counter[str] = collections.Counter()
        per_owner: collections.Counter[tuple[str, str]] = collections.Counter()
        for pod in pods:
            node_name = pod["spec"].get("nodeName")
            if node_name and not pod["metadata"].get("deletionTimestamp"):
                per_node[node_name] += 1
                per_owner[(self._owner(pod), node_name)] += 1
        pending.sort(
            key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"])
        )
        for pod in pending:
            candidates = [n for n in workers if fits(pod, n)]
            try:
                if not candidates:
                    self._unschedulable(pod, len(nodes))
                    continue
                owner = self._owner(pod)
                node = min(
                    candidates,
                    key=lambda n: (
                        per_owner[(owner, n["metadata"]["name"])],
                        per_node[n["metadata"]["name"]],
                        n["metadata"]["name"],
                    ),
                )
                self._bind(pod, node["metadata"]["name"])
            except KubeApiError as error:
                log.debug("scheduling %s: %s", pod["metadata"]["name"], error)
                continue
            per_node[node["metadata"]["name"]] += 1
            per_owner[(owner, node["metadata"]["name"])] += 1

    @staticmethod
    def _owner(pod: Obj) -> str:
        return (
            controller_uid(pod) or f"pod/{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        )

    def _bind(self, pod: Obj, node_name: str) -> None:
        meta = pod["metadata"]
        bound = self.backend.patch(
            PODS,
            meta["name"],
            meta["namespace"],
            {
                "metadata": {"resourceVersion": meta["resourceVersion"]},
                "spec": {"nodeName": node_name},
            },
        )
        status = copy.deepcopy(bound.get("status") or {})
        status["conditions"] = [
            c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"
        ] + [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()}]
        self.backend.replace(
            PODS, meta["name"], meta["namespace"], {**bound, "status": status}, subresource="status"
        )

    def _unschedulable(self, pod: Obj, node_count: int) -> None:
        message = f"0/{node_count} nodes are available: no Ready, schedulable worker node fits."
        existing = condition(pod, "PodScheduled")
        if existing and existing.get("message") == message:
            return
        meta = pod["metadata"]
        status = copy.deepcopy(pod.get("status") or {})
        status["conditions"] = [
            c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"
        ] + [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastTransitionTime": now_rfc3339(),
            }
        ]
        self.backend.replace(
            PODS, meta["name"], meta["namespace"], {**pod, "status": status}, subresource="status"
        )
