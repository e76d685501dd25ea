"""Entry point of `python -m deployments.stack`."""

from __future__ import annotations

import sys

from deployments.stack.cli import main

sys.exit(main())
