"""The control plane's loops the product depends on: deployments, scheduling, the kubelet.

One :class:`ClusterControllers` pass runs, in order:

* :class:`DeploymentController` - keeps ``spec.replicas`` Pods per Deployment (no ReplicaSets:
  Pods are owned by the Deployment directly and named ``<deploy>-<10 hex>-<5 chars>``),
  replaces Pods when the template changes (new Pods first, old ones once the new are ready),
  removes Pods whose Deployment is gone, and writes the Deployment's status.
* :class:`Scheduler` - binds unscheduled Pods to Ready, schedulable worker Nodes, spreading
  each owner's Pods across Nodes.
* :class:`Kubelet` - gives bound Pods a hostIP and podIP, asks the :class:`PodRuntime` to start
  them (Running/Ready once it says so, retried while it does not), stops them when they are
  deleted and then removes the Pod object.

Races with API clients are expected: a Conflict or NotFound skips that object until the next pass.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import logging
import math
import random
import threading
from collections.abc import Callable
from typing import Any

from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.names import generated_name
from sandbox.k8s.resources import DEPLOYMENTS, NODES, PODS
from sandbox.k8s.runtime import PodRuntime
from sandbox.k8s.store import Obj, now_rfc3339

log = logging.getLogger(__name__)

TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def template_hash(template: Obj) -> str:
    """Return 10 hex characters that change whenever the pod template changes."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


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


def internal_ip(node: Obj) -> str | None:
    """Return the node's InternalIP address."""
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None


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


def _max_unavailable(deployment: Obj, desired: int) -> int:
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.floor(desired * int(value[:-1]) / 100)
    return int(value)


def _with_condition(old: Obj | None, new: Obj, now: str) -> Obj:
    """Keep transition times when a condition's status did not change."""
    if old and old.get("status") == new["status"]:
        new["lastTransitionTime"] = old.get("lastTransitionTime", now)
        if old.get("reason") == new.get("reason") and old.get("message") == new.get("message"):
            new["lastUpdateTime"] = old.get("lastUpdateTime", now)
    return new


class DeploymentController:
    """Deployments -> Pods, and Deployment status."""

    def __init__(self, backend: KubeBackend, rng: random.Random) -> None:
        self.backend = backend
        self.rng = rng
        self._revisions: dict[str, tuple[str, int]] = {}

    def forget(self) -> None:
        """Drop remembered revisions (after a reset)."""
        self._revisions.clear()

    def reconcile(self) -> None:
        """Run one pass over every Deployment."""
        deployments = self.backend.list(DEPLOYMENTS).items
        pods = self.backend.list(PODS).items
        owned: dict[str, list[Obj]] = collections.defaultdict(list)
        for pod in pods:
            uid = controller_uid(pod)
            if uid is not None:
                owned[uid].append(pod)
        live_uids = {d["metadata"]["uid"] for d in deployments}
        for uid, orphans in owned.items():
            if uid not in live_uids:
                for pod in orphans:
                    self._delete(pod)
        for uid in set(self._revisions) - live_uids:
            del self._revisions[uid]
        for deployment in deployments:
            if deployment["metadata"].get("deletionTimestamp"):
                continue
            try:
                self._sync(deployment, owned.get(deployment["metadata"]["uid"], []))
            except KubeApiError as error:
                log.debug("deployment %s: %s", deployment["metadata"]["name"], error)

    def _delete(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            return
        try:
            self.backend.delete(PODS, pod["metadata"]["name"], pod["metadata"]["namespace"])
        except KubeApiError as error:
            log.debug("pod %s: %s", pod["metadata"]["name"], error)

    def _sync(self, deployment: Obj, owned: list[Obj]) -> None:
        spec = deployment.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        current_hash = template_hash(spec.get("template") or {})
        deployment = self._record_revision(deployment, current_hash)
        alive = [p for p in owned if not p["metadata"].get("deletionTimestamp")]
        current = [
            p
            for p in alive
            if p["metadata"].get("labels", {}).get(TEMPLATE_HASH_LABEL) == current_hash
        ]
        old = [p for p in alive if p not in current]

        for _ in range(desired - len(current)):
            self._create_pod(deployment, current_hash)
        if len(current) > desired:
            surplus = sorted(
                current,
                key=lambda p: (
                    bool(p["spec"].get("nodeName")),
                    is_pod_ready(p),
                    [-ord(c) for c in p["metadata"].get("creationTimestamp", "")],
                ),
            )[: len(current) - desired]
            for pod in surplus:
                self._delete(pod)
        if old and sum(is_pod_ready(p) for p in current) >= desired:
            for pod in old:
                self._delete(pod)
        self._write_status(deployment, current_hash)

    def _record_revision(self, deployment: Obj, current_hash: str) -> Obj:
        uid = deployment["metadata"]["uid"]
        annotations = deployment["metadata"].get("annotations") or {}
        known = self._revisions.get(uid)
        if known is None:
            revision = int(annotations.get(REVISION_ANNOTATION) or 0) or 1
        elif known[0] != current_hash:
            revision = known[1] + 1
        else:
            revision = known[1]
        self._revisions[uid] = (current_hash, revision)
        wanted = str(revision)
        if (deployment["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) != wanted:
            deployment = self.backend.patch(
                DEPLOYMENTS,
                deployment["metadata"]["name"],
                deployment["metadata"]["namespace"],
                {
                    "metadata": {
                        "annotations": {REVISION_ANNOTATION: wanted},
                        "resourceVersion": deployment["metadata"]["resourceVersion"],
                    }
                },
            )
        return deployment

    def _create_pod(self, deployment: Obj, current_hash: str) -> None:
        meta = deployment["metadata"]
        template = copy.deepcopy((deployment.get("spec") or {}).get("template") or {})
        template_meta = template.get("metadata") or {}
        labels = dict(template_meta.get("labels") or {})
        labels[TEMPLATE_HASH_LABEL] = current_hash
        prefix = f"{meta['name']}-{current_hash}-"
        pod_meta: Obj = {
            "generateName": prefix,
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": DEPLOYMENTS.api_version,
                    "kind": DEPLOYMENTS.kind,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if template_meta.get("annotations"):
            pod_meta["annotations"] = dict(template_meta["annotations"])
        for _ in range(10):
            pod_meta["name"] = generated_name(prefix, self.rng)
            try:
                self.backend.create(
                    PODS,
                    {"metadata": pod_meta, "spec": template.get("spec") or {}},
                    namespace=meta["namespace"],
                )
                return
            except KubeApiError as error:
                if error.reason != "AlreadyExists":
                    raise

    def _write_status(self, deployment: Obj, current_hash: str) -> None:
        meta = deployment["metadata"]
        spec = deployment.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        pods = [
            p
            for p in self.backend.list(PODS, namespace=meta["namespace"]).items
            if controller_uid(p) == meta["uid"] and not p["metadata"].get("deletionTimestamp")
        ]
        updated = [
            p
            for p in pods
            if p["metadata"].get("labels", {}).get(TEMPLATE_HASH_LABEL) == current_hash
        ]
        ready = sum(is_pod_ready(p) for p in pods)
        available = ready
        old_status = deployment.get("status") or {}
        now = now_rfc3339()
        replica_set = f"{meta['name']}-{current_hash}"
        minimum = available >= desired - _max_unavailable(deployment, desired)
        complete = len(updated) == desired and len(pods) == desired and available >= desired
        conditions = [
            _with_condition(
                condition(deployment, "Available"),
                {
                    "type": "Available",
                    "status": "True" if minimum else "False",
                    "reason": "MinimumReplicasAvailable"
                    if minimum
                    else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability."
                    if minimum
                    else "Deployment does not have minimum availability.",
                    "lastUpdateTime": now,
                    "lastTransitionTime": now,
                },
                now,
            ),
            _with_condition(
                condition(deployment, "Progressing"),
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                    "message": f'ReplicaSet "{replica_set}" has successfully progressed.'
                    if complete
                    else f'ReplicaSet "{replica_set}" is progressing.',
                    "lastUpdateTime": now,
                    "lastTransitionTime": now,
                },
                now,
            ),
        ]
        counts = {
            "replicas": len(pods),
            "updatedReplicas": len(updated),
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(desired - available, 0),
        }
        status: Obj = {"observedGeneration": meta.get("generation", 1)}
        status.update({key: value for key, value in counts.items() if value})  # omitempty
        status["conditions"] = conditions
        if status == old_status:
            return
        self.backend.replace(
            DEPLOYMENTS,
            meta["name"],
            meta["namespace"],
            {**deployment, "status": status},
            subresource="status",
        )


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


class ClusterControllers:
    """The deployment controller, scheduler and kubelet, run in that order on every pass."""

    def __init__(
        self,
        backend: KubeBackend,
        *,
        runtime: PodRuntime,
        allocate_ip: Callable[[Obj], str],
        seed: int = 0,
    ) -> None:
        self.deployments = DeploymentController(backend, random.Random(seed))
        self.scheduler = Scheduler(backend)
        self.kubelet = Kubelet(backend, runtime, allocate_ip)

    def reconcile(self, _server: Any = None) -> None:
        """Run one pass of every controller."""
        self.deployments.reconcile()
        self.scheduler.reconcile()
        self.kubelet.reconcile()

    def reset(self) -> None:
        """Stop every running pod and forget controller memory (after the store was reset)."""
        self.kubelet.stop_all()
        self.deployments.forget()
