"""SSM bastion: decisions as tables, idempotent ensures in moto, exact launch request with Stubber."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from kops_nlb.aws.client import dict_to_tags, tags_to_dict
from kops_nlb.core.bastion import trusts_ec2
from kops_nlb.core.errors import ConflictError, KopsNlbError
from kops_nlb.core.naming import (
    AL2023_AMI_PARAMETER,
    SSM_MANAGED_POLICY_ARN,
    TAG_COMPONENT,
    bastion_role_name,
    bastion_security_group_name,
    project_tags,
)
from kops_nlb.core.spec import EnvironmentSpec
from tasks.bastion import (
    BastionInfo,
    ensure_bastion_instance,
    ensure_bastion_role,
    ensure_bastion_security_group,
    run_instances_request,
    wait_for_bastion_online,
)
from tasks.network import ClusterNetwork, cluster_network
from tests.core.test_bastion import RUNNING, launched, subnet

pytestmark = pytest.mark.usefixtures("no_run_logger")


# ---- moto: role and security group ---------------------------------------------------------


@pytest.fixture
def iam(aws: None, boto: Callable[[str], Any]) -> Any:
    """An IAM client on moto."""
    return boto("iam")


@pytest.fixture
def ec2(aws: None, boto: Callable[[str], Any]) -> Any:
    """An EC2 client on moto."""
    return boto("ec2")


def test_role_twice_then_repaired_after_out_of_band_changes(
    iam: Any, spec: EnvironmentSpec
) -> None:
    name = bastion_role_name(spec)
    first = ensure_bastion_role.fn(spec)
    second = ensure_bastion_role.fn(spec)

    assert first.summary == (
        f"bastion role {name}: role created, AmazonSSMManagedInstanceCore attached, "
        "instance profile created, role added to instance profile"
    )
    assert (second.changed, second.summary) == (False, f"bastion role {name}: already as wanted")
    assert len(iam.list_roles()["Roles"]) == 1
    assert len(iam.list_instance_profiles()["InstanceProfiles"]) == 1
    role = iam.get_role(RoleName=name)["Role"]
    assert trusts_ec2(role["AssumeRolePolicyDocument"])
    assert tags_to_dict(role["Tags"])[TAG_COMPONENT] == "bastion"

    iam.detach_role_policy(RoleName=name, PolicyArn=SSM_MANAGED_POLICY_ARN)
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=name)
    iam.delete_instance_profile(InstanceProfileName=name)
    repaired = ensure_bastion_role.fn(spec)

    assert repaired.summary == (
        f"bastion role {name}: AmazonSSMManagedInstanceCore attached, "
        "instance profile created, role added to instance profile"
    )
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [name]


def test_wrong_trust_policy_is_replaced(iam: Any, spec: EnvironmentSpec) -> None:
    name = bastion_role_name(spec)
    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(lambda_trust))

    result = ensure_bastion_role.fn(spec)

    assert "trust policy set to EC2" in result.summary
    assert trusts_ec2(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])


def test_profile_holding_another_role_is_a_conflict(iam: Any, spec: EnvironmentSpec) -> None:
    name = bastion_role_name(spec)
    iam.create_role(RoleName="someone-else", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName="someone-else")

    with pytest.raises(KopsNlbError, match="holds role someone-else"):
        ensure_bastion_role.fn(spec)


def test_security_group_twice_and_inbound_rules_revoked(
    kops_vpc: dict[str, str], ec2: Any, spec: EnvironmentSpec
) -> None:
    network = cluster_network.fn(spec)
    first = ensure_bastion_security_group.fn(spec, network)
    second = ensure_bastion_security_group.fn(spec, network)
    group_id = first.ids["security_group_id"]

    assert (first.changed, second.changed) == (True, False)
    assert second.ids == {"security_group_id": group_id, "vpc_id": kops_vpc["vpc"]}
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert (group["GroupName"], group["VpcId"], group["IpPermissions"]) == (
        bastion_security_group_name(spec),
        kops_vpc["vpc"],
        [],
    )
    assert group["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert tags_to_dict(group["Tags"])[TAG_COMPONENT] == "bastion"

    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    revoked = ensure_bastion_security_group.fn(spec, network)

    assert revoked.summary.endswith("revoked 1 inbound rule(s)")
    assert (
        ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
        == []
    )

    ec2.delete_security_group(GroupId=group_id)
    recreated = ensure_bastion_security_group.fn(spec, network)
    assert recreated.changed and recreated.ids["security_group_id"] != group_id


# ---- moto: the instance -----------------------------------------------------------------


@pytest.fixture
def bastion_network(kops_vpc: dict[str, str], spec: EnvironmentSpec) -> ClusterNetwork:
    """The kops VPC with the bastion's role and security group in place."""
    network = cluster_network.fn(spec)
    ensure_bastion_role.fn(spec)
    ensure_bastion_security_group.fn(spec, network)
    return network


def test_instance_launched_once_then_found(
    bastion_network: ClusterNetwork, ec2: Any, spec: EnvironmentSpec, kops_vpc: dict[str, str]
) -> None:
    first = ensure_bastion_instance.fn(spec, bastion_network, "token-1")
    second = ensure_bastion_instance.fn(spec, bastion_network, "token-2")

    assert (first.changed, second.changed) == (True, False)
    assert second.ids == first.ids
    assert first.ids["subnet_id"] == kops_vpc["utility-ap-northeast-1a"]
    reservations = ec2.describe_instances()["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 1
    launched = instances[0]
    assert launched["PrivateIpAddress"] == first.ids["private_ip"]
    assert launched["IamInstanceProfile"]["Arn"].endswith(
        f"instance-profile/{bastion_role_name(spec)}"
    )
    assert "KeyName" not in launched
    assert tags_to_dict(launched["Tags"]) == project_tags(spec, "bastion")
    volumes = ec2.describe_volumes()["Volumes"]
    assert [tags_to_dict(v["Tags"]) for v in volumes] == [project_tags(spec, "bastion")]


def test_stopped_instance_is_started_and_terminated_one_replaced(
    bastion_network: ClusterNetwork, ec2: Any, spec: EnvironmentSpec
) -> None:
    instance_id = ensure_bastion_instance.fn(spec, bastion_network, "token-1").ids["instance_id"]
    ec2.stop_instances(InstanceIds=[instance_id])

    started = ensure_bastion_instance.fn(spec, bastion_network, "token-2")

    assert (started.changed, started.summary) == (True, f"started bastion {instance_id}")

    ec2.terminate_instances(InstanceIds=[instance_id])
    replaced = ensure_bastion_instance.fn(spec, bastion_network, "token-3")

    assert replaced.changed and replaced.ids["instance_id"] != instance_id


def test_instance_needs_the_security_group_first(
    kops_vpc: dict[str, str], spec: EnvironmentSpec
) -> None:
    with pytest.raises(KopsNlbError, match="ensure_bastion_security_group must run first"):
        ensure_bastion_instance.fn(spec, cluster_network.fn(spec), "token-1")


# ---- exact requests ---------------------------------------------------------------------

NETWORK = ClusterNetwork(
    vpc_id="vpc-1",
    cidr="172.20.0.0/16",
    utility=(
        subnet("subnet-ua", "ap-northeast-1a", "Utility"),
        subnet("subnet-uc", "ap-northeast-1c", "Utility"),
    ),
)
PROFILE_NOT_READY = (
    "Value (ssm-bastion.nlb-demo.k8s.local) for parameter iamInstanceProfile.name is invalid. "
    "Invalid IAM Instance Profile name"
)


def queue_lookups(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    ec2 = aws_stubs["ec2"]
    ec2.add_response("describe_instances", {"Reservations": []})
    ec2.add_response(
        "describe_security_groups",
        {"SecurityGroups": [{"GroupId": "sg-1", "GroupName": bastion_security_group_name(spec)}]},
    )
    aws_stubs["ssm"].add_response(
        "get_parameter",
        {"Parameter": {"Name": AL2023_AMI_PARAMETER, "Value": "ami-0al2023"}},
        {"Name": AL2023_AMI_PARAMETER},
    )


def expected_launch(spec: EnvironmentSpec, token: str) -> dict[str, Any]:
    tags = dict_to_tags(project_tags(spec, "bastion"))
    return {
        "ImageId": "ami-0al2023",
        "InstanceType": "t3.micro",
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": token,
        "IamInstanceProfile": {"Name": bastion_role_name(spec)},
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "SubnetId": "subnet-ua",
                "Groups": ["sg-1"],
                "AssociatePublicIpAddress": True,
                "DeleteOnTermination": True,
            }
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    }


def test_launch_request_retries_while_the_profile_propagates(
    aws_stubs: Any, spec: EnvironmentSpec
) -> None:
    queue_lookups(aws_stubs, spec)
    request = expected_launch(spec, "token-1")
    assert request == run_instances_request(
        spec=spec,
        ami_id="ami-0al2023",
        subnet_id="subnet-ua",
        security_group_id="sg-1",
        client_token="token-1",
    )
    ec2 = aws_stubs["ec2"]
    ec2.add_client_error(
        "run_instances", "InvalidParameterValue", PROFILE_NOT_READY, 400, expected_params=request
    )
    ec2.add_client_error(
        "run_instances", "InvalidParameterValue", PROFILE_NOT_READY, 400, expected_params=request
    )
    ec2.add_response("run_instances", launched(), request)
    ec2.add_response(
        "describe_instances",
        {"Reservations": [launched("running")]},
        {"InstanceIds": ["i-0123456789abcdef0"]},
    )

    result = ensure_bastion_instance.fn(spec, NETWORK, "token-1")

    assert result.ids == {
        "instance_id": "i-0123456789abcdef0",
        "private_ip": "172.20.0.10",
        "subnet_id": "subnet-ua",
    }
    assert result.summary == "launched bastion i-0123456789abcdef0 in subnet-ua (ap-northeast-1a)"


def test_token_of_a_terminated_instance_is_a_conflict(
    aws_stubs: Any, spec: EnvironmentSpec
) -> None:
    queue_lookups(aws_stubs, spec)
    ec2 = aws_stubs["ec2"]
    # AWS answers a reused token with the original launch; only a describe shows what became of it.
    ec2.add_response("run_instances", launched("pending"), expected_launch(spec, "token-1"))
    ec2.add_client_error("describe_instances", "InvalidInstanceID.NotFound", "not yet", 400)
    ec2.add_response("describe_instances", {"Reservations": [launched("terminated")]})

    with pytest.raises(
        ConflictError, match="client token token-1 already launched i-0123456789abcdef0"
    ):
        ensure_bastion_instance.fn(spec, NETWORK, "token-1")


def test_other_launch_errors_fail_at_once_naming_the_action(
    aws_stubs: Any, spec: EnvironmentSpec
) -> None:
    queue_lookups(aws_stubs, spec)
    aws_stubs["ec2"].add_client_error(
        "run_instances", "InsufficientInstanceCapacity", "no t3.micro", 500
    )

    with pytest.raises(
        KopsNlbError,
        match="Failed to launch the bastion in subnet-ua: InsufficientInstanceCapacity",
    ):
        ensure_bastion_instance.fn(spec, NETWORK, "token-1")


def test_wait_for_online_polls_instance_then_ssm(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    ec2, ssm = aws_stubs["ec2"], aws_stubs["ssm"]
    by_id = {"InstanceIds": ["i-1"]}
    ssm_filter = {"Filters": [{"Key": "InstanceIds", "Values": ["i-1"]}]}
    ec2.add_client_error("describe_instances", "InvalidInstanceID.NotFound", "not yet", 400)
    ec2.add_response(
        "describe_instances",
        {"Reservations": [{"Instances": [{**RUNNING, "State": {"Name": "pending"}}]}]},
        by_id,
    )
    ec2.add_response("describe_instances", {"Reservations": [{"Instances": [RUNNING]}]}, by_id)
    ssm.add_response("describe_instance_information", {"InstanceInformationList": []}, ssm_filter)
    # Once the instance runs, each look is one SSM call: no more DescribeInstances.
    ssm.add_response(
        "describe_instance_information",
        {
            "InstanceInformationList": [
                {
                    "InstanceId": "i-1",
                    "PingStatus": "Online",
                    "LastPingDateTime": datetime.now(UTC),
                }
            ]
        },
        ssm_filter,
    )

    info = wait_for_bastion_online.fn(spec, "i-1")

    assert info == BastionInfo(
        instance_id="i-1",
        private_ip="172.20.0.10",
        subnet_id="subnet-u",
        availability_zone="ap-northeast-1a",
    )


# ---- the local twin (ClientToken idempotency, DescribeInstanceInformation) -----------------


@pytest.fixture
def twin_network(twin_kops_vpc: dict[str, str], spec: EnvironmentSpec) -> ClusterNetwork:
    """The twin's kops VPC with the bastion's role and security group in place."""
    network = cluster_network.fn(spec)
    ensure_bastion_role.fn(spec)
    ensure_bastion_security_group.fn(spec, network)
    return network


def test_twin_bastion_comes_online(twin_network: ClusterNetwork, spec: EnvironmentSpec) -> None:
    launched_ = ensure_bastion_instance.fn(spec, twin_network, "token-1")

    info = wait_for_bastion_online.fn(spec, launched_.ids["instance_id"])

    assert info == BastionInfo(
        instance_id=launched_.ids["instance_id"],
        private_ip=launched_.ids["private_ip"],
        subnet_id=twin_network.utility[0].subnet_id,
        availability_zone="ap-northeast-1a",
    )


def test_twin_client_token_prevents_a_second_instance(
    twin_network: ClusterNetwork, spec: EnvironmentSpec, boto: Callable[[str], Any]
) -> None:
    ec2 = boto("ec2")
    first = ensure_bastion_instance.fn(spec, twin_network, "token-1")
    # As if the first attempt's instance were not visible yet when a retry looks for it.
    ec2.delete_tags(Resources=[first.ids["instance_id"]], Tags=[{"Key": TAG_COMPONENT}])

    retried = ensure_bastion_instance.fn(spec, twin_network, "token-1")

    assert retried.ids["instance_id"] == first.ids["instance_id"]
    reservations = ec2.describe_instances()["Reservations"]
    assert len([i for r in reservations for i in r["Instances"]]) == 1


def test_twin_token_of_a_terminated_bastion_is_refused(
    twin_network: ClusterNetwork, spec: EnvironmentSpec, boto: Callable[[str], Any]
) -> None:
    first = ensure_bastion_instance.fn(spec, twin_network, "token-1")
    boto("ec2").terminate_instances(InstanceIds=[first.ids["instance_id"]])

    with pytest.raises(ConflictError, match="already launched"):
        ensure_bastion_instance.fn(spec, twin_network, "token-1")
    assert ensure_bastion_instance.fn(spec, twin_network, "token-2").changed
