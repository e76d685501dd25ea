"""The cloud controller's view of a cluster: watch caches on the real apiserver.

``WatchedCluster`` gives the reconcilers (``LoadBalancerController``, ``DataPath``) what they read
(Services, Nodes, Pods, from informers kept by list-then-watch with the official client) and
carries out what the controller writes (the cleanup finalizer on a Service, and its
``.status.loadBalancer``) as merge patches. ``CloudControllerLoop`` runs a pass of each
reconciler (the controller, then the data path) after every change it sees, and at least every
0.2 s so that the cloud's own delays (an NLB turning active, targets turning healthy) show up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from kubernetes import client

from sandbox.controlplane.client import MERGE_PATCH, Informer, as_dict

log = logging.getLogger(__name__)

PASS_SECONDS = 0.2


class WatchedCluster:
    """Services, Nodes and Pods of one cluster, watched; Service patches written through."""

    def __init__(self, api: client.ApiClient, on_change: Callable[[], None]) -> None:
        self._core: Any = client.CoreV1Api(api)
        notify: Callable[[str, dict[str, Any]], None] = lambda _kind, _obj: on_change()
        self._informers = {
            "v1/services": Informer("services", self._core.list_service_for_all_namespaces, notify),
            "v1/nodes": Informer("nodes", self._core.list_node, notify),
            "v1/pods": Informer("pods", self._core.list_pod_for_all_namespaces, notify),
        }
        for informer in self._informers.values():
            informer.start()

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Return the cached objects of ``v1/services``, ``v1/nodes`` or ``v1/pods``."""
        if label_selector:
            raise ValueError("the cloud controller's view lists without label selectors")
        items = self._informers[resource].items()
        if namespace is None:
            return items
        return [i for i in items if i["metadata"].get("namespace") == namespace]

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch a Service, or its ``status`` subresource."""
        if resource != "v1/services":
            raise ValueError(f"the cloud controller writes only Services, not {resource}")
        namespace = namespace or "default"
        write = (
            self._core.patch_namespaced_service_status
            if subresource == "status"
            else self._core.patch_namespaced_service
        )
        return as_dict(
            write(name, namespace, patch, _content_type=MERGE_PATCH, _preload_content=False)
        )

    def synced(self, timeout: float = 30.0) -> bool:
        """Wait until every cache has its first list."""
        return all(i.wait_synced(timeout) for i in self._informers.values())

    def stop(self) -> None:
        """Stop every watch."""
        for informer in self._informers.values():
            informer.stop()


class Reconciles(Protocol):
    """The controller the loop drives."""

    def reconcile(self, kube: Any) -> None: ...


class CloudControllerLoop:
    """Runs each reconciler's ``reconcile`` against the current cluster's watched view."""

    def __init__(
        self,
        reconcilers: Sequence[Reconciles],
        current_api: Callable[[], client.ApiClient | None],
    ) -> None:
        self._reconcilers = tuple(reconcilers)
        self._current_api = current_api
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._view: WatchedCluster | None = None
        self._api: client.ApiClient | None = None
        self._thread = threading.Thread(target=self._run, name="cloud-controller", daemon=True)

    def start(self) -> None:
        """Start reconciling in a background thread."""
        self._thread.start()

    def poke(self) -> None:
        """Run a pass soon (a cluster came or went)."""
        self._changed.set()

    def stop(self) -> None:
        """Stop the loop and its watches."""
        self._stop.set()
        self._changed.set()
        self._thread.join(timeout=10)
        if self._view is not None:
            self._view.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._changed.wait(PASS_SECONDS)
            self._changed.clear()
            try:
                view = self._current_view()
                for reconciler in self._reconcilers if view is not None else ():
                    reconciler.reconcile(view)
            except Exception:
                log.exception("cloud controller pass failed; trying again")

    def _current_view(self) -> WatchedCluster | None:
        api = self._current_api()
        if api is not self._api:
            if self._view is not None:
                self._view.stop()
            self._api, self._view = api, None
            if api is not None:
                self._view = WatchedCluster(api, self._changed.set)
                self._view.synced()
        return self._view
