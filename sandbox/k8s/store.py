"""The API server's object store: versioned objects, the change log, reads and watch registration.

:class:`ObjectStore` keeps every object as a versioned :class:`kmock.Object` inside a
:class:`kmock.ObjectsArray` (kmock's Kubernetes object store, so tests can use its pattern
assertions and per-object history), hands out resourceVersions, logs a bounded window of
changes for watches and tells listeners about each change. The API semantics on top of it
(create, update, delete) live in :mod:`sandbox.k8s.models` and :mod:`sandbox.k8s.deletion`.

Thread-safe: every public method takes one re-entrant lock; returned dicts are deep copies.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import kmock

from sandbox.k8s.exceptions import bad_request, gone, not_found
from sandbox.k8s.resources import RESOURCES, ResourceType
from sandbox.k8s.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]
Objs = list[Obj]


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


class ObjectStore:
    """Versioned objects per resource, with a change log and change listeners."""

    def __init__(self, *, history_limit: int, event_window: int) -> None:
        self.objects = kmock.ObjectsArray()
        self.lock = threading.RLock()
        self._kres = {rt: kmock.resource(rt.group, rt.version, rt.plural) for rt in RESOURCES}
        self._rv = 0
        self._history_limit = history_limit
        self._events: deque[WatchEvent] = deque(maxlen=event_window)
        self._events_floor = 0  # watches from a resourceVersion below this get 410 Gone
        self._listeners: list[Callable[[WatchEvent], None]] = []

    # ----------------------------------------------------------------- plumbing

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

    # ----------------------------------------------------------------- watches

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
