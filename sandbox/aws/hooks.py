"""The contract between the twin's AWS and the rest of the twin (SSM agent, cloud controller).

moto keeps AWS's *control plane*; what happens on the hosts (a shell script running on the
bastion, an SSM agent being online, a node answering a health check) belongs to other parts
of the twin. They plug in here, with plain callables, so they never touch moto:

- ``set_command_executor``: runs one SSM Run Command invocation (``AWS-RunShellScript``).
- ``set_instance_online_predicate``: whether the SSM agent of an instance is online.
- ``set_target_health_provider``: the health of one registered ELBv2 target.

Each setter replaces the previous hook; ``None`` restores the default. Hooks are process-wide
(moto's state is process-wide too) and survive ``AwsServer.reset()``. They are called from the
server's request threads and from background threads, so they must be thread-safe and quick;
an executor may block for as long as the script "runs".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

CommandStatus = Literal["Success", "Failed", "TimedOut"]


@dataclass(frozen=True)
class CommandRequest:
    """One invocation of a Run Command on one instance, as the SSM agent would receive it."""

    command_id: str
    instance_id: str
    document_name: str
    commands: tuple[str, ...]
    execution_timeout: int
    """Seconds (the document's ``executionTimeout`` parameter, 3600 when not given)."""
    region: str = "ap-northeast-1"


@dataclass(frozen=True)
class CommandOutcome:
    """What the agent reports when the invocation ends.

    The twin truncates ``stdout``/``stderr`` to what ``GetCommandInvocation`` shows (24,000 and
    8,000 characters), so an executor returns them whole.
    """

    status: CommandStatus
    response_code: int
    stdout: str = ""
    stderr: str = ""


CommandExecutor = Callable[[CommandRequest], CommandOutcome]
InstanceOnlinePredicate = Callable[[str], bool]
TargetHealth = tuple[str, str | None, str | None]
TargetHealthProvider = Callable[[str, str, int], TargetHealth]

_lock = threading.Lock()
_command_executor: CommandExecutor | None = None
_instance_online: InstanceOnlinePredicate | None = None
_target_health: TargetHealthProvider | None = None


def set_command_executor(fn: CommandExecutor | None) -> None:
    """Install the function that runs Run Command invocations (``None``: moto's instant Success).

    The function is called in a background thread per invocation, after ``SendCommand`` has
    returned. The invocation shows ``InProgress`` while it runs. If it has not returned after
    the request's ``execution_timeout`` seconds, the invocation becomes ``TimedOut`` and its
    late result is dropped; an executor should enforce the timeout itself and report
    ``TimedOut`` with the partial output, as the real agent does. An exception marks the
    invocation ``Failed`` (response code 1, the exception in stderr).
    """
    global _command_executor
    with _lock:
        _command_executor = fn


def set_instance_online_predicate(fn: InstanceOnlinePredicate | None) -> None:
    """Install ``instance id -> is its SSM agent online`` (``None``: the default rule).

    The default: the instance is running and has an instance profile whose role has
    ``AmazonSSMManagedInstanceCore`` attached. ``SendCommand`` refuses instances that are not
    online, and ``DescribeInstanceInformation`` lists only instances that were seen online.
    """
    global _instance_online
    with _lock:
        _instance_online = fn


def set_target_health_provider(fn: TargetHealthProvider | None) -> None:
    """Install ``(target group arn, instance id, port) -> (State, Reason, Description)``.

    ``None`` restores moto's answer (registered running targets are ``healthy``). The provider
    is asked only for registered targets; State is one of initial, healthy, unhealthy, unused,
    draining, unavailable, and Reason/Description are ``None`` when healthy.
    """
    global _target_health
    with _lock:
        _target_health = fn


def command_executor() -> CommandExecutor | None:
    """Return the installed command executor, if any."""
    return _command_executor


def instance_online_predicate() -> InstanceOnlinePredicate | None:
    """Return the installed online predicate, if any."""
    return _instance_online


def target_health_provider() -> TargetHealthProvider | None:
    """Return the installed target health provider, if any."""
    return _target_health
