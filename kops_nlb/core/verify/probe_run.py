"""A probe command's life in SSM Run Command, judged from what SSM reports (pure).

Sending the script twice would probe twice: every marked request would show up twice in the
nginx logs and the run would fail for duplicates. So the probe looks before it sends: a command
to the same instance, with this project's comment and the very same ``commands`` (which carry the
run's random token), sent within the last hour, is adopted instead of sent again. Once a command
id exists every failure is final (``ProbeCommandFailed``), so no retry repeats a successful send.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kops_nlb.core.errors import KopsNlbError
from kops_nlb.core.waiting import Observation

DOCUMENT_NAME = "AWS-RunShellScript"


COMMENT = "kops-nlb-flows probe"


# SSM keeps only the head of each stream; a stream of exactly this length was cut.
SSM_STDOUT_LIMIT = 24_000


SSM_STDERR_LIMIT = 8_000


# How long SSM may take to hand the command to the agent before it gives up (its minimum is 30).
DELIVERY_TIMEOUT_S = 60


# Extra wait beyond delivery + execution before this side stops polling.
WAIT_GRACE_S = 30


# How far back to look for a command already sent for the same probe.
LOOKBACK = timedelta(hours=1)


ERROR_EXCERPT_CHARS = 1000


_FINISHED_BADLY = frozenset({"Failed", "TimedOut", "Cancelled"})
# SSM's StatusDetails of a command it lost: not delivered, or no word from the agent in time.
LOST_DETAILS = frozenset({"DeliveryTimedOut", "ExecutionTimedOut"})


class ProbeCommandFailed(KopsNlbError):
    """The probe command ran (or was sent) but did not end in Success; never sent again as is.

    ``lost``: SSM never delivered it or heard nothing back before its timeout, so whether (and
    how far) it ran is unknown; a new probe with a new token may replace it.
    """

    def __init__(self, message: str, *, details: str = "") -> None:
        super().__init__(message)
        self.details = details

    @property
    def lost(self) -> bool:
        """Whether the command was lost in SSM rather than failed by the script."""
        return self.details in LOST_DETAILS


@dataclass(frozen=True)
class ProbeRun:
    """One probe command's outcome on the bastion, as SSM reports it.

    ``truncated`` says SSM cut stdout at its 24,000-character limit (the probe lines at the end
    are then missing); ``adopted`` that an earlier, identical send was found and followed.
    """

    command_id: str
    instance_id: str
    status: str
    status_details: str
    response_code: int
    stdout: str
    stderr: str
    truncated: bool
    stderr_truncated: bool
    started_at: datetime | None
    finished_at: datetime | None
    adopted: bool = False


def wait_deadline_s(timeout_s: int) -> float:
    """Return how long to follow a command: delivery, then execution, then a grace period."""
    return float(DELIVERY_TIMEOUT_S + timeout_s + WAIT_GRACE_S)


def probe_failure_message(invocation: dict[str, Any], command_id: str, instance_id: str) -> str:
    """Return why a probe command ended badly: status, exit code, a hint and the stderr tail."""
    status = invocation.get("Status", "?")
    details = invocation.get("StatusDetails") or status
    code = invocation.get("ResponseCode", -1)
    hint = {
        "DeliveryTimedOut": "; the SSM agent did not pick it up in time (bastion offline?)",
        "ExecutionTimedOut": "; the script ran past its executionTimeout",
        "Undeliverable": "; the instance is not managed by SSM (agent or instance profile?)",
    }.get(str(details), "")
    stderr = _excerpt(str(invocation.get("StandardErrorContent") or ""))
    stdout = _excerpt(str(invocation.get("StandardOutputContent") or ""))
    message = (
        f"probe command {command_id} on {instance_id} ended {status} ({details}), "
        f"exit code {code}{hint}"
    )
    message += f"; stderr: {stderr}" if stderr else "; no stderr"
    if stdout:
        message += f"; stdout ends: {stdout}"
    return message


def probe_run_from(invocation: dict[str, Any], *, instance_id: str, adopted: bool) -> ProbeRun:
    """Return the ProbeRun of a finished GetCommandInvocation response."""
    stdout = str(invocation.get("StandardOutputContent") or "")
    stderr = str(invocation.get("StandardErrorContent") or "")
    return ProbeRun(
        command_id=str(invocation["CommandId"]),
        instance_id=instance_id,
        status=str(invocation.get("Status", "")),
        status_details=str(invocation.get("StatusDetails", "")),
        response_code=int(invocation.get("ResponseCode", -1)),
        stdout=stdout,
        stderr=stderr,
        truncated=len(stdout) >= SSM_STDOUT_LIMIT,
        stderr_truncated=len(stderr) >= SSM_STDERR_LIMIT,
        started_at=_parse_time(invocation.get("ExecutionStartDateTime")),
        finished_at=_parse_time(invocation.get("ExecutionEndDateTime")),
        adopted=adopted,
    )


def _excerpt(text: str) -> str:
    """Return the last ERROR_EXCERPT_CHARS characters of `text`, stripped, marked when cut."""
    text = text.strip()
    if len(text) <= ERROR_EXCERPT_CHARS:
        return text
    return "..." + text[-ERROR_EXCERPT_CHARS:]


def _parse_time(value: object) -> datetime | None:
    """Return SSM's ISO 8601 timestamp string as an aware datetime; None when empty or odd."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_probe_command(command: dict[str, Any], commands: list[str]) -> bool:
    """Tell whether a ListCommands entry is this project's probe with exactly these commands."""
    return (
        command.get("Comment") == COMMENT
        and command.get("DocumentName") == DOCUMENT_NAME
        and command.get("Parameters", {}).get("commands") == commands
    )


def invocation_observation(
    invocation: dict[str, Any] | None, *, command_id: str, instance_id: str
) -> Observation[dict[str, Any]]:
    """Judge one GetCommandInvocation answer (None: not registered yet).

    Raises ProbeCommandFailed when the command ended Failed, TimedOut or Cancelled.
    """
    if invocation is None:
        return Observation(ready=False, failing=("invocation not registered yet",))
    status = str(invocation.get("Status", ""))
    if status == "Success":
        return Observation(ready=True, value=invocation)
    if status in _FINISHED_BADLY:
        raise ProbeCommandFailed(
            probe_failure_message(invocation, command_id, instance_id),
            details=str(invocation.get("StatusDetails") or status),
        )
    details = invocation.get("StatusDetails") or status
    return Observation(ready=False, failing=(f"status {status or 'unknown'} ({details})",))


# Clocks of the bastion, the nodes and this process differ a little; read a bit further back.
CLOCK_SKEW_SECONDS = 5


def since_seconds(started: datetime, now: datetime) -> int:
    """Seconds of log to read so that everything since `started` (minus skew) is included."""
    return max(1, math.ceil((now - started).total_seconds()) + CLOCK_SKEW_SECONDS)
