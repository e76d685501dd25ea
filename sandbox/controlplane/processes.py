"""Child processes of the twin, recorded by pid so that ``python -m sandbox down`` can stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class StartFailed(RuntimeError):
    """A child process exited or did not become ready in time."""


class Child:
    """One long-running program: its output goes to ``<logs>/<name>.log``, its pid to ``<pids>``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        logs: Path,
        pids: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.env = dict(env) if env is not None else None  # None: the twin's own environment
        self.log_path = logs / f"{name}.log"
        self.pid_path = pids / f"{name}.pid"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the program (in the twin's process group, so stopping the twin stops it)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        self.pid_path.write_text(f"{self._process.pid} {self.argv[0]}\n")

    def exited(self) -> bool:
        """Whether the program ended on its own (started, and not stopped since)."""
        return self._process is not None and self._process.poll() is not None

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Return once ``ready()`` holds; raise ``StartFailed`` with the log's tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise StartFailed(f"{self.name} exited: {self.tail()}")
            if ready():
                return
            time.sleep(0.05)
        raise StartFailed(f"{self.name} not ready after {timeout:.0f}s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        """The last lines of the program's output."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; forget the pid file."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.pid_path.unlink(missing_ok=True)


def stop_recorded(pids: Path) -> list[int]:
    """Kill every process whose pid file is under ``pids`` and still runs that program."""
    stopped = []
    for path in sorted(pids.glob("*.pid")) if pids.is_dir() else []:
        pid_text, _, program = path.read_text().strip().partition(" ")
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_text)
            running = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            if running == program:  # a reused pid belongs to someone else
                os.kill(pid, signal.SIGKILL)
                stopped.append(pid)
        path.unlink(missing_ok=True)
    return stopped


def stop_recorded_processes(home: Path) -> list[int]:
    """Kill the programs a twin under ``home`` recorded and left running: the control planes'
    and the pods' nginx (each in a session of its own, so a signal to the twin misses them)."""
    stopped: list[int] = []
    for pids in sorted((home / "clusters").glob("*/pids")):
        stopped += stop_recorded(pids)
    for pid_file in sorted(home.glob("pods/*/nginx.pid")):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().strip())
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"nginx: master"):
                os.killpg(pid, signal.SIGKILL)  # the master and its workers
                stopped.append(pid)
    return stopped
