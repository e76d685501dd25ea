"""The deployment controller: keeps ``spec.replicas`` Pods per Deployment and writes its status.

There are no ReplicaSets: Pods are owned by the Deployment directly and named
``<deploy>-<10 hex>-<5 chars>``. A template change replaces Pods (new Pods first, old ones once
the new are ready), and Pods whose Deployment is gone are deleted.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import logging
import math
import random

from sandbox.k8s.controllers.status import condition, controller_uid, is_pod_ready
from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.names import generated_name
from sandbox.k8s.resources import DEPLOYMENTS, PODS
from sandbox.k8s.store import Obj, now_rfc3339

log = logging.getLogger(__name__)

TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def template_hash(template: Obj) -> str:
    """Return 10 hex characters that change whenever the pod template changes."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


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
