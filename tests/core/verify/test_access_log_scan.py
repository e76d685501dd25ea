"""The run-token scan and the streaming parse: same records as the line parser, any chunking."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kops_nlb.core.verify.access_log import parse_line, parse_lines
from kops_nlb.core.verify.access_log_scan import (
    MAX_LINE_BYTES,
    TokenScanner,
    iter_lines,
    iter_records,
    scan_for_token,
)

TOKEN = "3f2a9c1e0b7d"
OTHER = "0000aaaa1111"


def probe(seq: int, token: str = TOKEN, remote: str = "10.0.1.5") -> str:
    return (
        f'{remote} - - [25/Nov/2026:18:21:{seq % 60:02d} +0000] "GET /?probe={token}&i={seq} '
        f'HTTP/1.1" 200 615 "-" "nlb-probe/{token}-0-{seq}" "-"'
    )


PLAIN = '10.0.2.9 - - [25/Nov/2026:18:21:37 +0000] "GET / HTTP/1.1" 200 615 "-" "curl/8.5.0" "-"'
NOTICE = "2026/11/25 18:21:37 [notice] 1#1: start worker processes"

LOG_LINES = [
    NOTICE,
    PLAIN,
    probe(1),
    probe(1, token=OTHER),
    # The token in a field the probe does not use: parsed, and still an access-log record.
    f'10.0.2.9 - - [25/Nov/2026:18:21:38 +0000] "GET / HTTP/1.1" 200 1 "https://x/{TOKEN}" "-" "-"',
    # The token in a line that is not an access-log line.
    f"2026/11/25 18:21:39 [error] 29#29: *3 probe={TOKEN} refused",
    # Escaped bytes and a carriage return around the token.
    (
        f'10.0.1.5 - - [25/Nov/2026:18:21:40 +0000] "GET /\\xE3\\x81\\x82?probe={TOKEN}&i=3'
        ' HTTP/1.1" 200 615 "-" "-" "-"\r'
    ),
    probe(4),
]
LOG = ("\n".join(LOG_LINES) + "\n").encode()


def expected_token_records() -> list[object]:
    return [r for line in LOG_LINES if TOKEN in line and (r := parse_line(line)) is not None]


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 2, 7, 64, 100, len(LOG)])
def test_the_scan_finds_exactly_the_token_lines_whatever_the_chunking(size: int) -> None:
    scan = scan_for_token(chunked(LOG, size), TOKEN)
    assert list(scan.records) == expected_token_records()
    assert [r.path for r in scan.records][:2] == [f"/?probe={TOKEN}&i=1", "/"]
    assert scan.other_lines == len(LOG_LINES) - len(scan.records)


def test_a_line_with_the_token_twice_gives_one_record() -> None:
    # A probe line carries the token in its path and in its User-Agent.
    scan = scan_for_token([LOG], TOKEN)
    assert sum(1 for r in scan.records if r.path == f"/?probe={TOKEN}&i=1") == 1


def test_another_runs_token_is_not_read() -> None:
    scan = scan_for_token([LOG], OTHER)
    assert [r.path for r in scan.records] == [f"/?probe={OTHER}&i=1"]
    assert scan.other_lines == len(LOG_LINES) - 1


def test_a_log_without_a_final_newline_keeps_its_last_line() -> None:
    scan = scan_for_token([LOG.rstrip(b"\n")], TOKEN)
    assert list(scan.records) == expected_token_records()
    assert scan.other_lines == len(LOG_LINES) - len(scan.records)


def test_empty_logs_and_logs_without_the_token() -> None:
    assert scan_for_token([], TOKEN).records == ()
    assert scan_for_token([b""], TOKEN).other_lines == 0
    scan = scan_for_token([f"{PLAIN}\n{NOTICE}\n".encode()], TOKEN)
    assert (scan.records, scan.other_lines) == ((), 2)


@pytest.mark.parametrize("size", [1000, 64 * 1024, 10 * MAX_LINE_BYTES])
def test_an_over_long_line_is_counted_and_dropped_and_never_held(size: int) -> None:
    huge = b"A" * (3 * MAX_LINE_BYTES) + TOKEN.encode() + b"B" * MAX_LINE_BYTES
    data = probe(1).encode() + b"\n" + huge + b"\n" + probe(2).encode() + b"\n"
    scanner = TokenScanner(TOKEN)
    held = 0
    for chunk in chunked(data, size):
        scanner.feed(chunk)
        held = max(held, len(scanner._pending))
    scan = scanner.finish()
    assert [r.path for r in scan.records] == [f"/?probe={TOKEN}&i=1", f"/?probe={TOKEN}&i=2"]
    assert scan.other_lines == 1
    assert held <= MAX_LINE_BYTES + size


def test_an_unterminated_over_long_last_line_is_counted() -> None:
    scan = scan_for_token([probe(1).encode() + b"\n" + b"x" * (MAX_LINE_BYTES + 1)], TOKEN)
    assert (len(scan.records), scan.other_lines) == (1, 1)


def test_invalid_utf8_and_nul_bytes_around_the_token_do_not_break_the_scan() -> None:
    data = b"\xff\xfe\x00" + TOKEN.encode() + b"\x80\n" + probe(5).encode() + b"\n"
    scan = scan_for_token(chunked(data, 3), TOKEN)
    assert [r.path for r in scan.records] == [f"/?probe={TOKEN}&i=5"]
    assert scan.other_lines == 1


@pytest.mark.parametrize("token", ["", "abc", "a\nb", "a b", "x" * 65, "dé0f"])
def test_a_token_that_could_be_escaped_or_span_lines_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="run token"):
        TokenScanner(token)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.sampled_from([*LOG_LINES, "", "\r", "garbage " + TOKEN, "ü" + TOKEN]), max_size=30
    ),
    size=st.integers(min_value=1, max_value=50),
)
def test_scan_agrees_with_the_line_parser(lines: list[str], size: int) -> None:
    text = "".join(f"{line}\n" for line in lines)
    scan = scan_for_token(chunked(text.encode(), size), TOKEN)
    assert list(scan.records) == [
        r for line in lines if TOKEN in line and (r := parse_line(line)) is not None
    ]
    assert scan.other_lines == len(lines) - len(scan.records)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.sampled_from([*LOG_LINES, "", "é", "x" * 10]), max_size=30),
    size=st.integers(min_value=1, max_value=50),
)
def test_iter_lines_gives_back_the_lines_of_any_chunking(lines: list[str], size: int) -> None:
    text = "\n".join(lines)
    expected = text.split("\n")
    if expected[-1] == "":
        expected.pop()  # a newline ends a line; it starts none
    assert list(iter_lines(chunked(text.encode(), size))) == expected


def test_iter_lines_skips_over_long_lines() -> None:
    data = b"a\n" + b"x" * (MAX_LINE_BYTES + 1) + b"\nb\n" + b"y" * (MAX_LINE_BYTES + 5)
    assert list(iter_lines(chunked(data, 1000))) == ["a", "b"]


def test_iter_records_is_the_line_parser_streamed() -> None:
    text = "\n".join(LOG_LINES)
    assert list(iter_records(iter_lines([text.encode()]))) == parse_lines(text)


def test_the_streaming_parse_holds_no_records() -> None:
    line = (PLAIN + "\n").encode()

    def log(count: int) -> Iterator[bytes]:
        for _ in range(count // 100):
            yield line * 100

    def peak(count: int) -> int:
        tracemalloc.start()
        seen = sum(1 for _ in iter_records(iter_lines(log(count))))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert seen == count
        return top

    # Holding the records would take hundreds of bytes each: ~70 MiB more for 90,000 more lines.
    assert peak(100_000) - peak(10_000) < 2 * 2**20
