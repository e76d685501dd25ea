"""The API server's semantics over its store: what kube-apiserver does to objects, minus the wire.

:class:`KubeBackend` adds to the :class:`~sandbox.k8s.store.ObjectStore` what the real server
does around storage: metadata defaulting (uid, resourceVersion, creationTimestamp, generation),
kind-specific defaulting and allocation (Services' clusterIP/nodePorts/healthCheckNodePort),
AlreadyExists/NotFound/Conflict/Invalid errors, status and scale subresource rules, and
patches; deletion (finalizers, graceful Pod deletion) comes from
:class:`~sandbox.k8s.deletion.DeletionBackend`.

Why these semantics live here and not in ``kmock.KubernetesEmulator``: the emulator mutates
its store *before* any reaction runs (so nothing can default, validate or reject a request
first), stores raw request bodies, raises non-Kubernetes error reasons, has no PUT, and guards
the store with an ``asyncio.Lock`` that the twin's controller threads cannot take. The store
itself (``ObjectsArray``/``Object``, incl. kmock's merge and JSON patch implementation) is
kmock's.

Thread-safe: every public method takes the store's re-entrant lock; returned dicts are deep
copies.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable
from typing import Any

from sandbox.k8s.deletion import DeletionBackend
from sandbox.k8s.exceptions import (
    FieldCause,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    not_found,
)
from sandbox.k8s.names import generated_name, name_problem
from sandbox.k8s.patches import apply_patch
from sandbox.k8s.resources import DEPLOYMENTS, NAMESPACES, RESOURCES, SERVICES, ResourceType
from sandbox.k8s.scale import scale_of, wanted_replicas
from sandbox.k8s.store import Obj, now_rfc3339
from sandbox.k8s.strategies import prepare_create, prepare_update

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_IDENTITY_FIELDS = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "generateName",
)


class KubeBackend(DeletionBackend):
    """The object store and API semantics shared by the HTTP layer and in-process callers."""

    def __init__(self, *, seed: int = 0, history_limit: int = 20, event_window: int = 5000) -> None:
        super().__init__(history_limit=history_limit, event_window=event_window)
        self._rng = random.Random(seed)
        self._bootstrap()

    def _bootstrap(self) -> None:
        for name in DEFAULT_NAMESPACES:
            self.create(NAMESPACES, {"metadata": {"name": name}})

    def _namespace_of(self, rt: ResourceType, namespace: str | None) -> str | None:
        if not rt.namespaced:
            return None
        if not namespace:
            raise bad_request("a namespace is required for a namespaced resource")
        return namespace

    # ----------------------------------------------------------------- create

    def create(
        self, rt: ResourceType, body: Obj, *, namespace: str | None = None, dry_run: bool = False
    ) -> Obj:
        """Store a new object with server-set metadata and defaults; return it."""
        if not isinstance(body, dict):
            raise bad_request(f"the object provided is unrecognized (must be of type {rt.kind})")
        obj = copy.deepcopy(body)
        if obj.get("kind") not in (None, rt.kind):
            raise bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): "
                f"kind {obj.get('kind')!r}"
            )
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        with self.lock:
            if rt.namespaced:
                body_ns = meta.get("namespace")
                ns = self._namespace_of(rt, namespace or body_ns)
                if body_ns and body_ns != ns:
                    raise bad_request(
                        "the namespace of the provided object does not match the namespace "
                        "sent on the request"
                    )
                assert ns is not None
                namespace_obj = self._live(NAMESPACES, None, ns)
                if namespace_obj is None:
                    raise not_found("namespaces", "", ns)
                if namespace_obj["metadata"].get("deletionTimestamp"):
                    raise forbidden(
                        rt.plural,
                        rt.group,
                        meta.get("name") or "",
                        f"unable to create new content in namespace {ns} because it is being "
                        "terminated",
                    )
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
                ns = None
            name = str(meta.get("name") or "")
            if not name:
                prefix = meta.get("generateName")
                if not prefix:
                    raise invalid(
                        rt.kind,
                        rt.group,
                        "",
                        [
                            FieldCause(
                                "metadata.name",
                                "FieldValueRequired",
                                "Required value: name or generateName is required",
                            )
                        ],
                    )
                for _ in range(100):
                    name = generated_name(prefix, self._rng)
                    if self._live(rt, ns, name) is None:
                        break
                meta["name"] = name
            problem = name_problem(rt, name)
            if problem:
                raise invalid(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        FieldCause(
                            "metadata.name",
                            "FieldValueInvalid",
                            f'Invalid value: "{name}": {problem}',
                        )
                    ],
                )
            if self._live(rt, ns, name) is not None:
                raise already_exists(rt.plural, rt.group, name)
            for key in (
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "resourceVersion",
                "selfLink",
                "managedFields",
            ):
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if rt.tracks_generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            causes = prepare_create(rt, obj, services=self._iter(SERVICES), rng=self._rng)
            if causes:
                raise invalid(rt.kind, rt.group, name, causes)
            if dry_run:
                return copy.deepcopy(obj)
            return self._commit(rt, obj, None)

    # ----------------------------------------------------------------- updates

    def replace(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        body: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Replace the object (PUT); a stale ``metadata.resourceVersion`` is a Conflict."""
        if not isinstance(body, dict):
            raise bad_request(f"the object provided is unrecognized (must be of type {rt.kind})")
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        body_ns = (body.get("metadata") or {}).get("namespace")
        if rt.namespaced and body_ns and body_ns != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        return self._update(
            rt, name, namespace, lambda _current: copy.deepcopy(body), subresource, dry_run
        )

    def patch(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        patch: Any,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Patch the object (``merge``, ``strategic`` ~ merge, or ``json``) and return it."""
        return self._update(
            rt,
            name,
            namespace,
            lambda current: apply_patch(current, patch, patch_type),
            subresource,
            dry_run,
        )

    def _update(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        transform: Callable[[Obj], Obj],
        subresource: str | None,
        dry_run: bool,
    ) -> Obj:
        if subresource not in (None, "status"):
            raise bad_request(f"subresource {subresource!r} cannot be written this way")
        if subresource == "status" and not rt.has_status:
            raise not_found(rt.plural, rt.group, name)
        with self.lock:
            current = self._live(rt, namespace, name)
            if current is None:
                raise not_found(rt.plural, rt.group, name)
            candidate = transform(copy.deepcopy(current))
            if not isinstance(candidate, dict):
                raise bad_request(
                    f"the object provided is unrecognized (must be of type {rt.kind})"
                )
            candidate_meta = candidate.get("metadata") or {}
            if not isinstance(candidate_meta, dict):
                raise bad_request("metadata must be an object")
            wanted_rv = candidate_meta.get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise conflict(rt.plural, rt.group, name)
            new = self._prepare_update(rt, current, candidate, subresource)
            if new == current:
                return copy.deepcopy(current)
            if dry_run:
                return copy.deepcopy(new)
            meta = new["metadata"]
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                return self._remove(rt, new)
            return self._commit(rt, new, current)

    def _prepare_update(
        self, rt: ResourceType, current: Obj, candidate: Obj, subresource: str | None
    ) -> Obj:
        if subresource == "status":
            new = copy.deepcopy(current)
            new["status"] = copy.deepcopy(candidate.get("status") or {})
            return new
        new = copy.deepcopy(candidate)
        new["apiVersion"] = rt.api_version
        new["kind"] = rt.kind
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        current_meta = current["metadata"]
        for key in _IDENTITY_FIELDS:
            if key in current_meta:
                meta[key] = copy.deepcopy(current_meta[key])
            else:
                meta.pop(key, None)
        if current_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(current_meta.get("finalizers") or [])
            if added:
                raise invalid(
                    rt.kind,
                    rt.group,
                    current_meta["name"],
                    [
                        FieldCause(
                            "metadata.finalizers",
                            "FieldValueForbidden",
                            f"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {sorted(added)!r}",
                        )
                    ],
                )
        if rt.has_status:
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
        causes = prepare_update(rt, new, current, services=self._iter(SERVICES), rng=self._rng)
        if causes:
            raise invalid(rt.kind, rt.group, current_meta["name"], causes)
        if rt.tracks_generation and new.get("spec") != current.get("spec"):
            meta["generation"] = int(current_meta.get("generation") or 1) + 1
        return new

    # ----------------------------------------------------------------- scale

    def read_scale(self, rt: ResourceType, name: str, namespace: str | None) -> Obj:
        """Return the ``autoscaling/v1 Scale`` view of a Deployment."""
        if rt is not DEPLOYMENTS:
            raise not_found(rt.plural, rt.group, name)
        return scale_of(self.read(rt, name, namespace))

    def update_scale(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        change: Callable[[Obj], Obj],
        *,
        dry_run: bool = False,
    ) -> Obj:
        """Apply ``change`` to the Scale view and write its spec.replicas back."""
        if rt is not DEPLOYMENTS:
            raise not_found(rt.plural, rt.group, name)
        with self.lock:
            scale = change(self.read_scale(rt, name, namespace))
            replicas = wanted_replicas(scale, name)
            wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")

            def set_replicas(current: Obj) -> Obj:
                if wanted_rv:
                    current["metadata"]["resourceVersion"] = wanted_rv
                current.setdefault("spec", {})["replicas"] = replicas
                return current

            updated = self._update(rt, name, namespace, set_replicas, None, dry_run)
            return scale_of(updated)

    def reset(self) -> None:
        """Drop every object and recreate the default namespaces."""
        with self.lock:
            for rt in RESOURCES:
                for obj in list(self._iter(rt)):
                    self._remove(rt, obj)
            self.objects.clear()
            self._events.clear()
            self._events_floor = self._rv
            self._bootstrap()
