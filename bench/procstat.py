"""CPU time and memory of a process tree, read from Linux's /proc (parsing is pure).

The fleet benchmark runs verifications as child processes of a work-pool worker; their CPU time
reaches the worker's ``cutime``/``cstime`` when the worker reaps them, and their peak memory is
their ``VmHWM``, read by a sampler while they live.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuTimes:
    """A process's CPU seconds: its own, and that of the children it has reaped."""

    own: float
    reaped_children: float


def parse_stat(text: str, *, ticks: int = CLOCK_TICKS) -> CpuTimes:
    """Return the CPU times of a ``/proc/<pid>/stat`` line.

    The command name (field 2) is in parentheses and may itself hold spaces or parentheses, so
    the fields are counted from the last ``)``: utime, stime, cutime and cstime are fields 14-17.
    """
    rest = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in rest[11:15])
    return CpuTimes(own=(utime + stime) / ticks, reaped_children=(cutime + cstime) / ticks)


def parse_status_kib(text: str, key: str) -> int | None:
    """Return a ``kB`` figure of a ``/proc/<pid>/status`` text (``VmHWM``, ``VmRSS``), or None."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0])
    return None


def parse_children(texts: list[str]) -> list[int]:
    """Return the pids listed by the ``/proc/<pid>/task/<tid>/children`` files of a process."""
    return [int(pid) for text in texts for pid in text.split()]


def cpu_times(pid: int) -> CpuTimes:
    """Return the CPU times of a live process."""
    return parse_stat((PROC / str(pid) / "stat").read_text())


def children(pid: int) -> list[int]:
    """Return the live direct children of a process (empty when it has exited)."""
    try:
        texts = [p.read_text() for p in (PROC / str(pid) / "task").glob("*/children")]
    except OSError:
        return []
    return parse_children(texts)


def memory_kib(pid: int) -> tuple[int, int] | None:
    """Return (resident, peak resident) KiB of a live process, or None once it has gone."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    rss, peak = parse_status_kib(text, "VmRSS"), parse_status_kib(text, "VmHWM")
    return None if rss is None or peak is None else (rss, peak)


def tree_rss_kib(pid: int) -> int:
    """Return the resident KiB of a process and all its live descendants."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        memory = memory_kib(current)
        if memory is not None:
            total += memory[0]
            pending.extend(children(current))
    return total


@dataclass
class ChildSampler:
    """Samples the direct children of `parent` every `interval` s while running: each child's
    peak resident memory (its high-water mark) and the most all children held at once."""

    parent: int
    interval: float = 0.2
    peak_kib: dict[int, int] = field(default_factory=dict)
    most_at_once_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        """Take one sample."""
        at_once = 0
        for child in children(self.parent):
            memory = memory_kib(child)
            if memory is None:
                continue
            at_once += tree_rss_kib(child)
            self.peak_kib[child] = max(self.peak_kib.get(child, 0), memory[1])
        self.most_at_once_kib = max(self.most_at_once_kib, at_once)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._loop, name="child-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def parse_listening_ipv4(text: str) -> list[str]:
    """Return the local addresses of the listening sockets of a ``/proc/net/tcp`` text."""
    addresses = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
            packed = bytes.fromhex(fields[1].split(":")[0])[::-1]
            addresses.append(".".join(str(b) for b in packed))
    return addresses


def listening_ipv4() -> list[str]:
    """Return the local IPv4 addresses something listens on (TCP)."""
    return parse_listening_ipv4((PROC / "net" / "tcp").read_text())
