"""The twin's record of every ``kops`` command line (tests count kops runs by it)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

ARGV_LOG_ENV = "SANDBOX_KOPS_ARGV_LOG"


def log_argv(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Append the command line to ``$SANDBOX_KOPS_ARGV_LOG``, when it is set."""
    target = env.get(ARGV_LOG_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(list(argv)) + "\n")
