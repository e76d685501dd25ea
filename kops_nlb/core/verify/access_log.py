"""Parse and render nginx access-log lines in the nginx image's ``main`` format.

The probe proves client-IP preservation by reading ``$remote_addr`` from the nginx pods' logs,
and the local twin writes the same lines, so both directions live here, in pure stdlib code:

    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';

What nginx writes for a variable (``escape=default``, the only mode this format uses):

- a variable that is *not found* (no header, no basic-auth user) is written as ``-``; a header
  that is present but empty is written as nothing (``""``). A header whose value is literally
  ``-`` is therefore indistinguishable from a missing one and parses as ``None``;
- every byte of the value that is ``"``, ``\\``, below 0x20 or above 0x7e is written as
  ``\\xHH`` (upper-case hex). Multi-byte UTF-8 characters become one escape per byte, so a log
  line is always plain ASCII and a quoted field never contains a raw ``"``;
- only variables are escaped, never the literal text of the format; ``$status`` is three
  zero-padded digits and ``$time_local`` has whole seconds and an offset in whole minutes
  (``+0000`` for UTC, never ``-0000``).

Decoding: escaped bytes are decoded as UTF-8 with ``errors="replace"``, so what clients send
as UTF-8 reads naturally and any byte sequence that is not UTF-8 (a TLS handshake sent to the
plain-HTTP port, for instance) becomes U+FFFD instead of failing; the original bytes of such
garbage are not recoverable. ``format_record`` encodes as UTF-8, so ``parse_line`` reads back
every record nginx could have written (see ``format_record`` for what that excludes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, make_dataclass
from datetime import datetime, timedelta, timezone

__all__ = [
    "AccessLogRecord",
    "format_record",
    "parse_line",
    "parse_lines",
    "split_request",
]


@dataclass(frozen=True, slots=True)
class AccessLogRecord:
    """One request as nginx logged it in the ``main`` format, with escapes decoded.

    ``request`` is the raw request line (``""`` or ``"-"`` when nginx read no request line);
    ``method``, ``path`` and ``protocol`` are derived from it by ``split_request``.
    """

    remote_addr: str
    remote_user: str | None
    time_local: datetime
    request: str
    method: str | None
    path: str | None
    protocol: str | None
    status: int
    body_bytes_sent: int
    http_referer: str | None
    http_user_agent: str | None
    http_x_forwarded_for: str | None


# An HTTP token (RFC 9110 tchar), which is what a method is made of.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PROTOCOL = r"HTTP/[0-9]+\.[0-9]+"

# The general request-line rule, applied to decoded text: METHOD SP+ TARGET [SP+ HTTP/x.y] SP*.
# The target is the shortest run that starts and ends with a non-space character and leaves
# only an optional protocol and spaces after it, so a target may contain spaces (nginx accepts
# some) and the protocol is always the last word.
_REQUEST = re.compile(
    rf"({_TOKEN}) +([^ ](?:.*?[^ ])??)(?: +({_PROTOCOL}))? *",
    re.ASCII | re.DOTALL,
)

# One pass over an ordinary line. The request line is split in the same pass when it has the
# usual shape (single spaces, a target without spaces); anything else is left to _REQUEST.
# Quoted fields never hold a raw '"' (nginx escapes it), which is what makes [^"]* exact, and
# the first '] "' of a line ends the time, so a user name with brackets or spaces cannot shift
# the fields. The time is only bracketed here and checked by _TIME when it is first seen.
_LINE = re.compile(
    r"(\S+) - (.*?) \[([^\[\]]*)\] "
    rf'"(({_TOKEN}) ([^" ]+) ({_PROTOCOL})|[^"]*)" '
    r"([0-9]{3}) ([0-9]+) "
    r'"([^"]*)" "([^"]*)" "([^"]*)"'
    r"\r?\n?",
    re.ASCII,
)
_TIME = re.compile(r"[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}")

_ESCAPE_RUN = re.compile(r"(?:\\x[0-9A-Fa-f]{2})+")
_NEEDS_ESCAPE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_BYTE_TEXT = tuple(
    chr(b) if 0x20 <= b <= 0x7E and b not in (0x22, 0x5C) else f"\\x{b:02X}" for b in range(256)
)

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_STATUSES = {f"{code:03d}": code for code in range(1000)}
_TZ_CACHE: dict[str, timezone] = {}
# Lines arrive in time order, many per second: remember the datetimes already built.
_TIME_CACHE: dict[str, datetime] = {}
_TIME_CACHE_SIZE = 4096

# A frozen dataclass sets each field through object.__setattr__, which makes AccessLogRecord(...)
# cost about as much as the whole rest of parse_line. The parser instead fills this mutable twin
# (same slots, same order) with plain attribute stores and then re-labels it: the result is a
# genuine, frozen AccessLogRecord, equal to one built by its own constructor. Python allows the
# re-labelling because both classes have the same slot layout; a test guards the result.
_MutableRecord = make_dataclass(
    "_MutableRecord",
    [(field.name, field.type) for field in fields(AccessLogRecord)],
    slots=True,
)


def _parse_time(text: str) -> datetime | None:
    """Return the aware datetime of a ``$time_local`` value, or None if it is not a real time."""
    month = _MONTHS.get(text[3:6])
    if month is None or _TIME.fullmatch(text) is None:
        return None
    offset = text[21:26]
    tz = _TZ_CACHE.get(offset)
    try:
        if tz is None:
            minutes = int(offset[1:3]) * 60 + int(offset[3:5])
            tz = timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
            _TZ_CACHE[offset] = tz
        parsed = datetime(
            int(text[7:11]),
            month,
            int(text[0:2]),
            int(text[12:14]),
            int(text[15:17]),
            int(text[18:20]),
            tzinfo=tz,
        )
    except ValueError:
        return None
    if len(_TIME_CACHE) >= _TIME_CACHE_SIZE:
        _TIME_CACHE.clear()
    _TIME_CACHE[text] = parsed
    return parsed


def _decode_run(match: re.Match[str]) -> str:
    """Return the text of one run of consecutive ``\\xHH`` escapes, decoded as UTF-8."""
    return bytes.fromhex(match.group().replace("\\x", "")).decode("utf-8", "replace")


def _unescape(value: str) -> str:
    """Return a logged value with nginx's ``\\xHH`` escapes decoded."""
    if "\\" not in value:
        return value
    return _ESCAPE_RUN.sub(_decode_run, value)


def _unescape_optional(value: str) -> str | None:
    """Return a logged value decoded, or None for nginx's ``-`` (variable not found)."""
    if value == "-":
        return None
    return _unescape(value)


def split_request(request: str) -> tuple[str | None, str | None, str | None]:
    """Return (method, path, protocol) of a decoded request line, all None if it is malformed.

    ``GET / HTTP/1.1`` gives all three; an HTTP/0.9 line such as ``GET /`` gives no protocol;
    a line without a target (``GARBAGE``, ``""``, ``-``) gives three Nones.
    """
    match = _REQUEST.fullmatch(request)
    if match is None:
        return None, None, None
    method, path, protocol = match.groups()
    return method, path, protocol


def parse_line(line: str) -> AccessLogRecord | None:
    """Return the record of one ``main``-format line, or None if it is not an access-log line.

    A trailing ``\\n`` or ``\\r\\n`` is ignored.
    """
    match = _LINE.fullmatch(line)
    if match is None:
        return None
    (
        remote_addr,
        remote_user,
        time_text,
        request,
        method,
        path,
        protocol,
        status,
        body_bytes_sent,
        referer,
        user_agent,
        forwarded_for,
    ) = match.groups()
    time_local = _TIME_CACHE.get(time_text) or _parse_time(time_text)
    if time_local is None:
        return None
    if "\\" in line:
        request = _unescape(request)
        method, path, protocol = split_request(request)
        record = _MutableRecord(
            _unescape(remote_addr),
            _unescape_optional(remote_user),
            time_local,
            request,
            method,
            path,
            protocol,
            _STATUSES[status],
            int(body_bytes_sent),
            _unescape_optional(referer),
            _unescape_optional(user_agent),
            _unescape_optional(forwarded_for),
        )
    else:
        if method is None and " " in request:
            method, path, protocol = split_request(request)
        record = _MutableRecord(
            remote_addr,
            None if remote_user == "-" else remote_user,
            time_local,
            request,
            method,
            path,
            protocol,
            _STATUSES[status],
            int(body_bytes_sent),
            None if referer == "-" else referer,
            None if user_agent == "-" else user_agent,
            None if forwarded_for == "-" else forwarded_for,
        )
    record.__class__ = AccessLogRecord
    return record


def parse_lines(text: str) -> list[AccessLogRecord]:
    """Return the records of every access-log line in ``text``, skipping all other lines."""
    records = []
    for line in text.split("\n"):
        record = parse_line(line)
        if record is not None:
            records.append(record)
    return records


def _escape(value: str) -> str:
    """Return a value as nginx logs it: ``"``, ``\\`` and non-printable UTF-8 bytes as ``\\xHH``."""
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return "".join([_BYTE_TEXT[b] for b in value.encode("utf-8")])


def _escape_optional(value: str | None) -> str:
    """Return a value as nginx logs it, ``-`` for None (variable not found)."""
    return "-" if value is None else _escape(value)


def _format_time(value: datetime) -> str:
    """Return an aware datetime as ``$time_local`` (whole seconds, offset in whole minutes)."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"time_local must be timezone-aware, got {value!r}")
    seconds = int(offset.total_seconds())
    if seconds % 60 or offset.microseconds:
        raise ValueError(f"time_local offset must be whole minutes, got {offset}")
    if not 1000 <= value.year <= 9999:
        raise ValueError(f"time_local year must have four digits, got {value.year}")
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return (
        f"{value.day:02d}/{_MONTH_NAMES[value.month - 1]}/{value.year}:"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} "
        f"{'-' if seconds < 0 else '+'}{hours:02d}{minutes:02d}"
    )


def format_record(record: AccessLogRecord) -> str:
    """Return the line nginx would write for ``record`` (no trailing newline).

    Only ``request`` is written; ``method``, ``path`` and ``protocol`` are views of it.
    Sub-second precision of ``time_local`` is dropped, as nginx logs whole seconds. Raises
    ValueError for what the format cannot carry: a naive or sub-minute-offset time, a year
    outside 1000-9999, a status outside 0-999, a negative size, an empty ``remote_addr`` or
    one with a space, or a string holding a lone surrogate (it has no UTF-8 encoding).
    ``None`` and the string ``"-"`` are written alike, and so read back as ``None``.
    """
    remote_addr = _escape(record.remote_addr)
    if not remote_addr or " " in remote_addr:
        raise ValueError(f"remote_addr must be non-empty without spaces: {record.remote_addr!r}")
    if not 0 <= record.status <= 999:
        raise ValueError(f"status must be within 0-999, got {record.status}")
    if record.body_bytes_sent < 0:
        raise ValueError(f"body_bytes_sent must not be negative, got {record.body_bytes_sent}")
    return (
        f"{remote_addr} - {_escape_optional(record.remote_user)} "
        f'[{_format_time(record.time_local)}] "{_escape(record.request)}" '
        f"{record.status:03d} {record.body_bytes_sent} "
        f'"{_escape_optional(record.http_referer)}" '
        f'"{_escape_optional(record.http_user_agent)}" '
        f'"{_escape_optional(record.http_x_forwarded_for)}"'
    )
