"""The built-in pod server against a real nginx (Debian's, installed by `make setup`)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataplane_support import CLIENT_IP, Net, access_lines, curl, pod_spec

from sandbox.controlplane.processes import stop_recorded_processes
from sandbox.dataplane.nginx_real import nginx_binary
from sandbox.dataplane.pods import PodServers


@pytest.fixture(autouse=True)
def _real_nginx_installed() -> None:
    """A missing nginx fails these tests loudly: without it they would compare the twin with itself."""
    if nginx_binary() is None:
        pytest.fail("nginx is not installed: run `make setup` (it installs Debian's nginx-light)")


# Requests whose answers and log lines must be the same from both servers.
CASES = [
    b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b'GET /?probe=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: a"b\\c\x01d\xc3\xa9\r\nConnection: close\r\n\r\n',
    b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    b"POST /missing HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    b"PUT /missing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET /path%20with%20space?q=%22x%22 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    b"get / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /\r\n",
    b"GET /dir/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /50x.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /../x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /%zz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    (
        b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent:\r\nReferer: r\r\n"
        b"Authorization: Basic dXNlcjpwYXNz\r\nX-Forwarded-For: 1.1.1.1\r\n"
        b"X-Forwarded-For: 2.2.2.2\r\nConnection: close\r\n\r\n"
    ),
    b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://x.example/index.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
]


@pytest.fixture
def real_pods(net: Net) -> Iterator[PodServers]:
    runtime = PodServers(real_nginx=True)
    assert runtime.uses_real_nginx
    yield runtime
    runtime.stop_all()


def _exchange(ip: str, payload: bytes) -> tuple[bytes, list[bytes], int]:
    with socket.create_connection((ip, 80), timeout=5, source_address=(CLIENT_IP, 0)) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)  # so nginx's lingering close does not wait for us
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    names = [line.split(b":", 1)[0] for line in lines[1:]]
    connection = [line for line in lines if line.lower().startswith(b"connection:")]
    return lines[0], names + connection, len(body)


def _comparable(text: str) -> list[str]:
    return [re.sub(r"\[[^\]]+\]", "[time]", line) for line in access_lines(text)]


def test_builtin_server_answers_and_logs_like_real_nginx(
    pods: PodServers, real_pods: PodServers, net: Net
) -> None:
    twin_ip, real_ip = net.pod(2), net.pod(3)
    assert pods.start(pod_spec("twin", twin_ip))
    assert real_pods.start(pod_spec("real", real_ip))
    for payload in CASES:
        # status line, header names, Connection, body size (error pages are sized like nginx's)
        assert _exchange(twin_ip, payload) == _exchange(real_ip, payload), payload
    twin_log = pods.logs(namespace="default", name="twin", timestamps=False)
    deadline = time.monotonic() + 3  # nginx logs a request after its lingering close
    while True:
        real_log = real_pods.logs(namespace="default", name="real", timestamps=False)
        if len(access_lines(real_log)) >= len(CASES) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert _comparable(twin_log) == _comparable(real_log)
    assert len(_comparable(real_log)) == len(CASES)


def test_real_nginx_pod_lifecycle(real_pods: PodServers, net: Net) -> None:
    ip = net.pod(4)
    spec = pod_spec("web-1", ip)
    assert real_pods.start(spec) and real_pods.start(spec)
    assert curl(f"http://{ip}/?n=1").stdout.startswith("200 ")
    deadline = time.monotonic() + 3  # nginx writes the line just after the response
    while True:
        text = real_pods.logs(namespace="default", name="web-1", tail_lines=1, timestamps=False)
        if text.startswith(f"{CLIENT_IP} - - [") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert text.startswith(f"{CLIENT_IP} - - [") and '"GET /?n=1 HTTP/1.1" 200' in text
    assert real_pods.start(pod_spec("web-2", ip)) is False  # the address is taken
    real_pods.stop(spec)
    assert curl(f"http://{ip}/").stdout.startswith("000")


def test_a_twin_that_died_leaves_no_pod_nginx_behind(net: Net, tmp_path: Path) -> None:
    # Each pod's nginx runs in a session of its own; `sandbox down` kills what the twin recorded.
    runtime = PodServers(real_nginx=True, workdir=tmp_path / "pods")
    try:
        assert runtime.start(pod_spec("orphan", net.pod(7)))
        [pid_file] = (tmp_path / "pods").glob("*/nginx.pid")
        master = int(pid_file.read_text().strip())
        assert master in stop_recorded_processes(tmp_path)
        deadline = time.monotonic() + 5
        while _alive(master) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(master)
    finally:
        runtime.stop_all()


def _alive(pid: int) -> bool:
    """Whether the process runs (a killed child of this process stays a zombie until reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
