"""SSM Run Command: send the probe script (once), find an earlier send, read its invocation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, paginate
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.errors import aws_error_code
from kops_nlb.core.verify.probe_run import (
    COMMENT,
    DELIVERY_TIMEOUT_S,
    DOCUMENT_NAME,
    LOOKBACK,
    is_probe_command,
)


def find_probe_command(region: str, *, instance_id: str, commands: list[str]) -> str | None:
    """Return the id of a probe command with exactly these `commands` sent lately, else None."""
    since = (datetime.now(UTC) - LOOKBACK).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        sent = paginate(
            aws_client("ssm", region),
            "list_commands",
            "Commands",
            InstanceId=instance_id,
            Filters=[{"key": "InvokedAfter", "value": since}],
        )
    except Exception as exc:
        raise aws_failure(f"list recent commands on {instance_id}", exc) from exc
    for command in sent:
        if is_probe_command(command, commands):
            return str(command["CommandId"])
    return None


def send_probe_command(
    region: str, *, instance_id: str, commands: list[str], timeout_s: int
) -> str:
    """Send the probe script with AWS-RunShellScript; return the command id."""
    try:
        response = aws_client("ssm", region).send_command(
            InstanceIds=[instance_id],
            DocumentName=DOCUMENT_NAME,
            Comment=COMMENT,
            TimeoutSeconds=DELIVERY_TIMEOUT_S,
            Parameters={"commands": commands, "executionTimeout": [str(int(timeout_s))]},
        )
    except Exception as exc:
        raise aws_failure(f"send the probe command to {instance_id}", exc) from exc
    return str(response["Command"]["CommandId"])


def command_invocation(region: str, *, command_id: str, instance_id: str) -> dict[str, Any] | None:
    """Return GetCommandInvocation's answer, or None while SSM has not registered it yet."""
    try:
        invocation: dict[str, Any] = aws_client("ssm", region).get_command_invocation(
            CommandId=command_id, InstanceId=instance_id
        )
    except ClientError as exc:
        if aws_error_code(exc) == "InvocationDoesNotExist":
            return None
        raise aws_failure(f"read probe command {command_id} on {instance_id}", exc) from exc
    return invocation
