"""``python -m sandbox.kops ...``: the emulated kops command line."""

from __future__ import annotations

import sys

from sandbox.kops.cli import main

if __name__ == "__main__":
    sys.exit(main())
