"""The cluster's subnets and VPC, recognised from kops's tags (tables)."""

from __future__ import annotations

from typing import Any

import pytest

from kops_nlb.core.errors import ConflictError
from kops_nlb.core.network import Subnet, classify_subnets, pick_vpc_id, subnet_kind
from tasks.network import ClusterNetwork

pytestmark = pytest.mark.usefixtures("no_run_logger")

CLUSTER = "nlb-demo.k8s.local"


@pytest.mark.parametrize(
    ("tags", "topology", "kind"),
    [
        ({"KubernetesCluster": CLUSTER, "SubnetType": "Utility"}, "private", "Utility"),
        ({"KubernetesCluster": CLUSTER, "SubnetType": "Private"}, "private", "Private"),
        ({"KubernetesCluster": CLUSTER, "SubnetType": "Public"}, "public", "Public"),
        ({"Name": f"utility-ap-northeast-1a.{CLUSTER}"}, "private", "Utility"),
        ({"Name": f"ap-northeast-1a.{CLUSTER}"}, "private", "Private"),
        ({"Name": f"ap-northeast-1a.{CLUSTER}"}, "public", "Public"),
        ({"KubernetesCluster": "other.k8s.local", "SubnetType": "Utility"}, "private", None),
        ({"Name": "default-subnet"}, "private", None),
        ({}, "private", None),
    ],
    ids=[
        "tag-utility",
        "tag-private",
        "tag-public",
        "name-utility",
        "name-private-topology",
        "name-public-topology",
        "other-cluster",
        "foreign-name",
        "untagged",
    ],
)
def test_subnet_kind(tags: dict[str, str], topology: str, kind: str | None) -> None:
    assert subnet_kind(tags, cluster=CLUSTER, topology=topology) == kind


def raw_subnet(subnet_id: str, zone: str, kind: str) -> dict[str, Any]:
    return {
        "SubnetId": subnet_id,
        "AvailabilityZone": zone,
        "CidrBlock": "172.20.0.0/22",
        "Tags": [
            {"Key": "KubernetesCluster", "Value": CLUSTER},
            {"Key": "SubnetType", "Value": kind},
        ],
    }


def test_classify_subnets_groups_by_kind_in_zone_order() -> None:
    groups = classify_subnets(
        [
            raw_subnet("subnet-3", "ap-northeast-1c", "Utility"),
            raw_subnet("subnet-2", "ap-northeast-1a", "Utility"),
            raw_subnet("subnet-1", "ap-northeast-1a", "Private"),
            {"SubnetId": "subnet-9", "AvailabilityZone": "ap-northeast-1a", "Tags": []},
        ],
        cluster=CLUSTER,
        topology="private",
    )
    assert {kind: [s.subnet_id for s in subnets] for kind, subnets in groups.items()} == {
        "Utility": ["subnet-2", "subnet-3"],
        "Private": ["subnet-1"],
    }


@pytest.mark.parametrize(
    ("tagged", "via_subnets", "vpc"),
    [
        (["vpc-1"], ["vpc-1", "vpc-1"], "vpc-1"),
        ([], ["vpc-2", "vpc-2"], "vpc-2"),
        ([], [], None),
    ],
    ids=["tagged-vpc", "shared-vpc-via-subnets", "none"],
)
def test_pick_vpc_id(tagged: list[str], via_subnets: list[str], vpc: str | None) -> None:
    assert pick_vpc_id(tagged, via_subnets) == vpc


def test_two_tagged_vpcs_are_a_conflict() -> None:
    with pytest.raises(ConflictError, match=r"more than one cluster.*vpc-1.*vpc-2"):
        pick_vpc_id(["vpc-2", "vpc-1"], [])


def test_utility_by_zone_takes_the_first_of_each_zone() -> None:
    def sub(subnet_id: str, zone: str) -> Subnet:
        return Subnet(subnet_id=subnet_id, zone=zone, cidr="", kind="Utility")

    network = ClusterNetwork(
        vpc_id="vpc-1", cidr="", utility=(sub("s-1", "z-a"), sub("s-2", "z-a"), sub("s-3", "z-c"))
    )
    assert {z: s.subnet_id for z, s in network.utility_by_zone().items()} == {
        "z-a": "s-1",
        "z-c": "s-3",
    }
