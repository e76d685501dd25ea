"""The bastion's rules as tables: trust policies, filters, which instance, when it is online."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kops_nlb.aws.ec2_bastion import instance_profile_not_ready
from kops_nlb.core.bastion import pick_bastion, trusts_ec2
from kops_nlb.core.errors import KopsNlbError
from kops_nlb.core.network import Subnet
from tasks.bastion import (
    BastionInfo,
    bastion_observation,
    bastion_subnet,
)
from tasks.network import ClusterNetwork

pytestmark = pytest.mark.usefixtures("no_run_logger")

# ---- pure decisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "trusted"),
    [
        (None, False),
        (
            '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}]}',
            True,
        ),
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Principal": {"Service": ["ssm.amazonaws.com", "ec2.amazonaws.com"]},
                }
            },
            True,
        ),
        ({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}}]}, False),
        ({"Statement": [{"Effect": "Deny", "Principal": {"Service": "ec2.amazonaws.com"}}]}, False),
    ],
    ids=["none", "json", "service-list", "account-principal", "deny"],
)
def test_trusts_ec2(document: Any, trusted: bool) -> None:
    assert trusts_ec2(document) is trusted


def instance(instance_id: str, state: str, launched: str = "2026-01-01T00:00:00") -> dict[str, Any]:
    return {"InstanceId": instance_id, "State": {"Name": state}, "LaunchTime": launched}


@pytest.mark.parametrize(
    ("instances", "picked"),
    [
        ([], None),
        ([instance("i-1", "terminated")], None),
        ([instance("i-1", "stopped"), instance("i-2", "running")], "i-2"),
        ([instance("i-1", "stopping"), instance("i-2", "pending")], "i-2"),
        (
            [instance("i-2", "running", "2026-02-01"), instance("i-1", "running", "2026-03-01")],
            "i-2",
        ),
        ([instance("i-1", "stopped")], "i-1"),
    ],
    ids=[
        "none",
        "terminated-only",
        "running-first",
        "pending-before-stopping",
        "oldest",
        "stopped",
    ],
)
def test_pick_bastion(instances: list[dict[str, Any]], picked: str | None) -> None:
    found = pick_bastion(instances)
    assert (found["InstanceId"] if found else None) == picked


def subnet(subnet_id: str, zone: str, kind: str) -> Subnet:
    return Subnet(subnet_id=subnet_id, zone=zone, cidr="10.0.0.0/24", kind=kind)


@pytest.mark.parametrize(
    ("network", "chosen"),
    [
        (
            ClusterNetwork(
                vpc_id="vpc-1",
                cidr="10.0.0.0/16",
                private=(subnet("s-p", "z-a", "Private"),),
                utility=(subnet("s-ua", "z-a", "Utility"), subnet("s-uc", "z-c", "Utility")),
            ),
            "s-ua",
        ),
        (
            ClusterNetwork(
                vpc_id="vpc-1", cidr="10.0.0.0/16", public=(subnet("s-pub", "z-a", "Public"),)
            ),
            "s-pub",
        ),
    ],
    ids=["first-utility", "public-topology"],
)
def test_bastion_subnet(network: ClusterNetwork, chosen: str) -> None:
    assert bastion_subnet(network).subnet_id == chosen


def test_no_public_subnet_for_the_bastion() -> None:
    network = ClusterNetwork(vpc_id="vpc-1", cidr="", private=(subnet("s-p", "z-a", "Private"),))
    with pytest.raises(KopsNlbError, match="no utility or public subnet"):
        bastion_subnet(network)


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "RunInstances")


@pytest.mark.parametrize(
    ("exc", "not_ready"),
    [
        (
            client_error(
                "InvalidParameterValue",
                "Value (ssm-bastion.x) for parameter iamInstanceProfile.name is invalid. "
                "Invalid IAM Instance Profile name",
            ),
            True,
        ),
        (client_error("InvalidParameterValue", "Invalid value for instanceType"), False),
        (client_error("UnauthorizedOperation", "Invalid IAM Instance Profile"), False),
        (ValueError("Invalid IAM Instance Profile"), False),
    ],
    ids=["profile-propagating", "other-parameter", "other-code", "not-aws"],
)
def test_instance_profile_not_ready(exc: Exception, not_ready: bool) -> None:
    assert instance_profile_not_ready(exc) is not_ready


RUNNING = {
    "InstanceId": "i-1",
    "State": {"Name": "running"},
    "PrivateIpAddress": "172.20.0.10",
    "SubnetId": "subnet-u",
    "Placement": {"AvailabilityZone": "ap-northeast-1a"},
}


@pytest.mark.parametrize(
    ("instance_", "ssm_info", "ready", "failing"),
    [
        ({**RUNNING, "State": {"Name": "pending"}}, None, False, ("instance i-1 is pending",)),
        (
            RUNNING,
            None,
            False,
            ("i-1 not registered with SSM (agent starting or instance profile not picked up yet)",),
        ),
        (RUNNING, {"PingStatus": "ConnectionLost"}, False, ("i-1 SSM PingStatus ConnectionLost",)),
        (RUNNING, {"PingStatus": "Online"}, True, ()),
    ],
    ids=["pending", "not-registered", "connection-lost", "online"],
)
def test_bastion_observation(
    instance_: dict[str, Any],
    ssm_info: dict[str, str] | None,
    ready: bool,
    failing: tuple[str, ...],
) -> None:
    observation = bastion_observation(instance_, ssm_info)
    assert (observation.ready, observation.failing) == (ready, failing)
    if ready:
        assert observation.value == BastionInfo(
            instance_id="i-1",
            private_ip="172.20.0.10",
            subnet_id="subnet-u",
            availability_zone="ap-northeast-1a",
        )


@pytest.mark.parametrize("state", ["terminated", "shutting-down", "stopped"])
def test_a_bastion_going_away_fails_at_once(state: str) -> None:
    with pytest.raises(KopsNlbError, match=f"is {state}; it will not come online"):
        bastion_observation({**RUNNING, "State": {"Name": state}}, None)


# ---- moto: role and security group ---------------------------------------------------------


@pytest.fixture
def iam(aws: None, boto: Callable[[str], Any]) -> Any:
    """An IAM client on moto."""
    return boto("iam")


@pytest.fixture
def ec2(aws: None, boto: Callable[[str], Any]) -> Any:
    """An EC2 client on moto."""
    return boto("ec2")


# ---- moto: the instance -----------------------------------------------------------------


# ---- exact requests ---------------------------------------------------------------------


def launched(state: str = "pending") -> dict[str, Any]:
    return {
        "Instances": [
            {
                "InstanceId": "i-0123456789abcdef0",
                "State": {"Name": state, "Code": 0},
                "PrivateIpAddress": "172.20.0.10",
                "SubnetId": "subnet-ua",
            }
        ]
    }


# ---- the local twin (ClientToken idempotency, DescribeInstanceInformation) -----------------
