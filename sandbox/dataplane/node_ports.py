"""kube-proxy's answers on each node's own address: what the NLB's health checks reach.

For a ``Local`` Service kube-proxy serves ``spec.healthCheckNodePort`` on every node: ``GET
/healthz`` answers 200 with the count of ready endpoints on that node, 503 when there is none.
For a TCP check on the traffic port, the node port accepts connections while kube-proxy has
somewhere to send them. The twin's NLB forwards straight to the pods (``nlb``), so here a node
port only completes the handshake and closes. A node whose instance is not running answers
nothing: its addresses have no listener at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sandbox.dataplane.loop import LoopThread
from sandbox.dataplane.tcp import Handler, TcpListener

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True)
class ServiceHealth:
    """One ``Local`` Service's health-check node port and its ready endpoints on one node."""

    port: int
    namespace: str
    name: str
    local_endpoints: int


@dataclass(frozen=True)
class NodePorts:
    """What kube-proxy on one node answers: health-check node ports and open traffic ports."""

    node: str
    ip: str
    health_checks: tuple[ServiceHealth, ...] = ()
    traffic_ports: tuple[int, ...] = ()


class NodePortServers:
    """Every node's health-check and node-port listeners, on one event-loop thread."""

    def __init__(self, *, loop: LoopThread | None = None) -> None:
        self._own_loop = loop is None
        self._loop = loop or LoopThread("dataplane-node-ports")
        self._listeners: dict[tuple[str, int], TcpListener] = {}
        self._health: dict[tuple[str, int], ServiceHealth] = {}
        self._applied: tuple[NodePorts, ...] | None = None

    def apply(self, nodes: Iterable[NodePorts]) -> None:
        """Listen exactly where ``nodes`` say (nodes left out answer nothing)."""
        plans = tuple(nodes)
        if plans == self._applied:
            return
        self._loop.run(self._apply(plans))
        self._applied = plans

    def listening(self) -> list[tuple[str, int]]:
        """Return the ``(ip, port)`` of every open listener."""
        return sorted(self._listeners)

    def stop(self) -> None:
        """Close every listener, then the loop thread (when owned)."""
        if self._loop.running:
            self._loop.run(self._close_all())
        self._applied = None
        if self._own_loop:
            self._loop.stop()

    async def _apply(self, plans: tuple[NodePorts, ...]) -> None:
        health = {(n.ip, h.port): h for n in plans for h in n.health_checks}
        traffic = {(n.ip, port) for n in plans for port in n.traffic_ports}
        self._health = health
        wanted: dict[tuple[str, int], Handler] = {key: self._healthz(key) for key in health}
        wanted.update({key: _handshake_only for key in traffic - health.keys()})
        for key in [k for k in self._listeners if k not in wanted]:
            await self._listeners.pop(key).close()
        for key, handler in wanted.items():
            if key in self._listeners:
                continue
            try:
                self._listeners[key] = await TcpListener.open(key[0], key[1], handler)
            except OSError as exc:
                log.error("node port %s:%s cannot listen: %s", key[0], key[1], exc)

    async def _close_all(self) -> None:
        for key in list(self._listeners):
            await self._listeners.pop(key).close()

    def _healthz(self, key: tuple[str, int]) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                async with asyncio.timeout(_REQUEST_TIMEOUT):
                    await reader.readuntil(b"\r\n\r\n")
                service = self._health.get(key)
                writer.write(healthz_response(service))
                await writer.drain()
            writer.close()

        return handle


async def _handshake_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def healthz_response(service: ServiceHealth | None) -> bytes:
    """Return kube-proxy's answer to ``GET /healthz`` on a health-check node port."""
    count = service.local_endpoints if service is not None else 0
    body = json.dumps(
        {
            "service": {
                "namespace": service.namespace if service else "",
                "name": service.name if service else "",
            },
            "localEndpoints": count,
            "serviceProxyHealthy": True,
        }
    ).encode()
    status = "200 OK" if count > 0 else "503 Service Unavailable"
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"X-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: {count}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
