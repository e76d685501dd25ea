"""The twin's Kubernetes API server: the kmock-based handler on a real HTTP port.

:class:`KubeApiServer` serves the Kubernetes REST API (:class:`~sandbox.k8s.handler.KubeApiHandler`)
over plain HTTP from a daemon thread with its own event loop, so the official synchronous
``kubernetes`` client reaches it through an ordinary kubeconfig. It also gives the twin's other
controllers thread-safe in-process access (``get``/``list``/``create``/``patch``/``delete``) and
runs reconcilers (the deployment controller, scheduler and kubelet of
:mod:`sandbox.k8s.controllers` by default).

The handler is served by a plain ``aiohttp.web.Server``, not ``kmock.Server``: that one patches
aiohttp's DNS resolution process-wide (LIFO-stacked), which is unsafe with several servers in
one process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp.web
import yaml

from sandbox.k8s.controllers import ClusterControllers
from sandbox.k8s.handler import KubeApiHandler
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.resources import ResourceType, lookup
from sandbox.k8s.runtime import CounterPodIps, NullPodRuntime, PodRuntime
from sandbox.k8s.selectors import parse_label_selector
from sandbox.k8s.store import Objs, WatchEvent

log = logging.getLogger(__name__)


@dataclass
class _Reconciler:
    fn: Callable[[KubeApiServer], None]
    interval: float
    lock: threading.RLock = field(default_factory=threading.RLock)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class KubeApiServer:
    """The twin's kube-apiserver: HTTP for the product, in-process calls for the twin.

    The in-process API takes resources as ``"v1/nodes"``, ``"v1/pods"``, ``"v1/services"``,
    ``"apps/v1/deployments"`` (and ``"v1/namespaces"``, ``"v1/configmaps"``, ``"v1/secrets"``),
    returns deep copies, raises :class:`KubeApiError` like the HTTP API answers (``.code``
    404/409/422...), and patches with JSON merge-patch semantics (lists are replaced whole).
    A namespaced resource addressed with ``namespace=None`` means ``default`` for
    get/create/patch/delete and all namespaces for list.
    """

    def __init__(
        self,
        *,
        pod_runtime: PodRuntime | None = None,
        pod_ip_allocator: Callable[[dict[str, Any]], str] | None = None,
        fault_5xx_rate: float = 0.0,
        seed: int = 0,
        kubernetes_version: str = "1.35.0",
    ) -> None:
        self.backend = KubeBackend(seed=seed)
        self.pod_runtime: PodRuntime = pod_runtime if pod_runtime is not None else NullPodRuntime()
        self._default_ips = CounterPodIps()
        self.pod_ip_allocator = (
            pod_ip_allocator if pod_ip_allocator is not None else self._default_ips
        )
        self.controllers = ClusterControllers(
            self.backend, runtime=self.pod_runtime, allocate_ip=self.pod_ip_allocator, seed=seed
        )
        self.handler = KubeApiHandler(
            backend=self.backend,
            runtime=self.pod_runtime,
            fault_5xx_rate=fault_5xx_rate,
            seed=seed,
            kubernetes_version=kubernetes_version,
        )
        self.call_counts: collections.Counter[tuple[str, str]] = self.handler.call_counts
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: aiohttp.web.ServerRunner | None = None
        self._reconcilers: list[_Reconciler] = []
        self._changed = threading.Condition()
        self._generation = 0
        self.backend.add_listener(self._on_change)
        self.add_reconciler(self.controllers.reconcile, interval=0.2)

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether the HTTP server is serving."""
        return self._thread is not None

    @property
    def faults_injected(self) -> int:
        """How many requests got an injected 503 so far."""
        return self.handler.faults_injected

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve HTTP on ``host:port`` (0 picks a free port) and start the reconcilers; return the URL."""
        if self._thread is not None:
            raise RuntimeError("the API server is already running")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(host, port))
            except Exception as error:
                log.exception("kube-apiserver twin failed to listen on %s:%s", host, port)
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        thread = threading.Thread(target=run, name="kube-apiserver", daemon=True)
        thread.start()
        ready.wait(30)
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread
        for reconciler in self._reconcilers:
            self._start_reconciler(reconciler)
        return self.url

    async def _serve(self, host: str, port: int) -> None:
        # handler_cancellation: a client hanging up ends its watch stream at once.
        server = aiohttp.web.Server(self.handler, handler_cancellation=True, access_log=None)
        runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound_port = runner.addresses[0][1]
        self._runner = runner
        self.handler.server_address = f"{host}:{bound_port}"
        self.url = f"http://{host}:{bound_port}"

    async def _shutdown(self) -> None:
        self.handler.watches.close_all()
        await asyncio.sleep(0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stop(self) -> None:
        """Stop the reconcilers (asking the runtime to stop every pod it runs) and the server."""
        for reconciler in self._reconcilers:
            reconciler.stop.set()
        with self._changed:
            self._changed.notify_all()
        for reconciler in self._reconcilers:
            if reconciler.thread is not None:
                reconciler.thread.join(timeout=10)
                reconciler.thread = None
        self.controllers.kubelet.stop_all()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = self._thread = None
        self.url = ""

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Drop all objects (default namespaces are recreated), stop all pods, clear call_counts."""
        with contextlib.ExitStack() as stack:
            for reconciler in list(self._reconcilers):
                stack.enter_context(reconciler.lock)  # wait for passes in flight
            self.backend.reset()
            self.controllers.reset()
            self._default_ips.reset()
            self.call_counts.clear()

    def write_kubeconfig(self, path: Path, *, cluster_name: str, user: str, token: str) -> None:
        """Write a kubeconfig (mode 0600) pointing at this server with bearer-token auth.

        From the first call on, API requests must carry one of the tokens written.
        """
        if not self.url:
            raise RuntimeError("start() the API server before writing a kubeconfig for it")
        self.handler.tokens.add(token)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": self.url}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}
            ],
            "current-context": cluster_name,
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        path.chmod(0o600)

    # ------------------------------------------------------------------ reconcilers

    def add_reconciler(self, fn: Callable[[KubeApiServer], None], interval: float = 0.2) -> None:
        """Call ``fn(self)`` every ``interval`` seconds (sooner after a change) while running.

        Runs in its own daemon thread; exceptions are logged and the loop goes on.
        """
        reconciler = _Reconciler(fn, interval)
        self._reconcilers.append(reconciler)
        if self.running:
            self._start_reconciler(reconciler)

    def _start_reconciler(self, reconciler: _Reconciler) -> None:
        reconciler.stop.clear()
        name = getattr(reconciler.fn, "__qualname__", repr(reconciler.fn))
        reconciler.thread = threading.Thread(
            target=self._reconcile_forever,
            args=(reconciler,),
            name=f"reconciler:{name}",
            daemon=True,
        )
        reconciler.thread.start()

    def _on_change(self, _event: WatchEvent) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _reconcile_forever(self, reconciler: _Reconciler) -> None:
        while not reconciler.stop.is_set():
            with self._changed:
                seen = self._generation
            try:
                with reconciler.lock:
                    if reconciler.stop.is_set():
                        return
                    reconciler.fn(self)
            except Exception:
                log.exception("reconciler %r failed; retrying", reconciler.fn)
            self._wait_for_change(reconciler, seen)
            reconciler.stop.wait(0.002)  # let a burst of changes settle

    def _wait_for_change(self, reconciler: _Reconciler, seen: int) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: reconciler.stop.is_set() or self._generation != seen,
                timeout=reconciler.interval,
            )

    # ------------------------------------------------------------------ in-process API

    @staticmethod
    def _namespace(rt: ResourceType, namespace: str | None) -> str | None:
        if not rt.namespaced:
            return None
        return namespace or "default"

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Return the object, or None when it does not exist."""
        rt = lookup(resource)
        return self.backend.find(rt, name, self._namespace(rt, namespace))

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> Objs:
        """Return the objects (all namespaces when ``namespace`` is None) matching the selector."""
        rt = lookup(resource)
        selector = parse_label_selector(label_selector)
        return self.backend.list(
            rt, namespace=namespace if rt.namespaced else None, label_selector=selector
        ).items

    def create(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create the object (namespace from its metadata) and return it as stored."""
        rt = lookup(resource)
        namespace = (obj.get("metadata") or {}).get("namespace")
        return self.backend.create(rt, obj, namespace=self._namespace(rt, namespace))

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (to ``status`` only with ``subresource="status"``)."""
        rt = lookup(resource)
        return self.backend.patch(
            rt,
            name,
            self._namespace(rt, namespace),
            patch,
            patch_type="merge",
            subresource=subresource,
        )

    def delete(self, resource: str, name: str, namespace: str | None = None) -> None:
        """Delete the object; with finalizers (or a running Pod) it is only marked for deletion."""
        rt = lookup(resource)
        self.backend.delete(rt, name, self._namespace(rt, namespace))

    def running_pods(self) -> Objs:
        """Return the pods the runtime has been asked to start and not yet to stop."""
        return self.controllers.kubelet.running()


__all__ = ["KubeApiServer"]
