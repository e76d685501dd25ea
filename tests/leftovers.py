"""Programs a test session started under its temporary directory and left running."""

from __future__ import annotations

import os
from pathlib import Path

from deployments.stack import procs
from deployments.stack.procs import ProcessInfo


def running_under(directory: Path) -> list[ProcessInfo]:
    """Return the live processes, other than this one, whose command line names `directory` or
    a path inside it (a control plane's certificates, a twin's home)."""
    mark = str(directory)
    found = []
    for entry in procs.PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        info = procs.read_process(int(entry.name))
        if info is not None and any(_names(arg, mark) for arg in info.argv):
            found.append(info)
    return found


def _names(arg: str, directory: str) -> bool:
    return arg.endswith(directory) or f"{directory}{os.sep}" in arg
