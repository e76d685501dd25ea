"""The endpoint clients dial for the API: a TLS front proxy that can inject faults.

It stands where the cluster's API load balancer stands. It terminates TLS with the cluster's own
serving certificate (chosen by the SNI name ``api.internal.<cluster>``, so several clusters can
share one port), authenticates the client certificate against that cluster's CA, and forwards
the request to the real kube-apiserver as an authenticating proxy does: with the front-proxy
client certificate and the user in ``X-Remote-User`` / ``X-Remote-Group`` (the apiserver's
request-header authentication). Responses, watch streams included, are passed through as they
come. A seeded fraction of API requests (``fault_5xx_rate``) is answered with the apiserver's
own ``503 ServiceUnavailable`` Status instead, for the product's retries to meet.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp.web

from sandbox.controlplane.boot import ControlPlane
from sandbox.dataplane.loop import LoopThread

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"}
)


def status_body(code: int, reason: str, message: str) -> bytes:
    """Return a ``v1 Status`` as the apiserver writes one."""
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return json.dumps({**status, "message": message, "reason": reason, "code": code}).encode()


@dataclass
class _Backend:
    server_name: str
    url: str
    tls: ssl.SSLContext  # what the proxy presents to clients of this cluster
    session: aiohttp.ClientSession


class FrontProxy:
    """One TLS port for every cluster's API; ``add``/``remove`` as control planes come and go."""

    def __init__(self, *, fault_5xx_rate: float = 0.0, seed: int = 0) -> None:
        self.fault_5xx_rate = fault_5xx_rate
        self.faults_injected = 0
        self.call_counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._rng = random.Random(seed)
        self._loop = LoopThread("kube-front-proxy")
        self._backends: dict[str, _Backend] = {}
        self._latest: str | None = None
        self._lock = threading.Lock()
        self._runner: aiohttp.web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        """The TLS port's address."""
        return "127.0.0.1", self.port

    def serves(self, cluster: str) -> bool:
        """Whether a control plane of ``cluster`` is behind the proxy."""
        with self._lock:
            return f"api.internal.{cluster}" in self._backends

    def start(self, port: int = 0) -> str:
        """Listen on ``port`` (0: a free one); return the URL."""
        self._loop.run(self._start(port))
        return self.url

    def add(self, control_plane: ControlPlane) -> None:
        """Route ``api.internal.<cluster>`` (and clients that send no name) to this control plane."""
        self._loop.run(self._add(control_plane))

    def remove(self, cluster: str) -> None:
        """Stop routing to a cluster's control plane."""
        self._loop.run(self._remove(f"api.internal.{cluster}"))

    def stop(self) -> None:
        """Close the port and every backend connection."""
        if self._loop.running:
            self._loop.run(self._stop())
            self._loop.stop()

    # -- on the loop ---------------------------------------------------------------------------
    async def _start(self, port: int) -> None:
        default = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        default.verify_mode = ssl.CERT_OPTIONAL
        default.sni_callback = self._choose_certificate
        app = aiohttp.web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = aiohttp.web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=default)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _add(self, control_plane: ControlPlane) -> None:
        files = control_plane.files
        assert files is not None
        serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files.ca.cert))
        serving.verify_mode = ssl.CERT_OPTIONAL
        serving.load_cert_chain(str(files.serving.cert), str(files.serving.key))
        upstream = ssl.create_default_context(cafile=str(files.ca.cert))
        upstream.check_hostname = False
        upstream.load_cert_chain(
            str(files.front_proxy_client.cert), str(files.front_proxy_client.key)
        )
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=upstream, limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )
        name = f"api.internal.{control_plane.cluster}"
        await self._remove(name)
        with self._lock:
            self._backends[name] = _Backend(name, control_plane.url, serving, session)
            self._latest = name

    async def _remove(self, name: str) -> None:
        with self._lock:
            backend = self._backends.pop(name, None)
            if self._latest == name:
                self._latest = next(iter(self._backends), None)
        if backend is not None:
            await backend.session.close()

    async def _stop(self) -> None:
        for name in list(self._backends):
            await self._remove(name)
        if self._runner is not None:
            await self._runner.cleanup()

    def _choose_certificate(self, sock: Any, server_name: str | None, _ctx: Any) -> None:
        backend = self._backend(server_name)
        if backend is not None:
            sock.context = backend.tls
            # A server-side SSL object keeps no record of the name the client asked for; the
            # request handler routes by this one, or every request would reach the latest cluster.
            sock.routed_server_name = backend.server_name

    def _backend(self, server_name: str | None) -> _Backend | None:
        with self._lock:
            name = server_name if server_name in self._backends else self._latest
            return self._backends.get(name) if name else None

    async def _handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        self.call_counts[(request.method, resource_key(request.path))] += 1
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        backend = self._backend(getattr(ssl_object, "routed_server_name", None))
        if backend is None:
            return _status(503, "ServiceUnavailable", "no API server is running")
        peer = ssl_object.getpeercert() if ssl_object else None
        if not peer:
            return _status(401, "Unauthorized", "Unauthorized")
        is_api = request.path.startswith(("/api/", "/apis/"))
        if is_api and self.fault_5xx_rate and self._rng.random() < self.fault_5xx_rate:
            self.faults_injected += 1
            return _status(
                503, "ServiceUnavailable", "the server is currently unable to handle the request"
            )
        return await self._forward(request, backend, peer)

    async def _forward(
        self, request: aiohttp.web.Request, backend: _Backend, peer: dict[str, Any]
    ) -> aiohttp.web.StreamResponse:
        headers = [
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP
            and not k.lower().startswith(("x-remote-", "impersonate"))
        ]
        user, groups = _identity(peer)
        headers.append(("X-Remote-User", user))
        headers += [("X-Remote-Group", group) for group in groups]
        body = await request.read()
        try:
            upstream = await backend.session.request(
                request.method,
                backend.url + request.path_qs,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                skip_auto_headers={"Content-Type"},  # no type is JSON to the apiserver
            )
        except (aiohttp.ClientError, OSError) as exc:
            return _status(503, "ServiceUnavailable", f"error trying to reach the API: {exc}")
        async with upstream:
            response = aiohttp.web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, ConnectionResetError, asyncio.CancelledError):
                return response  # the apiserver or the client hung up mid-stream
            await response.write_eof()
        return response


def resource_key(path: str) -> str:
    """Return what a request touches, for counting: ``v1/pods``, ``apps/v1/deployments``,
    ``v1/services/status``, ``v1/pods/log``; other paths (discovery, /version) as they are."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) > 2:
        group_version, rest = parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return path
    if rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]  # a namespaced resource; the namespace's name is not counted
    key = f"{group_version}/{rest[0]}"
    return f"{key}/{rest[2]}" if len(rest) > 2 else key


def _identity(peer: dict[str, Any]) -> tuple[str, list[str]]:
    """Return the user (CN) and groups (O) of a verified client certificate."""
    user, groups = "", []
    for rdn in peer.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    return user, groups


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.Response(
        status=code, body=status_body(code, reason, message), content_type="application/json"
    )
