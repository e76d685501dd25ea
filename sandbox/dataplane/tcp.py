"""A TCP listener on the event loop that knows every connection it accepted, TCP resets, and
splicing two connections together.

Why not ``asyncio.start_server``: on Python 3.11, a connection the loop has accepted but not
yet wrapped in a transport when ``Server.close()`` runs is neither served nor closed (its
socket lingers until the garbage collector finds it), so a stopped pod or NLB could leave a
client hanging. Here the accept callback hands each socket to a tracked task in the same step,
and ``close`` closes the listening socket (the kernel resets the backlog), cancels every task
and closes any socket not yet adopted by its task: nothing outlives ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
STREAM_LIMIT = 65536
_RECANCEL_AFTER = 0.2


class TcpListener:
    """Accepts connections on ``ip:port`` and runs ``handler(reader, writer)`` for each."""

    def __init__(
        self, sock: socket.socket, handler: Handler, *, backlog: int, limit: int = STREAM_LIMIT
    ) -> None:
        self._sock = sock
        self._handler = handler
        self._backlog = backlog
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unadopted: set[socket.socket] = set()
        self._closed = False
        self.accepted = 0
        self._loop.add_reader(sock.fileno(), self._accept)

    @classmethod
    async def open(
        cls, ip: str, port: int, handler: Handler, *, backlog: int = 511, limit: int = STREAM_LIMIT
    ) -> TcpListener:
        """Bind and listen (raises OSError when the address is taken); call on the loop."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((ip, port))
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return cls(sock, handler, backlog=backlog, limit=limit)

    @property
    def address(self) -> tuple[str, int]:
        """The bound address."""
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def open_connections(self) -> int:
        """Connections accepted and not finished yet."""
        return len(self._tasks)

    def _accept(self) -> None:
        for _ in range(self._backlog):
            try:
                conn, _peer = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno not in (errno.ECONNABORTED, errno.EPROTO):
                    log.warning("accept() on %s failed: %s", self.address, exc)
                return
            conn.setblocking(False)
            self.accepted += 1
            self._unadopted.add(conn)
            task = self._loop.create_task(self._serve(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn, limit=self._limit)
        except BaseException:
            conn.close()
            raise
        finally:
            self._unadopted.discard(conn)
        try:
            await self._handler(reader, writer)
        except BaseException:
            writer.transport.abort()
            raise
        if not writer.transport.is_closing():
            writer.close()

    async def close(self) -> None:
        """Stop listening, end every connection and wait until all are gone (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        # Cancel until every task is gone: a cancellation can be lost when it races with the
        # completion of what the task awaited, so cancel again whatever is still running.
        while self._tasks:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.wait(list(self._tasks), timeout=_RECANCEL_AFTER)
        for conn in list(self._unadopted):
            conn.close()
        self._unadopted.clear()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a TCP RST (linger 0), as a refused or broken connection ends."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy ``src`` to ``dst`` until EOF, then pass the half-close on."""
    while data := await src.read(STREAM_LIMIT):
        dst.write(data)
        await dst.drain()
    if dst.can_write_eof() and not dst.transport.is_closing():
        dst.write_eof()


async def splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes both ways until both halves closed; a reset on one side resets the other."""
    inbound = asyncio.create_task(_pipe(client_reader, up_writer))
    outbound = asyncio.create_task(_pipe(up_reader, client_writer))
    try:
        done, _ = await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_EXCEPTION)
        if any(task.exception() is not None for task in done if not task.cancelled()):
            reset(client_writer)
            reset(up_writer)
            return
        client_writer.close()
        up_writer.close()
    finally:
        for task in (inbound, outbound):
            if not task.done():
                task.cancel()
        await asyncio.gather(inbound, outbound, return_exceptions=True)
        if not up_writer.transport.is_closing():
            reset(up_writer)
