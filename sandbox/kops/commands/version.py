"""``kops version [--short]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.kops.utils import GIT_VERSION, KOPS_VERSION

if TYPE_CHECKING:
    from sandbox.kops.program import Program


def version(program: Program) -> int:
    """``kops version [--short]``."""
    if program.value("short"):
        program.out.write(f"{KOPS_VERSION}\n")
    else:
        program.out.write(f"Client version: {KOPS_VERSION} (git-{GIT_VERSION})\n")
    return 0
