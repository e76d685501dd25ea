"""Run the probe script on the bastion with SSM Run Command and return what it printed.

Sending the script twice would probe twice: every marked request would show up twice in the
nginx logs and the run would fail for duplicates. So the task looks before it sends: a command
to the same instance, with this project's comment and the very same ``commands`` (which carry the
run's random token), sent within the last hour, is adopted instead of sent again. And only a
failure up to and including the send can be transient: once a command id exists, every failure
is raised as a non-transient error, so the task's retry condition never repeats a successful
send. (botocore's own retries of a single ``send_command`` call are outside this; a duplicate
that slips through fails ``probes_logged_once`` loudly rather than passing silently.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws.client import aws_client, paginate
from kops_nlb.core.errors import KopsNlbError, TransientError, aws_error_code, aws_failure
from kops_nlb.core.spec import PollPolicy
from kops_nlb.core.waiting import Observation, wait_until
from tasks._options import RETRY_OPTIONS

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

_RUNNING = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
_FINISHED_BADLY = frozenset({"Failed", "TimedOut", "Cancelled"})


class ProbeCommandFailed(KopsNlbError):
    """The probe command ran (or was sent) but did not end in Success; never retried."""


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


@task(
    name="run-probe",
    task_run_name="run-probe-{instance_id}",
    cache_policy=NO_CACHE,
    **RETRY_OPTIONS,
)
def run_probe(
    *,
    region: str,
    instance_id: str,
    commands: list[str],
    timeout_s: int,
    poll: PollPolicy,
) -> ProbeRun:
    """Run `commands` on `instance_id` with AWS-RunShellScript, wait, and return the outcome.

    `timeout_s` is the script's executionTimeout on the instance; the wait lasts delivery plus
    execution plus a grace period. Raises ProbeCommandFailed when the command ends Failed,
    TimedOut or Cancelled, with its exit code and the tail of its stderr.
    """
    logger = get_run_logger()
    ssm = aws_client("ssm", region)
    command_id, adopted = find_or_send_command(
        ssm, instance_id=instance_id, commands=commands, timeout_s=timeout_s
    )
    if adopted:
        logger.info(
            "probe command %s was already sent to %s; following it", command_id, instance_id
        )
    else:
        logger.info("sent probe command %s to %s", command_id, instance_id)
    try:
        invocation = wait_until(
            lambda: observe_invocation(ssm, command_id=command_id, instance_id=instance_id),
            what=f"probe command {command_id} on {instance_id}",
            timeout=wait_deadline_s(timeout_s),
            poll=poll,
            logger=logger,
        )
    except Exception as exc:
        if isinstance(exc, KopsNlbError) and not isinstance(exc, TransientError):
            raise
        # The command exists now: whatever went wrong, no retry may send it again.
        raise ProbeCommandFailed(
            f"Failed to follow probe command {command_id} on {instance_id}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    run = probe_run_from(invocation, instance_id=instance_id, adopted=adopted)
    logger.info(
        "probe command %s: %s, exit %s, %d characters of output%s",
        command_id,
        run.status,
        run.response_code,
        len(run.stdout),
        " (truncated by SSM)" if run.truncated else "",
    )
    return run


def wait_deadline_s(timeout_s: int) -> float:
    """Return how long to follow a command: delivery, then execution, then a grace period."""
    return float(DELIVERY_TIMEOUT_S + timeout_s + WAIT_GRACE_S)


def find_or_send_command(
    ssm: Any, *, instance_id: str, commands: list[str], timeout_s: int
) -> tuple[str, bool]:
    """Return (command id, adopted): an identical recent probe command's id, else a new send's."""
    try:
        existing = find_probe_command(ssm, instance_id=instance_id, commands=commands)
    except Exception as exc:
        raise aws_failure(f"list recent commands on {instance_id}", exc) from exc
    if existing is not None:
        return existing, True
    try:
        response = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=DOCUMENT_NAME,
            Comment=COMMENT,
            TimeoutSeconds=DELIVERY_TIMEOUT_S,
            Parameters={"commands": commands, "executionTimeout": [str(int(timeout_s))]},
        )
    except Exception as exc:
        raise aws_failure(f"send the probe command to {instance_id}", exc) from exc
    return str(response["Command"]["CommandId"]), False


def find_probe_command(ssm: Any, *, instance_id: str, commands: list[str]) -> str | None:
    """Return the id of a probe command with exactly these `commands` sent lately, else None."""
    since = (datetime.now(UTC) - LOOKBACK).strftime("%Y-%m-%dT%H:%M:%SZ")
    sent = paginate(
        ssm,
        "list_commands",
        "Commands",
        InstanceId=instance_id,
        Filters=[{"key": "InvokedAfter", "value": since}],
    )
    for command in sent:
        if (
            command.get("Comment") == COMMENT
            and command.get("DocumentName") == DOCUMENT_NAME
            and command.get("Parameters", {}).get("commands") == commands
        ):
            return str(command["CommandId"])
    return None


def observe_invocation(
    ssm: Any, *, command_id: str, instance_id: str
) -> Observation[dict[str, Any]]:
    """Return one look at the command's invocation; raise ProbeCommandFailed if it ended badly."""
    try:
        invocation: dict[str, Any] = ssm.get_command_invocation(
            CommandId=command_id, InstanceId=instance_id
        )
    except ClientError as exc:
        if aws_error_code(exc) == "InvocationDoesNotExist":
            return Observation(ready=False, failing=("invocation not registered yet",))
        raise aws_failure(f"read probe command {command_id} on {instance_id}", exc) from exc
    status = str(invocation.get("Status", ""))
    if status == "Success":
        return Observation(ready=True, value=invocation)
    if status in _FINISHED_BADLY:
        raise ProbeCommandFailed(failure_message(invocation, command_id, instance_id))
    details = invocation.get("StatusDetails") or status
    return Observation(ready=False, failing=(f"status {status or 'unknown'} ({details})",))


def failure_message(invocation: dict[str, Any], command_id: str, instance_id: str) -> str:
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
