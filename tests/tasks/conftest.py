"""Fixtures for task and adapter tests: moto in-process, the local twin, botocore stubs, a kops VPC."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3

# moto hooks into boto3 sessions created after it is imported: import it before any test here
# builds (and caches) a client, whatever order the tests run in.
import moto  # noqa: F401
import pytest
from botocore.stub import Stubber

from kops_nlb.aws.client import aws_client
from kops_nlb.core.naming import SSM_MANAGED_POLICY_ARN
from kops_nlb.core.spec import EnvironmentSpec

# The AWS adapter modules: each builds its clients with `aws_client`, which `aws`, `aws_twin`
# and `aws_stubs` replace with their own.
AWS_TASK_MODULES = (
    "kops_nlb.aws.ec2_bastion",
    "kops_nlb.aws.ec2_network",
    "kops_nlb.aws.ec2_region",
    "kops_nlb.aws.elbv2",
    "kops_nlb.aws.iam",
    "kops_nlb.aws.removal.bastion",
    "kops_nlb.aws.removal.inventory",
    "kops_nlb.aws.removal.sweep",
    "kops_nlb.aws.s3",
    "kops_nlb.aws.ssm",
    "kops_nlb.aws.ssm_commands",
    "kops_nlb.aws.sts",
)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    """Dummy credentials and no endpoint override, so nothing can reach real AWS."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)


@pytest.fixture
def aws(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's in-process AWS for the duration of a test, with the AWS managed policies we attach.

    Loading all ~1,600 of moto's managed policies costs ~2 s per test, so only those the project
    attaches are offered (a moto internal, pinned with moto's version).
    """
    import moto.iam.models
    from moto import mock_aws

    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # ~1 s per test; not needed
    monkeypatch.setattr(moto.iam.models, "aws_managed_policies_data", _managed_policies())
    for module in AWS_TASK_MODULES:
        monkeypatch.setattr(f"{module}.aws_client", _reused_client)

    with mock_aws():
        yield


@functools.cache
def _reused_client(service: str, region: str, endpoint: str = "") -> Any:
    """kops_nlb.aws.client.aws_client, built once per service, region and endpoint for the session.

    Each new boto3 Session parses the service model again (~0.4 s for EC2); moto intercepts
    requests of clients built at any time, and its state is reset between tests anyway.
    """
    return aws_client(service, region)


@functools.cache
def _shared_session() -> Any:
    return boto3.session.Session()


@functools.cache
def _arranging_client(service: str, region: str, endpoint: str) -> Any:
    return _shared_session().client(service, region_name=region)


@pytest.fixture
def boto(region: str) -> Callable[[str], Any]:
    """Plain boto3 clients to arrange and check state: `boto("ec2")` (moto or the twin)."""
    return lambda service: _arranging_client(
        service, region, os.environ.get("AWS_ENDPOINT_URL", "")
    )


@functools.cache
def _managed_policies() -> str:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    wanted = SSM_MANAGED_POLICY_ARN.rsplit("/", 1)[1]
    return json.dumps({wanted: json.loads(aws_managed_policies_data)[wanted]})


@pytest.fixture(scope="session")
def _twin_server() -> Iterator[Any]:
    from sandbox.aws import AwsServer

    server = AwsServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aws_twin(
    _twin_server: Any, aws_credentials: None, monkeypatch: pytest.MonkeyPatch, region: str
) -> Iterator[Any]:
    """The local twin's AWS (moto over HTTP with its gaps filled), reset, via AWS_ENDPOINT_URL.

    It fills what moto lacks: SimulatePrincipalPolicy, DescribeInstanceInformation, RunInstances
    ClientToken idempotency, NLB-shaped ARNs and per-zone NLB network interfaces. It patches
    moto process-wide, so in-process moto tests running after it see those fixes too.
    """
    _twin_server.reset()
    for name, value in _twin_server.environment().items():
        monkeypatch.setenv(name, value)
    url = _twin_server.url
    for module in AWS_TASK_MODULES:
        monkeypatch.setattr(
            f"{module}.aws_client",
            lambda service, region_: _reused_client(service, region_, url),
        )
    yield _twin_server


class AwsStubs:
    """One stubbed boto3 client per service, handed to the tasks in place of `aws_client`."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._clients: dict[str, Any] = {}
        self._stubbers: dict[str, Stubber] = {}

    def client(self, service: str, region: str) -> Any:
        """Stand-in for kops_nlb.aws.client.aws_client."""
        self[service]
        return self._clients[service]

    def __getitem__(self, service: str) -> Stubber:
        if service not in self._stubbers:
            client = _shared_session().client(service, region_name=self.region)
            self._clients[service] = client
            self._stubbers[service] = Stubber(client)
            self._stubbers[service].activate()
        return self._stubbers[service]

    def assert_all_used(self) -> None:
        """Fail when a queued response was never requested."""
        for stubber in self._stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def aws_stubs(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch, region: str
) -> Iterator[AwsStubs]:
    """botocore Stubbers that check the exact requests the tasks make (`aws_stubs['s3']`)."""
    stubs = AwsStubs(region)
    for module in AWS_TASK_MODULES:
        monkeypatch.setattr(f"{module}.aws_client", stubs.client)
    yield stubs
    stubs.assert_all_used()


@pytest.fixture
def kops_vpc(aws: None, boto: Callable[[str], Any], spec: EnvironmentSpec) -> dict[str, str]:
    """In moto: a VPC with the tags and subnets `kops create cluster --topology private` makes."""
    return _make_kops_vpc(boto("ec2"), spec.cluster_name, spec.region)


@pytest.fixture
def twin_kops_vpc(
    aws_twin: Any, boto: Callable[[str], Any], spec: EnvironmentSpec
) -> dict[str, str]:
    """In the twin: the same kops-made VPC."""
    return _make_kops_vpc(boto("ec2"), spec.cluster_name, spec.region)


def _make_kops_vpc(ec2: Any, cluster: str, region: str) -> dict[str, str]:
    """Create a kops-tagged VPC with private and utility subnets in zones a and c; return ids."""
    owned = [
        {"Key": "KubernetesCluster", "Value": cluster},
        {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"},
    ]
    vpc_id = ec2.create_vpc(
        CidrBlock="172.20.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [*owned, {"Key": "Name", "Value": cluster}]}
        ],
    )["Vpc"]["VpcId"]
    ids = {"vpc": vpc_id}
    # Created out of zone order on purpose: lookups must sort.
    layout = [
        ("c", "Utility", "172.20.4.0/22"),
        ("a", "Private", "172.20.32.0/19"),
        ("a", "Utility", "172.20.0.0/22"),
        ("c", "Private", "172.20.64.0/19"),
    ]
    for suffix, kind, cidr in layout:
        zone = f"{region}{suffix}"
        name = f"utility-{zone}.{cluster}" if kind == "Utility" else f"{zone}.{cluster}"
        elb_role = (
            "kubernetes.io/role/elb" if kind == "Utility" else "kubernetes.io/role/internal-elb"
        )
        subnet_id = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=zone,
            TagSpecifications=[
                {
                    "ResourceType": "subnet",
                    "Tags": [
                        *owned,
                        {"Key": "Name", "Value": name},
                        {"Key": "SubnetType", "Value": kind},
                        {"Key": elb_role, "Value": "1"},
                    ],
                }
            ],
        )["Subnet"]["SubnetId"]
        ids[f"{kind.lower()}-{zone}"] = subnet_id
    # Something else in the account that must be ignored.
    ec2.create_vpc(CidrBlock="10.9.0.0/16")
    return ids
