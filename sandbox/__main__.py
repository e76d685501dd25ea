"""`python -m sandbox up|down|status|serve`: run the local twin in the background.

`up` starts `serve` as a detached process, waits until it answers, and leaves `.sandbox/env`
(shell exports) and `.sandbox/endpoints.json` for clients. `down` stops exactly that process and
the control-plane programs it recorded by pid under `.sandbox/clusters/*/pids`.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from sandbox.config import load
from sandbox.controlplane.processes import stop_recorded_processes
from sandbox.switches import CONFIG_ENV

DEFAULT_HOME = Path(".sandbox")
READY_TIMEOUT = 60.0


def _pid(home: Path) -> int | None:
    try:
        pid = int((home / "world.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    # A reused pid belongs to someone else: only our own `serve` process counts.
    return pid if cmdline[1:4] == [b"-m", b"sandbox", b"serve"] else None


def _answers(home: Path) -> bool:
    """Whether AWS answers and the API front proxy listens (control planes boot with clusters)."""
    try:
        endpoints = json.loads((home / "endpoints.json").read_text())
        with urllib.request.urlopen(endpoints["aws"] + "/moto-api/", timeout=2):
            pass
        proxy = urllib.parse.urlsplit(endpoints["kubernetes"])
        socket.create_connection((proxy.hostname, proxy.port), timeout=2).close()
    except (OSError, ValueError, KeyError):
        return False
    return True


def up(home: Path, config: Path | None) -> int:
    """Start the twin unless it already runs; return a process exit code."""
    home.mkdir(parents=True, exist_ok=True)
    if _pid(home) is not None and _answers(home):
        print(f"twin already running (pid {_pid(home)}); endpoints in {home / 'endpoints.json'}")
        return 0
    (home / "endpoints.json").unlink(missing_ok=True)
    command = [sys.executable, "-m", "sandbox", "serve", "--home", str(home)]
    if config is not None:
        command += ["--config", str(config)]
    with open(home / "world.log", "ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (home / "world.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(
                f"twin exited with {process.returncode}; see {home / 'world.log'}", file=sys.stderr
            )
            return 1
        if _answers(home):
            print(f"twin up (pid {process.pid}): source {home / 'env'}")
            return 0
        time.sleep(0.3)
    print(
        f"twin did not answer within {READY_TIMEOUT:.0f}s; see {home / 'world.log'}",
        file=sys.stderr,
    )
    return 1


def down(home: Path) -> int:
    """Stop the twin started by `up` (by its pid) and the control-plane programs it recorded."""
    pid = _pid(home)
    if pid is None:
        print("twin not running")
        (home / "world.pid").unlink(missing_ok=True)
        stop_recorded_processes(home)
        return 0
    os.killpg(pid, signal.SIGTERM)
    for _ in range(100):
        if _pid(home) is None:
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    stop_recorded_processes(home)
    (home / "world.pid").unlink(missing_ok=True)
    print(f"twin stopped (pid {pid})")
    return 0


def status(home: Path) -> int:
    """Print whether the twin runs and where; exit 0 only when it answers."""
    pid = _pid(home)
    if pid is None or not _answers(home):
        print("twin not running")
        return 1
    print(f"twin running (pid {pid})")
    print((home / "endpoints.json").read_text().rstrip())
    return 0


def serve(home: Path, config_path: Path | None) -> int:
    """Run the world in the foreground until SIGTERM/SIGINT."""
    from sandbox.world import World

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    path = config_path or (Path(os.environ[CONFIG_ENV]) if CONFIG_ENV in os.environ else None)
    world = World(load(path), home.resolve())
    world.start()
    # What is loaded by now (moto's data, botocore's models) lives as long as the process: out of
    # the cyclic collector's way, and full collections rarer, or they walk it again and again.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*gc.get_threshold()[:2], 100)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    world.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m sandbox`."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "serve"])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument("--config", type=Path, default=None, help="TOML file (sandbox.toml)")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.home, args.config)
    if args.command == "down":
        return down(args.home)
    if args.command == "status":
        return status(args.home)
    return serve(args.home, args.config)


if __name__ == "__main__":
    sys.exit(main())
