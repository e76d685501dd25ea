"""What kops prints, read back: version, validation reports, not-found errors (pure).

Facts from kops v1.36 (cmd/kops, pkg/validation) that shape this module:

- ``kops validate cluster -o json`` writes one JSON object per attempt with no trailing newline,
  so ``--wait`` gives objects back to back; ``failures`` and ``nodes`` are omitted when empty.
  It exits 0 when valid and 1 otherwise, with ``Error: validation failed: ...`` on stderr, and
  prints nothing on stdout when it cannot reach the API at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kops_nlb.core.errors import KopsCommandError
from kops_nlb.core.waiting import Observation

SUPPORTED_KOPS = ((1, 34), (1, 38))  # minimum inclusive, maximum exclusive (major, minor)


STDERR_TAIL_LINES = 20


_VERSION = re.compile(r"(?:Client version:\s*)?\bv?(\d+)\.(\d+)\.(\d+)((?:-[0-9A-Za-z.]+)?)")


_NOT_FOUND = (
    re.compile(r'cluster not found "(?P<name>[^"]*)"'),  # kops get cluster NAME
    re.compile(r'Cluster\.kops\.k8s\.io "(?P<name>[^"]*)" not found'),  # validate/export/delete
    re.compile(r'cluster "(?P<name>[^"]*)" not found'),
)


_NOT_ENOUGH = re.compile(r"did not have enough nodes (\d+) vs (\d+)")


@dataclass(frozen=True)
class ValidationFailure:
    """One reason kops gives for a cluster not being valid."""

    type: str
    name: str
    message: str
    instance_group: str | None = None

    def summary(self) -> str:
        """Return ``type name: message`` for logs and errors."""
        return f"{self.type} {self.name}: {self.message}"


@dataclass(frozen=True)
class ValidationNode:
    """One node as ``kops validate cluster`` reports it."""

    name: str
    zone: str = ""
    role: str = ""
    hostname: str = ""
    status: str = ""

    @property
    def ready(self) -> bool:
        """Whether the node's Ready condition is True."""
        return self.status == "True"


@dataclass(frozen=True)
class ValidationReport:
    """The last result of ``kops validate cluster -o json``."""

    failures: tuple[ValidationFailure, ...] = ()
    nodes: tuple[ValidationNode, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether kops found nothing wrong."""
        return not self.failures

    @property
    def nodes_ready(self) -> int:
        """How many reported nodes are Ready."""
        return sum(1 for node in self.nodes if node.ready)

    @property
    def nodes_expected(self) -> int:
        """How many nodes the cluster should have, as far as the report tells.

        Reported nodes, plus machines that have not joined, plus instance groups short of their
        target size.
        """
        missing = 0
        for failure in self.failures:
            if failure.type == "Machine":
                missing += 1
            elif failure.type == "InstanceGroup":
                match = _NOT_ENOUGH.search(failure.message)
                if match:
                    missing += max(0, int(match.group(2)) - int(match.group(1)))
        return len(self.nodes) + missing

    def progress(self) -> str:
        """Return ``k/N nodes ready``."""
        return f"{self.nodes_ready}/{self.nodes_expected} nodes ready"

    def failure_summaries(self) -> tuple[str, ...]:
        """Return every failure as ``type name: message``, sorted so equal sets compare equal."""
        return tuple(sorted({failure.summary() for failure in self.failures}))


def _json_objects(text: str) -> Iterable[Any]:
    """Yield every JSON value found in ``text`` that starts with ``{``, in order."""
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        yield value
        position = text.find("{", end)


def _instance_group_name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        name = value.get("metadata", {}).get("name")
        return str(name) if name else None
    return None


def parse_validation(stdout: str) -> ValidationReport:
    """Return the last report in ``kops validate cluster -o json`` output.

    The output may hold several objects back to back (``--wait``). Raises ValueError when it holds
    no JSON object, e.g. for ``-o table`` output or an error before the first attempt.
    """
    last: Mapping[str, Any] | None = None
    for value in _json_objects(stdout):
        if isinstance(value, Mapping):
            last = value
    if last is None:
        raise ValueError("no JSON object in `kops validate cluster` output")
    failures = tuple(
        ValidationFailure(
            type=str(item.get("type", "")),
            name=str(item.get("name", "")),
            message=str(item.get("message", "")),
            instance_group=_instance_group_name(item.get("instanceGroup")),
        )
        for item in last.get("failures") or ()
    )
    nodes = tuple(
        ValidationNode(
            name=str(item.get("name", "")),
            zone=str(item.get("zone", "")),
            role=str(item.get("role", "")),
            hostname=str(item.get("hostname", "")),
            status=str(item.get("status", "")),
        )
        for item in last.get("nodes") or ()
    )
    return ValidationReport(failures=failures, nodes=nodes)


def parse_version(text: str) -> str:
    """Return the version in ``kops version`` output (``1.36.2`` or ``Client version: 1.36.2 (git-...)``).

    Raises ValueError when there is none.
    """
    match = _VERSION.search(text)
    if match is None:
        raise ValueError(f"no kops version in {text.strip()[:200]!r}")
    major, minor, patch, pre = match.groups()
    return f"{major}.{minor}.{patch}{pre}"


def version_tuple(version: str) -> tuple[int, int, int]:
    """Return (major, minor, patch) of a version string such as ``1.36.2`` or ``1.37.0-beta.1``."""
    match = _VERSION.search(version)
    if match is None:
        raise ValueError(f"{version!r} is not a version")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def is_supported_version(version: str) -> bool:
    """Tell whether this project supports a kops version (1.34 <= kops < 1.38)."""
    low, high = SUPPORTED_KOPS
    return low <= version_tuple(version)[:2] < high


def is_cluster_not_found(stderr: str, cluster_name: str | None = None) -> bool:
    """Tell whether kops failed because the cluster is not in the state store."""
    for pattern in _NOT_FOUND:
        for match in pattern.finditer(stderr):
            if cluster_name is None or match.group("name") == cluster_name:
                return True
    return False


@dataclass(frozen=True)
class KopsResult:
    """What one kops run printed and how it ended."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str = field(repr=False)

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """Return the last ``lines`` lines of stderr."""
        return "\n".join(self.stderr.splitlines()[-lines:])


def validation_observation(result: KopsResult, cluster_name: str) -> Observation[ValidationReport]:
    """Turn one ``kops validate cluster -o json`` run into an observation.

    No JSON on stdout means kops failed before validating (real kops prints nothing when the
    API does not answer yet): not ready, with kops's last stderr line as the reason. A cluster
    missing from the state store is an error no wait can fix.
    """
    try:
        report = parse_validation(result.stdout)
    except ValueError:
        if is_cluster_not_found(result.stderr, cluster_name):
            raise KopsCommandError(result.argv, result.exit_code, result.stderr_tail()) from None
        reason = result.stderr_tail(1) or f"kops exited {result.exit_code} without a report"
        return Observation(ready=False, failing=(f"kops validate: {reason}",))
    return Observation(
        ready=result.exit_code == 0 and report.ok,
        value=report,
        failing=report.failure_summaries(),
        done=report.nodes_ready,
        total=report.nodes_expected,
    )
