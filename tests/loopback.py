"""Slots for the loopback ranges of twins that tests start.

Each test process (an xdist worker, or pytest itself without workers) gets its own slot, so twins
of parallel workers never share an address; workers of one run take consecutive slots from a
start drawn from the run's id, and a run without workers takes its pid, so two runs side by side
seldom meet either. Each kind of twin maps its slot into a block of 127/8 of its own.
"""

from __future__ import annotations

import os


def slot(count: int) -> int:
    """Return this test process's slot among `count`."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if run and worker.startswith("gw"):
        return (int(run[:8], 16) + int(worker[2:])) % count
    return os.getpid() % count
