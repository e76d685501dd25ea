"""What the emulated kops needs from the Kubernetes API: a tiny HTTPS client.

Like real ``kops validate cluster``, it builds its own admin client from the cluster CA in the
state store: a client certificate issued on the spot, the CA as the only trust, and the
cluster's internal API name (``api.internal.<cluster>``) as the TLS server name.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
RETRIES = 5
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class KubeApiError(Exception):
    """The Kubernetes API answered with an error status or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _path(resource: str, name: str | None, namespace: str | None, subresource: str | None) -> str:
    """Return the URL path of ``v1/nodes`` or ``apps/v1/deployments`` (optionally one object)."""
    parts = resource.split("/")
    group_version, plural = "/".join(parts[:-1]), parts[-1]
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        path += f"/{urllib.parse.quote(name, safe='')}"
    if subresource:
        path += f"/{subresource}"
    return path


class _NamedTlsConnection(http.client.HTTPSConnection):
    """An HTTPS connection that sends ``server_name`` as SNI and checks the certificate for it."""

    def __init__(self, host: str, *, server_name: str, context: ssl.SSLContext, timeout: float):
        super().__init__(host, timeout=timeout, context=context)
        self._server_name = server_name
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self._server_name)


class _NamedTlsHandler(urllib.request.HTTPSHandler):
    def __init__(self, server_name: str, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._server_name, self._tls = server_name, context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, timeout: float = 10.0, **_: Any) -> http.client.HTTPSConnection:
            return _NamedTlsConnection(
                host, server_name=self._server_name, context=self._tls, timeout=timeout
            )

        return self.do_open(connection, req)


class HttpKube:
    """A Kubernetes API reached over HTTPS with a client certificate (``context``)."""

    def __init__(
        self, base_url: str, *, context: ssl.SSLContext, server_name: str, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NamedTlsHandler(server_name, context))

    def _request(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        """Send one request; like client-go, answers 429/5xx are tried again a few times."""
        for attempt in range(RETRIES):
            try:
                return self._send(method, path, body, content_type)
            except KubeApiError as exc:
                if exc.status not in RETRIED_STATUSES or attempt == RETRIES - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, body: Any, content_type: str) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type or "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            raise KubeApiError(f"{method} {path}: {exc.code} {detail}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KubeApiError(f'{method} "{self.base_url}{path}": {reason}') from exc
        return json.loads(payload) if payload else None

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Return every object of a resource (in one namespace, or all)."""
        path = _path(resource, None, namespace, None)
        if label_selector:
            path += "?" + urllib.parse.urlencode({"labelSelector": label_selector})
        result = self._request("GET", path) or {}
        return list(result.get("items") or [])

    def create(
        self, resource: str, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Create an object and return it as stored."""
        result: dict[str, Any] = self._request("POST", _path(resource, None, namespace, None), body)
        return result

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch an object (or its subresource) and return it."""
        result: dict[str, Any] = self._request(
            "PATCH",
            _path(resource, name, namespace, subresource),
            patch,
            content_type="application/merge-patch+json",
        )
        return result

    def delete(self, resource: str, name: str, namespace: str | None = None) -> None:
        """Delete an object; an absent one is not an error."""
        try:
            self._request("DELETE", _path(resource, name, namespace, None))
        except KubeApiError as exc:
            if exc.status != 404:
                raise


def is_ready(node: dict[str, Any]) -> bool:
    """Whether a Node's Ready condition is True."""
    return node_ready_status(node) == "True"


def node_ready_status(node: dict[str, Any]) -> str:
    """Return the status of a Node's Ready condition ("True", "False" or "Unknown")."""
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status") or "Unknown")
    return "Unknown"


def instance_id_of(node: dict[str, Any]) -> str | None:
    """Return the EC2 instance id in a Node's providerID, else None."""
    provider = (node.get("spec") or {}).get("providerID") or ""
    last = provider.rstrip("/").rsplit("/", 1)[-1]
    return last if last.startswith("i-") else None
