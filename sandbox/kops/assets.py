"""A loopback stand-in for kops's asset site, for ``KOPS_BASE_URL``.

Real kops, applying a cluster, reads the SHA-256 of every file its nodes will download (nodeup,
protokube, channels and the kops images, per architecture) from its base URL, which is
artifacts.k8s.io unless ``KOPS_BASE_URL`` says otherwise. The twin's instances never download
them, so any bytes do: every path answers a small deterministic file, and ``<path>.sha256`` /
``<path>.sha256sum`` answer its digest the way the real site does (hex, and ``hex  name``).
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

_DIGEST_SUFFIXES = (".sha256sum", ".sha256")


def asset_bytes(path: str) -> bytes:
    """Return the twin's content of the asset at ``path`` (the same for every run)."""
    return f"kops-nlb-flows twin asset {path}\n".encode()


def asset_response(path: str) -> bytes:
    """Return what the asset site answers for ``path``: the file, or the digest of one."""
    for suffix in _DIGEST_SUFFIXES:
        if path.endswith(suffix):
            target = path.removesuffix(suffix)
            digest = hashlib.sha256(asset_bytes(target)).hexdigest()
            if suffix == ".sha256sum":
                return f"{digest}  {target.rsplit('/', 1)[-1]}\n".encode()
            return f"{digest}\n".encode()
    return asset_bytes(path)


class _Handler(BaseHTTPRequestHandler):
    def _answer(self, *, body: bool) -> None:
        payload = asset_response(self.path.split("?", 1)[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: kops asks for dozens of files."""


class AssetServer:
    """The asset site on a loopback port; ``url`` is the value for ``KOPS_BASE_URL``."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL (with a trailing slash, as kops joins paths onto it)."""
        if self._server is None:
            raise RuntimeError("AssetServer is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread (port 0: any free port) and return the URL."""
        if self._server is None:
            self._server = ThreadingHTTPServer((host, port), _Handler)
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="kops-assets", daemon=True
            )
            self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
