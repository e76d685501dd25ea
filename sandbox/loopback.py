"""Loopback ranges for twins that run side by side on one machine.

A twin's instances, NLB interfaces and pods really listen on their addresses, so two twins on
one machine must never share a range, whoever started them (a test worker, a stack, a
benchmark). Each holder takes a pair of /16s (its VPC's, its pods') under an exclusive lock
file; the lock goes when the holder releases it or its process ends.
"""

from __future__ import annotations

import fcntl
import io
import os
import tempfile
from pathlib import Path
from typing import Self

# Even octets from 127.30 up to 127.248: the VPC's /16 is the even one, the pods' the next.
# The default twin (sandbox.toml: 127.20/16 and 127.96/12) stays out of the pool.
_DEFAULT_TWIN = frozenset(range(20, 22)) | frozenset(range(96, 112))
POOL = tuple(
    octet
    for octet in range(30, 250, 2)
    if octet not in _DEFAULT_TWIN and octet + 1 not in _DEFAULT_TWIN
)
LOCK_DIR = Path(tempfile.gettempdir())


class LoopbackRange:
    """Two loopback /16s (VPC and pods) held by this process through a lock file."""

    def __init__(self, *, start: int | None = None, lock_dir: Path = LOCK_DIR) -> None:
        """Take the first free pair of the pool, looking from ``start`` (the pid by default)."""
        first = (os.getpid() if start is None else start) % len(POOL)
        self._handle: io.TextIOWrapper | None = None
        for step in range(len(POOL)):
            octet = POOL[(first + step) % len(POOL)]
            handle = open(lock_dir / f"kops-nlb-loopback-{octet}.lock", "w")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self._handle = handle
            self.octet = octet
            return
        raise RuntimeError("every loopback range of the pool is held by another process")

    @property
    def vpc_prefix(self) -> str:
        """The VPC range's first two octets (``127.40``)."""
        return f"127.{self.octet}"

    @property
    def vpc_cidr(self) -> str:
        """The VPC range (instances' private addresses are bound on loopback)."""
        return f"{self.vpc_prefix}.0.0/16"

    @property
    def pod_cidr(self) -> str:
        """The pod range."""
        return f"127.{self.octet + 1}.0.0/16"

    def release(self) -> None:
        """Give the range back."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
