"""The twin's nginx pods: a real HTTP/1.1 server per pod IP, and the pod logs it writes.

The Kubernetes API twin calls ``PodServers`` (its ``PodRuntime``) when a pod is scheduled and
when it goes away, and reads ``logs`` for ``pods/log``. Each pod listens on its own loopback
address (``status.podIP``, from 127.96.0.0/12) and container port, answers like the nginx
image's default site (``nginx_site``) and logs every request in the ``main`` format
(``nginx_log``) with ``$remote_addr`` taken from the TCP connection itself: whatever address
the last hop connected from is what the pod logs, which is the fact the product checks.

All sockets live on one ``LoopThread``; the public methods are blocking calls that are safe to
make from any other thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from sandbox.dataplane import nginx_site
from sandbox.dataplane.loop import LoopThread
from sandbox.dataplane.nginx_log import format_error
from sandbox.dataplane.nginx_real import RealNginx, nginx_binary
from sandbox.dataplane.nginx_server import HEADER_TIMEOUT, KEEPALIVE_TIMEOUT, NginxSite
from sandbox.dataplane.pod_log import DEFAULT_MAX_LOG_LINES, PodLog
from sandbox.dataplane.tcp import TcpListener

log = logging.getLogger(__name__)

DEFAULT_CONTAINER_PORT = 80  # the nginx image listens on 80 whether or not the spec says so
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def loopback_ip(value: object, what: str) -> str:
    """Return ``value`` as an IPv4 address inside 127.0.0.0/8, or raise ValueError."""
    try:
        address = ipaddress.IPv4Address(str(value))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an IPv4 address") from None
    if address not in _LOOPBACK:
        raise ValueError(f"{what} {value} is outside 127.0.0.0/8: the twin uses loopback only")
    return str(address)


@dataclass
class _Pod:
    ip: str
    port: int
    listener: TcpListener | None = None  # the built-in server
    real: RealNginx | None = None  # or a real nginx process


@dataclass(frozen=True)
class PodAddress:
    """Where a running pod listens."""

    ip: str
    port: int


class PodServers:
    """The twin's container runtime for nginx pods (the Kubernetes API's ``PodRuntime``).

    ``start`` binds the pod's server and returns once it listens; ``stop`` closes it and drops
    its open connections; the log stays readable until the pod is started again.
    ``stop_all`` (also ``close``) stops every pod and the loop thread.

    ``real_nginx=True`` runs a real nginx per pod instead when one is installed
    (``nginx_real``); ``nginx_stderr=False`` leaves nginx's stderr lines (start-up notices,
    ``open() failed`` errors) out of the built-in server's pod logs.
    """

    def __init__(
        self,
        *,
        loop: LoopThread | None = None,
        max_log_lines: int = DEFAULT_MAX_LOG_LINES,
        nginx_stderr: bool = True,
        server_version: str = nginx_site.SERVER_VERSION,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
        header_timeout: float = HEADER_TIMEOUT,
        real_nginx: bool = False,
        workdir: Path | None = None,
        poll_s: float = 0.1,
    ) -> None:
        self._own_loop = loop is None
        self._loop = loop or LoopThread("dataplane-pods")
        self._max_log_lines = max_log_lines
        self._nginx_stderr = nginx_stderr
        self._server_version = server_version
        self._keepalive_timeout = keepalive_timeout
        self._header_timeout = header_timeout
        self._pods: dict[tuple[str, str], _Pod] = {}
        self._logs: dict[tuple[str, str], PodLog] = {}
        self._control = threading.Lock()
        self._nginx = nginx_binary() if real_nginx else None
        if real_nginx and self._nginx is None:
            log.info("no nginx binary found: pods use the built-in server")
        self._own_workdir = workdir is None
        self._workdir = workdir
        self._poll_s = poll_s
        self._poller: asyncio.Task[None] | None = None
        self._starts = itertools.count(1)

    @property
    def uses_real_nginx(self) -> bool:
        """Whether pods run a real nginx process."""
        return self._nginx is not None

    # PodRuntime ---------------------------------------------------------------------------
    def start(self, pod: Mapping[str, Any], files: Mapping[str, bytes] | None = None) -> bool:
        """Start the pod's server; return True once it listens (False if it cannot bind).

        ``files`` are the container's mounted files by absolute path (the kubelet's projected
        volumes); a real nginx reads its ``/etc/nginx/conf.d`` from them (``nginx_real``), the
        built-in server has no configuration to read.
        """
        key = _pod_key(pod)
        status = pod.get("status") or {}
        if not status.get("podIP"):
            log.warning("pod %s/%s has no podIP yet; not starting it", *key)
            return False
        ip = loopback_ip(status["podIP"], f"podIP of {key[0]}/{key[1]}")
        port = _container_port(pod)
        with self._control:
            if self._nginx is not None:
                return self._start_real(key, ip, port, self._nginx, files or {})
            if files:
                log.warning("pod %s/%s: the built-in server ignores its mounted files", *key)
            return self._loop.run(self._start(key, ip, port))

    def stop(self, pod: Mapping[str, Any]) -> None:
        """Stop the pod's server and drop its connections (no-op if it is not running)."""
        key = _pod_key(pod)
        with self._control:
            running = self._pods.get(key)
            if running is not None and running.real is not None:
                del self._pods[key]
                running.real.stop()
            elif running is not None:
                self._loop.run(self._stop(key))

    def logs(
        self,
        *,
        namespace: str,
        name: str,
        since: datetime | None = None,
        tail_lines: int | None = None,
        timestamps: bool = False,
    ) -> str:
        """Return the pod's log as ``pods/log`` serves it ("" for a pod never started)."""
        pod_log = self._logs.get((namespace, name))
        if pod_log is None:
            return ""
        running = self._pods.get((namespace, name))
        if running is not None and running.real is not None:
            running.real.sync()
        return pod_log.render(since=since, tail_lines=tail_lines, timestamps=timestamps)

    # the rest -----------------------------------------------------------------------------
    def address(self, *, namespace: str, name: str) -> PodAddress | None:
        """Return where a running pod listens, else None."""
        pod = self._pods.get((namespace, name))
        return PodAddress(pod.ip, pod.port) if pod else None

    def running(self) -> list[tuple[str, str]]:
        """Return ``(namespace, name)`` of every pod that listens now."""
        return sorted(self._pods)

    def stop_all(self) -> None:
        """Stop every pod, then the loop thread (when this runtime owns it)."""
        with self._control:
            for key, running in list(self._pods.items()):
                if running.real is not None:
                    del self._pods[key]
                    running.real.stop()
            if self._loop.running and self._pods:
                self._loop.run(self._stop_every())
            if self._loop.running and self._poller is not None:
                self._loop.run(self._stop_poller())
            if self._own_loop:
                self._loop.stop()
            if self._own_workdir and self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    close = stop_all

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    # on the loop ---------------------------------------------------------------------------
    async def _start(self, key: tuple[str, str], ip: str, port: int) -> bool:
        existing = self._pods.get(key)
        if existing is not None:
            if (existing.ip, existing.port) == (ip, port):
                return True
            await self._stop(key)
        pod_log = PodLog(self._max_log_lines)
        site = NginxSite(
            log=pod_log,
            server_version=self._server_version,
            keepalive_timeout=self._keepalive_timeout,
            header_timeout=self._header_timeout,
            error_log=self._nginx_stderr,
        )
        self._logs[key] = pod_log

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await site.handle(reader, writer)
            except Exception:
                log.exception("pod %s/%s: connection handler failed", *key)
                writer.transport.abort()

        try:
            listener = await TcpListener.open(ip, port, serve, backlog=511)
        except OSError as exc:
            log.warning("pod %s/%s cannot listen on %s:%s: %s", *key, ip, port, exc)
            pod_log.append(
                format_error(
                    epoch_ns=time.time_ns(),
                    level="emerg",
                    message=f"bind() to {ip}:{port} failed ({exc.errno}: {exc.strerror})",
                    pid=1,
                )
            )
            return False
        self._pods[key] = _Pod(ip=ip, port=port, listener=listener)
        site.startup()
        return True

    def _start_real(
        self,
        key: tuple[str, str],
        ip: str,
        port: int,
        binary: str,
        files: Mapping[str, bytes],
    ) -> bool:
        existing = self._pods.get(key)
        if existing is not None:
            if (existing.ip, existing.port) == (ip, port):
                return True
            self._pods.pop(key)
            if existing.real is not None:
                existing.real.stop()
            else:
                self._loop.run(self._stop(key))
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="twin-nginx-pods-"))
        workdir = self._workdir / f"{key[0]}_{key[1]}_{next(self._starts)}"
        pod_log = PodLog(self._max_log_lines)
        self._logs[key] = pod_log
        if self._nginx_stderr:
            pod_log.append("/docker-entrypoint.sh: Configuration complete; ready for start up")
        real = RealNginx(binary=binary, workdir=workdir, ip=ip, port=port, log=pod_log, files=files)
        if not real.start():
            log.warning("pod %s/%s: nginx did not start on %s:%s", *key, ip, port)
            return False
        self._pods[key] = _Pod(ip=ip, port=port, real=real)
        self._loop.run(self._ensure_poller())
        return True

    async def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        """Copy what the real nginx processes logged into the pod logs, every ``poll_s``."""
        while True:
            for running in list(self._pods.values()):
                if running.real is not None:
                    running.real.sync()
            await asyncio.sleep(self._poll_s)

    async def _stop_poller(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    async def _stop(self, key: tuple[str, str]) -> None:
        pod = self._pods.pop(key, None)
        if pod is not None and pod.listener is not None:
            await pod.listener.close()

    async def _stop_every(self) -> None:
        for key in list(self._pods):
            await self._stop(key)


def _pod_key(pod: Mapping[str, Any]) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise ValueError("pod has no metadata.name")
    return (meta.get("namespace") or "default", name)


def _container_port(pod: Mapping[str, Any]) -> int:
    containers = (pod.get("spec") or {}).get("containers") or []
    ports = (containers[0].get("ports") or []) if containers else []
    if ports and ports[0].get("containerPort"):
        return int(ports[0]["containerPort"])
    return DEFAULT_CONTAINER_PORT
