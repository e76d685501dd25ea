"""The VPC proxy: CONNECT to a routed name tunnels bytes both ways; anything else is refused."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from sandbox.dataplane.vpc_proxy import VpcProxy, parse_connect

API = "api-x-k8s-local-0123456789abcdef.elb.ap-northeast-1.amazonaws.com"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data.upper())


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A TCP server on loopback that answers every chunk in upper case."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: tuple[str, int]) -> Iterator[tuple[VpcProxy, tuple[str, int]]]:
    def route(host: str, port: int) -> tuple[str, int] | None:
        if host == "broken":
            raise RuntimeError("the lookup failed")
        return echo if (host, port) == (API, 443) else None

    vpc = VpcProxy(route)
    vpc.start()
    host, port = vpc.url.removeprefix("http://").split(":")
    yield vpc, (host, int(port))
    vpc.stop()


def ask(address: tuple[str, int], request: bytes) -> tuple[socket.socket, bytes]:
    """Send a request head; return the socket and the proxy's answer up to its blank line."""
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(request)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return sock, answer


def test_a_connect_to_an_api_load_balancer_is_a_tunnel(
    proxy: tuple[VpcProxy, tuple[str, int]],
) -> None:
    vpc, address = proxy
    sock, answer = ask(address, f"CONNECT {API}:443 HTTP/1.1\r\nHost: {API}:443\r\n\r\n".encode())
    with sock:
        assert answer.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"hello through the tunnel")
        assert sock.recv(4096) == b"HELLO THROUGH THE TUNNEL"
    assert vpc.tunnels == 1


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"CONNECT example.com:443 HTTP/1.1\r\n\r\n", b"502"),  # nothing leaves the machine
        (f"CONNECT {API}:80 HTTP/1.1\r\n\r\n".encode(), b"502"),  # no such listener
        (b"CONNECT broken:443 HTTP/1.1\r\n\r\n", b"503"),  # the lookup failed: ask again
        (b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", b"405"),
    ],
)
def test_everything_else_is_refused(
    proxy: tuple[VpcProxy, tuple[str, int]], request_head: bytes, status: bytes
) -> None:
    vpc, address = proxy
    sock, answer = ask(address, request_head)
    with sock:
        assert answer.split(b" ")[1] == status
    assert (vpc.tunnels, vpc.refused) == (0, 1)


@pytest.mark.parametrize(
    ("head", "parsed"),
    [
        (b"CONNECT Host.Example:443 HTTP/1.1\r\n\r\n", ("host.example", 443)),
        (b"CONNECT host:443 HTTP/1.0\r\n\r\n", ("host", 443)),
        (b"CONNECT host HTTP/1.1\r\n\r\n", None),
        (b"CONNECT host:0 HTTP/1.1\r\n\r\n", None),
        (b"CONNECT host:99999 HTTP/1.1\r\n\r\n", None),
        (b"CONNECT :443 HTTP/1.1\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\n\r\n", None),
    ],
)
def test_parse_connect(head: bytes, parsed: tuple[str, int] | None) -> None:
    assert parse_connect(head) == parsed
