"""Throughput and memory of the access-log parser on a large generated pod log.

`write_log` writes realistic ``kubectl logs`` output of an nginx pod: mostly probe and client
requests in the image's ``main`` format, some with escaped bytes, odd methods, malformed request
lines, and the entrypoint/error lines that share the stream. `measure` parses it in a fresh
process pinned to one core (``python -m bench.logparse FILE``) and reads that process's peak
resident memory.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kops_nlb.core.verify.access_log import parse_lines

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROBE_TOKEN = "3f2a9c1e"
# Lines parsed again with the garbage collector off, to show what the collector costs.
GC_SAMPLE_LINES = 200_000
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BROWSER_AGENTS = (
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15"
    ),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "kube-probe/1.35",
    "Prometheus/3.0.1",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
)
_PATHS = (
    "/",
    "/index.html",
    "/healthz",
    "/static/app.3f9c1e.js",
    "/static/style.css?v=20261125",
    "/api/v1/items?page=2&size=50",
    "/favicon.ico",
    "/search?q=client+ip&lang=en",
    "/path%20with%20space?q=%22x%22",
)
_REFERERS = ("-", "https://intranet.example.com/", "https://intranet.example.com/search?q=nlb")
_OTHER_LINES = (
    "/docker-entrypoint.sh: Configuration complete; ready for start up",
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
    "{when} [notice] 1#1: signal 3 (SIGQUIT) received, shutting down",
    (
        '{when} [error] 29#29: *3 open() "/usr/share/nginx/html/favicon.ico" failed '
        "(2: No such file or directory), client: 127.20.2.145, server: localhost, "
        'request: "GET /favicon.ico HTTP/1.1", host: "internal-nlb.example"'
    ),
)


def _clock_text(moment: datetime) -> str:
    return (
        f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} +0000"
    )


def generate_lines(count: int, *, seed: int = 7) -> Iterator[str]:
    """Yield `count` lines of an nginx pod's log, in time order (deterministic for a seed)."""
    rng = random.Random(seed)
    moment = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)
    clock = _clock_text(moment)
    token = PROBE_TOKEN
    clients = [f"127.20.{rng.randrange(0, 4)}.{rng.randrange(2, 254)}" for _ in range(40)]
    for index in range(count):
        if rng.random() < 0.01:  # about 100 lines a second
            moment += timedelta(seconds=1)
            clock = _clock_text(moment)
        roll = rng.random()
        client = rng.choice(clients)
        if roll < 0.40:
            yield (
                f'{clients[0]} - - [{clock}] "GET /?probe={token}&i={index % 10000} HTTP/1.1" '
                f'200 615 "-" "nlb-probe/{token}-{index % 10000:04d}" "-"'
            )
        elif roll < 0.55:
            yield f'{client} - - [{clock}] "GET / HTTP/1.1" 200 615 "-" "curl/8.5.0" "-"'
        elif roll < 0.80:
            user = "-" if rng.random() < 0.9 else "alice"
            forwarded = "-" if rng.random() < 0.7 else f"203.0.113.{rng.randrange(1, 255)}"
            status, size = rng.choice(((200, 615), (200, 18234), (304, 0), (404, 153)))
            yield (
                f'{client} - {user} [{clock}] "GET {rng.choice(_PATHS)} HTTP/1.1" {status} '
                f'{size} "{rng.choice(_REFERERS)}" "{rng.choice(_BROWSER_AGENTS)}" "{forwarded}"'
            )
        elif roll < 0.88:
            method, status = rng.choice((("HEAD", 200), ("POST", 405), ("PUT", 405), ("GET", 499)))
            protocol = rng.choice(("HTTP/1.0", "HTTP/1.1", "HTTP/2.0"))
            yield (
                f'{client} - - [{clock}] "{method} {rng.choice(_PATHS)} {protocol}" {status} 157 '
                f'"-" "curl/7.88.1" "-"'
            )
        elif roll < 0.93:
            yield (
                f'{client} - - [{clock}] "GET /\\xE3\\x81\\x82?q=\\x22quoted\\x22 HTTP/1.1" 404 '
                f'153 "-" "Mozilla/5.0 \\x22odd\\x22 agent" "-"'
            )
        elif roll < 0.96:
            request = rng.choice(
                ("\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03", "-", "GARBAGE", "")
            )
            yield f'{client} - - [{clock}] "{request}" 400 157 "-" "-" "-"'
        else:
            when = f"{moment:%Y/%m/%d %H:%M:%S}"
            yield rng.choice(_OTHER_LINES).format(when=when)


def write_log(path: Path, *, lines: int, seed: int = 7) -> int:
    """Write `lines` generated log lines to `path`; return its size in bytes."""
    with path.open("w", encoding="ascii") as handle:
        batch: list[str] = []
        for line in generate_lines(lines, seed=seed):
            batch.append(line)
            if len(batch) >= 10_000:
                handle.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            handle.write("\n".join(batch) + "\n")
    return path.stat().st_size


@dataclass(frozen=True)
class ParseRun:
    """One parse of the whole file in a fresh process."""

    lines: int
    records: int
    seconds: float
    cpu_seconds: float
    file_mb: float
    rss_before_mb: float
    peak_rss_mb: float
    sample_lines: int
    sample_lines_per_second: float
    gc_off_lines_per_second: float
    token_scan_lines_per_second: float

    @property
    def lines_per_second(self) -> float:
        """Return lines parsed per second of wall time."""
        return self.lines / self.seconds if self.seconds else 0.0

    @property
    def lines_per_cpu_second(self) -> float:
        """Return lines parsed per second of the core's time (what one core can do)."""
        return self.lines / self.cpu_seconds if self.cpu_seconds else 0.0


def measure(path: Path, *, timeout: float = 600.0) -> ParseRun:
    """Parse `path` in a child process pinned to one core and return what it measured."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.logparse", str(path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return ParseRun(**json.loads(completed.stdout.strip().splitlines()[-1]))


def _status_mb(field: str) -> float:
    """Return a memory field of /proc/self/status (VmRSS, VmHWM) in MiB, 0 if unavailable."""
    status = Path("/proc/self/status")
    if not status.exists():
        return 0.0
    for line in status.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _child(path: Path) -> ParseRun:
    """Parse the file in this process (one core) and return the measurements."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    text = path.read_text(encoding="ascii")
    lines = text.count("\n")
    before = _status_mb("VmRSS")
    cpu = time.process_time()
    started = time.perf_counter()
    records = parse_lines(text)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    # VmHWM starts afresh at exec; ru_maxrss would carry over the parent's peak.
    peak = _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    count = len(records)
    del records
    gc.collect()
    sample = text.split("\n", GC_SAMPLE_LINES)[:GC_SAMPLE_LINES]
    sample_text = "\n".join(sample)
    rates = []
    for collect in (True, False):
        if not collect:
            gc.disable()
        started = time.process_time()
        parsed = parse_lines(sample_text)
        rates.append(len(sample) / (time.process_time() - started))
        gc.enable()
        del parsed
        gc.collect()
    gc_on, gc_off = rates
    started = time.process_time()
    matching = sum(1 for line in text.split("\n") if PROBE_TOKEN in line)
    scan = lines / (time.process_time() - started)
    assert matching > 0
    return ParseRun(
        lines=lines,
        records=count,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        file_mb=path.stat().st_size / 2**20,
        rss_before_mb=before,
        peak_rss_mb=peak,
        sample_lines=len(sample),
        sample_lines_per_second=gc_on,
        gc_off_lines_per_second=gc_off,
        token_scan_lines_per_second=scan,
    )


if __name__ == "__main__":
    run = _child(Path(sys.argv[1]))
    print(json.dumps(asdict(run)))
