"""The twin's own Kubernetes clients: the official client, answers as plain dicts, watches.

The twin's controllers (the simulated kubelets, the cloud controller) talk to the real apiserver
the way client-go controllers do: list, then watch from the list's resourceVersion, and list
again when the watch expires (``410 Gone``) or the connection drops (``Informer``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from urllib3.exceptions import HTTPError

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
WATCH_SECONDS = 60


def api_client(url: str, *, ca: Path, cert: Path, key: str | Path) -> client.ApiClient:
    """Return an ApiClient for ``url`` that trusts ``ca`` and presents ``cert``/``key``."""
    configuration = client.Configuration(host=url)
    configuration.ssl_ca_cert = str(ca)
    configuration.cert_file = str(cert)
    configuration.key_file = str(key)
    configuration.assert_hostname = False
    return client.ApiClient(configuration)


def as_dict(response: Any) -> dict[str, Any]:
    """Return the JSON body of a raw (``_preload_content=False``) response."""
    data: dict[str, Any] = json.loads(response.data or b"{}")
    return data


ListCall = Callable[..., Any]
Handler = Callable[[str, dict[str, Any]], None]


class Informer:
    """A cache of one resource kept by list-then-watch, calling ``handler(type, obj)`` on changes.

    ``list_call`` is an official-client list method (``CoreV1Api.list_pod_for_all_namespaces``).
    A relist reports every object as ``ADDED`` again (and ``DELETED`` those that went away),
    so the handler sees the world as it is after any gap.
    """

    def __init__(self, name: str, list_call: ListCall, handler: Handler | None = None) -> None:
        self.name = name
        self._list = list_call
        self._handler = handler or (lambda _type, _obj: None)
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"informer:{name}", daemon=True)

    def start(self) -> Informer:
        """Start listing and watching in a background thread."""
        self._thread.start()
        return self

    def wait_synced(self, timeout: float = 30.0) -> bool:
        """Wait until the first list is in the cache."""
        return self._synced.wait(timeout)

    def items(self) -> list[dict[str, Any]]:
        """Return the cached objects."""
        with self._lock:
            return list(self._cache.values())

    @property
    def running(self) -> bool:
        """Whether its thread still lists or watches."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop watching (closes the open watch)."""
        self._stop.set()
        response = self._response
        if response is not None:
            # Wakes the thread blocked reading the watch; if the watch ended meanwhile, its
            # thread has closed the socket already and there is nothing to wake.
            with contextlib.suppress(OSError):
                response.shutdown()
            response.release_conn()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version = self._relist()
                while version and not self._stop.is_set():
                    version = self._watch(version)
            except ApiException as exc:
                log.debug("%s: %s", self.name, exc.status)
            except (HTTPError, OSError, ValueError, AttributeError) as exc:
                # the apiserver restarts or went away, or stop() closed the watch under us
                log.debug("%s: %s", self.name, exc)
            self._stop.wait(0.5)

    def _relist(self) -> str:
        listed = as_dict(self._list(_preload_content=False))
        fresh = {_key(obj): obj for obj in listed.get("items") or []}
        with self._lock:
            gone = [obj for key, obj in self._cache.items() if key not in fresh]
            self._cache = fresh
        for obj in gone:
            self._handler("DELETED", obj)
        for obj in fresh.values():
            self._handler("ADDED", obj)
        self._synced.set()
        return str((listed.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        """Follow one watch; return the version to go on from, or '' to list again."""
        self._response = self._list(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS,
            _preload_content=False,
        )
        try:
            for line in iter_resp_lines(self._response):
                if self._stop.is_set():
                    return ""
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    return ""  # 410 Gone: the version is too old; list again
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "BOOKMARK":
                    continue
                with self._lock:
                    if kind == "DELETED":
                        self._cache.pop(_key(obj), None)
                    else:
                        self._cache[_key(obj)] = obj
                self._handler(str(kind), obj)
        finally:
            self._response.release_conn()
            self._response = None
        return version


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
