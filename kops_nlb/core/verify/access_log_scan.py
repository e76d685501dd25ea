"""Read nginx pod logs as streams of bytes: a run-token scan, and a streaming full parse.

A verification only needs the lines its own probe wrote, and they all carry the run's token (in
the path and the User-Agent). ``scan_for_token`` therefore searches the raw bytes for the token
and fully parses only the lines around each hit; every other line is only counted. The cost
follows the size of the log at the speed of a bytes search, not the speed of the parser.

``iter_lines`` and ``iter_records`` are the full parse for whoever needs every record: both are
generators, so a log of any length is read in constant memory.

Lines are separated by ``\\n``; a trailing ``\\r`` is accepted (``parse_line`` ignores it).
A line longer than ``MAX_LINE_BYTES`` is not an access-log line nginx writes for a probe (its
fields are short and escaped): it is counted and dropped, so no line can make the reader hold
more than that many bytes.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kops_nlb.core.verify.access_log import AccessLogRecord, parse_line

__all__ = [
    "MAX_LINE_BYTES",
    "TokenScan",
    "TokenScanner",
    "iter_lines",
    "iter_records",
    "scan_for_token",
]

MAX_LINE_BYTES = 64 * 1024
# What a run token may be: what ``new_probe_token`` makes, and nothing that can span two lines
# or be escaped by nginx (so the token's bytes in the log are the token's bytes).
_TOKEN = re.compile(r"[0-9A-Za-z_-]{4,64}")


@dataclass(frozen=True)
class TokenScan:
    """What one pod's log holds for a run: the records that carry its token, and the rest.

    ``other_lines`` counts every line that gave no record here: lines without the token (never
    parsed) and lines with it that are not access-log lines.
    """

    records: tuple[AccessLogRecord, ...]
    other_lines: int


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "replace")


class TokenScanner:
    """Feed a log's bytes in chunks of any size; ``finish`` returns the scan."""

    def __init__(self, token: str) -> None:
        if _TOKEN.fullmatch(token) is None:
            raise ValueError(f"a run token is 4-64 letters, digits, '_' or '-', got {token!r}")
        self._token = token.encode("ascii")
        self._pending = b""
        self._dropping = False  # inside a line longer than MAX_LINE_BYTES
        self._lines = 0
        self._records: list[AccessLogRecord] = []

    def feed(self, chunk: bytes) -> None:
        """Scan the complete lines of ``pending + chunk``; keep the unfinished last line."""
        if not chunk:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            self._hold(chunk)
            return
        if self._dropping:
            # The rest of an over-long line: it ends at the first newline of this chunk.
            cut = chunk.find(b"\n") + 1
            self._lines += 1
            self._dropping = False
            chunk, end = chunk[cut:], end - cut
            if end < 0:
                self._hold(chunk)
                return
        block = self._pending + chunk[: end + 1] if self._pending else chunk[: end + 1]
        self._pending = b""
        self._scan_block(block)
        self._hold(chunk[end + 1 :])

    def finish(self) -> TokenScan:
        """Scan the last line (a log need not end with a newline) and return the result."""
        if self._dropping:
            self._lines += 1
        elif self._pending:
            self._scan_block(self._pending + b"\n")
        self._pending, self._dropping = b"", False
        records = tuple(self._records)
        return TokenScan(records=records, other_lines=self._lines - len(records))

    def _hold(self, tail: bytes) -> None:
        """Keep an unfinished line, or drop it once it is longer than any probe line can be."""
        if self._dropping or not tail:
            return
        self._pending += tail
        if len(self._pending) > MAX_LINE_BYTES:
            self._pending, self._dropping = b"", True

    def _scan_block(self, block: bytes) -> None:
        """Count the lines of a block that ends with a newline; parse those with the token."""
        self._lines += block.count(b"\n")
        token, find, rfind = self._token, block.find, block.rfind
        hit = find(token)
        while hit >= 0:
            start = rfind(b"\n", 0, hit) + 1
            end = find(b"\n", hit)
            if end - start <= MAX_LINE_BYTES:
                record = parse_line(_decode(block[start:end]))
                if record is not None:
                    self._records.append(record)
            hit = find(token, end + 1)


def scan_for_token(chunks: Iterable[bytes], token: str) -> TokenScan:
    """Return the access-log records of the lines carrying ``token``, and how many others."""
    scanner = TokenScanner(token)
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.finish()


def iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Yield the decoded lines of a byte stream, without their newlines, in constant memory.

    Each chunk is decoded once (a character split between two chunks is carried over); lines
    longer than ``MAX_LINE_BYTES`` characters are skipped.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    dropping = False
    for chunk in chunks:
        parts = decoder.decode(chunk).split("\n")
        if len(parts) == 1:
            if not dropping:
                pending += parts[0]
                if len(pending) > MAX_LINE_BYTES:
                    pending, dropping = "", True
            continue
        first = pending + parts[0]
        if not dropping and len(first) <= MAX_LINE_BYTES:
            yield first
        dropping = False
        for part in parts[1:-1]:
            if len(part) <= MAX_LINE_BYTES:
                yield part
        pending = parts[-1]
        if len(pending) > MAX_LINE_BYTES:
            pending, dropping = "", True
    pending += decoder.decode(b"", final=True)
    if pending and not dropping:
        yield pending


def iter_records(lines: Iterable[str]) -> Iterator[AccessLogRecord]:
    """Yield the record of every access-log line, skipping all other lines."""
    for line in lines:
        record = parse_line(line)
        if record is not None:
            yield record
