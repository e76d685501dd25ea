"""The way in to the clusters' private API load balancers: an HTTPS proxy (``HTTP CONNECT``).

A cluster with private topology has an internal API load balancer, whose AWS DNS name only the
VPC's DNS resolves; an operator reaches it through a VPN or a proxy in the VPC. This proxy is
that way in. Clients find it the standard way (``HTTPS_PROXY``, which kops, kubectl and the
official Kubernetes clients all honour), ask for ``<load balancer DNS name>:443``, and get a
tunnel to wherever ``route`` says that name leads (the twin's API front proxy). Every other
destination is refused with ``502``, so nothing a client sends through it leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sandbox.dataplane.loop import LoopThread
from sandbox.dataplane.tcp import TcpListener, reset, splice

log = logging.getLogger(__name__)

Route = Callable[[str, int], "tuple[str, int] | None"]
"""``(host, port)`` asked for -> the loopback address to tunnel to, or ``None`` to refuse."""

_MAX_REQUEST_BYTES = 16 * 1024
_CONNECT_TIMEOUT_S = 10.0


def parse_connect(request: bytes) -> tuple[str, int] | None:
    """Return ``(host, port)`` of a ``CONNECT host:port HTTP/1.x`` request head, else ``None``."""
    line = request.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/1."):
        return None
    host, sep, port = parts[1].rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.lower(), int(port)


def _status(code: int, reason: str, detail: str = "") -> bytes:
    body = f"{detail}\n".encode() if detail else b""
    head = f"HTTP/1.1 {code} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


class VpcProxy:
    """Listens on ``127.0.0.1``; ``start`` returns the URL clients put in ``HTTPS_PROXY``."""

    def __init__(self, route: Route) -> None:
        self._route = route
        self._loop = LoopThread("vpc-proxy")
        self._listener: TcpListener | None = None
        self.tunnels = 0  # tunnels opened
        self.refused = 0  # requests refused

    @property
    def url(self) -> str:
        """The proxy's URL (``http://127.0.0.1:PORT``)."""
        if self._listener is None:
            raise RuntimeError("the VPC proxy is not started")
        host, port = self._listener.address
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> str:
        """Listen on ``port`` (0: a free one); return the URL."""
        self._loop.run(self._open(port))
        return self.url

    def stop(self) -> None:
        """Close the port and every tunnel."""
        if self._loop.running:
            self._loop.run(self._close())
            self._loop.stop()
        self._listener = None

    async def _open(self, port: int) -> None:
        self._listener = await TcpListener.open("127.0.0.1", port, self._serve)

    async def _close(self) -> None:
        if self._listener is not None:
            await self._listener.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            reset(writer)
            return
        if len(head) > _MAX_REQUEST_BYTES or (asked := parse_connect(head)) is None:
            await self._answer(writer, _status(405, "Method Not Allowed", "only CONNECT is served"))
            return
        loop = asyncio.get_running_loop()
        try:
            target = await loop.run_in_executor(None, self._route, *asked)
        except Exception as exc:  # noqa: BLE001 - any failed lookup: the client may ask again
            log.warning("VPC proxy: looking up %s:%d failed: %s", *asked, exc)
            await self._answer(writer, _status(503, "Service Unavailable", "lookup failed"))
            return
        if target is None:
            await self._answer(
                writer, _status(502, "Bad Gateway", f"{asked[0]}:{asked[1]} is not reachable")
            )
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*target), _CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            await self._answer(writer, _status(502, "Bad Gateway", "the endpoint did not answer"))
            return
        self.tunnels += 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await splice(reader, writer, up_reader, up_writer)

    async def _answer(self, writer: asyncio.StreamWriter, response: bytes) -> None:
        self.refused += 1
        with contextlib.suppress(ConnectionError):
            writer.write(response)
            await writer.drain()
        writer.close()
