"""The server itself: endpoint, call counts, reset, and throttling as botocore sees it."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.aws import AwsFaults, AwsServer
from sandbox.aws.server import INFRASTRUCTURE_ACCESS_KEY_ID

ClientFactory = Callable[..., Any]


def test_server_answers_as_the_default_account(client: ClientFactory) -> None:
    identity = client("sts").get_caller_identity()

    assert identity["Account"] == "123456789012"


def test_environment_points_plain_boto3_at_the_twin(
    aws: AwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in aws.environment().items():
        monkeypatch.setenv(name, value)

    zones = boto3.client("ec2").describe_availability_zones()["AvailabilityZones"]

    assert zones[0]["RegionName"] == "ap-northeast-1"
    assert aws.call_counts[("ec2", "DescribeAvailabilityZones")] == 1


def test_calls_are_counted_by_service_and_operation(aws: AwsServer, client: ClientFactory) -> None:
    client("s3").create_bucket(
        Bucket="state", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    client("s3").get_bucket_versioning(Bucket="state")
    client("ec2").describe_regions()
    client("elbv2").describe_load_balancers()
    client("iam").list_roles()
    client("ssm").describe_parameters()
    client("ssm").describe_parameters()

    assert aws.call_counts == {
        ("s3", "CreateBucket"): 1,
        ("s3", "GetBucketVersioning"): 1,
        ("ec2", "DescribeRegions"): 1,
        ("elbv2", "DescribeLoadBalancers"): 1,
        ("iam", "ListRoles"): 1,
        ("ssm", "DescribeParameters"): 2,
    }
    assert aws.write_counts() == {("s3", "CreateBucket"): 1}


def test_reset_clears_state_and_counts_but_keeps_the_gaps(
    aws: AwsServer, client: ClientFactory, network: Any
) -> None:
    elbv2 = client("elbv2")
    elbv2.create_load_balancer(Name="before", Type="network", Subnets=list(network.subnet_ids))

    aws.reset()

    assert aws.call_counts == {}
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="127.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.20.1.0/24")["Subnet"]["SubnetId"]
    lb = elbv2.create_load_balancer(Name="after", Type="network", Subnets=[subnet])
    assert ":loadbalancer/net/after/" in lb["LoadBalancers"][0]["LoadBalancerArn"]


THROTTLES = [
    # service, call, error code, HTTP status
    ("ec2", lambda c: c.describe_regions(), "RequestLimitExceeded", 503),
    ("ssm", lambda c: c.describe_parameters(), "ThrottlingException", 400),
    ("iam", lambda c: c.list_roles(), "Throttling", 400),
    ("elbv2", lambda c: c.describe_load_balancers(), "Throttling", 400),
    ("sts", lambda c: c.get_caller_identity(), "Throttling", 400),
    ("s3", lambda c: c.list_buckets(), "SlowDown", 503),
]


@pytest.mark.parametrize(
    ("service", "call", "code", "status"), THROTTLES, ids=[t[0] for t in THROTTLES]
)
def test_throttled_call_raises_the_service_error(
    aws: AwsServer,
    client: ClientFactory,
    service: str,
    call: Callable[[Any], Any],
    code: str,
    status: int,
) -> None:
    aws.set_faults(AwsFaults(throttle_rate=1.0))

    with pytest.raises(ClientError) as err:
        call(client(service))

    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert sum(aws.throttled_counts.values()) == 1


def test_moto_api_is_never_throttled_nor_counted(aws: AwsServer) -> None:
    aws.set_faults(AwsFaults(throttle_rate=1.0))

    request = urllib.request.Request(f"{aws.url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    assert aws.call_counts == {}


def test_the_twins_own_machinery_is_never_throttled(aws: AwsServer, client: ClientFactory) -> None:
    # The simulated instances read their user data and the state store as nodeup does, retrying
    # until it works; the faults are for the clients under test.
    aws.set_faults(AwsFaults(throttle_rate=1.0, ec2_request_limit_rate=1.0))
    infrastructure = boto3.client(
        "ec2",
        endpoint_url=aws.url,
        region_name="ap-northeast-1",
        aws_access_key_id=INFRASTRUCTURE_ACCESS_KEY_ID,
        aws_secret_access_key="twin",
        config=Config(retries={"max_attempts": 1}),
    )
    assert infrastructure.describe_instances()["Reservations"] == []
    with pytest.raises(ClientError):
        client("ec2").describe_instances()
    assert aws.call_counts[("ec2", "DescribeInstances")] == 2
    assert aws.throttled_counts == {("ec2", "DescribeInstances"): 1}


def test_throttling_is_partial_and_reproducible(aws: AwsServer, client: ClientFactory) -> None:
    sts = client("sts")

    def outcomes() -> list[bool]:
        aws.set_faults(AwsFaults(throttle_rate=0.5, seed=11))
        results = []
        for _ in range(20):
            try:
                sts.get_caller_identity()
                results.append(True)
            except ClientError:
                results.append(False)
        return results

    first, second = outcomes(), outcomes()

    assert first == second
    assert 0 < first.count(False) < 20


def test_botocore_retries_a_throttled_call(aws: AwsServer, client: ClientFactory) -> None:
    # a seed whose first draw throttles and second does not
    seed = next(
        s for s in range(1000) if (r := random.Random(s)).random() < 0.5 and r.random() >= 0.5
    )
    aws.set_faults(AwsFaults(throttle_rate=0.5, seed=seed))
    retrying = Config(retries={"max_attempts": 3, "mode": "standard"})

    identity = client("sts", config=retrying).get_caller_identity()

    assert identity["ResponseMetadata"]["RetryAttempts"] == 1
    assert aws.throttled_counts == {("sts", "GetCallerIdentity"): 1}
    assert aws.call_counts == {("sts", "GetCallerIdentity"): 2}


def test_a_second_server_in_the_process_serves_the_same_state(
    aws: AwsServer, client: ClientFactory
) -> None:
    client("iam").create_role(RoleName="shared", AssumeRolePolicyDocument="{}")

    with AwsServer() as other:
        iam = boto3.client(
            "iam",
            endpoint_url=other.url,
            region_name="ap-northeast-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["shared"]
    with pytest.raises(RuntimeError):
        _ = other.url


def test_backends_built_before_the_gaps_are_built_again_with_them() -> None:
    """Another moto server of the same process may build a region's backends first; the twin's
    AWS must still have what its gaps add when a backend is built (here: the Canonical image
    real kops boots from). Run in a process of its own: the gaps are applied once per process."""
    script = textwrap.dedent(
        """
        import boto3
        from moto.server import ThreadedMotoServer
        from sandbox.aws import AwsServer
        from sandbox.aws.gaps.ec2 import CANONICAL_IMAGES

        def canonical(url):
            ec2 = boto3.client("ec2", endpoint_url=url, region_name="ap-northeast-1",
                               aws_access_key_id="x", aws_secret_access_key="x")
            names = [name for name, _ in CANONICAL_IMAGES]
            found = ec2.describe_images(Filters=[{"Name": "name", "Values": names}])
            return len(found["Images"])

        other = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        other.start()
        host, port = other.get_host_and_port()
        before = canonical(f"http://127.0.0.1:{port}")  # builds the region's EC2 backend
        twin = AwsServer()
        print(before, canonical(twin.start()))
        twin.stop()
        other.stop()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "2"]  # amd64 and arm64


def test_machine_writes_count_the_ec2_and_auto_scaling_writes_served(
    aws: AwsServer, client: ClientFactory
) -> None:
    before = aws.machine_writes()
    client("ec2").describe_instances()
    client("autoscaling").describe_auto_scaling_groups()
    client("s3").create_bucket(
        Bucket="state", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    assert aws.machine_writes() == before  # reads, and writes that start no machine

    client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
    client("autoscaling").create_launch_configuration(
        LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.medium"
    )
    assert aws.machine_writes() == before + 2

    aws.set_faults(AwsFaults(throttle_rate=1.0))
    with pytest.raises(ClientError):
        client("ec2").create_vpc(CidrBlock="10.1.0.0/16")
    assert aws.machine_writes() == before + 2  # refused: nothing changed
