"""The nginx ``main`` access-log parser: real lines, nginx's escaping rules, and round trips."""

from __future__ import annotations

import pickle
import re
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kops_nlb.core.verify.access_log import (
    AccessLogRecord,
    format_record,
    parse_line,
    parse_lines,
    split_request,
)

SAMPLES = Path(__file__).parents[2] / "data" / "nginx-access-log-samples.txt"

JST = timezone(timedelta(hours=9))
EST = timezone(timedelta(hours=-5))


def at(
    day: int, hour: int, minute: int, second: int, *, tz: timezone = UTC, year: int = 2026
) -> datetime:
    """Return an aware time in November of ``year`` (the month of most lines here)."""
    return datetime(year, 11, day, hour, minute, second, tzinfo=tz)


def record(
    request: str,
    *,
    remote_addr: str = "10.0.0.7",
    remote_user: str | None = None,
    time_local: datetime | None = None,
    status: int = 200,
    body_bytes_sent: int = 27,
    http_referer: str | None = None,
    http_user_agent: str | None = None,
    http_x_forwarded_for: str | None = None,
) -> AccessLogRecord:
    """Return a record whose method/path/protocol are derived from ``request``."""
    method, path, protocol = split_request(request)
    return AccessLogRecord(
        remote_addr=remote_addr,
        remote_user=remote_user,
        time_local=time_local or at(25, 18, 21, 37),
        request=request,
        method=method,
        path=path,
        protocol=protocol,
        status=status,
        body_bytes_sent=body_bytes_sent,
        http_referer=http_referer,
        http_user_agent=http_user_agent,
        http_x_forwarded_for=http_x_forwarded_for,
    )


def assert_same(actual: AccessLogRecord | None, expected: AccessLogRecord) -> None:
    """Assert equal records, including the UTC offset (datetime equality ignores it)."""
    assert type(actual) is AccessLogRecord
    assert actual == expected
    assert actual.time_local.utcoffset() == expected.time_local.utcoffset()


# Every non-comment line of the samples file, in file order, with every field spelled out.
SAMPLE_TABLE: list[tuple[str, AccessLogRecord]] = [
    (
        '127.0.0.1 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "curl/7.53.1" "-"',
        AccessLogRecord(
            remote_addr="127.0.0.1",
            remote_user=None,
            time_local=datetime(2026, 11, 25, 18, 21, 37, tzinfo=UTC),
            request="GET / HTTP/1.1",
            method="GET",
            path="/",
            protocol="HTTP/1.1",
            status=200,
            body_bytes_sent=27,
            http_referer=None,
            http_user_agent="curl/7.53.1",
            http_x_forwarded_for=None,
        ),
    ),
    (
        (
            '127.20.2.145 - - [25/Nov/2026:18:21:37 +0000] "GET /?probe=3f2a9c1e&i=1 HTTP/1.1"'
            ' 200 27 "-" "nlb-probe/3f2a9c1e-0001" "-"'
        ),
        AccessLogRecord(
            remote_addr="127.20.2.145",
            remote_user=None,
            time_local=datetime(2026, 11, 25, 18, 21, 37, tzinfo=UTC),
            request="GET /?probe=3f2a9c1e&i=1 HTTP/1.1",
            method="GET",
            path="/?probe=3f2a9c1e&i=1",
            protocol="HTTP/1.1",
            status=200,
            body_bytes_sent=27,
            http_referer=None,
            http_user_agent="nlb-probe/3f2a9c1e-0001",
            http_x_forwarded_for=None,
        ),
    ),
    (
        '127.0.0.1 - - [25/Nov/2026:18:21:37 +0000] "HEAD / HTTP/1.1" 200 0 "-" "curl/7.88.1" "-"',
        AccessLogRecord(
            remote_addr="127.0.0.1",
            remote_user=None,
            time_local=datetime(2026, 11, 25, 18, 21, 37, tzinfo=UTC),
            request="HEAD / HTTP/1.1",
            method="HEAD",
            path="/",
            protocol="HTTP/1.1",
            status=200,
            body_bytes_sent=0,
            http_referer=None,
            http_user_agent="curl/7.88.1",
            http_x_forwarded_for=None,
        ),
    ),
    (
        (
            '127.0.0.1 - - [25/Nov/2026:18:21:37 +0000] "POST / HTTP/1.1" 405 157 "-"'
            ' "curl/7.88.1" "-"'
        ),
        AccessLogRecord(
            remote_addr="127.0.0.1",
            remote_user=None,
            time_local=datetime(2026, 11, 25, 18, 21, 37, tzinfo=UTC),
            request="POST / HTTP/1.1",
            method="POST",
            path="/",
            protocol="HTTP/1.1",
            status=405,
            body_bytes_sent=157,
            http_referer=None,
            http_user_agent="curl/7.88.1",
            http_x_forwarded_for=None,
        ),
    ),
    (
        '127.0.0.1 - - [25/Nov/2026:18:21:37 +0000] "GARBAGE" 400 157 "-" "-" "-"',
        AccessLogRecord(
            remote_addr="127.0.0.1",
            remote_user=None,
            time_local=datetime(2026, 11, 25, 18, 21, 37, tzinfo=UTC),
            request="GARBAGE",
            method=None,
            path=None,
            protocol=None,
            status=400,
            body_bytes_sent=157,
            http_referer=None,
            http_user_agent=None,
            http_x_forwarded_for=None,
        ),
    ),
    (
        (
            "127.0.0.1 - - [25/Nov/2026:18:21:38 +0000]"
            ' "GET /path%20with%20space?q=%22x%22 HTTP/1.1" 404 153 "-" "curl/7.88.1" "-"'
        ),
        AccessLogRecord(
            remote_addr="127.0.0.1",
            remote_user=None,
            time_local=datetime(2026, 11, 25, 18, 21, 38, tzinfo=UTC),
            request="GET /path%20with%20space?q=%22x%22 HTTP/1.1",
            method="GET",
            path="/path%20with%20space?q=%22x%22",
            protocol="HTTP/1.1",
            status=404,
            body_bytes_sent=153,
            http_referer=None,
            http_user_agent="curl/7.88.1",
            http_x_forwarded_for=None,
        ),
    ),
    (
        (
            '172.20.2.145 - - [12/Mar/2018:15:13:13 +0000] "GET / HTTP/1.1" 200 612 "-"'
            ' "curl/7.53.1" "-"'
        ),
        AccessLogRecord(
            remote_addr="172.20.2.145",
            remote_user=None,
            time_local=datetime(2018, 3, 12, 15, 13, 13, tzinfo=UTC),
            request="GET / HTTP/1.1",
            method="GET",
            path="/",
            protocol="HTTP/1.1",
            status=200,
            body_bytes_sent=612,
            http_referer=None,
            http_user_agent="curl/7.53.1",
            http_x_forwarded_for=None,
        ),
    ),
    (
        (
            '172.20.2.145 - - [12/Mar/2018:15:13:14 +0000] "GET / HTTP/1.1" 200 612 "-"'
            ' "curl/7.53.1" "-"'
        ),
        AccessLogRecord(
            remote_addr="172.20.2.145",
            remote_user=None,
            time_local=datetime(2018, 3, 12, 15, 13, 14, tzinfo=UTC),
            request="GET / HTTP/1.1",
            method="GET",
            path="/",
            protocol="HTTP/1.1",
            status=200,
            body_bytes_sent=612,
            http_referer=None,
            http_user_agent="curl/7.53.1",
            http_x_forwarded_for=None,
        ),
    ),
]


def sample_lines() -> list[str]:
    """Return the non-comment, non-blank lines of the samples file."""
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def test_the_table_covers_every_sample_line_in_order() -> None:
    assert sample_lines() == [line for line, _ in SAMPLE_TABLE]


@pytest.mark.parametrize(("line", "expected"), SAMPLE_TABLE, ids=range(len(SAMPLE_TABLE)))
def test_real_nginx_lines_parse_to_their_exact_fields(line: str, expected: AccessLogRecord) -> None:
    assert_same(parse_line(line), expected)
    assert_same(parse_line(line + "\n"), expected)
    assert_same(parse_line(line + "\r\n"), expected)


@pytest.mark.parametrize(("line", "expected"), SAMPLE_TABLE, ids=range(len(SAMPLE_TABLE)))
def test_real_nginx_lines_are_rendered_back_byte_for_byte(
    line: str, expected: AccessLogRecord
) -> None:
    assert format_record(expected) == line


def test_parse_lines_reads_the_samples_file_skipping_comments() -> None:
    records = parse_lines(SAMPLES.read_text(encoding="utf-8"))
    assert records == [expected for _, expected in SAMPLE_TABLE]


# Lines built from nginx's documented rules for log_format escape=default: '"', '\' and bytes
# below 0x20 or above 0x7e of a variable's value are written as \xHH (upper-case hex, one per
# byte of UTF-8), a variable that is not found is written as '-', a present but empty one as
# nothing. Only variables are escaped, never the format's own text.
CONSTRUCTED = [
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-"'
        ' "Mozilla \\x22quoted\\x22" "-"',
        record("GET / HTTP/1.1", http_user_agent='Mozilla "quoted"'),
        id="escaped-quotes",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /a\\x5Cb HTTP/1.1" 200 27 "-"'
        ' "C:\\x5CProgram Files\\x5C" "-"',
        record("GET /a\\b HTTP/1.1", http_user_agent="C:\\Program Files\\"),
        id="escaped-backslashes",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-"'
        ' "a\\x09b\\x0D\\x0Ac\\x00d\\x1B[31me\\x7F" "-"',
        record("GET / HTTP/1.1", http_user_agent="a\tb\r\nc\x00d\x1b[31me\x7f"),
        id="control-characters-and-del",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /caf\\xC3\\xA9 HTTP/1.1" 200 27'
        ' "https://example.com/\\xE6\\x97\\xA5\\xE6\\x9C\\xAC" "agent \\xF0\\x9F\\x98\\x80" "-"',
        record(
            "GET /café HTTP/1.1",
            http_referer="https://example.com/日本",
            http_user_agent="agent 😀",
        ),
        id="utf8-bytes",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-"'
        ' "bad \\xFF\\xC3 byte" "-"',
        record("GET / HTTP/1.1", http_user_agent="bad \ufffd\ufffd byte"),
        id="invalid-utf8-becomes-replacement-characters",
    ),
    pytest.param(
        "10.0.0.7 - - [25/Nov/2026:18:21:37 +0000]"
        ' "\\x16\\x03\\x01\\x00\\xF7\\x01\\x00\\x00\\xF3\\x03\\x03" 400 157 "-" "-" "-"',
        record("\x16\x03\x01\x00\ufffd\x01\x00\x00\ufffd\x03\x03", status=400, body_bytes_sent=157),
        id="tls-handshake-on-the-http-port",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /\\x5Cx41 HTTP/1.1" 200 27 "-" "-" "-"',
        record("GET /\\x41 HTTP/1.1"),
        id="literal-backslash-x-sent-by-a-client",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /a\\x22b HTTP/1.1" 200 27 "-" "-" "-"',
        record('GET /a"b HTTP/1.1'),
        id="quote-inside-the-request",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /x HTTP/1.1" 200 27 "-" "\\x5c\\xc3\\xa9"'
        ' "-"',
        record("GET /x HTTP/1.1", http_user_agent="\\é"),
        id="lower-case-hex-is-accepted-too",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /index.html HTTP/2.0" 200 615'
        ' "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)" "-"',
        AccessLogRecord(
            remote_addr="10.0.0.7",
            remote_user=None,
            time_local=at(25, 18, 21, 37),
            request="GET /index.html HTTP/2.0",
            method="GET",
            path="/index.html",
            protocol="HTTP/2.0",
            status=200,
            body_bytes_sent=615,
            http_referer="https://example.com/",
            http_user_agent="Mozilla/5.0 (X11; Linux x86_64)",
            http_x_forwarded_for=None,
        ),
        id="http2",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.0" 200 27 "-" "Wget/1.21" "-"',
        record("GET / HTTP/1.0", http_user_agent="Wget/1.21"),
        id="http1.0",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET http://example.com:8080/a?b=c HTTP/1.1"'
        ' 200 27 "-" "-" "-"',
        AccessLogRecord(
            remote_addr="10.0.0.7",
            remote_user=None,
            time_local=at(25, 18, 21, 37),
            request="GET http://example.com:8080/a?b=c HTTP/1.1",
            method="GET",
            path="http://example.com:8080/a?b=c",
            protocol="HTTP/1.1",
            status=200,
            body_bytes_sent=27,
            http_referer=None,
            http_user_agent=None,
            http_x_forwarded_for=None,
        ),
        id="absolute-uri",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "CONNECT example.com:443 HTTP/1.1" 400 157'
        ' "-" "-" "-"',
        record("CONNECT example.com:443 HTTP/1.1", status=400, body_bytes_sent=157),
        id="authority-form",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "OPTIONS * HTTP/1.1" 405 157 "-" "-" "-"',
        record("OPTIONS * HTTP/1.1", status=405, body_bytes_sent=157),
        id="asterisk-form",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET" 400 157 "-" "-" "-"',
        record("GET", status=400, body_bytes_sent=157),
        id="method-only",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "" 400 0 "-" "-" "-"',
        record("", status=400, body_bytes_sent=0),
        id="empty-request",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "-" 400 0 "-" "-" "-"',
        record("-", status=400, body_bytes_sent=0),
        id="no-request-line-at-all",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /index.html" 200 615 "-" "-" "-"',
        record("GET /index.html", body_bytes_sent=615),
        id="http0.9-has-no-protocol",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET  /a b  HTTP/1.1 " 200 27 "-" "-" "-"',
        AccessLogRecord(
            remote_addr="10.0.0.7",
            remote_user=None,
            time_local=at(25, 18, 21, 37),
            request="GET  /a b  HTTP/1.1 ",
            method="GET",
            path="/a b",
            protocol="HTTP/1.1",
            status=200,
            body_bytes_sent=27,
            http_referer=None,
            http_user_agent=None,
            http_x_forwarded_for=None,
        ),
        id="extra-spaces-and-a-space-in-the-target",
    ),
    pytest.param(
        '2001:db8::1 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
        record("GET / HTTP/1.1", remote_addr="2001:db8::1"),
        id="ipv6",
    ),
    pytest.param(
        '::ffff:10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
        record("GET / HTTP/1.1", remote_addr="::ffff:10.0.0.7"),
        id="ipv4-mapped-ipv6",
    ),
    pytest.param(
        'unix: - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
        record("GET / HTTP/1.1", remote_addr="unix:"),
        id="unix-socket-client",
    ),
    pytest.param(
        '10.0.0.7 - alice [25/Nov/2026:18:21:37 +0000] "GET /private HTTP/1.1" 200 27 "-" "-" "-"',
        record("GET /private HTTP/1.1", remote_user="alice"),
        id="basic-auth-user",
    ),
    pytest.param(
        '10.0.0.7 - bob [the] \\x22builder\\x22 [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 401'
        ' 179 "-" "-" "-"',
        record(
            "GET / HTTP/1.1",
            remote_user='bob [the] "builder"',
            status=401,
            body_bytes_sent=179,
        ),
        id="user-with-spaces-brackets-and-quotes",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "curl/8.5.0"'
        ' "203.0.113.7, 198.51.100.2"',
        record(
            "GET / HTTP/1.1",
            http_user_agent="curl/8.5.0",
            http_x_forwarded_for="203.0.113.7, 198.51.100.2",
        ),
        id="x-forwarded-for-list",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "" "" ""',
        record("GET / HTTP/1.1", http_referer="", http_user_agent="", http_x_forwarded_for=""),
        id="present-but-empty-headers",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /big.iso HTTP/1.1" 200 9223372036854775807'
        ' "-" "-" "-"',
        record("GET /big.iso HTTP/1.1", body_bytes_sent=9223372036854775807),
        id="largest-off-t-size",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 000 0 "-" "-" "-"',
        record("GET / HTTP/1.1", status=0, body_bytes_sent=0),
        id="status-000",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 499 0 "-" "-" "-"',
        record("GET / HTTP/1.1", status=499, body_bytes_sent=0),
        id="client-closed-499",
    ),
    pytest.param(
        '10.0.0.7 - - [26/Nov/2026:03:21:37 +0900] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
        record("GET / HTTP/1.1", time_local=at(26, 3, 21, 37, tz=JST)),
        id="tz-plus-0900",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:13:21:37 -0500] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
        record("GET / HTTP/1.1", time_local=at(25, 13, 21, 37, tz=EST)),
        id="tz-minus-0500",
    ),
    pytest.param(
        '10.0.0.7 - - [25/Nov/2026:08:51:37 -0930] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
        record(
            "GET / HTTP/1.1",
            time_local=at(25, 8, 51, 37, tz=timezone(-timedelta(hours=9, minutes=30))),
        ),
        id="tz-minus-0930",
    ),
    pytest.param(
        '10.0.0.7 - - [26/Nov/2026:00:06:37 +0545] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
        record(
            "GET / HTTP/1.1",
            time_local=at(26, 0, 6, 37, tz=timezone(timedelta(hours=5, minutes=45))),
        ),
        id="tz-plus-0545",
    ),
    pytest.param(
        '10.0.0.7 - - [29/Feb/2028:23:59:59 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
        record("GET / HTTP/1.1", time_local=datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)),
        id="leap-day",
    ),
]


@pytest.mark.parametrize(("line", "expected"), CONSTRUCTED)
def test_lines_built_from_nginx_rules_parse_to_their_fields(
    line: str, expected: AccessLogRecord
) -> None:
    assert_same(parse_line(line), expected)


# Lines nginx would not write byte for byte: lower-case hex, and bytes that are not UTF-8 (they
# are read as U+FFFD, which format_record writes as the three bytes of its UTF-8 encoding).
READ_ONLY = {
    "lower-case-hex-is-accepted-too",
    "invalid-utf8-becomes-replacement-characters",
    "tls-handshake-on-the-http-port",
}


@pytest.mark.parametrize(
    ("line", "expected"), [case for case in CONSTRUCTED if case.id not in READ_ONLY]
)
def test_constructed_lines_are_what_nginx_would_write(line: str, expected: AccessLogRecord) -> None:
    assert format_record(expected) == line


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("", id="empty"),
        pytest.param("\n", id="newline"),
        pytest.param("   ", id="spaces"),
        pytest.param("# comment", id="comment"),
        pytest.param(
            "2026/11/25 18:21:37 [error] 29#29: *1 open() "
            '"/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), '
            'client: 10.0.0.7, server: localhost, request: "GET /favicon.ico HTTP/1.1", '
            'host: "10.0.0.5"',
            id="error-log-line",
        ),
        pytest.param("2026/11/25 18:21:37 [notice] 1#1: start worker process 29", id="notice-line"),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "curl/7.8',
            id="truncated",
        ),
        pytest.param('10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1', id="cut-short"),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" OK 27 "-" "-" "-"',
            id="non-numeric-status",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 2OO 27 "-" "-" "-"',
            id="letter-o-status",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 20 27 "-" "-" "-"',
            id="two-digit-status",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 -1 "-" "-" "-"',
            id="negative-size",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "curl/7.88.1"',
            id="combined-format-without-x-forwarded-for",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-" 0.001',
            id="trailing-extra-field",
        ),
        pytest.param(
            '2026-11-25T18:21:37.123456789Z 10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET /'
            ' HTTP/1.1" 200 27 "-" "-" "-"',
            id="kubectl-timestamps-prefix",
        ),
        pytest.param(
            ' 10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
            id="leading-space",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Foo/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
            id="unknown-month",
        ),
        pytest.param(
            '10.0.0.7 - - [31/Feb/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
            id="impossible-date",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:24:00:00 +0000] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
            id="hour-24",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +2400] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
            id="offset-out-of-range",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
            id="time-without-offset",
        ),
        pytest.param(
            '10.0.0.7 - - [2026-11-25T18:21:37+00:00] "GET / HTTP/1.1" 200 27 "-" "-" "-"',
            id="iso8601-time",
        ),
        pytest.param(
            '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" \u0662\u0660\u0660 27'
            ' "-" "-" "-"',
            id="non-ascii-digits",
        ),
    ],
)
def test_lines_that_are_not_access_log_lines_give_none(line: str) -> None:
    assert parse_line(line) is None


def test_parse_lines_keeps_only_access_log_lines_in_order() -> None:
    first, second = SAMPLE_TABLE[0][0], SAMPLE_TABLE[1][0]
    text = (
        "2026/11/25 18:21:37 [notice] 1#1: start worker processes\r\n"
        f"{first}\r\n"
        "\r\n"
        "garbage\n"
        f"{second}"
    )
    assert parse_lines(text) == [SAMPLE_TABLE[0][1], SAMPLE_TABLE[1][1]]
    assert parse_lines("") == []


def test_parsed_records_are_real_frozen_access_log_records() -> None:
    line, expected = SAMPLE_TABLE[1]
    parsed = parse_line(line)
    assert type(parsed) is AccessLogRecord
    assert parsed == expected
    assert hash(parsed) == hash(expected)
    assert pickle.loads(pickle.dumps(parsed)) == parsed
    with pytest.raises(FrozenInstanceError):
        parsed.status = 500  # type: ignore[misc]
    assert replace(parsed, status=500).status == 500


def test_the_same_instant_in_two_offsets_keeps_each_offset() -> None:
    tokyo = parse_line(
        '10.0.0.7 - - [26/Nov/2026:03:21:37 +0900] "GET / HTTP/1.1" 200 27 "-" "-" "-"'
    )
    new_york = parse_line(
        '10.0.0.7 - - [25/Nov/2026:13:21:37 -0500] "GET / HTTP/1.1" 200 27 "-" "-" "-"'
    )
    assert tokyo is not None and new_york is not None
    assert tokyo.time_local.utcoffset() == timedelta(hours=9)
    assert new_york.time_local.utcoffset() == timedelta(hours=-5)
    assert tokyo.time_local == new_york.time_local == at(25, 18, 21, 37)


@pytest.mark.parametrize(
    ("request_line", "expected"),
    [
        ("GET / HTTP/1.1", ("GET", "/", "HTTP/1.1")),
        ("M-SEARCH * HTTP/1.1", ("M-SEARCH", "*", "HTTP/1.1")),
        ("get /lower HTTP/1.1", ("get", "/lower", "HTTP/1.1")),
        ("GET /a HTTP/1.1 HTTP/1.1", ("GET", "/a HTTP/1.1", "HTTP/1.1")),
        ("GET HTTP/1.1", ("GET", "HTTP/1.1", None)),
        ("GET / HTTP/1.1 extra", ("GET", "/ HTTP/1.1 extra", None)),
        ("GET / HTTP/1", ("GET", "/ HTTP/1", None)),
        ("GET /\ttab HTTP/1.1", ("GET", "/\ttab", "HTTP/1.1")),
        ("GET / HTTP/\u0661.\u0661", ("GET", "/ HTTP/\u0661.\u0661", None)),
        ("GET ", (None, None, None)),
        (" GET / HTTP/1.1", (None, None, None)),
        ("GE(T / HTTP/1.1", (None, None, None)),
        ("GARBAGE", (None, None, None)),
        ("", (None, None, None)),
        ("-", (None, None, None)),
    ],
)
def test_split_request(
    request_line: str, expected: tuple[str | None, str | None, str | None]
) -> None:
    assert split_request(request_line) == expected


def test_format_record_escapes_exactly_what_nginx_escapes() -> None:
    every_ascii = "".join(chr(code) for code in range(0x80))
    line = format_record(record("GET / HTTP/1.1", http_user_agent=every_ascii + "é"))
    user_agent = line.split(' "-" "', 1)[1].removesuffix('" "-"')
    printable = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) not in '"\\')
    expected = (
        "".join(f"\\x{code:02X}" for code in range(0x20))
        + printable[:2]  # space and '!'
        + "\\x22"
        + printable[2:59]  # '#' to '['
        + "\\x5C"
        + printable[59:]  # ']' to '~'
        + "\\x7F"
        + "\\xC3\\xA9"
    )
    assert user_agent == expected


def test_format_record_writes_none_as_hyphen_and_drops_sub_seconds() -> None:
    line = format_record(
        record(
            "GET / HTTP/1.1",
            remote_user=None,
            time_local=datetime(2026, 11, 25, 18, 21, 37, 999_999, tzinfo=UTC),
            http_referer="",
        )
    )
    assert line == '10.0.0.7 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 27 "" "-" "-"'


def test_a_header_whose_value_is_a_hyphen_reads_back_as_missing() -> None:
    # nginx itself cannot tell "User-Agent: -" from no User-Agent: both are logged as "-".
    parsed = parse_line(format_record(record("GET / HTTP/1.1", http_user_agent="-")))
    assert parsed is not None
    assert parsed.http_user_agent is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time_local": datetime(2026, 11, 25, 18, 21, 37)}, "timezone-aware"),
        (
            {"time_local": datetime(2026, 11, 25, tzinfo=timezone(timedelta(seconds=30)))},
            "whole minutes",
        ),
        ({"time_local": datetime(999, 1, 1, tzinfo=UTC)}, "four digits"),
        ({"status": 1000}, "0-999"),
        ({"status": -1}, "0-999"),
        ({"body_bytes_sent": -1}, "negative"),
        ({"remote_addr": ""}, "non-empty"),
        ({"remote_addr": "10.0.0.7 x"}, "without spaces"),
    ],
)
def test_format_record_refuses_what_the_format_cannot_carry(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        format_record(replace(record("GET / HTTP/1.1"), **change))  # type: ignore[arg-type]


# Property-based round trips. A record is valid when it is what nginx could have logged:
# remote_addr non-empty without spaces, an aware time in years 1000-9999 with whole seconds and
# a whole-minute offset, status 0-999, size >= 0, and no optional field holding the string "-"
# (that is how nginx writes "not found", so it reads back as None).

ascii_printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))
awkward = st.sampled_from(['"', "\\", "\\x22", "\\x5C", " - ", " [", "] ", '] "', "\x00", "\x7f"])
any_text = st.one_of(
    ascii_printable,
    st.text(),  # every code point but lone surrogates, control characters included
    st.lists(st.one_of(awkward, ascii_printable, st.text(max_size=3))).map("".join),
)
optional_text = st.none() | any_text.filter(lambda value: value != "-")

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
times = st.datetimes(
    min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=offsets
).map(lambda value: value.replace(microsecond=0))

remote_addrs = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["unix:", "127.0.0.1", "::1"]),
    any_text.filter(lambda value: value != "" and " " not in value),
)
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PRI"])
protocols = st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0"])
targets = any_text.filter(lambda value: value != "" and value == value.strip(" "))
spaces = st.integers(min_value=1, max_value=3).map(lambda count: " " * count)


@st.composite
def structured_requests(draw: st.DrawFn) -> str:
    """Return a request line assembled from a method, a target and (maybe) a protocol."""
    parts = [draw(methods), draw(spaces), draw(targets)]
    if draw(st.booleans()):
        parts += [draw(spaces), draw(protocols)]
    return "".join(parts) + draw(st.sampled_from(["", " "]))


requests = st.one_of(structured_requests(), any_text, st.sampled_from(["", "-", "GARBAGE"]))


@st.composite
def records(draw: st.DrawFn) -> AccessLogRecord:
    """Return any valid record."""
    return record(
        draw(requests),
        remote_addr=draw(remote_addrs),
        remote_user=draw(optional_text),
        time_local=draw(times),
        status=draw(st.integers(min_value=0, max_value=999)),
        body_bytes_sent=draw(st.integers(min_value=0, max_value=2**63 - 1)),
        http_referer=draw(optional_text),
        http_user_agent=draw(optional_text),
        http_x_forwarded_for=draw(optional_text),
    )


@settings(max_examples=500)
@given(records())
@example(record('GET /a"b\\c HTTP/1.1', remote_user="a [b] c", http_user_agent="\r\n\x00é😀"))
@example(record("", remote_user="", http_referer="", http_user_agent="", http_x_forwarded_for=""))
def test_parse_line_reads_back_whatever_format_record_writes(original: AccessLogRecord) -> None:
    line = format_record(original)
    assert line.isascii() and line.isprintable()
    assert_same(parse_line(line), original)
    assert_same(parse_line(line + "\r\n"), original)
    assert parse_lines(f"{line}\n{line}\n") == [original, original]


@given(
    methods,
    spaces,
    targets.filter(lambda value: not re.search(r" +HTTP/[0-9]+\.[0-9]+ *$", value)),
    st.none() | protocols,
)
def test_split_request_recovers_the_parts_of_a_request_line(
    method: str, gap: str, target: str, protocol: str | None
) -> None:
    request_line = f"{method}{gap}{target}" + (f"{gap}{protocol}" if protocol else "")
    assert split_request(request_line) == (method, target, protocol)


@given(st.text())
@example('1 - - [] "" 200 0 "" "" ""')
def test_parse_line_never_raises(text: str) -> None:
    result = parse_line(text)
    assert result is None or type(result) is AccessLogRecord
