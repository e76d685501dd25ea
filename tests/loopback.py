"""Loopback ranges for the twins tests start.

Each comes from the machine-wide pool (``sandbox.loopback``) and stays held until the test
process ends, so no two twins on the machine share an address: not those of parallel workers,
of two runs side by side, or of a test and a benchmark.
"""

from __future__ import annotations

import functools

from sandbox.loopback import LoopbackRange

_held: list[LoopbackRange] = []


def claim() -> LoopbackRange:
    """Take a range of the pool for the rest of this process."""
    taken = LoopbackRange()
    _held.append(taken)
    return taken


@functools.cache
def process_prefix() -> str:
    """This test process's own /16 (its first two octets), for clusters built by hand."""
    return claim().vpc_prefix
