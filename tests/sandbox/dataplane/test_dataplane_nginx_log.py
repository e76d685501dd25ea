"""The pod log's line formats and the default site's decisions, as input/output tables."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.dataplane import nginx_site
from sandbox.dataplane.nginx_log import (
    AccessRecord,
    escape,
    format_error,
    format_main,
    rfc3339nano,
    time_local,
)
from sandbox.dataplane.nginx_site import HttpError, parse_request_line, resolve, target_path
from sandbox.dataplane.pod_log import PodLog

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "nginx-access-log-samples.txt"
# The layout of a `main` line: every field in place, quoted values without a bare quote.
MAIN_LINE = re.compile(
    r"(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)" "(?P<xff>[^"]*)"'
)


def _ns(text: str) -> int:
    moment = datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z")
    return calendar.timegm(moment.utctimetuple()) * 1_000_000_000


# Real nginx lines (from the reference samples) and the values that produced them.
SAMPLE_TABLE = [
    (
        '127.0.0.1 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "curl/7.53.1" "-"',
        ("127.0.0.1", b"GET / HTTP/1.1", 200, 27, b"curl/7.53.1"),
    ),
    (
        (
            '127.20.2.145 - - [25/Nov/2026:18:21:37 +0000] "GET /?probe=3f2a9c1e&i=1 HTTP/1.1" '
            '200 27 "-" "nlb-probe/3f2a9c1e-0001" "-"'
        ),
        ("127.20.2.145", b"GET /?probe=3f2a9c1e&i=1 HTTP/1.1", 200, 27, b"nlb-probe/3f2a9c1e-0001"),
    ),
    (
        '127.0.0.1 - - [25/Nov/2026:18:21:37 +0000] "HEAD / HTTP/1.1" 200 0 "-" "curl/7.88.1" "-"',
        ("127.0.0.1", b"HEAD / HTTP/1.1", 200, 0, b"curl/7.88.1"),
    ),
    (
        '127.0.0.1 - - [25/Nov/2026:18:21:37 +0000] "POST / HTTP/1.1" 405 157 "-" "curl/7.88.1" "-"',
        ("127.0.0.1", b"POST / HTTP/1.1", 405, 157, b"curl/7.88.1"),
    ),
    (
        '127.0.0.1 - - [25/Nov/2026:18:21:37 +0000] "GARBAGE" 400 157 "-" "-" "-"',
        ("127.0.0.1", b"GARBAGE", 400, 157, None),
    ),
    (
        (
            '127.0.0.1 - - [25/Nov/2026:18:21:38 +0000] "GET /path%20with%20space?q=%22x%22 '
            'HTTP/1.1" 404 153 "-" "curl/7.88.1" "-"'
        ),
        ("127.0.0.1", b"GET /path%20with%20space?q=%22x%22 HTTP/1.1", 404, 153, b"curl/7.88.1"),
    ),
]


@pytest.mark.parametrize(("line", "values"), SAMPLE_TABLE, ids=lambda v: str(v)[:24])
def test_format_main_reproduces_real_nginx_lines(
    line: str, values: tuple[str, bytes, int, int, bytes | None]
) -> None:
    addr, request, status, sent, agent = values
    stamp = _ns(MAIN_LINE.fullmatch(line)["time"])  # type: ignore[index]
    record = AccessRecord(
        remote_addr=addr,
        epoch_ns=stamp,
        request=request,
        status=status,
        body_bytes_sent=sent,
        user_agent=agent,
    )
    assert format_main(record) == line


def test_reference_samples_have_the_layout_we_write() -> None:
    lines = [x for x in SAMPLES.read_text().splitlines() if x and not x.startswith("#")]
    assert lines
    for line in lines:
        assert MAIN_LINE.fullmatch(line), line


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        (None, "-"),
        (b"", ""),
        (b"curl/8.0", "curl/8.0"),
        (b'say "hi"', "say \\x22hi\\x22"),
        (b"back\\slash", "back\\x5Cslash"),
        (b"bell\x07tab\tnul\x00", "bell\\x07tab\\x09nul\\x00"),
        (b"del\x7f", "del\\x7F"),
        ("caf\u00e9".encode(), "caf\\xC3\\xA9"),
    ],
)
def test_escape(raw: bytes | None, logged: str) -> None:
    assert escape(raw) == logged


def test_hostile_user_agent_cannot_break_the_line() -> None:
    agent = b'evil" "127.0.0.1" \\ \x1b[31m'
    record = AccessRecord("127.20.0.9", 0, b"GET / HTTP/1.1", 200, 626, user_agent=agent)
    line = format_main(record)
    match = MAIN_LINE.fullmatch(line)
    assert match is not None
    assert match["ua"] == "evil\\x22 \\x22127.0.0.1\\x22 \\x5C \\x1B[31m"
    assert match["addr"] == "127.20.0.9"


@pytest.mark.parametrize(
    ("ns", "local", "nano"),
    [
        (0, "01/Jan/1970:00:00:00 +0000", "1970-01-01T00:00:00Z"),
        (1_795_630_897_000_000_000, "25/Nov/2026:18:21:37 +0000", "2026-11-25T18:21:37Z"),
        (1_795_630_897_120_000_000, "25/Nov/2026:18:21:37 +0000", "2026-11-25T18:21:37.12Z"),
        (1_795_630_897_000_000_001, "25/Nov/2026:18:21:37 +0000", "2026-11-25T18:21:37.000000001Z"),
    ],
)
def test_times(ns: int, local: str, nano: str) -> None:
    assert time_local(ns) == local
    assert rfc3339nano(ns) == nano


def test_error_line() -> None:
    line = format_error(epoch_ns=0, level="error", message="boom", pid=29, connection=3)
    assert line == "1970/01/01 00:00:00 [error] 29#29: *3 boom"


# -- the default site -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"GET / HTTP/1.1", (b"GET", b"/", (1, 1))),
        (b"HEAD /index.html?x=1 HTTP/1.0", (b"HEAD", b"/index.html?x=1", (1, 0))),
        (b"GET  /   HTTP/1.1", (b"GET", b"/", (1, 1))),
        (b"GET http://h.example/x HTTP/1.1", (b"GET", b"http://h.example/x", (1, 1))),
        (b"GET /", (b"GET", b"/", (0, 9))),
        (b"PURGE / HTTP/1.1", (b"PURGE", b"/", (1, 1))),
        (b"GARBAGE", 400),
        (b"get / HTTP/1.1", 400),
        (b"GET / HTTP/1.1 extra", 400),
        (b"GET / FTP/1.0", 400),
        (b"POST /", 400),
        (b"GET x HTTP/1.1", 400),
        (b"GET /\x01 HTTP/1.1", 400),
        (b"GET / HTTP/2.0", 505),
        (b"GET / HTTP/0.5", 400),
    ],
)
def test_parse_request_line(
    raw: bytes, expected: tuple[bytes, bytes, tuple[int, int]] | int
) -> None:
    if isinstance(expected, int):
        with pytest.raises(HttpError) as refused:
            parse_request_line(raw)
        assert refused.value.status == expected
        return
    parsed = parse_request_line(raw)
    assert (parsed.method, parsed.target, parsed.version) == expected


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/", "/"),
        (b"/?probe=ab&i=1", "/"),
        (b"/index.html?x", "/index.html"),
        (b"//index.html", "/index.html"),
        (b"/a/../index.html", "/index.html"),
        (b"/./index.html#frag", "/index.html"),
        (b"/%69ndex.html", "/index.html"),
        (b"/path%20with%20space", "/path with space"),
        (b"/dir/", "/dir/"),
        (b"/dir/.", "/dir/"),
        (b"http://h.example", "/"),
        (b"http://h.example?x", "/"),
        (b"/..", 400),
        (b"/%zz", 400),
        (b"/a%00b", 400),
    ],
)
def test_target_path(target: bytes, path: str | int) -> None:
    if isinstance(path, int):
        with pytest.raises(HttpError):
            target_path(target)
    else:
        assert target_path(target) == path


@pytest.mark.parametrize(
    ("method", "path", "status", "error_log"),
    [
        (b"GET", "/", 200, None),
        (b"HEAD", "/index.html", 200, None),
        (b"GET", "/50x.html", 200, None),
        (b"POST", "/", 405, None),
        (b"POST", "/missing", 404, 'open() "/usr/share/nginx/html/missing" failed'),
        (b"PUT", "/missing", 405, None),
        (b"DELETE", "/", 405, None),
        (b"GET", "/missing", 404, 'open() "/usr/share/nginx/html/missing" failed'),
        (b"GET", "/dir/", 404, '"/usr/share/nginx/html/dir/index.html" is not found'),
    ],
)
def test_resolve(method: bytes, path: str, status: int, error_log: str | None) -> None:
    resolution = resolve(method, path)
    assert resolution.status == status
    if error_log is None:
        assert resolution.error_log is None
    else:
        assert resolution.error_log is not None
        assert resolution.error_log.startswith(error_log)


def test_pages_look_like_the_image() -> None:
    welcome = nginx_site.FILES["/index.html"].body
    assert b"<title>Welcome to nginx!</title>" in welcome
    assert 500 <= len(welcome) <= 700  # the image's page is 615 bytes
    assert 100 <= len(nginx_site.error_page(404)) <= 200  # nginx's are ~150
    head = nginx_site.response_head(status=404, content_length=10, keep_alive=True, now=0)
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\nServer: nginx/1.27.")
    assert head.endswith(b"Connection: keep-alive\r\n\r\n")


# -- the log store ----------------------------------------------------------------------------


def test_pod_log_since_tail_timestamps() -> None:
    log = PodLog(max_lines=3)
    base = 1_795_630_897_000_000_000
    for i in range(5):
        log.append(f"line {i}", base + i * 1_000_000_000)
    assert len(log) == 3  # bounded: the oldest went
    assert log.render(timestamps=False) == "line 2\nline 3\nline 4\n"
    assert log.render(tail_lines=2, timestamps=False) == "line 3\nline 4\n"
    assert log.render(tail_lines=0, timestamps=False) == ""
    since = datetime.fromtimestamp((base + 3 * 1_000_000_000) / 1e9, UTC)
    assert log.render(since=since, timestamps=False) == "line 3\nline 4\n"
    naive = since.replace(tzinfo=None)
    assert log.render(since=naive, timestamps=False) == "line 3\nline 4\n"
    assert log.render(tail_lines=1, timestamps=True) == "2026-11-25T18:21:41Z line 4\n"
