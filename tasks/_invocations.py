"""Following one SSM command invocation to its end: shared by the probe and the resilience stream."""

from __future__ import annotations

from typing import Any

from kops_nlb.aws import ssm_commands
from kops_nlb.core.logs import Logger
from kops_nlb.core.spec import PollPolicy
from kops_nlb.core.verify import probe_run
from kops_nlb.core.verify.probe_run import invocation_observation
from kops_nlb.core.waiting import wait_until


def wait_for_invocation(
    *,
    region: str,
    instance_id: str,
    command_id: str,
    timeout_s: int,
    poll: PollPolicy,
    logger: Logger,
    what: str,
) -> Any:
    """Wait until the command's invocation on the instance ends; return the invocation."""
    return wait_until(
        lambda: invocation_observation(
            ssm_commands.command_invocation(region, command_id=command_id, instance_id=instance_id),
            command_id=command_id,
            instance_id=instance_id,
        ),
        what=f"{what} {command_id} on {instance_id}",
        timeout=probe_run.wait_deadline_s(timeout_s),
        poll=poll,
        logger=logger,
    )
