"""Helpers shared by the data-path tests: pod dicts and real clients (curl, raw sockets)."""

from __future__ import annotations

import re
import socket
import subprocess
from dataclasses import dataclass
from typing import Any

CLIENT_IP = "127.20.0.9"  # the bastion's private address in the scenarios
_ACCESS_LINE = re.compile(r"^\S+ - \S+ \[")


@dataclass(frozen=True)
class Net:
    """Addresses for one test: VPC-side (interfaces, nodes) and pod-side."""

    block: int

    def vpc(self, host: int) -> str:
        return f"127.20.{200 + self.block}.{host}"

    def pod(self, host: int) -> str:
        return f"127.111.{200 + self.block}.{host}"


def pod_spec(name: str, ip: str, *, node: str = "node-a", port: int | None = 80) -> dict[str, Any]:
    """Return a minimal Pod dict as the Kubernetes twin passes it to the runtime."""
    container: dict[str, Any] = {"name": "nginx", "image": "nginx:1.27"}
    if port is not None:
        container["ports"] = [{"containerPort": port}]
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"nodeName": node, "containers": [container]},
        "status": {"podIP": ip, "hostIP": "127.20.0.1", "phase": "Running"},
    }


def curl(
    url: str, *args: str, source: str | None = CLIENT_IP, timeout: float = 5
) -> subprocess.CompletedProcess[str]:
    """Run curl against ``url`` from ``source``; stdout is ``<code> <bytes>`` unless overridden."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "-m", "5"]
    if source:
        argv += ["--interface", source]
    return subprocess.run(
        [*argv, *args, url], capture_output=True, text=True, timeout=timeout, check=False
    )


def raw_exchange(
    ip: str, port: int, payload: bytes, *, source: str | None = CLIENT_IP, half_close: bool = False
) -> bytes:
    """Send ``payload`` on a fresh connection and return everything read until the peer closes."""
    with socket.create_connection(
        (ip, port), timeout=5, source_address=(source, 0) if source else None
    ) as conn:
        conn.sendall(payload)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def access_lines(text: str) -> list[str]:
    """Return the access-log lines of a pod log (drops the nginx stderr lines)."""
    return [line for line in text.splitlines() if _ACCESS_LINE.match(line)]
