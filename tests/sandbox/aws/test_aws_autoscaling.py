"""Auto Scaling gaps through boto3 over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.autoscaling.models import AutoScalingBackend
from moto.ec2.models.instances import InstanceBackend

ClientFactory = Callable[..., Any]
NODE_GROUP = "nodes-ap-northeast-1a.c.k8s.local"  # the group and its launch template


def test_the_warm_pool_of_a_missing_group_is_a_validation_error(client: ClientFactory) -> None:
    """Gap 21: kops asks for the warm pool of each group before creating the group."""
    with pytest.raises(ClientError) as raised:
        client("autoscaling").describe_warm_pool(AutoScalingGroupName="nodes.c.k8s.local")
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "AutoScalingGroup name not found" in error["Message"]


def _kops_like_launch_template(client: ClientFactory) -> dict[str, str]:
    """A VPC, a subnet, a node security group, an instance profile and a launch template that
    carries them the way kops writes its templates (groups on the primary interface)."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.4.1.0/24", AvailabilityZone="ap-northeast-1a"
    )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName="nodes.c.k8s.local", Description="nodes", VpcId=vpc
    )["GroupId"]
    iam = client("iam")
    iam.create_role(RoleName="nodes.c.k8s.local", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName="nodes.c.k8s.local")
    iam.add_role_to_instance_profile(
        InstanceProfileName="nodes.c.k8s.local", RoleName="nodes.c.k8s.local"
    )
    ec2.create_launch_template(
        LaunchTemplateName="nodes-ap-northeast-1a.c.k8s.local",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "t3.medium",
            "IamInstanceProfile": {"Name": "nodes.c.k8s.local"},
            "NetworkInterfaces": [
                {"DeviceIndex": 0, "Groups": [group], "AssociatePublicIpAddress": False}
            ],
        },
    )
    return {"subnet": subnet, "group": group}


def test_group_instances_carry_the_templates_interface_groups_and_profile(
    client: ClientFactory,
) -> None:
    """Gap 24: the AWS cloud controller skips instances without their node security group."""
    made = _kops_like_launch_template(client)
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="nodes-ap-northeast-1a.c.k8s.local",
        LaunchTemplate={"LaunchTemplateName": "nodes-ap-northeast-1a.c.k8s.local"},
        MinSize=1,
        MaxSize=1,
        VPCZoneIdentifier=made["subnet"],
    )
    [reservation] = client("ec2").describe_instances()["Reservations"]
    [instance] = reservation["Instances"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [made["group"]]
    assert [g["GroupId"] for g in instance["NetworkInterfaces"][0]["Groups"]] == [made["group"]]
    assert instance["IamInstanceProfile"]["Arn"].endswith("/nodes.c.k8s.local")


def test_explicit_groups_of_run_instances_win_over_the_templates(client: ClientFactory) -> None:
    """Gap 24 leaves a RunInstances call that names its own groups as it asked."""
    made = _kops_like_launch_template(client)
    ec2 = client("ec2")
    other = ec2.create_security_group(
        GroupName="other",
        Description="other",
        VpcId=ec2.describe_subnets(SubnetIds=[made["subnet"]])["Subnets"][0]["VpcId"],
    )["GroupId"]
    [instance] = ec2.run_instances(
        LaunchTemplate={"LaunchTemplateName": "nodes-ap-northeast-1a.c.k8s.local"},
        MinCount=1,
        MaxCount=1,
        SubnetId=made["subnet"],
        SecurityGroupIds=[other],
    )["Instances"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [other]


def _running(ec2: Any) -> list[str]:
    reservations = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def _group_of_one(client: ClientFactory) -> str:
    """Make the kops-like node group of one instance; return that instance's id."""
    made = _kops_like_launch_template(client)
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=NODE_GROUP,
        LaunchTemplate={"LaunchTemplateName": NODE_GROUP},
        MinSize=1,
        MaxSize=1,
        VPCZoneIdentifier=made["subnet"],
    )
    [instance] = _running(client("ec2"))
    return instance


def test_an_instance_terminated_while_its_group_is_deleted_waits_for_the_deletion(
    client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gap 29: kops deletes a group and terminates its instances side by side. moto's
    TerminateInstances, run in the middle of the group's deletion, replaced the instance in a
    group about to be dropped (the replacement outlived it) and failed with KeyError."""
    autoscaling, ec2 = client("autoscaling"), client("ec2")
    instance = _group_of_one(client)
    scaled_down, go_on = threading.Event(), threading.Event()
    scale = AutoScalingBackend.set_desired_capacity

    def scale_then_hold(self: AutoScalingBackend, *args: Any, **kwargs: Any) -> None:
        scale(self, *args, **kwargs)
        scaled_down.set()  # the deletion now holds: its group is scaled to 0, not yet dropped
        go_on.wait(30)

    monkeypatch.setattr(AutoScalingBackend, "set_desired_capacity", scale_then_hold)
    deleting = threading.Thread(
        target=autoscaling.delete_auto_scaling_group,
        kwargs={"AutoScalingGroupName": NODE_GROUP, "ForceDelete": True},
    )
    deleting.start()
    assert scaled_down.wait(30)
    answers: list[Any] = []
    terminating = threading.Thread(
        target=lambda: answers.append(ec2.terminate_instances(InstanceIds=[instance]))
    )
    terminating.start()
    terminating.join(0.5)

    assert answers == []  # it waits for the deletion
    go_on.set()
    deleting.join(30)
    terminating.join(30)
    assert [i["InstanceId"] for i in answers[0]["TerminatingInstances"]] == [instance]
    assert _running(ec2) == []
    assert autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"] == []


def _delete_template(client: ClientFactory, name: str) -> None:
    client("ec2").delete_launch_template(LaunchTemplateName=name)


def _delete_profile(client: ClientFactory, name: str) -> None:
    iam = client("iam")
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=name)
    iam.delete_instance_profile(InstanceProfileName=name)


@pytest.mark.parametrize(
    "delete",
    [
        pytest.param(lambda c: _delete_template(c, NODE_GROUP), id="template"),
        pytest.param(lambda c: _delete_profile(c, "nodes.c.k8s.local"), id="instance-profile"),
    ],
)
def test_an_instance_whose_group_cannot_launch_any_more_is_terminated_and_not_replaced(
    client: ClientFactory, delete: Callable[[ClientFactory], None]
) -> None:
    """Gap 30: kops deletes a group's launch template and instance profile beside the group's
    instances. moto's TerminateInstances launched the replacement inside the request: it failed
    on a deleted template (IndexError, an HTTP 500), and on a deleted profile it failed after
    launching an instance that then held the subnet. AWS terminates the instance, and only the
    group's later launch fails."""
    autoscaling, ec2 = client("autoscaling"), client("ec2")
    instance = _group_of_one(client)
    delete(client)

    answer = ec2.terminate_instances(InstanceIds=[instance])

    assert [i["InstanceId"] for i in answer["TerminatingInstances"]] == [instance]
    assert _running(ec2) == []
    [group] = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    assert group["Instances"] == []


def test_a_template_deleted_while_the_replacement_launches_waits_for_the_launch(
    client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gap 30: the replacement reads its template more than once while it launches. A deletion
    between two reads left a launched instance and failed the request (IndexError)."""
    autoscaling, ec2 = client("autoscaling"), client("ec2")
    instance = _group_of_one(client)
    launching, go_on = threading.Event(), threading.Event()
    launch = InstanceBackend.run_instances

    def hold_then_launch(self: InstanceBackend, *args: Any, **kwargs: Any) -> Any:
        launching.set()  # the replacement has checked its template and now launches from it
        go_on.wait(30)
        return launch(self, *args, **kwargs)

    monkeypatch.setattr(InstanceBackend, "run_instances", hold_then_launch)
    answers: list[Any] = []
    terminating = threading.Thread(
        target=lambda: answers.append(ec2.terminate_instances(InstanceIds=[instance]))
    )
    terminating.start()
    assert launching.wait(30)
    deleting = threading.Thread(target=_delete_template, args=(client, NODE_GROUP))
    deleting.start()
    deleting.join(0.5)

    assert deleting.is_alive()  # it waits for the launch
    go_on.set()
    terminating.join(30)
    deleting.join(30)
    assert [i["InstanceId"] for i in answers[0]["TerminatingInstances"]] == [instance]
    [group] = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [i["InstanceId"] for i in group["Instances"]] == _running(ec2)
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []


def test_a_launch_from_a_template_whose_profile_is_gone_is_refused_before_it_launches(
    client: ClientFactory,
) -> None:
    """Gap 30: AWS refuses the launch; moto launched the instance and then failed."""
    made = _kops_like_launch_template(client)
    _delete_profile(client, "nodes.c.k8s.local")
    ec2 = client("ec2")
    with pytest.raises(ClientError) as raised:
        ec2.run_instances(
            LaunchTemplate={"LaunchTemplateName": "nodes-ap-northeast-1a.c.k8s.local"},
            MinCount=1,
            MaxCount=1,
            SubnetId=made["subnet"],
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "nodes.c.k8s.local" in raised.value.response["Error"]["Message"]
    assert _running(ec2) == []
