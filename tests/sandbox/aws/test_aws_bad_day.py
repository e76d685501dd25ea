"""The twin's AWS on a bad day: EC2's request limit, a zone out of capacity, an instance not yet
visible to Describe, and an SSM agent that loses its connection mid-command."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Network

from sandbox.aws import AwsFaults, AwsServer, CommandOutcome, CommandRequest, set_command_executor

ClientFactory = Callable[..., Any]
Launch = Callable[..., dict[str, Any]]


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call()
    return {
        "code": err.value.response["Error"]["Code"],
        "message": err.value.response["Error"]["Message"],
        "status": err.value.response["ResponseMetadata"]["HTTPStatusCode"],
    }


def test_ec2_request_limit_hits_ec2_only(aws: AwsServer, client: ClientFactory) -> None:
    aws.set_faults(AwsFaults(ec2_request_limit_rate=1.0))
    refused = error_of(lambda: client("ec2").describe_vpcs())
    assert refused == {
        "code": "RequestLimitExceeded",
        "message": "Request limit exceeded.",
        "status": 503,
    }
    assert "Buckets" in client("s3").list_buckets()
    assert aws.injected_counts["RequestLimitExceeded"] == 1


def test_a_zone_without_capacity_refuses_run_instances_there_only(
    aws: AwsServer, launch: Launch, network: Network
) -> None:
    aws.set_faults(AwsFaults(insufficient_capacity_zone="ap-northeast-1a"))
    refused = error_of(lambda: launch(SubnetId=network.subnet_ids[0]))
    assert refused["code"] == "InsufficientInstanceCapacity"
    assert (
        "t3.micro capacity in the Availability Zone you requested (ap-northeast-1a)"
        in (refused["message"])
    )
    elsewhere = launch(SubnetId=network.subnet_ids[1])
    assert elsewhere["Placement"]["AvailabilityZone"] == "ap-northeast-1c"


def test_a_new_instance_is_not_found_by_id_until_it_is_visible(
    aws: AwsServer, client: ClientFactory, launch: Launch
) -> None:
    aws.set_faults(AwsFaults(instance_visible_after=0.5))
    instance_id = launch()["InstanceId"]
    ec2 = client("ec2")
    hidden = error_of(lambda: ec2.describe_instances(InstanceIds=[instance_id]))
    assert hidden["code"] == "InvalidInstanceID.NotFound"
    assert instance_id in hidden["message"]
    time.sleep(0.6)
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservation["Instances"][0]["InstanceId"] == instance_id


def test_an_agent_that_loses_its_connection_reports_once_back(
    aws: AwsServer, client: ClientFactory, launch: Launch, ssm_profile: str
) -> None:
    aws.set_faults(AwsFaults(ssm_connection_lost_rate=1.0, ssm_connection_lost_seconds=1.0))
    instance_id = launch(profile=ssm_profile)["InstanceId"]
    ssm = client("ssm")
    ran = threading.Event()

    def executor(request: CommandRequest) -> CommandOutcome:
        ran.set()
        return CommandOutcome("Success", 0, "done\n")

    set_command_executor(executor)
    command_id = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["echo done"], "executionTimeout": ["60"]},
    )["Command"]["CommandId"]
    assert ran.wait(5)
    [info] = ssm.describe_instance_information()["InstanceInformationList"]
    during = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    assert info["PingStatus"] == "ConnectionLost"
    assert during["Status"] == "InProgress"  # the script ran; its result waits for the agent

    deadline = time.monotonic() + 10
    while (after := ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id))[
        "Status"
    ] == "InProgress":
        assert time.monotonic() < deadline, "the agent never reconnected"
        time.sleep(0.05)
    assert (after["Status"], after["StandardOutputContent"]) == ("Success", "done\n")
    [back] = ssm.describe_instance_information()["InstanceInformationList"]
    assert back["PingStatus"] == "Online"
