"""Finding the programs a session left running under its temporary directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.leftovers import running_under


def test_a_program_naming_a_path_inside_the_directory_is_found_until_it_ends(
    tmp_path: Path,
) -> None:
    inside = tmp_path / "cluster" / "pki" / "ca.crt"
    sibling = Path(f"{tmp_path}0") / "ca.crt"  # the next worker's folder: not ours
    script = "import sys, time; print('up', flush=True); time.sleep(60)"
    ours = subprocess.Popen(
        [sys.executable, "-c", script, f"--cert={inside}"], stdout=subprocess.PIPE
    )
    theirs = subprocess.Popen([sys.executable, "-c", script, str(sibling)], stdout=subprocess.PIPE)
    try:
        for process in (ours, theirs):
            assert process.stdout is not None and process.stdout.readline() == b"up\n"
        assert [p.pid for p in running_under(tmp_path)] == [ours.pid]
    finally:
        for process in (ours, theirs):
            process.kill()
            process.communicate()
    assert running_under(tmp_path) == []
