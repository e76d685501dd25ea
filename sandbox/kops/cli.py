"""The emulated kops's entry point: ``main(argv)`` parses like kops v1.36 and runs one command.

Parsing is in ``flags``, printing in ``output``, the run in ``program`` and each command in
``commands``; ``main`` turns a ``KopsError`` into kops's ``Error: ...`` on stderr and its exit
code.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from sandbox.kops.argv_log import log_argv
from sandbox.kops.cloud_labels import parse_cloud_labels
from sandbox.kops.exceptions import KopsError
from sandbox.kops.flags import CREATE_CLUSTER_FLAGS, USES
from sandbox.kops.output import render_table
from sandbox.kops.parsing import Parsed, parse_command_line
from sandbox.kops.program import Program
from sandbox.kops.sdk_errors import go_sdk_message

DEBUG_ENV = "SANDBOX_KOPS_DEBUG"


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run one kops command line; return its exit code (``Error: ...`` on stderr when not 0)."""
    args = list(sys.argv[1:] if argv is None else argv)
    environment = os.environ if env is None else env
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    log_argv(args, environment)
    deprecations: list[str] = []
    command = ""
    try:
        parsed = parse_command_line(args, deprecations)
        command = parsed.command
        for line in deprecations:
            err.write(line + "\n")
        return Program(parsed, env=environment, stdout=out, stderr=err, sleep=sleep).run()
    except KopsError as exc:
        for line in deprecations:
            err.write(line + "\n")
        err.write(f"Error: {exc.message}\n")
        if exc.show_usage:
            usage = USES.get(exc.command or command, "kops [command]")
            err.write(f"Usage:\n  {usage}\n\n")
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a kops run reports, it does not crash
        if environment.get(DEBUG_ENV):
            traceback.print_exc(file=err)
        err.write(f"Error: {go_sdk_message(exc) or f'{type(exc).__name__}: {exc}'}\n")
        return 1
    finally:
        out.flush()
        err.flush()


__all__ = [
    "CREATE_CLUSTER_FLAGS",
    "Parsed",
    "main",
    "parse_cloud_labels",
    "parse_command_line",
    "render_table",
]
