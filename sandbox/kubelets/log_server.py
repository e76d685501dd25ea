"""The kubelets' HTTPS port: ``/containerLogs/<namespace>/<pod>/<container>`` on each node address.

The apiserver serves ``pods/log`` by calling the kubelet of the pod's node on its InternalIP,
port 10250, with its kubelet client certificate; the answer is the container's log, filtered by
the same query the client sent (``tailLines``, ``sinceSeconds``/``sinceTime``, ``timestamps``,
``limitBytes``). Here the log is what the pod's real nginx wrote (``PodServers.logs``), or for
a curl pod what curl printed (``ProbeContainers.logs``).
"""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp.web

from sandbox.dataplane.loop import LoopThread
from sandbox.dataplane.pods import PodServers
from sandbox.kops.pki import Keypair, issue
from sandbox.kubelets.node_objects import KUBELET_PORT
from sandbox.kubelets.probe_containers import ProbeContainers


class KubeletLogServer:
    """One HTTPS site per node address, all on one event loop."""

    def __init__(
        self,
        pods: PodServers,
        *,
        ca: Keypair,
        workdir: Path,
        probes: ProbeContainers | None = None,
    ) -> None:
        self._pods = pods
        self._probes = probes
        self._ca = ca
        self._workdir = workdir
        self._loop = LoopThread("kubelet-https")
        self._runner: aiohttp.web.AppRunner | None = None
        self._sites: dict[str, aiohttp.web.TCPSite] = {}

    def serve(self, node_ip: str) -> None:
        """Listen on ``node_ip:10250`` (no-op when it already does)."""
        if node_ip not in self._sites:
            self._loop.run(self._serve(node_ip))

    def forget(self, node_ip: str) -> None:
        """Stop listening on a node address."""
        if node_ip in self._sites:
            self._loop.run(self._sites.pop(node_ip).stop())

    def stop(self) -> None:
        """Close every site."""
        if self._loop.running:
            self._loop.run(self._stop())
            self._loop.stop()

    async def _serve(self, node_ip: str) -> None:
        if self._runner is None:
            app = aiohttp.web.Application()
            app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
            self._runner = aiohttp.web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
        site = aiohttp.web.TCPSite(
            self._runner, node_ip, KUBELET_PORT, ssl_context=self._tls(node_ip)
        )
        await site.start()
        self._sites[node_ip] = site

    def _tls(self, node_ip: str) -> ssl.SSLContext:
        serving = issue(self._ca, node_ip, client=False, server=True, ip_addresses=[node_ip])
        self._workdir.mkdir(parents=True, exist_ok=True)
        cert, key = (
            self._workdir / f"kubelet-{node_ip}.crt",
            self._workdir / f"kubelet-{node_ip}.key",
        )
        cert.write_text(serving.cert_pem)
        key.touch(mode=0o600)
        key.write_text(serving.key_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        context.load_verify_locations(cadata=self._ca.cert_pem)
        context.verify_mode = ssl.CERT_REQUIRED  # only the apiserver's kubelet client may read
        return context

    async def _stop(self) -> None:
        for site in self._sites.values():
            await site.stop()
        self._sites.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _logs(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        query = request.query
        since: datetime | None = None
        if query.get("sinceTime"):
            since = datetime.fromisoformat(query["sinceTime"])
        elif query.get("sinceSeconds"):
            since = datetime.fromtimestamp(time.time() - int(query["sinceSeconds"]), UTC)
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        runtime: PodServers | ProbeContainers = self._pods
        if self._probes is not None and self._probes.has(namespace=namespace, name=pod):
            runtime = self._probes
        text = runtime.logs(
            namespace=namespace,
            name=pod,
            since=since,
            tail_lines=tail,
            timestamps=query.get("timestamps") == "true",
        )
        body = text.encode()
        if query.get("limitBytes"):
            body = body[: int(query["limitBytes"])]
        return aiohttp.web.Response(body=body, content_type="text/plain")
