"""Fixtures for the twin's AWS: one server per session, fresh state and hooks per test."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sandbox.aws import (
    AwsFaults,
    AwsServer,
    set_command_executor,
    set_instance_online_predicate,
    set_target_health_provider,
)

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
NO_RETRIES = Config(retries={"total_max_attempts": 1})

ClientFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def aws_server() -> Iterator[AwsServer]:
    """The twin's AWS, on a free port, for the whole session."""
    server = AwsServer(region=REGION)
    server.start()
    # moto's import-time data (AMIs, instance types, botocore models) is long-lived: keep it out
    # of the cyclic collector's way, or full collections stall tests at random.
    gc.collect()
    gc.freeze()
    yield server
    server.stop()


def _clear_hooks() -> None:
    set_command_executor(None)
    set_instance_online_predicate(None)
    set_target_health_provider(None)


@pytest.fixture
def aws(aws_server: AwsServer) -> Iterator[AwsServer]:
    """The server with empty state, no faults and the default hooks."""
    aws_server.reset()
    aws_server.set_faults(AwsFaults())
    _clear_hooks()
    yield aws_server
    _clear_hooks()
    aws_server.set_faults(AwsFaults())


@pytest.fixture(scope="session")
def _clients() -> dict[tuple[str, int], Any]:
    """boto3 clients are stateless towards the server: build each one once per session."""
    return {}


@pytest.fixture
def client(aws: AwsServer, _clients: dict[tuple[str, int], Any]) -> ClientFactory:
    """Build a boto3 client for the twin: dummy credentials, the region, no retries by default."""

    def make(service: str, *, config: Config | None = None) -> Any:
        chosen = config or NO_RETRIES
        key = (service, id(chosen))
        if key not in _clients:
            _clients[key] = boto3.client(
                service,
                endpoint_url=aws.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=chosen,
            )
        return _clients[key]

    return make


@dataclass(frozen=True)
class Network:
    """A VPC in the loopback range with one subnet per zone."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    cidrs: tuple[str, ...]


@pytest.fixture
def network(client: ClientFactory) -> Network:
    """VPC 127.20.0.0/16 with subnets 127.20.1.0/24 (1a) and 127.20.2.0/24 (1c)."""
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="127.20.0.0/16")["Vpc"]["VpcId"]
    cidrs = ("127.20.1.0/24", "127.20.2.0/24")
    subnet_ids = tuple(
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for cidr, zone in zip(cidrs, ("a", "c"), strict=True)
    )
    return Network(vpc_id, subnet_ids, cidrs)


@pytest.fixture
def ami(client: ClientFactory) -> str:
    """The AL2023 AMI id from the public parameter."""
    return str(client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"])


@pytest.fixture
def ssm_profile(client: ClientFactory) -> str:
    """An instance profile whose role has AmazonSSMManagedInstanceCore attached."""
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="bastion", AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName="bastion", PolicyArn=SSM_CORE)
    iam.create_instance_profile(InstanceProfileName="bastion")
    iam.add_role_to_instance_profile(InstanceProfileName="bastion", RoleName="bastion")
    return "bastion"


@pytest.fixture
def launch(client: ClientFactory, network: Network, ami: str) -> Callable[..., dict[str, Any]]:
    """Launch one instance in the first subnet; returns its description."""

    def run(*, profile: str | None = None, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "ImageId": ami,
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceType": "t3.micro",
            "SubnetId": network.subnet_ids[0],
            **extra,
        }
        if profile:
            params["IamInstanceProfile"] = {"Name": profile}
        return dict(client("ec2").run_instances(**params)["Instances"][0])

    return run
