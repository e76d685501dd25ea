"""Wait for Kubernetes objects by watching them: one list, then one watch that streams changes.

The informer pattern with the official client's ``Watch``: list the objects (which gives the
collection's resourceVersion), judge them, then watch from that resourceVersion and judge again
after every event, so a change is noticed as soon as the API server sends it. A watch the server
ends (its ``timeoutSeconds``) is resumed from the last resourceVersion seen (bookmarks included);
a ``410 Gone`` (the version left the server's window) relists. Errors that a wait should outlive
(the API not answering yet, a dropped connection) relist after a backoff until the deadline.

Only standard list/watch semantics are used: ``resourceVersion``, ``timeoutSeconds``,
``allowWatchBookmarks``, ADDED/MODIFIED/DELETED/BOOKMARK events and the 410 ERROR event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from kops_nlb.core.errors import WaitTimeout, failure_text, is_transient
from kops_nlb.core.logs import Logger
from kops_nlb.core.waiting import Observation

T = TypeVar("T")
HTTP_GONE = 410
# The longest single watch request; a longer wait resumes from the last resourceVersion.
MAX_WATCH_S = 300
# Between relists after an error the wait outlives (the API server not answering yet).
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 5.0)


@dataclass
class WatchStats:
    """What a wait cost: list and watch requests, events received, relists after 410 Gone."""

    lists: int = 0
    watches: int = 0
    events: int = 0
    gone: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Return every request made (a watch counts as one)."""
        return self.lists + self.watches


def _name(obj: Any) -> str:
    meta = obj.metadata
    return f"{meta.namespace or ''}/{meta.name}"


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in (0, 429, 500, 502, 503, 504) or exc.status is None
    return is_transient(exc) or isinstance(exc, OSError)


@dataclass
class ObjectWatch(Generic[T]):
    """Watch the objects one list call returns until ``judge`` finds them ready.

    ``list_method`` is a list method of the official client (``CoreV1Api.list_node``,
    ``list_namespaced_pod``...), called with ``args`` and ``kwargs`` (a namespace, a selector);
    the client reads the type of the objects from the method itself, so it is not wrapped.
    ``judge`` gets the current objects (the client's models) sorted by namespace and name.
    """

    list_method: Callable[..., Any]
    judge: Callable[[list[Any]], Observation[T]]
    what: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    logger: Logger | None = None
    on_observation: Callable[[Observation[T]], None] | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stats: WatchStats = field(default_factory=WatchStats)
    _objects: dict[str, Any] = field(default_factory=dict, init=False)
    _last_failing: tuple[str, ...] | None = field(default=None, init=False)
    _last_error: str | None = field(default=None, init=False)

    def wait(self, timeout: float) -> T:
        """Return the value of the first ready observation; raise WaitTimeout at the deadline."""
        log = self.logger or logging.getLogger(__name__)
        start = self.clock()
        deadline = start + timeout
        failing: tuple[str, ...] = ()
        retries = 0
        while True:
            try:
                version = self._list()
                observation = self._judge(log)
                if observation.ready:
                    return self._done(log, observation, start)
                failing = observation.failing
                retries = 0
                while version is not None and self.clock() < deadline:
                    version, seen = self._watch(version, deadline, log)
                    if seen is not None and seen.ready:
                        return self._done(log, seen, start)
                    if seen is not None:
                        failing = seen.failing
            except ApiException as exc:
                if exc.status == HTTP_GONE:
                    self.stats.gone += 1
                    log.info("%s: watch window passed (410 Gone); listing again", self.what)
                    continue
                if not _is_transient(exc):
                    raise
                failing = self._note_error(log, exc)
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                failing = self._note_error(log, exc)
            now = self.clock()
            if now >= deadline:
                raise WaitTimeout(self.what, waited=now - start, still_failing=failing)
            delay = RETRY_DELAYS_S[min(retries, len(RETRY_DELAYS_S) - 1)]
            retries += 1
            self.sleep(min(delay, deadline - now))

    def _list(self) -> str | None:
        self.stats.lists += 1
        result = self.list_method(*self.args, **self.kwargs)
        self._last_error = None  # the API answered: a later outage is news again
        self._objects = {_name(obj): obj for obj in result.items or []}
        return result.metadata.resource_version if result.metadata else None

    def _watch(
        self, version: str, deadline: float, log: Logger
    ) -> tuple[str | None, Observation[T] | None]:
        """Stream changes from ``version`` until ready or the request ends; return where it ended."""
        watcher = watch.Watch()
        seconds = max(1, min(MAX_WATCH_S, int(deadline - self.clock() + 0.999)))
        self.stats.watches += 1
        observation: Observation[T] | None = None
        for event in watcher.stream(
            self.list_method,
            *self.args,
            **self.kwargs,
            resource_version=version,
            timeout_seconds=seconds,
            allow_watch_bookmarks=True,
        ):
            self.stats.events += 1
            kind, obj = event["type"], event["object"]
            if kind in ("ADDED", "MODIFIED"):
                self._objects[_name(obj)] = obj
            elif kind == "DELETED":
                self._objects.pop(_name(obj), None)
            else:
                continue  # BOOKMARK: only the resourceVersion moves on
            observation = self._judge(log)
            if observation.ready:
                watcher.stop()
                return watcher.resource_version, observation
        return watcher.resource_version or version, observation

    def _judge(self, log: Logger) -> Observation[T]:
        observation = self.judge([self._objects[k] for k in sorted(self._objects)])
        if self.on_observation is not None:
            self.on_observation(observation)
        if not observation.ready and observation.failing != self._last_failing:
            log.info(
                "%s: not ready yet: %s", self.what, "; ".join(observation.failing) or "pending"
            )
            self._last_failing = observation.failing
        return observation

    def _note_error(self, log: Logger, exc: BaseException) -> tuple[str, ...]:
        reason = failure_text(exc)
        self.stats.errors.append(reason)
        if reason != self._last_error:  # an API that takes minutes to answer is said once
            log.info("%s: %s; listing again until it answers", self.what, reason)
            self._last_error = reason
        return (reason,)

    def _done(self, log: Logger, observation: Observation[T], start: float) -> T:
        log.info(
            "%s: ready after %.1fs (%d requests, %d events)",
            self.what,
            self.clock() - start,
            self.stats.requests,
            self.stats.events,
        )
        return observation.value  # type: ignore[return-value]
