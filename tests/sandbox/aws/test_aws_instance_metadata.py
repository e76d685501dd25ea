"""The instance metadata service of a simulated instance, read by AWS's own SDK code."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.utils import InstanceMetadataRegionFetcher

from sandbox.aws.instance_metadata import InstanceMetadataServer, listing, metadata_tree

ClientFactory = Callable[..., Any]
REGION = "ap-northeast-1"


@pytest.fixture
def instance(client: ClientFactory, network: Any, ami: str) -> dict[str, Any]:
    ec2 = client("ec2")
    group = ec2.create_security_group(
        GroupName="control-plane", Description="cp", VpcId=network.vpc_id
    )["GroupId"]
    [made] = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.medium",
        SubnetId=network.subnet_ids[1],
        SecurityGroupIds=[group],
    )["Instances"]
    return dict(made)


@pytest.fixture
def imds(client: ClientFactory, instance: dict[str, Any]) -> Iterator[InstanceMetadataServer]:
    def describe() -> dict[str, Any]:
        found = client("ec2").describe_instances(InstanceIds=[instance["InstanceId"]])
        return dict(found["Reservations"][0]["Instances"][0])

    server = InstanceMetadataServer(describe, REGION).start()
    yield server
    server.stop()


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> str:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(response.read().decode())


def test_the_sdk_finds_the_endpoint_by_its_switch_and_reads_the_region(
    imds: InstanceMetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
    endpoint = botocore.session.get_session().get_config_variable("ec2_metadata_service_endpoint")
    fetcher = InstanceMetadataRegionFetcher(
        timeout=2, num_attempts=1, config={"ec2_metadata_service_endpoint": endpoint}
    )
    assert fetcher.retrieve_region() == REGION


def test_a_token_session_reads_identity_and_network(
    imds: InstanceMetadataServer, instance: dict[str, Any], network: Any
) -> None:
    token = _get(
        f"{imds.url}/latest/api/token",
        {"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
        method="PUT",
    )
    auth = {"X-aws-ec2-metadata-token": token}
    assert _get(f"{imds.url}/latest/meta-data/instance-id", auth) == instance["InstanceId"]
    document = json.loads(_get(f"{imds.url}/latest/dynamic/instance-identity/document", auth))
    assert document["instanceId"] == instance["InstanceId"]
    assert document["availabilityZone"] == f"{REGION}c"
    assert document["region"] == REGION
    mac = _get(f"{imds.url}/latest/meta-data/mac", auth)
    base = f"{imds.url}/latest/meta-data/network/interfaces/macs/{mac}"
    assert _get(f"{base}/vpc-id", auth) == network.vpc_id
    assert _get(f"{base}/subnet-id", auth) == network.subnet_ids[1]
    assert _get(f"{base}/local-ipv4s", auth) == instance["PrivateIpAddress"]
    assert _get(f"{base}/security-group-ids", auth).startswith("sg-")


def test_an_unknown_token_is_refused_and_an_unknown_path_is_missing(
    imds: InstanceMetadataServer,
) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get(f"{imds.url}/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": "forged"})
    assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(f"{imds.url}/latest/meta-data/iam/security-credentials/")
    assert missing.value.code == 404


def test_directories_list_their_entries_with_a_slash_for_subtrees() -> None:
    instance = {
        "InstanceId": "i-0123",
        "Placement": {"AvailabilityZone": "ap-northeast-1a"},
        "PrivateIpAddress": "127.20.1.10",
        "NetworkInterfaces": [
            {"MacAddress": "02:aa", "Attachment": {"DeviceIndex": 0}, "SubnetId": "subnet-1"}
        ],
    }
    tree = metadata_tree(instance, "ap-northeast-1")
    assert listing(tree, "meta-data/placement") == "availability-zone\nregion"
    assert listing(tree, "meta-data/network/interfaces/macs") == "02:aa/"
    assert "network/" in (listing(tree, "meta-data") or "").split("\n")
    assert listing(tree, "meta-data/nothing-here") is None
