"""Fixtures for the data-path tests: fresh loopback addresses, pods, an NLB, real clients."""

from __future__ import annotations

import fcntl
import random
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataplane_support import Net

from sandbox.dataplane.nlb import NlbDataPlane
from sandbox.dataplane.pods import PodServers

# Each test gets its own /24s, so tests never share a listening address. A lock file per
# block keeps two test sessions on one machine apart too; a twin running elsewhere on the
# machine allocates from the low end of 127.20.0.0/16 and is unlikely to collide.
_BLOCKS = 55
_LOCK_DIR = Path(tempfile.gettempdir())


@pytest.fixture
def net() -> Iterator[Net]:
    start = random.randrange(_BLOCKS)
    for offset in range(_BLOCKS):
        block = (start + offset) % _BLOCKS
        handle = (_LOCK_DIR / f"twin-dataplane-test-block-{block}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield Net(block)
        finally:
            handle.close()  # releases the lock
        return
    pytest.fail("no free address block for the data-path test")


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    yield
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith("dataplane")]
    assert not leftovers, f"data-plane threads left running: {leftovers}"


@pytest.fixture
def pods(net: Net) -> Iterator[PodServers]:  # after `net`: stops before the block is freed
    runtime = PodServers()
    yield runtime
    runtime.stop_all()


@pytest.fixture
def nlb(net: Net) -> Iterator[NlbDataPlane]:
    plane = NlbDataPlane()
    yield plane
    plane.stop()


@pytest.fixture(scope="session", autouse=True)
def _curl() -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is missing: `make setup` installs Debian's curl for the data-path tests")
