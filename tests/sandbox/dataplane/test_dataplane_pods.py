"""nginx pods: real HTTP over loopback, and the pod log nginx would have written."""

from __future__ import annotations

import re
import socket
import time
from datetime import UTC, datetime

import pytest
from dataplane_support import CLIENT_IP, Net, access_lines, curl, pod_spec, raw_exchange

from sandbox.dataplane.pods import PodServers

MAIN_LINE = re.compile(
    r'(?P<addr>\S+) - (?P<user>\S+) \[[^\]]+\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
    r'(?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)" "(?P<xff>[^"]*)"'
)


def _logged(pods: PodServers, name: str) -> list[re.Match[str]]:
    lines = access_lines(
        pods.logs(namespace="default", name=name, since=None, tail_lines=None, timestamps=False)
    )
    matches = [MAIN_LINE.fullmatch(line) for line in lines]
    assert all(matches), lines
    return [m for m in matches if m]


def test_answers_like_the_default_site_and_logs_each_request(pods: PodServers, net: Net) -> None:
    ip = net.pod(2)
    assert pods.start(pod_spec("web-1", ip)) is True
    base = f"http://{ip}/"
    assert curl(base).stdout.startswith("200 ")
    assert curl(base + "index.html?probe=1").stdout.startswith("200 ")
    assert curl(base, "-I").stdout == "200 0"
    assert curl(base, "-X", "POST", "-d", "a=1").stdout.startswith("405 ")
    assert curl(base + "missing.html").stdout.startswith("404 ")
    assert curl(base, "-X", "DELETE").stdout.startswith("405 ")

    logged = _logged(pods, "web-1")
    assert [(m["request"], m["status"]) for m in logged] == [
        ("GET / HTTP/1.1", "200"),
        ("GET /index.html?probe=1 HTTP/1.1", "200"),
        ("HEAD / HTTP/1.1", "200"),
        ("POST / HTTP/1.1", "405"),
        ("GET /missing.html HTTP/1.1", "404"),
        ("DELETE / HTTP/1.1", "405"),
    ]
    assert {m["addr"] for m in logged} == {CLIENT_IP}  # the real peer of each connection
    assert logged[2]["bytes"] == "0"  # HEAD sends no body
    assert all(m["ua"].startswith("curl/") and m["xff"] == "-" for m in logged)
    # nginx's stderr is in the pod log too: the startup notices and the 404's open() error
    text = pods.logs(
        namespace="default", name="web-1", since=None, tail_lines=None, timestamps=False
    )
    assert (
        'open() "/usr/share/nginx/html/missing.html" failed (2: No such file or directory)' in text
    )
    assert "[notice] 1#1: start worker processes" in text


def test_headers_match_nginx(pods: PodServers, net: Net) -> None:
    ip = net.pod(3)
    pods.start(pod_spec("web-1", ip))
    reply = raw_exchange(ip, 80, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    names = [line.split(":", 1)[0] for line in lines[1:]]
    assert names == [
        "Server",
        "Date",
        "Content-Type",
        "Content-Length",
        "Last-Modified",
        "Connection",
        "ETag",
        "Accept-Ranges",
    ]
    assert re.fullmatch(r"Server: nginx/1\.27\.\d+", lines[1])
    assert "Connection: close" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert b"Welcome to nginx!" in body


def test_remote_addr_is_the_connection_source(pods: PodServers, net: Net) -> None:
    ip = net.pod(4)
    pods.start(pod_spec("web-1", ip))
    for source in ("127.20.0.9", "127.20.77.5", "127.0.0.1"):
        assert curl(f"http://{ip}/", source=source).stdout.startswith("200 ")
    assert [m["addr"] for m in _logged(pods, "web-1")] == ["127.20.0.9", "127.20.77.5", "127.0.0.1"]


def test_hostile_user_agent_is_escaped_like_nginx(pods: PodServers, net: Net) -> None:
    ip = net.pod(5)
    pods.start(pod_spec("web-1", ip))
    agent = b'probe" "127.6.6.6" \\ \x01\x1b end'
    request = (
        b"GET /?q=%22x%22 HTTP/1.1\r\nHost: h\r\nUser-Agent: " + agent + b"\r\n"
        b'Referer: http://r.example/"x\r\nX-Forwarded-For: 127.1.1.1, 127.2.2.2\r\n'
        b"Authorization: Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n"
    )
    assert raw_exchange(ip, 80, request).startswith(b"HTTP/1.1 200 OK")
    (line,) = access_lines(
        pods.logs(namespace="default", name="web-1", since=None, tail_lines=None, timestamps=False)
    )
    match = MAIN_LINE.fullmatch(line)
    assert match is not None, line
    assert match["ua"] == "probe\\x22 \\x22127.6.6.6\\x22 \\x5C \\x01\\x1B end"
    assert match["referer"] == "http://r.example/\\x22x"
    assert match["xff"] == "127.1.1.1, 127.2.2.2"
    assert match["user"] == "user"
    assert match["request"] == "GET /?q=%22x%22 HTTP/1.1"


def test_keep_alive_is_honoured(pods: PodServers, net: Net) -> None:
    ip = net.pod(6)
    pods.start(pod_spec("web-1", ip))
    two = b"GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD /index.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    reply = raw_exchange(ip, 80, two)
    assert reply.count(b"HTTP/1.1 200 OK") == 2
    assert b"Connection: keep-alive" in reply and b"Connection: close" in reply
    # HTTP/1.0 closes unless asked to keep the connection
    assert b"Connection: close" in raw_exchange(ip, 80, b"GET / HTTP/1.0\r\n\r\n")
    # curl reuses one connection for two URLs
    both = curl(f"http://{ip}/", f"http://{ip}/index.html", "-v")
    assert "Re-using existing connection" in both.stderr


def test_malformed_request_gets_400_and_close(pods: PodServers, net: Net) -> None:
    ip = net.pod(7)
    pods.start(pod_spec("web-1", ip))
    reply = raw_exchange(ip, 80, b"GARBAGE\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 Bad Request")
    assert reply.count(b"HTTP/1.1") == 1  # closed after the 400: the second request is ignored
    missing_host = raw_exchange(ip, 80, b"GET / HTTP/1.1\r\n\r\n")
    assert missing_host.startswith(b"HTTP/1.1 400")
    logged = _logged(pods, "web-1")
    assert [(m["request"], m["status"], m["ua"]) for m in logged] == [
        ("GARBAGE", "400", "-"),
        ("GET / HTTP/1.1", "400", "-"),
    ]


def test_request_body_is_discarded_and_connection_kept(pods: PodServers, net: Net) -> None:
    ip = net.pod(8)
    pods.start(pod_spec("web-1", ip))
    chunked = (
        b"POST /missing HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    )
    reply = raw_exchange(ip, 80, chunked)
    assert reply.startswith(b"HTTP/1.1 404 Not Found")
    assert b"HTTP/1.1 405 Not Allowed" in reply


def test_logs_since_tail_and_timestamps(pods: PodServers, net: Net) -> None:
    ip = net.pod(9)
    pods.start(pod_spec("web-1", ip))
    curl(f"http://{ip}/?n=1")
    time.sleep(0.02)
    middle = datetime.now(UTC)
    time.sleep(0.02)
    curl(f"http://{ip}/?n=2")
    curl(f"http://{ip}/?n=3")

    after = pods.logs(
        namespace="default", name="web-1", since=middle, tail_lines=None, timestamps=False
    )
    assert [MAIN_LINE.fullmatch(x)["request"] for x in after.splitlines()] == [  # type: ignore[index]
        "GET /?n=2 HTTP/1.1",
        "GET /?n=3 HTTP/1.1",
    ]
    last = pods.logs(namespace="default", name="web-1", since=None, tail_lines=1, timestamps=True)
    stamp, _, line = last.rstrip("\n").partition(" ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", stamp)
    assert "GET /?n=3 HTTP/1.1" in line
    assert (
        pods.logs(namespace="default", name="nope", since=None, tail_lines=None, timestamps=False)
        == ""
    )


def test_lifecycle_start_stop_restart(pods: PodServers, net: Net) -> None:
    ip = net.pod(10)
    spec = pod_spec("web-1", ip, port=None)  # no ports in the spec: nginx still listens on 80
    assert pods.start(spec) is True
    assert pods.start(spec) is True  # idempotent
    assert pods.running() == [("default", "web-1")]
    curl(f"http://{ip}/")
    held = socket.create_connection((ip, 80), timeout=5)  # an idle keep-alive connection

    pods.stop(spec)
    assert pods.running() == []
    assert curl(f"http://{ip}/").stdout.startswith("000")  # nothing listens any more
    assert held.recv(1) == b""  # the open connection went with the pod
    held.close()
    assert len(_logged(pods, "web-1")) == 1  # the log outlives the container...

    assert pods.start(spec) is True
    assert _logged(pods, "web-1") == []  # ...until a new one starts


def test_bind_conflict_and_bad_addresses(pods: PodServers, net: Net) -> None:
    ip = net.pod(11)
    assert pods.start(pod_spec("web-1", ip)) is True
    assert pods.start(pod_spec("web-2", ip)) is False  # same address and port
    assert "bind() to" in pods.logs(
        namespace="default", name="web-2", since=None, tail_lines=None, timestamps=False
    )
    with pytest.raises(ValueError, match=r"outside 127\.0\.0\.0/8"):
        pods.start(pod_spec("web-3", "10.0.0.5"))
    no_ip = pod_spec("web-4", ip)
    del no_ip["status"]["podIP"]
    assert pods.start(no_ip) is False


def test_stop_all_leaves_nothing_listening(net: Net) -> None:
    runtime = PodServers()
    ips = [net.pod(20 + i) for i in range(3)]
    for i, ip in enumerate(ips):
        assert runtime.start(pod_spec(f"web-{i}", ip))
    runtime.stop_all()
    for ip in ips:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((ip, 80), timeout=2).close()
