"""Fills the gaps of moto 5.2.5 that this project's flows hit; every patch to moto lives here.

moto is the twin's AWS control plane. Where it answers differently from AWS in a way the flows
would notice, this module wraps or adds methods on moto's classes, once per process (``apply``).
All of it is visible through plain boto3 over HTTP, which is how the product reaches the twin.
Checked against moto 5.2.5 only: importing this module with another version fails at once, and
every wrapped method must exist where expected, so a moto bump cannot silently unpatch anything.

Gaps filled (moto 5.2.5 behaviour -> AWS behaviour):

SSM
 1. ``SendCommand(InstanceIds=[one])`` runs on *every* instance of the region (moto resolves the
    empty ``Targets`` list as "no filter") -> only the given instances.
 2. ``SendCommand`` to an instance whose agent is not online succeeds -> ``InvalidInstanceId``
    ("not in a valid state"), so a flow must wait for the agent as on AWS. Online comes from the
    ``hooks`` predicate (default: running, and the instance profile's role has
    ``AmazonSSMManagedInstanceCore`` attached).
 3. Invocations are instantly ``Success`` with empty output -> with an executor hook installed,
    each invocation runs in a background thread: ``Pending`` -> ``InProgress`` ->
    ``Success``/``Failed``/``TimedOut``, ``ResponseCode`` -1 until it ends, stdout/stderr cut to
    24,000/8,000 characters, ``TimedOut`` (code 137, ``ExecutionTimedOut``) when the executor
    outlives ``executionTimeout``. The command's own status and counts follow. Without an
    executor moto's instant Success stays.
 4. ``GetCommandInvocation`` right after ``SendCommand`` always answers -> for a configurable
    window (``AwsFaults.invocation_visible_after``, default 0 s) it raises
    ``InvocationDoesNotExist``, as AWS does while the command propagates.
 5. ``ListCommandInvocations`` and ``DescribeInstanceInformation`` are not implemented (HTTP
    500) -> implemented over moto's commands and EC2 instances.

ELBv2
 6. Network load balancers get an ``app/`` ARN and an ALB-shaped DNS name (``name-1.region...``)
    -> ``loadbalancer/net/<name>/<16 hex>`` and ``<name>-<16 hex>.elb.<region>.amazonaws.com``
    (internal NLBs too: only ALBs/CLBs get an ``internal-`` prefix).
 7. No network interfaces -> one requester-managed ENI per subnet (``ELB net/<name>/<id>``,
    type ``network_load_balancer``, a free private IP of the subnet or the mapping's
    ``PrivateIPv4Address``), deleted with the load balancer; deleting it also detaches its
    target groups and drops its tags.
 8. A second ``CreateLoadBalancer``/``CreateTargetGroup`` with the same name makes a duplicate
    LB / raises ``DuplicateTargetGroupName`` -> returns the existing one when the settings match
    (AWS documents both as idempotent), ``Duplicate...Name`` otherwise.
 9. ``DescribeTargetGroups(LoadBalancerArn=...)`` with no target groups raises
    ``TargetGroupNotFound`` -> ``[]``.
10. Registered targets are always ``healthy`` -> asked of the ``hooks`` health provider when
    one is installed.
11. A load balancer is ``active`` from the first Describe -> ``activate_load_balancer_after``
    keeps one ``provisioning`` for a while (the cloud controller sets the twin's NLB delay).
12. TCP/UDP/TLS target groups lack the NLB attributes -> ``preserve_client_ip.enabled``
    (true for instance targets), ``proxy_protocol_v2.enabled`` and
    ``deregistration_delay.connection_termination.enabled`` (false) are present by default.

EC2
13. ``RunInstances`` ignores ``ClientToken`` -> the same token with the same parameters returns
    the original reservation (current state, even terminated); different parameters raise
    ``IdempotentParameterMismatch``.

IAM
14. AWS managed policies are not loaded unless ``MOTO_IAM_LOAD_MANAGED_POLICIES`` (slow: 1,500+
    policies per backend), so attaching ``AmazonSSMManagedInstanceCore`` fails with NoSuchEntity
    -> the few managed policies in ``AWS_MANAGED_POLICIES`` are always there.
15. ``SimulatePrincipalPolicy`` is not implemented -> role inline + attached managed policies
    are evaluated by ``policy_simulation``.

S3
16. ``GetBucketEncryption`` on a new bucket raises ServerSideEncryptionConfigurationNotFound ->
    SSE-S3 (AES256), the default AWS applies to every bucket since January 2023.

Speed (no behaviour the flows see)
17. Every EC2 backend (so every ``reset``) builds ~1,300 ECS-optimised AMIs with a volume and a
    snapshot each (~0.6 s of CPU) -> they are not loaded; the generic and latest Amazon Linux
    images (the AL2023 parameter's among them) still are.

Checked and *not* gaps in 5.2.5 (left alone): S3 buckets outside us-east-1, versioning, public
access block; the public AL2023 AMI parameter in ap-northeast-1; VPC 127.20.0.0/16 with subnets
and instances taking loopback private IPs from them; ``DescribeInstances`` tag filters; IAM
roles, inline policies and instance profiles; STS ``GetCallerIdentity``; ``DescribeRegions``
and ``DescribeAvailabilityZones`` (ap-northeast-1a/1c/1d); TCP target groups with HTTP health
checks on ``/healthz`` and a custom port; ELBv2 ``DescribeTags``.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import moto
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.ec2.models import amis as amis_module
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import Instance, Reservation
from moto.ec2.responses.instances import InstanceResponse
from moto.elbv2.exceptions import TargetGroupNotFoundError
from moto.elbv2.models import (
    ELBv2Backend,
    FakeHealthStatus,
    FakeLoadBalancer,
    FakeTargetGroup,
    elbv2_backends,
)
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, IAMBackend, ManagedPolicy, Role, iam_backends
from moto.iam.responses import IamResponse
from moto.s3.models import S3Backend
from moto.settings import load_iam_aws_managed_policies
from moto.ssm.models import Command, SimpleSystemManagerBackend, ssm_backends
from moto.ssm.responses import SimpleSystemManagerResponse
from moto.utilities.utils import get_partition
from moto.utilities.utils import load_resource as _moto_load_resource

from sandbox.aws import hooks, policy_simulation
from sandbox.aws.exceptions import (
    DuplicateLoadBalancerName,
    IdempotentParameterMismatch,
    InvalidFilterKey,
    InvalidInput,
    InvalidInstanceId,
    InvocationDoesNotExist,
    NoSuchEntity,
)
from sandbox.aws.hooks import CommandOutcome, CommandRequest

EXPECTED_MOTO_VERSION = "5.2.5"
if moto.__version__ != EXPECTED_MOTO_VERSION:  # pragma: no cover - guards a dependency bump
    raise RuntimeError(
        f"sandbox.aws.gaps patches moto {EXPECTED_MOTO_VERSION}, found {moto.__version__}: "
        "re-check every gap listed in sandbox/aws/gaps.py against the new version"
    )

log = logging.getLogger(__name__)

STDOUT_LIMIT = 24_000
STDERR_LIMIT = 8_000
PLUGIN_OUTPUT_LIMIT = 2_500
DEFAULT_EXECUTION_TIMEOUT = 3600
TIMED_OUT_RESPONSE_CODE = 137
PLUGIN_NAME = "aws:runShellScript"
SSM_AGENT_VERSION = "3.3.2299.0"
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
AWS_MANAGED_POLICIES = (
    "AmazonSSMManagedInstanceCore",
    "AmazonSSMManagedEC2InstanceDefaultPolicy",
    "AmazonEC2ReadOnlyAccess",
    "AmazonS3ReadOnlyAccess",
    "ElasticLoadBalancingReadOnly",
    "AdministratorAccess",
)
NLB_ENI_REQUESTER = "amazon-elb"

_T = TypeVar("_T")
_apply_lock = threading.Lock()
_state_lock = threading.Lock()
_applied = False


@dataclass
class _Settings:
    invocation_visible_after: float = 0.0
    command_pickup_delay: float = 0.0


_settings = _Settings()


def configure(*, invocation_visible_after: float, command_pickup_delay: float) -> None:
    """Set the SSM fault knobs (process-wide, like moto's state)."""
    _settings.invocation_visible_after = invocation_visible_after
    _settings.command_pickup_delay = command_pickup_delay


def apply() -> None:
    """Install every patch; later calls do nothing."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        _apply_ssm()
        _apply_elbv2()
        _apply_ec2()
        _apply_iam()
        _apply_s3()
        _applied = True


# ---------------------------------------------------------------------------------------------
# plumbing


def _wrap(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``cls.name`` by ``make(original)``; the method must be defined on ``cls`` itself."""
    original = cls.__dict__.get(name)
    if original is None:
        raise RuntimeError(f"moto changed: {cls.__name__}.{name} is gone")
    replacement = make(original)
    functools.update_wrapper(replacement, original)
    setattr(cls, name, replacement)


def _add(cls: type, name: str, fn: Callable[..., Any]) -> None:
    """Add a method moto lacks; fails if moto grew one (then re-check the gap)."""
    if hasattr(cls, name):
        raise RuntimeError(f"moto changed: {cls.__name__}.{name} now exists")
    setattr(cls, name, fn)


def _arguments(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Return the call's arguments by parameter name, defaults and ``**kwargs`` included."""
    signature = inspect.signature(fn)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(arguments.pop(name, {}))
    return arguments


_STATE_ATTR = "_kops_twin_state"


def _state(backend: object, factory: Callable[[], _T]) -> _T:
    """Return the twin's state kept on a moto backend (so moto's reset wipes it too)."""
    attrs = backend.__dict__
    with _state_lock:
        found = attrs.get(_STATE_ATTR)
        if found is None:
            found = attrs[_STATE_ATTR] = factory()
    return cast(_T, found)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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


def _ec2(account_id: str, region: str) -> Any:
    return ec2_backends[account_id][region]


# ---------------------------------------------------------------------------------------------
# SSM: instances online, command execution, invocations


@dataclass
class _Invocation:
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
class _SsmState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    invocations: dict[tuple[str, str], _Invocation] = field(default_factory=dict)
    last_ping: dict[str, datetime.datetime] = field(default_factory=dict)
    just_sent: set[str] = field(default_factory=set)
    """commands whose SendCommand response is still to be rendered (AWS: Pending, counts 0)"""


def _ssm_state(backend: SimpleSystemManagerBackend) -> _SsmState:
    return _state(backend, _SsmState)


def instance_has_managed_policy(
    instance_id: str,
    policy: str,
    *,
    region: str = "ap-northeast-1",
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> bool:
    """Tell whether the instance's profile holds a role with this managed policy (name or ARN)."""
    instance = _ec2(account_id, region).get_instance_by_id(instance_id)
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
    instance = _ec2(account_id, region).get_instance_by_id(instance_id)
    if instance is None or instance.state != "running":
        return False
    return instance_has_managed_policy(
        instance_id, SSM_CORE_POLICY, region=region, account_id=account_id
    )


def _is_online(backend: SimpleSystemManagerBackend, instance_id: str) -> bool:
    """Ask the online predicate (or the default rule), and remember the ping when online."""
    predicate = hooks.instance_online_predicate()
    if predicate is not None:
        online = bool(predicate(instance_id))
    else:
        online = default_instance_online(
            instance_id, region=backend.region_name, account_id=backend.account_id
        )
    if online:
        state = _ssm_state(backend)
        with state.lock:
            state.last_ping[instance_id] = _now()
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


def _finish(inv: _Invocation, outcome: CommandOutcome) -> None:
    """Record the end of an invocation (caller holds the state lock)."""
    inv.status = outcome.status
    inv.status_details = "ExecutionTimedOut" if outcome.status == "TimedOut" else outcome.status
    inv.response_code = outcome.response_code
    inv.stdout = outcome.stdout[:STDOUT_LIMIT]
    inv.stderr = outcome.stderr[:STDERR_LIMIT]
    inv.ended = _now()
    if inv.started is None:
        inv.started = inv.ended


def _run_invocation(
    state: _SsmState, inv: _Invocation, request: CommandRequest, executor: hooks.CommandExecutor
) -> None:
    """Drive one invocation through the executor, with the agent's execution timeout."""
    delay = _settings.command_pickup_delay
    if delay > 0:
        time.sleep(delay)
    with state.lock:
        inv.status = inv.status_details = "InProgress"
        inv.started = _now()

    def time_out() -> None:
        with state.lock:
            if not inv.finished:
                _finish(inv, CommandOutcome("TimedOut", TIMED_OUT_RESPONSE_CODE))

    watchdog = threading.Timer(request.execution_timeout, time_out)
    watchdog.daemon = True
    watchdog.start()
    try:
        outcome = executor(request)
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
        arguments = _arguments(original, (self, *args), kwargs)
        offline = [i for i in arguments.get("instance_ids") or [] if not _is_online(self, i)]
        if offline:
            raise InvalidInstanceId(offline, self.account_id)
        command: Command = original(self, *args, **kwargs)
        executor = hooks.command_executor()
        state = _ssm_state(self)
        if executor is not None:
            with state.lock:
                state.just_sent.add(command.command_id)
        parameters = command.parameters or {}
        commands = tuple(str(c) for c in parameters.get("commands", []))
        visible_at = time.monotonic() + _settings.invocation_visible_after
        for instance_id in command.instance_ids:
            inv = _Invocation(
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


def _invisible(inv: _Invocation | None) -> bool:
    return inv is not None and time.monotonic() < inv.visible_at


def _overlay(base: dict[str, Any], inv: _Invocation | None) -> dict[str, Any]:
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
        arguments = _arguments(original, (self, *args), kwargs)
        state = _ssm_state(self)
        key = (arguments["command_id"], arguments["instance_id"])
        with state.lock:
            inv = state.invocations.get(key)
            if _invisible(inv):
                raise InvocationDoesNotExist()
            base: dict[str, Any] = original(self, *args, **kwargs)
            return _overlay(base, inv)

    return get_command_invocation


def _command_summary(command: Command, state: _SsmState) -> dict[str, Any]:
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
        state = _ssm_state(ssm_backends[self.account_id][self.backend_region])
        summary = _command_summary(self, state)
        with state.lock:
            if self.command_id in state.just_sent:
                state.just_sent.discard(self.command_id)
                summary.update(Status="Pending", StatusDetails="Pending", CompletedCount=0)
                summary.update(ErrorCount=0, TargetCount=0)
        result.update(summary)
        return result

    return response_object


def _plugin_output(inv: _Invocation) -> str:
    text = inv.stdout
    if inv.stderr:
        text += "\n----------ERROR-------\n" + inv.stderr
    return text[:PLUGIN_OUTPUT_LIMIT]


def list_command_invocations(
    backend: SimpleSystemManagerBackend,
    *,
    command_id: str | None,
    instance_id: str | None,
    details: bool,
    filters: list[dict[str, str]],
) -> list[dict[str, Any]]:
    """Return ListCommandInvocations entries, newest command first (gap 5)."""
    wanted_status: set[str] = set()
    wanted_documents: set[str] = set()
    for item in filters:
        key, value = item.get("key", ""), item.get("value", "")
        if key == "Status":
            wanted_status.add(value)
        elif key == "DocumentName":
            wanted_documents.add(value)
        else:
            raise InvalidFilterKey(key)
    state = _ssm_state(backend)
    commands = [c for c in backend._commands if command_id in (None, c.command_id)]
    entries: list[dict[str, Any]] = []
    for command in reversed(commands):
        for iid in command.instance_ids:
            if instance_id not in (None, iid):
                continue
            with state.lock:
                inv = state.invocations.get((command.command_id, iid))
                if _invisible(inv):
                    continue
                base = _overlay(command.get_invocation(iid, None), inv)
                output = _plugin_output(inv) if inv is not None and inv.tracked else ""
            if wanted_status and base["Status"] not in wanted_status:
                continue
            if wanted_documents and base["DocumentName"] not in wanted_documents:
                continue
            entry: dict[str, Any] = {
                "CommandId": command.command_id,
                "InstanceId": iid,
                "InstanceName": "",
                "Comment": command.comment,
                "DocumentName": base["DocumentName"],
                "DocumentVersion": "$DEFAULT",
                "RequestedDateTime": command.requested_date_time,
                "Status": base["Status"],
                "StatusDetails": base["StatusDetails"],
                "TraceOutput": "",
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "ServiceRole": command.service_role_arn,
                "NotificationConfig": command.notification_config,
                "CloudWatchOutputConfig": {
                    "CloudWatchLogGroupName": "",
                    "CloudWatchOutputEnabled": False,
                },
                "CommandPlugins": [],
            }
            if details:
                entry["CommandPlugins"] = [
                    {
                        "Name": base.get("PluginName", PLUGIN_NAME),
                        "Status": base["Status"],
                        "StatusDetails": base["StatusDetails"],
                        "ResponseCode": base["ResponseCode"],
                        "ResponseStartDateTime": inv.started if inv and inv.tracked else None,
                        "ResponseFinishDateTime": inv.ended if inv and inv.tracked else None,
                        "Output": output,
                        "StandardOutputUrl": "",
                        "StandardErrorUrl": "",
                        "OutputS3Region": command.output_s3_region or backend.region_name,
                        "OutputS3BucketName": command.output_s3_bucket_name,
                        "OutputS3KeyPrefix": command.output_s3_key_prefix,
                    }
                ]
            entries.append(entry)
    return entries


_INFO_FILTER_KEYS = {"InstanceIds", "PingStatus", "PlatformTypes", "ResourceType", "AgentVersion"}


def describe_instance_information(
    backend: SimpleSystemManagerBackend, *, filters: dict[str, set[str]]
) -> list[dict[str, Any]]:
    """Return DescribeInstanceInformation entries for EC2 instances seen online (gap 5).

    An instance is listed ``Online`` while the online predicate holds, and ``ConnectionLost``
    once it stops holding (until the instance is terminated). One never seen online is not a
    managed instance and is not listed.
    """
    for key in filters:
        if key not in _INFO_FILTER_KEYS and not key.startswith("tag:") and key != "tag-key":
            raise InvalidFilterKey(key)
    state = _ssm_state(backend)
    ec2 = _ec2(backend.account_id, backend.region_name)
    entries: list[dict[str, Any]] = []
    for instance in ec2.all_instances():
        if instance.state in ("terminated", "shutting-down"):
            continue
        online = _is_online(backend, instance.id)
        with state.lock:
            last_ping = state.last_ping.get(instance.id)
        if last_ping is None:
            continue
        entry = _instance_information(instance, "Online" if online else "ConnectionLost", last_ping)
        if _info_matches(entry, instance, filters):
            entries.append(entry)
    return entries


def _instance_information(
    instance: Instance, ping_status: str, last_ping: datetime.datetime
) -> dict[str, Any]:
    return {
        "InstanceId": instance.id,
        "PingStatus": ping_status,
        "LastPingDateTime": last_ping,
        "AgentVersion": SSM_AGENT_VERSION,
        "IsLatestVersion": False,
        "PlatformType": "Linux",
        "PlatformName": "Amazon Linux",
        "PlatformVersion": "2023",
        "ResourceType": "EC2Instance",
        "IPAddress": instance.private_ip,
        "ComputerName": instance.private_dns_name,
        "SourceId": instance.id,
        "SourceType": "AWS::EC2::Instance",
    }


def _info_matches(entry: dict[str, Any], instance: Instance, filters: dict[str, set[str]]) -> bool:
    tags = {t["key"]: t["value"] for t in instance.get_tags()}
    for key, values in filters.items():
        if key == "InstanceIds":
            ok = entry["InstanceId"] in values
        elif key == "PingStatus":
            ok = entry["PingStatus"] in values
        elif key == "PlatformTypes":
            ok = entry["PlatformType"] in values
        elif key == "ResourceType":
            ok = entry["ResourceType"] in values
        elif key == "AgentVersion":
            ok = entry["AgentVersion"] in values
        elif key == "tag-key":
            ok = bool(values & set(tags))
        else:
            ok = tags.get(key.removeprefix("tag:")) in values
        if not ok:
            return False
    return True


def _page(
    items: list[dict[str, Any]], token: str | None, size: int
) -> tuple[list[Any], str | None]:
    start = int(token) if token and token.isdigit() else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _response_list_command_invocations(self: SimpleSystemManagerResponse) -> ActionResult:
    entries = list_command_invocations(
        self.ssm_backend,
        command_id=self._get_param("CommandId"),
        instance_id=self._get_param("InstanceId"),
        details=bool(self._get_param("Details", False)),
        filters=self._get_param("Filters", []) or [],
    )
    page, token = _page(entries, self._get_param("NextToken"), self._get_param("MaxResults") or 50)
    return ActionResult({"CommandInvocations": page, "NextToken": token})


def _response_describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    filters: dict[str, set[str]] = {}
    for item in self._get_param("InstanceInformationFilterList", []) or []:
        filters.setdefault(item["key"], set()).update(item.get("valueSet", []))
    for item in self._get_param("Filters", []) or []:
        filters.setdefault(item["Key"], set()).update(item.get("Values", []))
    entries = describe_instance_information(self.ssm_backend, filters=filters)
    page, token = _page(entries, self._get_param("NextToken"), self._get_param("MaxResults") or 50)
    return ActionResult({"InstanceInformationList": page, "NextToken": token})


def _apply_ssm() -> None:
    _wrap(Command, "_get_instance_ids_from_targets", _patched_targets)
    _wrap(Command, "response_object", _patched_command_response)
    _wrap(SimpleSystemManagerBackend, "send_command", _patched_send_command)
    _wrap(SimpleSystemManagerBackend, "get_command_invocation", _patched_get_command_invocation)
    _add(
        SimpleSystemManagerResponse, "list_command_invocations", _response_list_command_invocations
    )
    _add(
        SimpleSystemManagerResponse,
        "describe_instance_information",
        _response_describe_instance_information,
    )


# ---------------------------------------------------------------------------------------------
# ELBv2: network load balancers, idempotent creates, target groups, target health


@dataclass
class _ElbState:
    enis: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    """load balancer arn -> (eni id, subnet id, private ip) per AZ"""


def _elb_state(backend: ELBv2Backend) -> _ElbState:
    return _state(backend, _ElbState)


def _lb_id(lb: FakeLoadBalancer) -> str:
    return lb.arn.rsplit("/", 1)[-1]


def _same_lb_settings(lb: FakeLoadBalancer, arguments: dict[str, Any]) -> bool:
    subnet_ids = list(arguments.get("subnet_ids") or [])
    subnet_ids += [m["SubnetId"] for m in arguments.get("subnet_mappings") or []]
    return (
        lb.type == (arguments.get("loadbalancer_type") or "application")
        and (lb.scheme or "internet-facing") == (arguments.get("scheme") or "internet-facing")
        and sorted(s.id for s in lb.subnets) == sorted(subnet_ids)
    )


def _make_network(
    backend: ELBv2Backend, lb: FakeLoadBalancer, mappings: list[dict[str, Any]]
) -> None:
    """Give a network LB its real ARN, DNS name and per-subnet interfaces (gaps 6, 7)."""
    old_arn = lb.arn
    lb_id = _lb_id(lb)
    lb.arn = old_arn.replace(":loadbalancer/app/", ":loadbalancer/net/", 1)
    lb.dns_name = f"{lb.name}-{lb_id}.elb.{backend.region_name}.amazonaws.com"
    backend.load_balancers = type(backend.load_balancers)(
        (lb.arn if arn == old_arn else arn, balancer)
        for arn, balancer in backend.load_balancers.items()
    )
    backend.tagging_service.copy_tags(old_arn, lb.arn)
    backend.tagging_service.delete_all_tags_for_resource(old_arn)
    fixed_ips = {m["SubnetId"]: m.get("PrivateIPv4Address") for m in mappings}
    ec2 = backend.ec2_backend
    created: list[tuple[str, str, str]] = []
    for subnet in lb.subnets:
        ip = fixed_ips.get(subnet.id)
        owner = cast(Any, lb)
        if ip:
            subnet.request_ip(ip, owner)
        else:
            ip = subnet.get_available_subnet_ip(owner)
        eni = ec2.create_network_interface(
            subnet=subnet,
            private_ip_address=ip,
            group_ids=list(lb.security_groups or []) or None,
            description=f"ELB net/{lb.name}/{lb_id}",
        )
        eni.interface_type = "network_load_balancer"
        eni.requester_managed = True
        eni.requester_id = NLB_ENI_REQUESTER
        eni.status = "in-use"
        created.append((eni.id, subnet.id, ip))
    _elb_state(backend).enis[lb.arn] = created


_activation_lock = threading.Lock()
_active_after: dict[str, float] = {}
"""load balancer arn -> monotonic time before which it stays ``provisioning``"""


def activate_load_balancer_after(arn: str, seconds: float) -> None:
    """Keep a load balancer ``provisioning`` for ``seconds`` from now (moto activates at once).

    AWS takes minutes to turn an NLB ``active``; the twin's cloud controller calls this right
    after creating one, so waiters on ``State.Code`` really wait.
    """
    with _activation_lock:
        _active_after[arn] = time.monotonic() + seconds
    _, _, _, region, account_id, _ = arn.split(":", 5)
    lb = elbv2_backends[account_id][region].load_balancers.get(arn)
    if lb is not None and seconds > 0:
        lb.state = "provisioning"


def _patched_activate(original: Callable[..., Any]) -> Callable[..., Any]:
    def activate(self: FakeLoadBalancer) -> None:
        with _activation_lock:
            deadline = _active_after.get(self.arn)
        if deadline is None or time.monotonic() >= deadline:
            original(self)

    return activate


def _patched_create_load_balancer(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_load_balancer(self: ELBv2Backend, *args: Any, **kwargs: Any) -> FakeLoadBalancer:
        arguments = _arguments(original, (self, *args), kwargs)
        name = arguments["name"]
        existing = next((lb for lb in self.load_balancers.values() if lb.name == name), None)
        if existing is not None:
            if _same_lb_settings(existing, arguments):
                return existing  # gap 8: CreateLoadBalancer is idempotent
            raise DuplicateLoadBalancerName(name)
        lb: FakeLoadBalancer = original(self, *args, **kwargs)
        if lb.type == "network":
            _make_network(self, lb, list(arguments.get("subnet_mappings") or []))
        return lb

    return create_load_balancer


def _patched_delete_load_balancer(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_load_balancer(self: ELBv2Backend, arn: str) -> None:
        lb = self.load_balancers.get(arn)
        original(self, arn)
        if lb is None:
            return
        for eni_id, subnet_id, ip in _elb_state(self).enis.pop(arn, []):
            self.ec2_backend.enis.pop(eni_id, None)
            subnet = self.ec2_backend.get_subnet(subnet_id)
            subnet.del_subnet_ip(ip)
        for target_group in self.target_groups.values():
            if arn in target_group.load_balancer_arns:
                target_group.load_balancer_arns.remove(arn)
        self.tagging_service.delete_all_tags_for_resource(arn)

    return delete_load_balancer


def _patched_create_target_group(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_target_group(self: ELBv2Backend, *args: Any, **kwargs: Any) -> FakeTargetGroup:
        arguments = _arguments(original, (self, *args), kwargs)
        for tg in self.target_groups.values():
            if tg.name != arguments["name"]:
                continue
            same = (
                tg.protocol == arguments.get("protocol")
                and str(tg.port) == str(arguments.get("port"))
                and tg.vpc_id == arguments.get("vpc_id")
                and tg.target_type == (arguments.get("target_type") or "instance")
            )
            if same:
                return tg  # gap 8: CreateTargetGroup is idempotent
        return cast(FakeTargetGroup, original(self, *args, **kwargs))

    return create_target_group


def _patched_describe_target_groups(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_target_groups(self: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        arguments = _arguments(original, (self, *args), kwargs)
        try:
            return original(self, *args, **kwargs)
        except TargetGroupNotFoundError:
            if arguments.get("load_balancer_arn") in self.load_balancers:
                return []  # gap 9
            raise

    return describe_target_groups


def _patched_health_for(original: Callable[..., Any]) -> Callable[..., Any]:
    def health_for(
        self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any
    ) -> FakeHealthStatus:
        provider = hooks.target_health_provider()
        registered = self.targets.get(target["Id"])
        if provider is None or registered is None:
            return cast(FakeHealthStatus, original(self, target, ec2_backend))
        state, reason, description = provider(self.arn, registered["Id"], int(registered["Port"]))
        return FakeHealthStatus(
            registered["Id"],
            registered["Port"],
            self.health_check_port,
            state,
            reason,
            description,
        )

    return health_for


_NLB_PROTOCOLS = {"TCP", "UDP", "TLS", "TCP_UDP"}


def _patched_target_group_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: FakeTargetGroup, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.protocol not in _NLB_PROTOCOLS:
            return
        preserve = self.target_type == "instance" or self.protocol in ("UDP", "TCP_UDP")
        self.attributes.setdefault("preserve_client_ip.enabled", "true" if preserve else "false")
        self.attributes.setdefault("proxy_protocol_v2.enabled", "false")
        self.attributes.setdefault("deregistration_delay.connection_termination.enabled", "false")

    return __init__


def _apply_elbv2() -> None:
    _wrap(ELBv2Backend, "create_load_balancer", _patched_create_load_balancer)
    _wrap(FakeLoadBalancer, "activate", _patched_activate)
    _wrap(ELBv2Backend, "delete_load_balancer", _patched_delete_load_balancer)
    _wrap(ELBv2Backend, "create_target_group", _patched_create_target_group)
    _wrap(ELBv2Backend, "describe_target_groups", _patched_describe_target_groups)
    _wrap(FakeTargetGroup, "health_for", _patched_health_for)
    _wrap(FakeTargetGroup, "__init__", _patched_target_group_init)


# ---------------------------------------------------------------------------------------------
# EC2: RunInstances idempotency


@dataclass
class _Ec2State:
    client_tokens: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], str]] = field(
        default_factory=dict
    )
    """client token -> (request fingerprint, reservation id)"""


_IDEMPOTENCY_IGNORED = {"Action", "Version", "ClientToken", "DryRun", "Placement.AvailabilityZone"}
_run_instances_lock = threading.Lock()


def _fingerprint(querystring: Mapping[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        sorted((k, tuple(v)) for k, v in querystring.items() if k not in _IDEMPOTENCY_IGNORED)
    )


def _patched_run_instances(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_instances(self: InstanceResponse) -> ActionResult:
        token = (self.querystring.get("ClientToken") or [""])[0]
        if not token:
            return cast(ActionResult, original(self))
        state = _state(self.ec2_backend, _Ec2State)
        fingerprint = _fingerprint(self.querystring)
        with _run_instances_lock:
            known = state.client_tokens.get(token)
            if known is not None:
                if known[0] != fingerprint:
                    raise IdempotentParameterMismatch()
                reservation: Reservation | None = self.ec2_backend.reservations.get(known[1])
                if reservation is not None:
                    return ActionResult(reservation)  # gap 13
            result = cast(ActionResult, original(self))
            launched = cast(Reservation, result.result)
            state.client_tokens[token] = (fingerprint, launched.id)
            return result

    return run_instances


_ECS_AMIS = "ec2/resources/ecs/optimized_amis/"


def _without_ecs_amis(original: Callable[..., Any]) -> Callable[..., Any]:
    def load_resource(filename: str, *args: Any, **kwargs: Any) -> Any:
        if filename.startswith(_ECS_AMIS):
            raise FileNotFoundError(filename)  # moto's loader skips a region without the file
        return original(filename, *args, **kwargs)

    return load_resource


def _apply_ec2() -> None:
    _wrap(InstanceResponse, "run_instances", _patched_run_instances)
    if amis_module.load_resource is not _moto_load_resource:
        raise RuntimeError("moto changed: ec2.models.amis no longer loads with load_resource")
    amis_module.load_resource = _without_ecs_amis(_moto_load_resource)


# ---------------------------------------------------------------------------------------------
# IAM: a few AWS managed policies, SimulatePrincipalPolicy


@functools.cache
def _managed_policy_data(name: str) -> dict[str, Any]:
    """Return one AWS managed policy from moto's bundled data, without parsing all 1,500+."""
    marker = json.dumps(name) + ":"
    start = aws_managed_policies_data.find(marker)
    if start < 0:
        raise RuntimeError(f"moto's managed policy data lacks {name}")
    body_at = aws_managed_policies_data.index("{", start + len(marker))
    data, _ = json.JSONDecoder().raw_decode(aws_managed_policies_data, body_at)
    return cast(dict[str, Any], data)


def _patched_init_aws_policies(original: Callable[..., Any]) -> Callable[..., Any]:
    def _init_aws_policies(self: IAMBackend) -> list[ManagedPolicy]:
        if load_iam_aws_managed_policies():
            return cast(list[ManagedPolicy], original(self))
        return [
            AWSManagedPolicy.from_data(
                name, self.account_id, self.region_name, _managed_policy_data(name)
            )
            for name in AWS_MANAGED_POLICIES
        ]

    return _init_aws_policies


def _default_document(policy: ManagedPolicy) -> str:
    for version in policy.versions:
        if version.is_default:
            return version.document
    return policy.versions[-1].document


def _role_policies(role: Role) -> list[policy_simulation.SourcePolicy]:
    sources = [
        policy_simulation.SourcePolicy(name, "role", policy_simulation.parse_document(document))
        for name, document in role.policies.items()
    ]
    for arn, policy in role.managed_policies.items():
        kind = "aws-managed" if ":iam::aws:policy/" in arn else "user-managed"
        sources.append(
            policy_simulation.SourcePolicy(
                policy.name, kind, policy_simulation.parse_document(_default_document(policy))
            )
        )
    return sources


def simulate_principal_policy(
    backend: IAMBackend,
    *,
    policy_source_arn: str,
    action_names: list[str],
    resource_arns: list[str],
    policy_input_list: list[str],
    context_entries: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Return the EvaluationResults of SimulatePrincipalPolicy for a role (gap 15)."""
    if ":role/" not in policy_source_arn:
        raise InvalidInput(f"The twin simulates roles only, not {policy_source_arn}")
    role = next((r for r in backend.roles.values() if r.arn == policy_source_arn), None)
    if role is None:
        name = policy_source_arn.rsplit("/", 1)[-1]
        raise NoSuchEntity(name)
    sources = _role_policies(role)
    sources += [
        policy_simulation.SourcePolicy(
            f"PolicyInputList.{n}", "none", policy_simulation.parse_document(document)
        )
        for n, document in enumerate(policy_input_list, start=1)
    ]
    context = {
        entry["ContextKeyName"]: [str(v) for v in entry.get("ContextKeyValues", [])]
        for entry in context_entries
    }
    evaluations = policy_simulation.evaluate(
        policies=sources, actions=action_names, resources=resource_arns or ["*"], context=context
    )
    results = []
    for ev in evaluations:
        matched = [
            {"SourcePolicyId": m.policy_id, "SourcePolicyType": m.policy_type} for m in ev.matched
        ]
        result: dict[str, Any] = {
            "EvalActionName": ev.action,
            "EvalResourceName": ev.resource,
            "EvalDecision": ev.decision,
            "MatchedStatements": matched,
            "MissingContextValues": list(ev.missing_context),
        }
        if ev.resource != "*":
            result["ResourceSpecificResults"] = [
                {
                    "EvalResourceName": ev.resource,
                    "EvalResourceDecision": ev.decision,
                    "MatchedStatements": matched,
                    "MissingContextValues": list(ev.missing_context),
                }
            ]
        results.append(result)
    return results


def _response_simulate_principal_policy(self: IamResponse) -> ActionResult:
    results = simulate_principal_policy(
        self.backend,
        policy_source_arn=self._get_param("PolicySourceArn"),
        action_names=self._get_param("ActionNames", []) or [],
        resource_arns=self._get_param("ResourceArns", []) or [],
        policy_input_list=self._get_param("PolicyInputList", []) or [],
        context_entries=self._get_param("ContextEntries", []) or [],
    )
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def _apply_iam() -> None:
    _wrap(IAMBackend, "_init_aws_policies", _patched_init_aws_policies)
    _add(IamResponse, "simulate_principal_policy", _response_simulate_principal_policy)


# ---------------------------------------------------------------------------------------------
# S3: default bucket encryption


_DEFAULT_BUCKET_ENCRYPTION = {
    "Rule": {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BucketKeyEnabled": "false",
    }
}


def _patched_get_bucket_encryption(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_bucket_encryption(self: S3Backend, bucket_name: str) -> dict[str, Any] | None:
        found = original(self, bucket_name)
        return (
            cast(dict[str, Any], found)
            if found
            else json.loads(json.dumps(_DEFAULT_BUCKET_ENCRYPTION))
        )

    return get_bucket_encryption


def _apply_s3() -> None:
    _wrap(S3Backend, "get_bucket_encryption", _patched_get_bucket_encryption)
