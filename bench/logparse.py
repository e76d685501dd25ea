"""Throughput and memory of the access-log reading on a large generated pod log.

`write_log` writes realistic ``kubectl logs`` output of an nginx pod: probe requests of many
verification runs (each run its own token), client requests in the image's ``main`` format, some
with escaped bytes, odd methods, malformed request lines, and the entrypoint/error lines that
share the stream. `measure` reads it in a fresh process pinned to one core (``python -m
bench.logparse FILE``), streamed in the chunks the verification reads a pod log in, twice:

- the run-token scan the verification does (``scan_for_token`` for one run's token);
- the full streaming parse (``iter_records(iter_lines(...))``), keeping only counts;

and reads that process's peak resident memory during the full parse.
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
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kops_nlb.core.verify.access_log_scan import iter_lines, iter_records, scan_for_token
from kops_nlb.kube.workload import LOG_CHUNK_BYTES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# One verification run's probe requests among every this many lines (a new token each time).
LINES_PER_RUN = 20_000
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


def run_token(run: int) -> str:
    """Return the probe token of the verification run `run` of a generated log."""
    return f"{run * 0x9E3779B1 % 2**48:012x}"


def generate_lines(count: int, *, seed: int = 7) -> Iterator[str]:
    """Yield `count` lines of an nginx pod's log, in time order (deterministic for a seed)."""
    rng = random.Random(seed)
    moment = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)
    clock = _clock_text(moment)
    clients = [f"127.20.{rng.randrange(0, 4)}.{rng.randrange(2, 254)}" for _ in range(40)]
    for index in range(count):
        if rng.random() < 0.01:  # about 100 lines a second
            moment += timedelta(seconds=1)
            clock = _clock_text(moment)
        token = run_token(index // LINES_PER_RUN)
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
    """One scan and one full parse of the whole file in a fresh process."""

    lines: int
    records: int
    file_mb: float
    scan_token_lines: int
    scan_cpu_seconds: float
    parse_seconds: float
    parse_cpu_seconds: float
    rss_before_mb: float
    peak_rss_mb: float
    rss_after_tenth_mb: float

    @property
    def scan_lines_per_cpu_second(self) -> float:
        """Return lines scanned for one run's token per second of the core's time."""
        return self.lines / self.scan_cpu_seconds if self.scan_cpu_seconds else 0.0

    @property
    def lines_per_second(self) -> float:
        """Return lines fully parsed per second of wall time."""
        return self.lines / self.parse_seconds if self.parse_seconds else 0.0

    @property
    def lines_per_cpu_second(self) -> float:
        """Return lines fully parsed per second of the core's time (what one core can do)."""
        return self.lines / self.parse_cpu_seconds if self.parse_cpu_seconds else 0.0


def measure(path: Path, *, timeout: float = 600.0) -> ParseRun:
    """Read `path` in a child process pinned to one core and return what it measured."""
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


def _chunks(path: Path) -> Iterator[bytes]:
    """Yield the file in the chunks the verification reads a pod log in."""
    with path.open("rb") as handle:
        while chunk := handle.read(LOG_CHUNK_BYTES):
            yield chunk


def _child(path: Path) -> ParseRun:
    """Scan and parse the file in this process (one core) and return the measurements."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    lines = sum(chunk.count(b"\n") for chunk in _chunks(path))
    token = run_token(lines // LINES_PER_RUN // 2)  # a run in the middle of the log
    gc.collect()
    before = _status_mb("VmRSS")
    cpu = time.process_time()
    scan = scan_for_token(_chunks(path), token)
    scan_cpu = time.process_time() - cpu
    assert scan.records, f"no line carries {token}"
    statuses: Counter[int] = Counter()
    tenth = max(1, lines // 10)
    after_tenth = 0.0
    cpu = time.process_time()
    started = time.perf_counter()
    for count, record in enumerate(iter_records(iter_lines(_chunks(path))), start=1):
        statuses[record.status] += 1
        if count == tenth:
            after_tenth = _status_mb("VmRSS")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    # VmHWM starts afresh at exec; ru_maxrss would carry over the parent's peak.
    peak = _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ParseRun(
        lines=lines,
        records=sum(statuses.values()),
        file_mb=path.stat().st_size / 2**20,
        scan_token_lines=len(scan.records),
        scan_cpu_seconds=scan_cpu,
        parse_seconds=seconds,
        parse_cpu_seconds=cpu_seconds,
        rss_before_mb=before,
        peak_rss_mb=peak,
        rss_after_tenth_mb=after_tenth,
    )


if __name__ == "__main__":
    run = _child(Path(sys.argv[1]))
    print(json.dumps(asdict(run)))
