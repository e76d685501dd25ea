"""Watch streams: each object change, filtered per watcher, sent as one JSON line.

A watch starts from the current objects (as ADDED) or from the logged changes after a
``resourceVersion`` (an ERROR event with a 410 Status when that left the change log), then
follows the backend's changes until ``timeoutSeconds`` or until the server closes it. An
object that stops or starts matching the watcher's selectors is reported as DELETED or ADDED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import kmock

from sandbox.k8s import exceptions as errors
from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.resources import ResourceType
from sandbox.k8s.selectors import FieldRequirement, FieldSelector
from sandbox.k8s.store import Obj, WatchEvent
from sandbox.k8s.wire import int_param, json_response, selectors

DEFAULT_WATCH_SECONDS = 1800.0


class WatchStreams:
    """The open watch streams over one backend."""

    def __init__(self, backend: KubeBackend) -> None:
        self.backend = backend
        self._queues: set[asyncio.Queue[WatchEvent | None]] = set()

    async def open(
        self, rt: ResourceType, namespace: str | None, name: str | None, params: dict[str, str]
    ) -> kmock.Response:
        """Start a watch on the resource (on one object when ``name`` is given)."""
        labels, fields = selectors(rt, params)
        if name is not None:
            fields = FieldSelector(
                (*fields.requirements, FieldRequirement("metadata.name", True, name))
            )
        raw_since = params.get("resourceVersion")
        since: int | None = None
        if raw_since not in (None, "", "0"):
            try:
                since = int(str(raw_since))
            except ValueError:
                raise errors.bad_request(f"invalid resourceVersion {raw_since!r}") from None
        timeout = float(int_param(params, "timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()

        def listener(event: WatchEvent) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(queue.put_nowait, event)

        try:
            initial, horizon = self.backend.open_watch(rt, since, listener)
        except KubeApiError as error:
            expired = error.to_status()
            return json_response((b"", {"type": "ERROR", "object": expired}))
        self._queues.add(queue)

        def render(event: WatchEvent) -> Obj | None:
            def matches(obj: Obj | None) -> bool:
                if obj is None:
                    return False
                meta = obj["metadata"]
                return (
                    (namespace is None or meta.get("namespace") == namespace)
                    and labels.matches(meta.get("labels"))
                    and fields.matches(obj)
                )

            if event.resource is not rt:
                return None
            now, before = matches(event.obj), matches(event.old)
            kind = event.type
            if kind == "MODIFIED":
                kind = (
                    "MODIFIED"
                    if now and before
                    else "ADDED"
                    if now
                    else "DELETED"
                    if before
                    else ""
                )
                if kind == "DELETED":
                    return {"type": kind, "object": event.obj}
            if not kind or not now:
                return None
            return {"type": kind, "object": event.obj}

        async def stream() -> AsyncIterator[Any]:
            try:
                yield b""  # send the headers now
                for event in initial:
                    rendered = render(event)
                    if rendered is not None:
                        yield rendered
                deadline = loop.time() + timeout
                while True:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return
                    try:
                        change = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        return
                    if change is None:
                        return
                    if change.resource_version <= horizon:
                        continue  # already part of the initial events
                    rendered = render(change)
                    if rendered is not None:
                        yield rendered
            finally:
                self.backend.remove_listener(listener)
                self._queues.discard(queue)

        return json_response(stream())

    def close_all(self) -> None:
        """End every open watch stream (call on the server's loop)."""
        for queue in list(self._queues):
            queue.put_nowait(None)
