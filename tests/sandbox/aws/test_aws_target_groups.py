"""What the NLB's health checker reads: registered targets with their group's current check."""

from __future__ import annotations

from typing import Any

from conftest import REGION, ClientFactory
from test_aws_ec2 import Launch
from test_aws_elbv2 import create_tcp_target_group

from sandbox.aws.target_groups import instance_running, registered_targets


def test_registered_targets_carry_the_groups_check_as_modified(
    client: ClientFactory, network: Any, launch: Launch
) -> None:
    elbv2, ec2 = client("elbv2"), client("ec2")
    tg_arn = create_tcp_target_group(elbv2, network)
    instance = launch()
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": instance["InstanceId"]}])
    elbv2.modify_target_group(
        TargetGroupArn=tg_arn, HealthCheckIntervalSeconds=30, UnhealthyThresholdCount=5
    )
    elbv2.modify_target_group_attributes(
        TargetGroupArn=tg_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "45"}],
    )

    (target,) = registered_targets(REGION)

    assert (target.target_group_arn, target.instance_id) == (tg_arn, instance["InstanceId"])
    assert (target.ip, target.running) == (instance["PrivateIpAddress"], True)
    assert (target.protocol, target.port, target.path) == ("HTTP", 31080, "/healthz")
    assert (target.interval, target.unhealthy_threshold) == (30.0, 5)
    assert target.deregistration_delay == 45.0

    ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    assert not instance_running(instance["InstanceId"], region=REGION)
    assert registered_targets(REGION)[0].running is False
    elbv2.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": instance["InstanceId"]}])
    assert registered_targets(REGION) == []
