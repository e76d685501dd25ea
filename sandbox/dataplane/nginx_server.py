"""One nginx container's HTTP behaviour: serve connections like the image's default site.

``NginxSite`` reads requests from a stream, answers them with what ``nginx_site`` decides and
writes the access-log line (``main`` format, ``$remote_addr`` from the connection's peer) and,
like the image's stderr, the error-log lines into the pod's ``PodLog``. It follows nginx's
connection rules: keep-alive for HTTP/1.1 unless ``Connection: close`` (HTTP/1.0 only when
asked), 65 s idle timeout, the body of a static request read and dropped, ``Expect:
100-continue`` answered, and the connection closed after a 400/408/414/501/505.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from dataclasses import dataclass, field

from sandbox.dataplane import nginx_site
from sandbox.dataplane.nginx_log import AccessRecord, format_error, format_main, printable
from sandbox.dataplane.nginx_site import HttpError, RequestLine
from sandbox.dataplane.pod_log import PodLog

KEEPALIVE_TIMEOUT = 65.0  # the image's nginx.conf
HEADER_TIMEOUT = 60.0  # client_header_timeout / client_body_timeout defaults
KEEPALIVE_REQUESTS = 1000
WORKER_PID = 29
_SKIP_CHUNK = 65536


class _ClientGone(Exception):
    """The client closed or stalled mid-request: log ``status`` and close without answering."""

    def __init__(self, status: int, partial: bytes | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.partial = partial


@dataclass
class _Request:
    line: RequestLine | None = None
    raw_line: bytes | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        values = [v for k, v in self.headers if k == name]
        return b", ".join(values) if values else None

    def count(self, name: bytes) -> int:
        return sum(1 for k, _ in self.headers if k == name)


class NginxSite:
    """Serves HTTP connections like the nginx image's default site and writes its pod log."""

    def __init__(
        self,
        *,
        log: PodLog,
        server_version: str = nginx_site.SERVER_VERSION,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
        header_timeout: float = HEADER_TIMEOUT,
        keepalive_requests: int = KEEPALIVE_REQUESTS,
        error_log: bool = True,
    ) -> None:
        self.log = log
        self.server_version = server_version
        self.keepalive_timeout = keepalive_timeout
        self.header_timeout = header_timeout
        self.keepalive_requests = keepalive_requests
        self.error_log = error_log
        self.connections = 0
        self.requests = 0

    def startup(self) -> None:
        """Write what the image prints on start (entrypoint and master process notices)."""
        if not self.error_log:
            return
        now = time.time_ns()
        self.log.append("/docker-entrypoint.sh: Configuration complete; ready for start up", now)
        for message in (
            self.server_version,
            "start worker processes",
            f"start worker process {WORKER_PID}",
        ):
            self.log.append(format_error(epoch_ns=now, level="notice", message=message, pid=1))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection until either side closes it."""
        self.connections += 1
        connection = self.connections
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        remote = peer[0] if peer else "-"
        host = local[0] if local else "localhost"
        served = 0
        try:
            while await self._one(
                reader, writer, remote=remote, host=host, connection=connection, served=served
            ):
                served += 1
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _one(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        remote: str,
        host: str,
        connection: int,
        served: int,
    ) -> bool:
        """Serve one request; return whether the connection stays open for another."""
        request = _Request()
        try:
            first = await self._request_line(reader, idle=served > 0)
            if first is None:
                return False
            request.raw_line = first
            request.line = nginx_site.parse_request_line(first)
            if request.line.version == (0, 9):
                return await self._respond_http09(writer, request, remote)
            await self._headers(reader, request)
            body_kind = _check_headers(request)
            path = nginx_site.target_path(request.line.target)
            resolution = nginx_site.resolve(request.line.method, path)
            await self._discard_body(reader, writer, request, body_kind)
        except _ClientGone as gone:
            if request.raw_line is None:
                request.raw_line = gone.partial
            self._access(remote, request, gone.status, 0)
            return False
        except HttpError as refused:
            await self._send(writer, request, remote, refused.status, None, keep_alive=False)
            return False
        if resolution.error_log and self.error_log:
            self._error(resolution.error_log, request, remote=remote, host=host, conn=connection)
        keep_alive = _wants_keep_alive(request) and served + 1 < self.keepalive_requests
        keep_alive = keep_alive and resolution.status not in nginx_site.CLOSING_STATUSES
        await self._send(
            writer, request, remote, resolution.status, resolution.file, keep_alive=keep_alive
        )
        return keep_alive

    async def _request_line(self, reader: asyncio.StreamReader, *, idle: bool) -> bytes | None:
        """Return the request line without CRLF, or None when the client left without one."""
        timeout = self.keepalive_timeout if idle else self.header_timeout
        while True:
            try:
                line = await _read_line(reader, timeout)
            except asyncio.IncompleteReadError as eof:
                partial = eof.partial.strip(b"\r\n")
                if partial:
                    raise _ClientGone(400, partial[: nginx_site.MAX_REQUEST_LINE]) from None
                return None
            except TimeoutError:
                return None
            except asyncio.LimitOverrunError:
                raise HttpError(414, "client sent too long URI") from None
            raw = line.rstrip(b"\n").rstrip(b"\r")
            if len(raw) > nginx_site.MAX_REQUEST_LINE:
                raise HttpError(414, "client sent too long URI")
            if raw:
                return raw
            timeout = self.header_timeout

    async def _headers(self, reader: asyncio.StreamReader, request: _Request) -> None:
        total = 0
        while True:
            try:
                line = await _read_line(reader, self.header_timeout)
            except asyncio.IncompleteReadError:
                raise _ClientGone(400) from None
            except TimeoutError:
                raise _ClientGone(408) from None
            except asyncio.LimitOverrunError:
                raise HttpError(400, "client sent too large request") from None
            total += len(line)
            raw = line.rstrip(b"\n").rstrip(b"\r")
            if not raw:
                return
            if len(raw) > nginx_site.MAX_HEADER_LINE or total > nginx_site.MAX_HEADERS_TOTAL:
                raise HttpError(400, "client sent too large request")
            if b"\x00" in raw or b":" not in raw:
                raise HttpError(400, "client sent invalid header line")
            name, _, value = raw.partition(b":")
            if not name or not all(_token_byte(b) for b in name):
                continue  # ignore_invalid_headers on: such lines are skipped
            request.headers.append((name.lower(), value.strip(b" \t")))

    async def _discard_body(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: _Request,
        body_kind: int | str | None,
    ) -> None:
        """Read and drop the request body, as nginx does before answering a static request."""
        if body_kind is None or body_kind == 0:
            return
        assert request.line is not None
        expect = request.header(b"expect")
        if expect and expect.lower() == b"100-continue" and request.line.version == (1, 1):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        try:
            if isinstance(body_kind, int):
                await self._skip(reader, body_kind)
            else:
                await self._skip_chunked(reader)
        except asyncio.IncompleteReadError:
            raise _ClientGone(400) from None
        except TimeoutError:
            raise _ClientGone(408) from None

    async def _skip(self, reader: asyncio.StreamReader, count: int) -> None:
        while count > 0:
            async with asyncio.timeout(self.header_timeout):
                chunk = await reader.readexactly(min(count, _SKIP_CHUNK))
            count -= len(chunk)

    async def _skip_chunked(self, reader: asyncio.StreamReader) -> None:
        while True:
            size_line = await _read_line(reader, self.header_timeout)
            size_text = size_line.split(b";", 1)[0].strip()
            if not size_text or any(b not in b"0123456789abcdefABCDEF" for b in size_text):
                raise HttpError(400, "client sent invalid chunked body")
            size = int(size_text, 16)
            if size == 0:
                while (await _read_line(reader, self.header_timeout)).strip():
                    pass  # trailer fields
                return
            await self._skip(reader, size)
            end = await _read_line(reader, self.header_timeout)
            if end.strip(b"\r\n"):
                raise HttpError(400, "client sent invalid chunked body")

    async def _respond_http09(
        self, writer: asyncio.StreamWriter, request: _Request, remote: str
    ) -> bool:
        """Answer a version-less GET with the bare body, then close (HTTP/0.9)."""
        assert request.line is not None
        try:
            path = nginx_site.target_path(request.line.target)
        except HttpError as refused:
            body = nginx_site.error_page(refused.status, self.server_version)
            status = refused.status
        else:
            resolution = nginx_site.resolve(b"GET", path)
            status = resolution.status
            if resolution.file is not None:
                body = resolution.file.body
            else:
                body = nginx_site.error_page(status, self.server_version)
        self._access(remote, request, status, len(body))
        writer.write(body)
        await writer.drain()
        return False

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        request: _Request,
        remote: str,
        status: int,
        file: nginx_site.StaticFile | None,
        *,
        keep_alive: bool,
    ) -> None:
        body = file.body if file is not None else nginx_site.error_page(status, self.server_version)
        head = nginx_site.response_head(
            status=status,
            content_length=len(body),
            keep_alive=keep_alive,
            now=time.time(),
            file=file,
            server=self.server_version,
        )
        is_head = request.line is not None and request.line.method == b"HEAD"
        # Logged as the response goes out, so a client holding the response finds its line.
        self._access(remote, request, status, 0 if is_head else len(body))
        writer.write(head if is_head else head + body)
        await writer.drain()

    def _access(self, remote: str, request: _Request, status: int, sent: int) -> None:
        self.requests += 1
        stamp = time.time_ns()
        record = AccessRecord(
            remote_addr=remote,
            epoch_ns=stamp,
            request=request.raw_line,
            status=status,
            body_bytes_sent=sent,
            remote_user=_basic_user(request.header(b"authorization")),
            referer=request.header(b"referer"),
            user_agent=request.header(b"user-agent"),
            forwarded_for=request.header(b"x-forwarded-for"),
        )
        self.log.append(format_main(record), stamp)

    def _error(self, message: str, request: _Request, *, remote: str, host: str, conn: int) -> None:
        header_host = request.header(b"host")
        context = f', client: {remote}, server: localhost, request: "{printable(request.raw_line or b"")}"'
        if header_host is not None:
            context += f', host: "{printable(header_host)}"'
        else:
            context += f', host: "{host}"'
        self.log.append(
            format_error(
                epoch_ns=time.time_ns(),
                level="error",
                message=message + context,
                pid=WORKER_PID,
                connection=conn,
            )
        )


async def _read_line(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Return the next line including its LF (``asyncio.timeout``: cancellation stays intact)."""
    async with asyncio.timeout(timeout):
        return await reader.readuntil(b"\n")


def _token_byte(byte: int) -> bool:
    return (
        (0x30 <= byte <= 0x39) or (0x41 <= byte <= 0x5A) or (0x61 <= byte <= 0x7A) or byte == 0x2D
    )


def _check_headers(request: _Request) -> int | str | None:
    """Validate the framing headers; return the body's length, ``"chunked"`` or None."""
    assert request.line is not None
    if request.count(b"host") > 1:
        raise HttpError(400, "client sent duplicate host header")
    if request.line.version >= (1, 1) and request.count(b"host") == 0:
        raise HttpError(400, 'client sent HTTP/1.1 request without "Host" header')
    length = request.header(b"content-length")
    coding = request.header(b"transfer-encoding")
    if request.count(b"content-length") > 1:
        raise HttpError(400, "client sent duplicate header line")
    if coding is not None:
        if length is not None:
            raise HttpError(400, 'client sent "Content-Length" and "Transfer-Encoding"')
        if request.line.version < (1, 1):
            raise HttpError(400, 'client sent HTTP/1.0 request with "Transfer-Encoding"')
        if coding.strip().lower() != b"chunked":
            raise HttpError(501, 'client sent unknown "Transfer-Encoding"')
        return "chunked"
    if length is not None:
        if not length.isdigit():
            raise HttpError(400, 'client sent invalid "Content-Length" header')
        return int(length)
    return None


def _wants_keep_alive(request: _Request) -> bool:
    assert request.line is not None
    tokens = {
        token.strip().lower()
        for name, value in request.headers
        if name == b"connection"
        for token in value.split(b",")
    }
    if request.line.version >= (1, 1):
        return b"close" not in tokens
    return b"keep-alive" in tokens


def _basic_user(authorization: bytes | None) -> bytes | None:
    """Return ``$remote_user``: the user of a Basic Authorization header, else None."""
    if authorization is None:
        return None
    scheme, _, encoded = authorization.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, _ = decoded.partition(b":")
    return user if colon else None
