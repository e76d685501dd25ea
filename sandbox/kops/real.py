"""Where real kops is: built by ``make upstream``, cached by version beside the other programs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sandbox.controlplane.binaries import MissingBinary, bin_dir

KOPS_VERSION = "1.36.2"
BINARY_ENV = "KOPS_NLB_KOPS_BIN"  # the Makefile's KOPS_BIN
CHANNEL_ENV = "KOPS_NLB_KOPS_CHANNEL"  # the Makefile's KOPS_CHANNEL


@dataclass(frozen=True)
class RealKops:
    """The real kops binary and the ``stable`` channel file of its release."""

    binary: Path
    channel: Path

    @classmethod
    def find(cls) -> RealKops:
        """Return the cached kops; raise ``MissingBinary`` naming the first file that is absent."""
        cache = bin_dir()
        default_channel = cache.parent / "share" / f"kops-{KOPS_VERSION}" / "channels" / "stable"
        found = cls(
            binary=Path(os.environ.get(BINARY_ENV) or cache / f"kops-{KOPS_VERSION}"),
            channel=Path(os.environ.get(CHANNEL_ENV) or default_channel),
        )
        if not os.access(found.binary, os.X_OK):
            raise MissingBinary(f"{found.binary} is missing: run `make upstream` to build it")
        if not found.channel.is_file():
            raise MissingBinary(f"{found.channel} is missing: run `make upstream` to fetch it")
        return found
