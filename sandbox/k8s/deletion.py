"""Deleting objects: finalizers, graceful Pod deletion, and Namespaces with all they hold.

An object with finalizers, or a Pod bound to a node with a grace period, is only marked
(``deletionTimestamp``); the controller that holds it removes it later (for Pods, the twin's
kubelet once their runtime stopped).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from sandbox.k8s.exceptions import forbidden, not_found
from sandbox.k8s.resources import NAMESPACES, PODS, RESOURCES, ResourceType
from sandbox.k8s.selectors import FieldSelector, LabelSelector
from sandbox.k8s.store import Obj, ObjectStore, Objs, now_rfc3339

PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


@dataclass(frozen=True)
class DeleteResult:
    """What a delete did: ``removed`` False means it is only marked (finalizers, grace period)."""

    obj: Obj
    removed: bool


class DeletionBackend(ObjectStore):
    """The backend's delete operations; :class:`~sandbox.k8s.models.KubeBackend` builds on it."""

    def delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> DeleteResult:
        """Delete the object, or mark it (deletionTimestamp) while finalizers or a kubelet hold it.

        Pods bound to a node are deleted gracefully: marked, then removed by the kubelet
        (the twin's pod controller) once their runtime has been stopped. Namespaces go at
        once together with everything in them.
        """
        with self.lock:
            current = self._live(rt, namespace, name)
            if current is None:
                raise not_found(rt.plural, rt.group, name)
            if rt is NAMESPACES:
                return self._delete_namespace(current, dry_run)
            meta = current["metadata"]
            if grace_period_seconds is None:
                grace = int((current.get("spec") or {}).get("terminationGracePeriodSeconds") or 0)
            else:
                grace = grace_period_seconds
            graceful = (
                rt is PODS and bool((current.get("spec") or {}).get("nodeName")) and grace > 0
            )
            if not meta.get("finalizers") and not graceful:
                if dry_run:
                    return DeleteResult(copy.deepcopy(current), True)
                return DeleteResult(self._remove(rt, current), True)
            if meta.get("deletionTimestamp"):
                return DeleteResult(copy.deepcopy(current), False)
            marked = copy.deepcopy(current)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = grace if graceful else 0
            if rt.tracks_generation:
                marked["metadata"]["generation"] = int(meta.get("generation") or 1) + 1
            if dry_run:
                return DeleteResult(marked, False)
            return DeleteResult(self._commit(rt, marked, current), False)

    def _delete_namespace(self, current: Obj, dry_run: bool) -> DeleteResult:
        name = current["metadata"]["name"]
        if name in PROTECTED_NAMESPACES:
            raise forbidden("namespaces", "", name, "this namespace may not be deleted")
        terminating = copy.deepcopy(current)
        terminating["metadata"]["deletionTimestamp"] = now_rfc3339()
        terminating["status"] = {"phase": "Terminating"}
        if dry_run:
            return DeleteResult(terminating, False)
        for rt in RESOURCES:
            if rt.namespaced:
                for obj in list(self._iter(rt, name)):
                    self._remove(rt, obj)
        self._remove(NAMESPACES, current)
        return DeleteResult(terminating, True)

    def delete_collection(
        self,
        rt: ResourceType,
        *,
        namespace: str | None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        dry_run: bool = False,
    ) -> Objs:
        """Delete every matching object; return what was deleted or marked."""
        with self.lock:
            items = self.list(
                rt,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
            ).items
            return [
                self.delete(
                    rt,
                    item["metadata"]["name"],
                    item["metadata"].get("namespace"),
                    dry_run=dry_run,
                ).obj
                for item in items
            ]

    def force_remove(self, rt: ResourceType, name: str, namespace: str | None) -> None:
        """Remove a (marked) object now, as the kubelet does after a Pod's containers stopped."""
        with self.lock:
            current = self._live(rt, namespace, name)
            if current is not None and not current["metadata"].get("finalizers"):
                self._remove(rt, current)
