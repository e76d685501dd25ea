"""Processes of the stack: read from /proc, recognised by command line, stopped by pid.

A pid file alone proves nothing (the pid may have been reused), so a process is only treated as
ours when its command line (and, where it tells, its PREFECT_HOME) is the one the stack starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deployments.stack.settings import PREFECT_HOME_ENV, Stack

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    """What /proc tells about one live process."""

    pid: int
    argv: tuple[str, ...]
    cwd: Path | None = None
    environ: dict[str, str] = field(default_factory=dict)


def read_process(pid: int) -> ProcessInfo | None:
    """Return the process `pid`, or None when it does not exist or is a zombie."""
    base = PROC / str(pid)
    try:
        stat = (base / "stat").read_text()
        argv = (base / "cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return None
    try:
        cwd: Path | None = Path(os.readlink(base / "cwd"))
    except OSError:
        cwd = None
    try:
        raw = (base / "environ").read_bytes().split(b"\0")
        environ = dict(
            item.decode(errors="replace").partition("=")[::2] for item in raw if b"=" in item
        )
    except OSError:
        environ = {}
    return ProcessInfo(
        pid=pid,
        argv=tuple(a.decode(errors="replace") for a in argv if a),
        cwd=cwd,
        environ=environ,
    )


def read_pid(pid_file: Path) -> int | None:
    """Return the pid in `pid_file`, or None when it is missing or not a number."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _option(argv: tuple[str, ...], name: str) -> str | None:
    """Return the value following `name` in argv, if any."""
    for i, arg in enumerate(argv[:-1]):
        if arg == name:
            return argv[i + 1]
    return None


def _module_args(argv: tuple[str, ...], module: str) -> tuple[str, ...] | None:
    """Return the arguments after `-m module` (skipping prefect's session flags), or None."""
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m" and argv[i + 1] == module:
            return tuple(a for a in argv[i + 2 :] if a not in ("--no-prompt", "--prompt"))
    return None


def _same_home(info: ProcessInfo, stack: Stack) -> bool:
    return info.environ.get(PREFECT_HOME_ENV) == str(stack.prefect_home)


def is_server(info: ProcessInfo, stack: Stack) -> bool:
    """Whether `info` is this stack's Prefect server (as `up` starts it, or as
    `prefect server start --background` does with the same PREFECT_HOME and port)."""
    port = str(stack.api_port)
    prefect_args = _module_args(info.argv, "prefect")
    if prefect_args is not None:
        started = prefect_args[:2] == ("server", "start") and _option(prefect_args, "--port")
        return started == port and _same_home(info, stack)
    uvicorn_args = _module_args(info.argv, "uvicorn")
    if uvicorn_args is not None:
        app = "prefect.server.api.server:create_app" in uvicorn_args
        return app and _option(uvicorn_args, "--port") == port and _same_home(info, stack)
    return False


def is_worker(info: ProcessInfo, stack: Stack) -> bool:
    """Whether `info` is this stack's worker."""
    args = _module_args(info.argv, "prefect")
    return (
        args is not None
        and args[:2] == ("worker", "start")
        and _option(args, "--pool") == stack.pool
        and _same_home(info, stack)
    )


def is_twin(info: ProcessInfo, stack: Stack) -> bool:
    """Whether `info` is the twin serving this stack's sandbox home."""
    args = _module_args(info.argv, "sandbox")
    if args is None or args[:1] != ("serve",):
        return False
    home = Path(_option(args, "--home") or ".sandbox")
    if not home.is_absolute():
        if info.cwd is None:
            return False
        home = info.cwd / home
    return home.resolve() == stack.sandbox_home


def is_postgres(info: ProcessInfo, stack: Stack) -> bool:
    """Whether `info` is the PostgreSQL server (postmaster) on this stack's data directory."""
    return (
        bool(info.argv)
        and Path(info.argv[0]).name == "postgres"
        and _option(info.argv, "-D") == str(stack.postgres_data)
    )


Matcher = Callable[[ProcessInfo, Stack], bool]


def owned(pid_file: Path, stack: Stack, matches: Matcher) -> ProcessInfo | None:
    """Return the live process `pid_file` names if it is the one the stack started, else None."""
    pid = read_pid(pid_file)
    if pid is None:
        return None
    info = read_process(pid)
    return info if info is not None and matches(info, stack) else None


def descendants(pid: int) -> list[ProcessInfo]:
    """Return every live descendant of `pid` (children first)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[ProcessInfo] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop(0)
        info = read_process(child)
        if info is not None:
            found.append(info)
        todo.extend(children.get(child, []))
    return found


def alive(info: ProcessInfo) -> bool:
    """Whether the process is still the one described (not exited, not a reused pid)."""
    now = read_process(info.pid)
    return now is not None and now.argv == info.argv


def wait_gone(infos: list[ProcessInfo], timeout: float) -> bool:
    """Wait until none of `infos` runs; return whether they all ended in time."""
    deadline = time.monotonic() + timeout
    while any(alive(i) for i in infos):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def signal_if_alive(info: ProcessInfo, signum: int) -> None:
    """Send `signum` to the process if it is still the one described."""
    if alive(info):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signum)


def stop(infos: list[ProcessInfo], *, timeout: float = 20.0, signum: int = signal.SIGTERM) -> None:
    """Stop the given processes: `signum` (SIGTERM), then SIGKILL whatever is left after
    `timeout`."""
    for info in infos:
        signal_if_alive(info, signum)
    if not wait_gone(infos, timeout):
        for info in infos:
            signal_if_alive(info, signal.SIGKILL)
        wait_gone(infos, 5.0)
