"""Recorded runs of real kops: one JSON file per command under ``fixtures/``.

Each file holds the argv, exit code, stdout and stderr of one run, with what changes from run to
run written as placeholders (``$AWS_ENDPOINT_URL``, ``$KOPS_BASE_URL``, ``$CHANNEL``, ``$WORK``)
and klog's time and process id zeroed, so a re-recording shows only real changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
_KLOG_HEADER = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d{6}\s+\d+ ", re.MULTILINE)


@dataclass(frozen=True)
class Recording:
    """One recorded kops run."""

    name: str
    note: str
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        """Return the ``Error: ...`` lines of stderr (what kops says went wrong)."""
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


def normalise(text: str, placeholders: Mapping[str, str]) -> str:
    """Replace run-specific values by their placeholder names and zero klog headers."""
    for placeholder, value in sorted(placeholders.items(), key=lambda kv: -len(kv[1])):
        if value:
            text = text.replace(value, placeholder)
    return _KLOG_HEADER.sub(r"\g<1>0000 00:00:00.000000       0 ", text)


def substitute(text: str, placeholders: Mapping[str, str]) -> str:
    """Put run-specific values back in place of their placeholders."""
    for placeholder, value in placeholders.items():
        text = text.replace(placeholder, value)
    return text


def save(recording: Recording, directory: Path = FIXTURES) -> Path:
    """Write one recording as ``<name>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{recording.name}.json"
    path.write_text(json.dumps(asdict(recording), indent=2, ensure_ascii=False) + "\n")
    return path


def load(name: str, directory: Path = FIXTURES) -> Recording:
    """Read one recording; a missing file says how to make it."""
    path = directory / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `make contract-record`")
    return Recording(**json.loads(path.read_text()))
