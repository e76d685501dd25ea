"""The twin's speed-ups of moto change no answer: the same tags, the same filtered results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.core import TaggedEC2Resource

from sandbox.aws import AwsServer
from sandbox.aws.speedups import resource_tags

ClientFactory = Callable[..., Any]
ACCOUNT, REGION = "123456789012", "ap-northeast-1"


def test_tags_are_moto_s_own_listing_of_the_resource(aws: AwsServer, client: ClientFactory) -> None:
    ec2 = client("ec2")
    tagged = ec2.create_vpc(CidrBlock="127.21.0.0/16")["Vpc"]["VpcId"]
    untagged = ec2.create_vpc(CidrBlock="127.22.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(
        Resources=[tagged], Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}]
    )
    subnet = ec2.create_subnet(VpcId=tagged, CidrBlock="127.21.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[subnet], Tags=[{"Key": "a", "Value": "1"}])
    backend = ec2_backends[ACCOUNT][REGION]

    assert TaggedEC2Resource.get_tags is resource_tags  # the server applied it
    for resource in (
        backend.vpcs[tagged],
        backend.vpcs[untagged],
        backend.get_subnet(subnet),
    ):
        listed = backend.describe_tags(filters={"resource-id": [resource.id]})
        assert resource.get_tags() == listed
    assert [t["key"] for t in backend.vpcs[tagged].get_tags()] == ["b", "a"]
    assert backend.vpcs[tagged].get_tags()[0]["resource_type"] == "vpc"
    assert backend.vpcs[untagged].get_tags() == []
    assert untagged not in backend.tags  # looking did not add an empty entry


def test_tag_filters_still_select_by_resource(aws: AwsServer, client: ClientFactory) -> None:
    ec2 = client("ec2")
    ids = [ec2.create_vpc(CidrBlock=f"127.{23 + i}.0.0/16")["Vpc"]["VpcId"] for i in range(3)]
    ec2.create_tags(Resources=ids[:2], Tags=[{"Key": "cluster", "Value": "one"}])
    ec2.create_tags(Resources=[ids[1]], Tags=[{"Key": "role", "Value": "main"}])

    def selected(*filters: dict[str, Any]) -> set[str]:
        return {v["VpcId"] for v in ec2.describe_vpcs(Filters=list(filters))["Vpcs"]}

    assert selected({"Name": "tag:cluster", "Values": ["one"]}) == set(ids[:2])
    assert selected({"Name": "tag-key", "Values": ["role"]}) == {ids[1]}
    assert selected({"Name": "tag-value", "Values": ["o*"]}) == set(ids[:2])
    assert selected({"Name": "tag:cluster", "Values": ["two"]}) == set()
