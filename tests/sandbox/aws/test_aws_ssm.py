"""SSM gaps through boto3 over HTTP: targeting, execution, invocations, instance information."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from sandbox.aws import (
    AwsFaults,
    AwsServer,
    CommandOutcome,
    CommandRequest,
    set_command_executor,
    set_instance_online_predicate,
)

ClientFactory = Callable[..., Any]
Launch = Callable[..., dict[str, Any]]


def send(ssm: Any, instance_id: str, *commands: str, timeout: str = "120") -> str:
    """Send an AWS-RunShellScript command and return its id."""
    response = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": list(commands), "executionTimeout": [timeout]},
    )
    return str(response["Command"]["CommandId"])


def wait_done(ssm: Any, command_id: str, instance_id: str, within: float = 5.0) -> dict[str, Any]:
    """Poll GetCommandInvocation until the invocation has ended."""
    deadline = time.monotonic() + within
    while True:
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as err:
            if err.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
        else:
            if invocation["Status"] not in ("Pending", "InProgress", "Delayed"):
                return dict(invocation)
        assert time.monotonic() < deadline, "invocation did not end in time"
        time.sleep(0.02)


def echo_executor(request: CommandRequest) -> CommandOutcome:
    return CommandOutcome("Success", 0, "\n".join(request.commands) + "\n")


@pytest.fixture
def bastion(launch: Launch, ssm_profile: str) -> str:
    """A running instance whose SSM agent is online."""
    return str(launch(profile=ssm_profile)["InstanceId"])


def test_send_command_targets_only_the_given_instance(
    client: ClientFactory, launch: Launch, ssm_profile: str
) -> None:
    first = launch(profile=ssm_profile)["InstanceId"]
    second = launch(profile=ssm_profile)["InstanceId"]
    ssm = client("ssm")

    response = ssm.send_command(
        InstanceIds=[first], DocumentName="AWS-RunShellScript", Parameters={"commands": ["id"]}
    )

    command = response["Command"]
    assert command["InstanceIds"] == [first]
    invocations = ssm.list_command_invocations(CommandId=command["CommandId"])
    assert [i["InstanceId"] for i in invocations["CommandInvocations"]] == [first]
    with pytest.raises(ClientError) as err:
        ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=second)
    assert err.value.response["Error"]["Code"] == "InvocationDoesNotExist"


def test_send_command_refuses_an_instance_without_the_ssm_role(
    client: ClientFactory, launch: Launch
) -> None:
    plain = launch()["InstanceId"]

    with pytest.raises(ClientError) as err:
        send(client("ssm"), plain, "id")

    assert err.value.response["Error"]["Code"] == "InvalidInstanceId"
    assert plain in err.value.response["Error"]["Message"]


def test_online_predicate_decides_which_instances_are_managed(
    client: ClientFactory, launch: Launch
) -> None:
    plain = launch()["InstanceId"]
    seen: list[str] = []

    def online(instance_id: str) -> bool:
        seen.append(instance_id)
        return True

    set_instance_online_predicate(online)

    send(client("ssm"), plain, "id")
    assert plain in seen


def test_executor_receives_the_request_and_its_stdout_comes_back(
    client: ClientFactory, bastion: str
) -> None:
    requests: list[CommandRequest] = []

    def executor(request: CommandRequest) -> CommandOutcome:
        requests.append(request)
        return echo_executor(request)

    set_command_executor(executor)
    ssm = client("ssm")

    command_id = send(ssm, bastion, "echo one", "echo two", timeout="42")
    invocation = wait_done(ssm, command_id, bastion)

    assert requests == [
        CommandRequest(
            command_id=command_id,
            instance_id=bastion,
            document_name="AWS-RunShellScript",
            commands=("echo one", "echo two"),
            execution_timeout=42,
            region="ap-northeast-1",
        )
    ]
    assert invocation["Status"] == "Success"
    assert invocation["StatusDetails"] == "Success"
    assert invocation["ResponseCode"] == 0
    assert invocation["StandardOutputContent"] == "echo one\necho two\n"
    assert invocation["ExecutionEndDateTime"].endswith("Z")
    assert invocation["ExecutionElapsedTime"].startswith("PT")


def test_send_command_answers_pending_like_aws(client: ClientFactory, bastion: str) -> None:
    set_command_executor(echo_executor)
    ssm = client("ssm")

    command = ssm.send_command(
        InstanceIds=[bastion], DocumentName="AWS-RunShellScript", Parameters={"commands": ["id"]}
    )["Command"]

    assert (command["Status"], command["CompletedCount"]) == ("Pending", 0)
    wait_done(ssm, command["CommandId"], bastion)
    listed = ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]
    assert (listed["Status"], listed["CompletedCount"], listed["TargetCount"]) == ("Success", 1, 1)


def test_managed_policy_lookup_by_name_or_arn(
    aws: AwsServer, launch: Launch, ssm_profile: str
) -> None:
    managed = launch(profile=ssm_profile)["InstanceId"]
    plain = launch()["InstanceId"]

    assert aws.instance_has_managed_policy(managed, "AmazonSSMManagedInstanceCore")
    assert aws.instance_has_managed_policy(
        managed, "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )
    assert not aws.instance_has_managed_policy(managed, "AdministratorAccess")
    assert not aws.instance_has_managed_policy(plain, "AmazonSSMManagedInstanceCore")


def test_invocation_goes_pending_then_in_progress_then_success(
    aws: AwsServer, client: ClientFactory, bastion: str
) -> None:
    aws.set_faults(AwsFaults(command_pickup_delay=0.5))
    started, release = threading.Event(), threading.Event()

    def executor(request: CommandRequest) -> CommandOutcome:
        started.set()
        release.wait(5)
        return CommandOutcome("Success", 0, "done")

    set_command_executor(executor)
    ssm = client("ssm")
    command_id = send(ssm, bastion, "sleep 1")

    pending = ssm.get_command_invocation(CommandId=command_id, InstanceId=bastion)
    assert started.wait(5)
    running = ssm.get_command_invocation(CommandId=command_id, InstanceId=bastion)
    release.set()
    finished = wait_done(ssm, command_id, bastion)

    assert (pending["Status"], pending["ResponseCode"]) == ("Pending", -1)
    assert pending["ExecutionStartDateTime"] == ""
    assert (running["Status"], running["ResponseCode"]) == ("InProgress", -1)
    assert (finished["Status"], finished["ResponseCode"]) == ("Success", 0)
    assert ssm.list_commands(CommandId=command_id)["Commands"][0]["Status"] == "Success"


def test_non_zero_exit_is_failed_and_the_waiter_raises(client: ClientFactory, bastion: str) -> None:
    set_command_executor(lambda request: CommandOutcome("Failed", 7, "partial", "boom"))
    ssm = client("ssm")
    command_id = send(ssm, bastion, "exit 7")
    waiter = ssm.get_waiter("command_executed")

    with pytest.raises(WaiterError):
        waiter.wait(
            CommandId=command_id, InstanceId=bastion, WaiterConfig={"Delay": 1, "MaxAttempts": 3}
        )

    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=bastion)
    assert (invocation["Status"], invocation["ResponseCode"]) == ("Failed", 7)
    assert invocation["StandardErrorContent"] == "boom"
    command = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert (command["Status"], command["CompletedCount"], command["ErrorCount"]) == ("Failed", 1, 1)


def test_output_is_truncated_like_aws(client: ClientFactory, bastion: str) -> None:
    stdout = "".join(str(i % 10) for i in range(30_000))
    stderr = "e" * 9_000
    set_command_executor(lambda request: CommandOutcome("Success", 0, stdout, stderr))
    ssm = client("ssm")

    invocation = wait_done(ssm, send(ssm, bastion, "noisy"), bastion)

    assert invocation["StandardOutputContent"] == stdout[:24_000]
    assert invocation["StandardErrorContent"] == stderr[:8_000]


def test_executor_outliving_the_execution_timeout_times_out(
    client: ClientFactory, bastion: str
) -> None:
    release = threading.Event()

    def stuck(request: CommandRequest) -> CommandOutcome:
        release.wait(10)
        return CommandOutcome("Success", 0, "too late")

    set_command_executor(stuck)
    ssm = client("ssm")
    try:
        invocation = wait_done(ssm, send(ssm, bastion, "sleep 600", timeout="1"), bastion)
    finally:
        release.set()

    assert invocation["Status"] == "TimedOut"
    assert invocation["StatusDetails"] == "ExecutionTimedOut"
    assert invocation["ResponseCode"] == 137
    assert invocation["StandardOutputContent"] == ""


def test_executor_exception_marks_the_invocation_failed(
    client: ClientFactory, bastion: str
) -> None:
    def broken(request: CommandRequest) -> CommandOutcome:
        raise OSError("no such host")

    set_command_executor(broken)
    ssm = client("ssm")

    invocation = wait_done(ssm, send(ssm, bastion, "id"), bastion)

    assert (invocation["Status"], invocation["ResponseCode"]) == ("Failed", 1)
    assert "no such host" in invocation["StandardErrorContent"]


def test_invocation_does_not_exist_during_the_visibility_window(
    aws: AwsServer, client: ClientFactory, bastion: str
) -> None:
    aws.set_faults(AwsFaults(invocation_visible_after=0.5))
    set_command_executor(echo_executor)
    ssm = client("ssm")
    command_id = send(ssm, bastion, "echo hi")

    with pytest.raises(ClientError) as err:
        ssm.get_command_invocation(CommandId=command_id, InstanceId=bastion)
    assert err.value.response["Error"]["Code"] == "InvocationDoesNotExist"
    assert ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"] == []

    assert wait_done(ssm, command_id, bastion)["StandardOutputContent"] == "echo hi\n"


def test_without_an_executor_moto_answers_success_at_once(
    client: ClientFactory, bastion: str
) -> None:
    ssm = client("ssm")

    invocation = ssm.get_command_invocation(
        CommandId=send(ssm, bastion, "echo hi"), InstanceId=bastion
    )

    assert (invocation["Status"], invocation["StandardOutputContent"]) == ("Success", "")


def test_list_command_invocations_with_details(client: ClientFactory, bastion: str) -> None:
    set_command_executor(lambda request: CommandOutcome("Failed", 2, "out", "err"))
    ssm = client("ssm")
    command_id = send(ssm, bastion, "false")
    wait_done(ssm, command_id, bastion)

    listed = ssm.list_command_invocations(CommandId=command_id, Details=True)

    (entry,) = listed["CommandInvocations"]
    assert (entry["InstanceId"], entry["Status"]) == (bastion, "Failed")
    (plugin,) = entry["CommandPlugins"]
    assert (plugin["Name"], plugin["ResponseCode"]) == ("aws:runShellScript", 2)
    assert plugin["Output"].startswith("out") and plugin["Output"].endswith("err")
    only_failed = ssm.list_command_invocations(Filters=[{"key": "Status", "value": "Success"}])
    assert only_failed["CommandInvocations"] == []


def test_describe_instance_information_lists_online_instances(
    client: ClientFactory, launch: Launch, ssm_profile: str
) -> None:
    managed = launch(profile=ssm_profile)
    unmanaged = launch()["InstanceId"]
    ssm = client("ssm")

    by_filters = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [managed["InstanceId"], unmanaged]}]
    )["InstanceInformationList"]
    by_filter_list = ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [unmanaged]}]
    )["InstanceInformationList"]

    (info,) = by_filters
    assert info["InstanceId"] == managed["InstanceId"]
    assert info["PingStatus"] == "Online"
    assert (info["PlatformType"], info["PlatformName"]) == ("Linux", "Amazon Linux")
    assert info["IPAddress"] == managed["PrivateIpAddress"]
    assert info["ComputerName"] == managed["PrivateDnsName"]
    assert info["AgentVersion"] and info["LastPingDateTime"]
    assert by_filter_list == []


def test_stopped_instance_shows_connection_lost(client: ClientFactory, bastion: str) -> None:
    ssm = client("ssm")
    assert ssm.describe_instance_information()["InstanceInformationList"][0]["PingStatus"] == (
        "Online"
    )

    client("ec2").stop_instances(InstanceIds=[bastion])

    (info,) = ssm.describe_instance_information()["InstanceInformationList"]
    assert info["PingStatus"] == "ConnectionLost"
    with pytest.raises(ClientError) as err:
        send(ssm, bastion, "id")
    assert err.value.response["Error"]["Code"] == "InvalidInstanceId"
