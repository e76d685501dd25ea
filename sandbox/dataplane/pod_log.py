"""A container's log as the kubelet keeps and serves it: bounded, stamped, filterable."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import UTC, datetime

from sandbox.dataplane.nginx_log import rfc3339nano

DEFAULT_MAX_LOG_LINES = 100_000


class PodLog:
    """One container's log: the last ``max_lines`` lines with the moment each was written."""

    def __init__(self, max_lines: int = DEFAULT_MAX_LOG_LINES) -> None:
        self._lines: deque[tuple[int, str]] = deque(maxlen=max_lines)
        self._lock = threading.Lock()

    def append(self, text: str, epoch_ns: int | None = None) -> None:
        """Add one line (no newline) written at ``epoch_ns`` (now by default)."""
        stamp = time.time_ns() if epoch_ns is None else epoch_ns
        with self._lock:
            self._lines.append((stamp, text))

    def __len__(self) -> int:
        with self._lock:
            return len(self._lines)

    def render(
        self, *, since: datetime | None = None, tail_lines: int | None = None, timestamps: bool
    ) -> str:
        """Return the log as the kubelet serves it: newline-terminated lines, oldest first.

        Like the kubelet, ``tail_lines`` picks the last lines first and ``since`` then drops
        those written before it (a line written exactly at ``since`` stays); ``timestamps``
        prefixes each line with its RFC3339Nano moment and a space.
        """
        with self._lock:
            lines = list(self._lines)
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        if since is not None:
            floor = _epoch_ns(since)
            lines = [(stamp, text) for stamp, text in lines if stamp >= floor]
        if timestamps:
            return "".join(f"{rfc3339nano(stamp)} {text}\n" for stamp, text in lines)
        return "".join(f"{text}\n" for _, text in lines)


def _epoch_ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
