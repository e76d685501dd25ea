"""The lines an nginx container writes to its stdout/stderr, which become its pod log.

The nginx image symlinks its access log to stdout and its error log to stderr, and logs each
request with the ``main`` format (see ``MAIN_FORMAT``). Variables are written with nginx's
default escaping: ``"``, ``\\`` and every byte below 0x20 or from 0x7f up become ``\\xHH``
(upper-case hex), a variable that is not set at all becomes ``-``, and one that is set but
empty stays empty. This is written from the format's description, on purpose independently of
the product's parser (``tasks/access_log.py``): the twin must not share the code it tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MAIN_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"'
)
UNSET = "-"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ESCAPED = tuple(
    f"\\x{b:02X}" if b in (0x22, 0x5C) or b < 0x20 or b >= 0x7F else chr(b) for b in range(256)
)


def escape(value: bytes | None) -> str:
    """Return a variable's value as nginx's default log escaping writes it (``-`` if unset)."""
    if value is None:
        return UNSET
    return "".join(_ESCAPED[b] for b in value)


def time_local(epoch_ns: int) -> str:
    """Return ``$time_local`` for a moment (the image runs in UTC): ``25/Nov/2026:18:21:37 +0000``."""
    t = time.gmtime(epoch_ns // 1_000_000_000)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def error_log_time(epoch_ns: int) -> str:
    """Return the error log's timestamp: ``2026/11/25 18:21:37``."""
    t = time.gmtime(epoch_ns // 1_000_000_000)
    return (
        f"{t.tm_year:04d}/{t.tm_mon:02d}/{t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )


def rfc3339nano(epoch_ns: int) -> str:
    """Return a moment the way the kubelet prefixes log lines (Go's RFC3339Nano, in UTC).

    Go drops trailing zeros of the fraction, and the fraction entirely when it is zero.
    """
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    t = time.gmtime(seconds)
    base = (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


@dataclass(frozen=True)
class AccessRecord:
    """The values one access-log line is made of (raw bytes as received, ``None`` if unset)."""

    remote_addr: str
    epoch_ns: int
    request: bytes | None
    status: int
    body_bytes_sent: int
    remote_user: bytes | None = None
    referer: bytes | None = None
    user_agent: bytes | None = None
    forwarded_for: bytes | None = None


def format_main(record: AccessRecord) -> str:
    """Return the ``main``-format line for one request (without the newline)."""
    return (
        f"{record.remote_addr} - {escape(record.remote_user)} [{time_local(record.epoch_ns)}] "
        f'"{escape(record.request)}" {record.status} {record.body_bytes_sent} '
        f'"{escape(record.referer)}" "{escape(record.user_agent)}" '
        f'"{escape(record.forwarded_for)}"'
    )


def format_error(
    *, epoch_ns: int, level: str, message: str, pid: int, connection: int | None = None
) -> str:
    """Return an error-log line: ``<time> [<level>] <pid>#<pid>: [*<conn> ]<message>``."""
    conn = f"*{connection} " if connection is not None else ""
    return f"{error_log_time(epoch_ns)} [{level}] {pid}#{pid}: {conn}{message}"


def printable(value: bytes) -> str:
    """Return bytes as the error log prints them inside quotes (control bytes as ``\\xHH``)."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02X}" for b in value)
