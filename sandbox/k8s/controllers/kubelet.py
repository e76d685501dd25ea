"""The kubelet: runs bound Pods through the :class:`~sandbox.k8s.runtime.PodRuntime`.

It gives a bound Pod a hostIP and podIP, asks the runtime to start it (Running/Ready once the
runtime says so, retried while it does not), stops it when it is deleted and then removes the
Pod object.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from collections.abc import Callable

from sandbox.k8s.controllers.status import condition, is_node_ready, is_pod_ready
from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.resources import NODES, PODS
from sandbox.k8s.runtime import PodRuntime
from sandbox.k8s.store import Obj, now_rfc3339

log = logging.getLogger(__name__)


def internal_ip(node: Obj) -> str | None:
    """Return the node's InternalIP address."""
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None


class Kubelet:
    """Runs bound Pods through the PodRuntime and reports their status."""

    def __init__(
        self, backend: KubeBackend, runtime: PodRuntime, allocate_ip: Callable[[Obj], str]
    ) -> None:
        self.backend = backend
        self.runtime = runtime
        self.allocate_ip = allocate_ip
        self._started: dict[str, Obj] = {}  # uid -> latest pod given to the runtime
        self._started_lock = threading.Lock()

    def running(self) -> list[Obj]:
        """Return the pods the runtime was asked to start and not yet to stop."""
        with self._started_lock:
            return [copy.deepcopy(pod) for pod in self._started.values()]

    def _remember(self, pod: Obj) -> None:
        with self._started_lock:
            self._started[pod["metadata"]["uid"]] = pod

    def stop_all(self) -> None:
        """Stop every started pod (used on reset)."""
        for uid in list(self._started):
            self._stop(uid)

    def _stop(self, uid: str) -> None:
        with self._started_lock:
            pod = self._started.pop(uid)
        try:
            self.runtime.stop(pod)
        except Exception:
            log.exception("pod runtime failed to stop %s", pod["metadata"]["name"])

    def reconcile(self) -> None:
        """Run one pass over every Pod."""
        pods = self.backend.list(PODS).items
        nodes = {n["metadata"]["name"]: n for n in self.backend.list(NODES).items}
        seen: set[str] = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            try:
                self._sync(pod, nodes)
            except KubeApiError as error:
                log.debug("kubelet %s: %s", pod["metadata"]["name"], error)
        for uid in list(self._started):
            if uid not in seen:
                self._stop(uid)

    def _sync(self, pod: Obj, nodes: dict[str, Obj]) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        node_name = pod["spec"].get("nodeName")
        if meta.get("deletionTimestamp"):
            if uid in self._started:
                self._remember(pod)
                self._stop(uid)
            if node_name:
                self.backend.force_remove(PODS, meta["name"], meta["namespace"])
            return
        status = pod.get("status") or {}
        if not node_name or status.get("phase") in ("Succeeded", "Failed"):
            return
        if is_pod_ready(pod) and uid in self._started:
            self._remember(pod)
            return
        node = nodes.get(node_name)
        if node is None or not is_node_ready(node):
            return
        if not status.get("podIP"):
            pod = self._assign_addresses(pod, node)
        try:
            ready = bool(self.runtime.start(copy.deepcopy(pod)))
        except Exception:
            log.exception("pod runtime failed to start %s", meta["name"])
            ready = False
        self._remember(pod)
        if ready:
            self._write_status(pod, running=True)

    def _assign_addresses(self, pod: Obj, node: Obj) -> Obj:
        draft = copy.deepcopy(pod)
        status = draft.setdefault("status", {})
        host_ip = internal_ip(node)
        if host_ip:
            status["hostIP"] = host_ip
            status["hostIPs"] = [{"ip": host_ip}]
        pod_ip = self.allocate_ip(copy.deepcopy(draft))
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
        status["startTime"] = now_rfc3339()
        return self._write_status(draft, running=False)

    def _write_status(self, pod: Obj, *, running: bool) -> Obj:
        now = now_rfc3339()
        status = copy.deepcopy(pod.get("status") or {})
        flag = "True" if running else "False"
        conditions = [
            {"type": "PodReadyToStartContainers", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": flag},
            {"type": "ContainersReady", "status": flag},
            {"type": "PodScheduled", "status": "True"},
        ]
        for item in conditions:
            previous = condition(pod, item["type"])
            keep = previous is not None and previous.get("status") == item["status"]
            item["lastTransitionTime"] = (
                (previous or {}).get("lastTransitionTime", now) if keep else now
            )
            if not running and item["status"] == "False":
                item["reason"] = "ContainersNotReady"
        status["conditions"] = conditions
        status["phase"] = "Running" if running else "Pending"
        container_statuses = []
        for container in pod["spec"].get("containers") or []:
            digest = hashlib.sha256(
                f"{pod['metadata']['uid']}/{container['name']}".encode()
            ).hexdigest()
            entry: Obj = {
                "name": container["name"],
                "image": container.get("image", ""),
                "imageID": "",
                "ready": running,
                "started": running,
                "restartCount": 0,
            }
            if running:
                entry["containerID"] = f"containerd://{digest}"
                entry["state"] = {"running": {"startedAt": now}}
            else:
                entry["state"] = {"waiting": {"reason": "ContainerCreating"}}
            container_statuses.append(entry)
        status["containerStatuses"] = container_statuses
        meta = pod["metadata"]
        return self.backend.replace(
            PODS, meta["name"], meta["namespace"], {**pod, "status": status}, subresource="status"
        )
