"""SSM gaps 1-4: Run Command only on the named, online instances, and invocations that really run."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends
from moto.ssm.models import Command, SimpleSystemManagerBackend, ssm_backends
from moto.utilities.utils import get_partition

from sandbox.aws import hooks
from sandbox.aws.exceptions import (
    InvalidInstanceId,
    InvocationDoesNotExist,
)
from sandbox.aws.gaps.patching import call_arguments, ec2_backend, now, twin_state, wrap
from sandbox.aws.gaps.ssm_faults import (
    connection_lost,
    maybe_lose_connection,
    reconnected_in,
    settings,
)
from sandbox.aws.hooks import CommandOutcome, CommandRequest

log = logging.getLogger(__name__)

STDOUT_LIMIT = 24_000
STDERR_LIMIT = 8_000
PLUGIN_OUTPUT_LIMIT = 2_500
DEFAULT_EXECUTION_TIMEOUT = 3600
TIMED_OUT_RESPONSE_CODE = 137
PLUGIN_NAME = "aws:runShellScript"
SSM_AGENT_VERSION = "3.3.2299.0"
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"


def _ssm_time(moment: datetime.datetime | None) -> str:
    """Format a time as GetCommandInvocation does (``2023-05-07T22:13:33.797Z``)."""
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ssm_elapsed(start: datetime.datetime | None, end: datetime.datetime | None) -> str:
    """Format a duration as GetCommandInvocation does (``PT1H0.271S``)."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0.0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{int(hours)}H"
    if minutes:
        text += f"{int(minutes)}M"
    return text + f"{secs:.3f}S"


@dataclass
class Invocation:
    command_id: str
    instance_id: str
    document_name: str
    visible_at: float
    tracked: bool
    status: str = "Pending"
    status_details: str = "Pending"
    response_code: int = -1
    stdout: str = ""
    stderr: str = ""
    started: datetime.datetime | None = None
    ended: datetime.datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("Success", "Failed", "TimedOut")


@dataclass
class SsmState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    invocations: dict[tuple[str, str], Invocation] = field(default_factory=dict)
    last_ping: dict[str, datetime.datetime] = field(default_factory=dict)
    just_sent: set[str] = field(default_factory=set)
    """commands whose SendCommand response is still to be rendered (AWS: Pending, counts 0)"""


def ssm_state(backend: SimpleSystemManagerBackend) -> SsmState:
    return twin_state(backend, SsmState)


def instance_has_managed_policy(
    instance_id: str,
    policy: str,
    *,
    region: str = "ap-northeast-1",
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> bool:
    """Tell whether the instance's profile holds a role with this managed policy (name or ARN)."""
    instance = ec2_backend(account_id, region).get_instance_by_id(instance_id)
    profile_ref = instance.iam_instance_profile if instance is not None else None
    if not isinstance(profile_ref, dict) or not profile_ref.get("Arn"):
        return False
    iam = iam_backends[account_id][get_partition(region)]
    for profile in iam.instance_profiles.values():
        if profile.arn == profile_ref["Arn"]:
            return any(
                policy in (arn, arn.rsplit("/", 1)[-1])
                for role in profile.roles
                for arn in role.managed_policies
            )
    return False


def default_instance_online(
    instance_id: str, *, region: str = "ap-northeast-1", account_id: str = DEFAULT_ACCOUNT_ID
) -> bool:
    """Tell whether the SSM agent would be online by AWS's rules as the twin models them.

    True when the instance is running and its instance profile holds a role with
    ``AmazonSSMManagedInstanceCore`` attached. A custom predicate may call this and add its own
    conditions (an agent process started, a delay since launch).
    """
    instance = ec2_backend(account_id, region).get_instance_by_id(instance_id)
    if instance is None or instance.state != "running":
        return False
    return instance_has_managed_policy(
        instance_id, SSM_CORE_POLICY, region=region, account_id=account_id
    )


def is_online(backend: SimpleSystemManagerBackend, instance_id: str) -> bool:
    """Ask the online predicate (or the default rule), and remember the ping when online.

    An agent whose connection was dropped (``ssm_faults.maybe_lose_connection``) is not online until it
    reconnects: DescribeInstanceInformation then says ``ConnectionLost``.
    """
    if connection_lost(instance_id):
        return False
    predicate = hooks.instance_online_predicate()
    if predicate is not None:
        online = bool(predicate(instance_id))
    else:
        online = default_instance_online(
            instance_id, region=backend.region_name, account_id=backend.account_id
        )
    if online:
        state = ssm_state(backend)
        with state.lock:
            state.last_ping[instance_id] = now()
    return online


def _execution_timeout(parameters: Mapping[str, Any]) -> int:
    """Return the document's ``executionTimeout`` in seconds (AWS's default when absent)."""
    raw: Any = parameters.get("executionTimeout")
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return int(raw) if raw not in (None, "") else DEFAULT_EXECUTION_TIMEOUT
    except (TypeError, ValueError):
        return DEFAULT_EXECUTION_TIMEOUT


def _finish(inv: Invocation, outcome: CommandOutcome) -> None:
    """Record the end of an invocation (caller holds the state lock)."""
    inv.status = outcome.status
    inv.status_details = "ExecutionTimedOut" if outcome.status == "TimedOut" else outcome.status
    inv.response_code = outcome.response_code
    inv.stdout = outcome.stdout[:STDOUT_LIMIT]
    inv.stderr = outcome.stderr[:STDERR_LIMIT]
    inv.ended = now()
    if inv.started is None:
        inv.started = inv.ended


def _run_invocation(
    state: SsmState, inv: Invocation, request: CommandRequest, executor: hooks.CommandExecutor
) -> None:
    """Drive one invocation through the executor, with the agent's execution timeout."""
    delay = settings.command_pickup_delay
    if delay > 0:
        time.sleep(delay)
    with state.lock:
        inv.status = inv.status_details = "InProgress"
        inv.started = now()

    def time_out() -> None:
        with state.lock:
            if not inv.finished:
                _finish(inv, CommandOutcome("TimedOut", TIMED_OUT_RESPONSE_CODE))

    watchdog = threading.Timer(request.execution_timeout, time_out)
    watchdog.daemon = True
    watchdog.start()
    # Mid-command, the agent may drop its connection: the script runs on, and its result reaches
    # SSM only once the agent is back (unless the execution timeout comes first).
    lost = maybe_lose_connection(request.instance_id)
    try:
        outcome = executor(request)
        if lost:
            time.sleep(reconnected_in(request.instance_id))
    except Exception as exc:
        log.exception("command executor failed on %s", request.instance_id)
        outcome = CommandOutcome("Failed", 1, "", f"{type(exc).__name__}: {exc}")
    finally:
        watchdog.cancel()
    with state.lock:
        if not inv.finished:
            _finish(inv, outcome)


def _patched_targets(original: Callable[..., Any]) -> Callable[..., Any]:
    def _get_instance_ids_from_targets(self: Command) -> list[str]:
        if not self.targets:
            return []  # gap 1: no Targets means no extra instances, not every instance
        return cast(list[str], original(self))

    return _get_instance_ids_from_targets


def _patched_send_command(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_command(self: SimpleSystemManagerBackend, *args: Any, **kwargs: Any) -> Command:
        arguments = call_arguments(original, (self, *args), kwargs)
        offline = [i for i in arguments.get("instance_ids") or [] if not is_online(self, i)]
        if offline:
            raise InvalidInstanceId(offline, self.account_id)
        command: Command = original(self, *args, **kwargs)
        executor = hooks.command_executor()
        state = ssm_state(self)
        if executor is not None:
            with state.lock:
                state.just_sent.add(command.command_id)
        parameters = command.parameters or {}
        commands = tuple(str(c) for c in parameters.get("commands", []))
        visible_at = time.monotonic() + settings.invocation_visible_after
        for instance_id in command.instance_ids:
            inv = Invocation(
                command_id=command.command_id,
                instance_id=instance_id,
                document_name=str(command.document_name or ""),
                visible_at=visible_at,
                tracked=executor is not None,
            )
            with state.lock:
                state.invocations[(command.command_id, instance_id)] = inv
            if executor is None:
                continue
            request = CommandRequest(
                command_id=command.command_id,
                instance_id=instance_id,
                document_name=inv.document_name,
                commands=commands,
                execution_timeout=_execution_timeout(parameters),
                region=self.region_name,
            )
            threading.Thread(
                target=_run_invocation,
                args=(state, inv, request, executor),
                name=f"ssm-invocation-{command.command_id[:8]}-{instance_id}",
                daemon=True,
            ).start()
        return command

    return send_command


def is_invisible(inv: Invocation | None) -> bool:
    return inv is not None and time.monotonic() < inv.visible_at


def overlay(base: dict[str, Any], inv: Invocation | None) -> dict[str, Any]:
    """Return moto's invocation with the twin's live status and output."""
    if inv is None or not inv.tracked:
        return base
    result = dict(base)
    result.update(
        Status=inv.status,
        StatusDetails=inv.status_details,
        ResponseCode=inv.response_code,
        StandardOutputContent=inv.stdout,
        StandardErrorContent=inv.stderr,
        ExecutionStartDateTime=_ssm_time(inv.started),
        ExecutionEndDateTime=_ssm_time(inv.ended),
        ExecutionElapsedTime=_ssm_elapsed(inv.started, inv.ended),
    )
    return result


def _patched_get_command_invocation(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_command_invocation(
        self: SimpleSystemManagerBackend, *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        arguments = call_arguments(original, (self, *args), kwargs)
        state = ssm_state(self)
        key = (arguments["command_id"], arguments["instance_id"])
        with state.lock:
            inv = state.invocations.get(key)
            if is_invisible(inv):
                raise InvocationDoesNotExist()
            base: dict[str, Any] = original(self, *args, **kwargs)
            return overlay(base, inv)

    return get_command_invocation


def _command_summary(command: Command, state: SsmState) -> dict[str, Any]:
    """Return the command-level Status/counts of its tracked invocations (empty if none)."""
    with state.lock:
        invs = [
            state.invocations[(command.command_id, i)]
            for i in command.instance_ids
            if (command.command_id, i) in state.invocations
        ]
        invs = [i for i in invs if i.tracked]
        if not invs:
            return {}
        statuses = [i.status for i in invs]
    done = [s for s in statuses if s in ("Success", "Failed", "TimedOut")]
    if len(done) < len(statuses):
        status = "Pending" if all(s == "Pending" for s in statuses) else "InProgress"
    elif "Failed" in done:
        status = "Failed"
    elif "TimedOut" in done:
        status = "TimedOut"
    else:
        status = "Success"
    errors = sum(1 for s in done if s != "Success")
    return {
        "Status": status,
        "StatusDetails": status,
        "CompletedCount": len(done),
        "ErrorCount": errors,
        "TargetCount": len(statuses),
    }


def _patched_command_response(original: Callable[..., Any]) -> Callable[..., Any]:
    def response_object(self: Command) -> dict[str, Any]:
        result: dict[str, Any] = original(self)
        state = ssm_state(ssm_backends[self.account_id][self.backend_region])
        summary = _command_summary(self, state)
        with state.lock:
            if self.command_id in state.just_sent:
                state.just_sent.discard(self.command_id)
                summary.update(Status="Pending", StatusDetails="Pending", CompletedCount=0)
                summary.update(ErrorCount=0, TargetCount=0)
        result.update(summary)
        return result

    return response_object


def apply() -> None:
    """Install the Run Command patches."""
    wrap(Command, "_get_instance_ids_from_targets", _patched_targets)
    wrap(Command, "response_object", _patched_command_response)
    wrap(SimpleSystemManagerBackend, "send_command", _patched_send_command)
    wrap(SimpleSystemManagerBackend, "get_command_invocation", _patched_get_command_invocation)
