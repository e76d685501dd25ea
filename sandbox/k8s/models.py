"""The API server's object store: what kube-apiserver + etcd do to objects, minus the wire.

:class:`KubeBackend` keeps every object as a versioned :class:`kmock.Object` inside a
:class:`kmock.ObjectsArray` (kmock's Kubernetes object store, so tests can use its
pattern assertions and per-object history), and adds what the real server does around
storage: metadata defaulting (uid, resourceVersion, creationTimestamp, generation),
kind-specific defaulting and allocation (Services' clusterIP/nodePorts/healthCheckNodePort),
AlreadyExists/NotFound/Conflict/Invalid errors, status subresource rules, merge/strategic/JSON
patches, label and field selectors, finalizers and graceful Pod deletion, and a bounded event
log for watches.

Why the store logic lives here and not in ``kmock.KubernetesEmulator``: the emulator mutates
its store *before* any reaction runs (so nothing can default, validate or reject a request
first), stores raw request bodies, raises non-Kubernetes error reasons, has no PUT, and guards
the store with an ``asyncio.Lock`` that the twin's controller threads cannot take. The store
itself (``ObjectsArray``/``Object``, incl. kmock's merge and JSON patch implementation) is
kmock's.

Thread-safe: every public method takes one re-entrant lock; returned dicts are deep copies.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import random
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import kmock

from sandbox.k8s import defaulting
from sandbox.k8s.exceptions import (
    FieldCause,
    KubeApiError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    gone,
    invalid,
    not_found,
)
from sandbox.k8s.resources import (
    DEPLOYMENTS,
    NAMESPACES,
    NODES,
    PODS,
    RESOURCES,
    SERVICES,
    ResourceType,
)
from sandbox.k8s.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]
Objs = list[Obj]
Causes = list[FieldCause]

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
}
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what generateName draws from

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
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


def now_rfc3339() -> str:
    """Return the current UTC time as the API server writes timestamps (seconds, ``Z``)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WatchEvent:
    """One change of one object, as a watch stream reports it."""

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: ResourceType
    obj: Obj
    old: Obj | None = None


WatchEvents = list[WatchEvent]


@dataclass(frozen=True)
class ListResult:
    """One page of a list call."""

    items: list[Obj]
    resource_version: str
    continue_token: str | None = None
    remaining: int | None = None


@dataclass(frozen=True)
class DeleteResult:
    """What a delete did: ``removed`` False means it is only marked (finalizers, grace period)."""

    obj: Obj
    removed: bool


def _name_problem(resource: ResourceType, name: str) -> str | None:
    if resource in (SERVICES,):
        if len(name) > 63 or not _LABEL_1035.match(name):
            return (
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character "
                "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
                "'[a-z]([-a-z0-9]*[a-z0-9])?')"
            )
    elif resource is NAMESPACES:
        if len(name) > 63 or not _LABEL_1123.match(name):
            return (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
                "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            )
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    return None


def _strip_directives(patch: Any) -> Any:
    """Drop strategic-merge ``$`` directives, which merge semantics cannot honour."""
    if isinstance(patch, dict):
        return {k: _strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [_strip_directives(item) for item in patch]
    return patch


def apply_patch(doc: Obj, patch: Any, patch_type: str) -> Obj:
    """Return ``doc`` patched: merge/strategic with JSON merge-patch rules, json as RFC 6902.

    Strategic merge is approximated by merge patch: lists are replaced as a whole.
    """
    if patch_type in ("merge", "strategic"):
        if not isinstance(patch, dict):
            raise bad_request(f"a {patch_type} patch must be a JSON object")
        patch = _strip_directives(patch) if patch_type == "strategic" else patch
    elif patch_type == "json":
        if not isinstance(patch, list):
            raise bad_request("a JSON patch must be a list of operations")
    else:
        raise bad_request(f"unknown patch type {patch_type!r}")
    scratch = kmock.Object(copy.deepcopy(doc))
    try:
        scratch.patch(cast(Any, patch))
    except Exception as error:
        raise KubeApiError(
            422,
            "Invalid",
            f"the server rejected our request due to an error in our request: {error}",
        ) from error
    return copy.deepcopy(scratch.raw)


class KubeBackend:
    """The object store and API semantics shared by the HTTP layer and in-process callers."""

    def __init__(self, *, seed: int = 0, history_limit: int = 20, event_window: int = 5000) -> None:
        self.objects = kmock.ObjectsArray()
        self.lock = threading.RLock()
        self._kres = {rt: kmock.resource(rt.group, rt.version, rt.plural) for rt in RESOURCES}
        self._rv = 0
        self._rng = random.Random(seed)
        self._history_limit = history_limit
        self._events: deque[WatchEvent] = deque(maxlen=event_window)
        self._events_floor = 0  # watches from a resourceVersion below this get 410 Gone
        self._listeners: list[Callable[[WatchEvent], None]] = []
        self._bootstrap()

    # ----------------------------------------------------------------- plumbing

    def _bootstrap(self) -> None:
        for name in DEFAULT_NAMESPACES:
            self.create(NAMESPACES, {"metadata": {"name": name}})

    @property
    def resource_version(self) -> str:
        """Return the latest resourceVersion handed out."""
        return str(self._rv)

    def add_listener(self, listener: Callable[[WatchEvent], None]) -> None:
        """Call ``listener`` (under the store lock: it must not block) after every change."""
        with self.lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[WatchEvent], None]) -> None:
        """Stop calling ``listener``."""
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _live(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        key = (self._kres[rt], namespace if rt.namespaced else None, name)
        if key not in self.objects:
            return None
        stored = self.objects[key]
        return None if stored.deleted else stored.last.raw

    def _iter(self, rt: ResourceType, namespace: str | None = None) -> Iterator[Obj]:
        kres = self._kres[rt]
        for (resource, ns, _name), stored in self.objects.items():
            if resource == kres and not stored.deleted and (namespace is None or ns == namespace):
                yield stored.last.raw

    def _emit(self, event: WatchEvent) -> None:
        if len(self._events) == self._events.maxlen:
            self._events_floor = self._events[0].resource_version
        self._events.append(event)
        for listener in list(self._listeners):
            listener(event)

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _commit(self, rt: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        meta = obj["metadata"]
        key = (self._kres[rt], meta.get("namespace"), meta["name"])
        if old is None or key not in self.objects:
            self.objects[key] = obj
        else:
            stored = self.objects[key]
            stored.history.append(obj)
            if len(stored.history) > self._history_limit:
                del stored.history[: -self._history_limit]
        self._emit(WatchEvent(rv, "MODIFIED" if old else "ADDED", rt, copy.deepcopy(obj), old))
        return copy.deepcopy(obj)

    def _remove(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        key = (self._kres[rt], meta.get("namespace"), meta["name"])
        old = self._live(rt, meta.get("namespace"), meta["name"])
        if key in self.objects:
            del self.objects[key]
        gone_obj = copy.deepcopy(obj)
        rv = self._next_rv()
        gone_obj["metadata"]["resourceVersion"] = str(rv)
        self._emit(WatchEvent(rv, "DELETED", rt, copy.deepcopy(gone_obj), old))
        return gone_obj

    def _namespace_of(self, rt: ResourceType, namespace: str | None) -> str | None:
        if not rt.namespaced:
            return None
        if not namespace:
            raise bad_request("a namespace is required for a namespaced resource")
        return namespace

    # ----------------------------------------------------------------- reads

    def read(self, rt: ResourceType, name: str, namespace: str | None = None) -> Obj:
        """Return the object or raise NotFound (the ``read_namespaced_*`` operations)."""
        found = self.find(rt, name, namespace)
        if found is None:
            raise not_found(rt.plural, rt.group, name)
        return found

    def find(self, rt: ResourceType, name: str, namespace: str | None = None) -> Obj | None:
        """Return a copy of the object, or None."""
        with self.lock:
            live = self._live(rt, namespace, name)
            return copy.deepcopy(live) if live is not None else None

    def list(
        self,
        rt: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """Return the matching objects sorted by namespace and name, one page if ``limit``."""
        with self.lock:
            items = [
                obj
                for obj in self._iter(rt, namespace if rt.namespaced else None)
                if (label_selector is None or label_selector.matches(obj["metadata"].get("labels")))
                and (field_selector is None or field_selector.matches(obj))
            ]
            items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
            if continue_token:
                try:
                    after = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                except ValueError as error:
                    raise bad_request(f"invalid continue token: {error}") from None
                items = [
                    o
                    for o in items
                    if [o["metadata"].get("namespace") or "", o["metadata"]["name"]] > after
                ]
            token = remaining = None
            if limit and len(items) > limit:
                last = items[limit - 1]["metadata"]
                position = [last.get("namespace") or "", last["name"]]
                token = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
                remaining = len(items) - limit
                items = items[:limit]
            return ListResult(copy.deepcopy(items), self.resource_version, token, remaining)

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
                    name = prefix + "".join(self._rng.choices(NAME_SUFFIX_ALPHABET, k=5))
                    if self._live(rt, ns, name) is None:
                        break
                meta["name"] = name
            problem = _name_problem(rt, name)
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
            causes = self._default_new(rt, obj)
            if causes:
                raise invalid(rt.kind, rt.group, name, causes)
            if dry_run:
                return copy.deepcopy(obj)
            return self._commit(rt, obj, None)

    def _default_new(self, rt: ResourceType, obj: Obj) -> Causes:
        if rt is NAMESPACES:
            defaulting.default_namespace(obj)
            return []
        if rt is PODS:
            return defaulting.default_pod(obj)
        if rt is DEPLOYMENTS:
            obj["status"] = {}
            return defaulting.default_deployment(obj)
        if rt is SERVICES:
            obj["status"] = {"loadBalancer": {}}
            ips, ports = self._service_allocations(exclude=None)
            return defaulting.default_service(
                obj, None, used_cluster_ips=ips, used_node_ports=ports, rng=self._rng
            )
        if rt is NODES:
            obj.setdefault("spec", {})
            obj.setdefault("status", {})
        return []

    def _service_allocations(self, exclude: Obj | None) -> tuple[set[str], set[int]]:
        ips: set[str] = set()
        ports: set[int] = set()
        skip = exclude["metadata"]["uid"] if exclude else None
        for service in self._iter(SERVICES):
            if service["metadata"]["uid"] == skip:
                continue
            service_ips, service_ports = defaulting.service_allocations(service)
            ips |= service_ips
            ports |= service_ports
        return ips, ports

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
        causes: Causes = []
        if rt is DEPLOYMENTS:
            causes = defaulting.default_deployment(new)
            selector = (new.get("spec") or {}).get("selector")
            if selector != (current.get("spec") or {}).get("selector"):
                causes.append(
                    FieldCause(
                        "spec.selector",
                        "FieldValueInvalid",
                        f"Invalid value: {selector!r}: field is immutable",
                    )
                )
        elif rt is SERVICES:
            ips, ports = self._service_allocations(exclude=current)
            causes = defaulting.default_service(
                new, current, used_cluster_ips=ips, used_node_ports=ports, rng=self._rng
            )
        elif rt is PODS:
            causes = defaulting.default_pod_spec(new.setdefault("spec", {}))
        elif rt is NAMESPACES:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = current_meta["name"]
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
        return self._scale_of(self.read(rt, name, namespace))

    @staticmethod
    def _scale_of(deployment: Obj) -> Obj:
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
            wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")

            def set_replicas(current: Obj) -> Obj:
                if wanted_rv:
                    current["metadata"]["resourceVersion"] = wanted_rv
                current.setdefault("spec", {})["replicas"] = replicas
                return current

            updated = self._update(rt, name, namespace, set_replicas, None, dry_run)
            return self._scale_of(updated)

    # ----------------------------------------------------------------- deletes

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

    # ----------------------------------------------------------------- watches & reset

    def open_watch(
        self,
        rt: ResourceType,
        since: int | None,
        listener: Callable[[WatchEvent], None],
    ) -> tuple[WatchEvents, int]:
        """Register ``listener`` and return the events it missed: the current state as ADDED
        when ``since`` is None, else the logged changes after ``since`` (410 if too old)."""
        with self.lock:
            if since is None:
                initial = [
                    WatchEvent(
                        int(obj["metadata"]["resourceVersion"]), "ADDED", rt, copy.deepcopy(obj)
                    )
                    for obj in self._iter(rt)
                ]
            else:
                if since < self._events_floor:
                    raise gone(since, self._events_floor)
                initial = [
                    e for e in self._events if e.resource_version > since and e.resource is rt
                ]
            self._listeners.append(listener)
            return initial, self._rv

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
