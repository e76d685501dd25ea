"""Stopping the fleet's worker: an interrupt, and a second one if the first is lost."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.pool import stop_worker

# A stand-in for `prefect worker start`: it records each interrupt, and stops after `needed`.
STAND_IN = """
import os, signal, sys, time
needed, record = int(sys.argv[1]), sys.argv[2]
seen = []
def write(text):
    with open(record + ".new", "w") as f:
        f.write(text)
    os.replace(record + ".new", record)
def interrupted(*_):
    seen.append(1)
    write(str(len(seen)))
    if len(seen) >= needed:
        os._exit(0)
signal.signal(signal.SIGINT, interrupted)
write("0")
while True:
    time.sleep(0.05)
"""


def start(needed: int, record: Path) -> subprocess.Popen[bytes]:
    """Start a stand-in and return it once its interrupt handler is in place."""
    process = subprocess.Popen([sys.executable, "-c", STAND_IN, str(needed), str(record)])
    while not record.exists():
        assert process.poll() is None
    return process


@pytest.mark.parametrize("needed", [1, 2])
def test_the_worker_is_interrupted_until_it_stops(tmp_path: Path, needed: int) -> None:
    record = tmp_path / "interrupts"
    process = start(needed, record)
    # A grace far longer than a stand-in takes to stop, however busy the machine: one that stops
    # on the first interrupt never sees a second.
    stop_worker(process, grace_s=2.0 if needed > 1 else 60.0)
    assert process.returncode == 0
    assert record.read_text() == str(needed)


def test_a_worker_that_ignores_interrupts_is_killed(tmp_path: Path) -> None:
    process = start(3, tmp_path / "interrupts")
    stop_worker(process, grace_s=0.2)
    assert process.returncode == -signal.SIGKILL


def test_a_worker_that_already_exited_is_left_alone(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    stop_worker(process)
    assert process.returncode == 0
